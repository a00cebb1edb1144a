// Two EspEndpoints over real UDP on 127.0.0.1, each with a TrafficProbe, through a TEK change: the new
// TEK is installed (receivers accept it at once), senders switch at its activation time, the old TEK is
// accepted until its deactivation and then refused. Loss must be zero in both directions.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { after, describe, it } from 'node:test';
import {
  EspEndpoint, SaDatabase, TrafficProbe, peekEspHeader, probeLoss, retimeTek, type DeliveredPacket,
} from '../src/index.js';
import { GROUP_POLICY, testTek, waitFor } from './helpers.js';

const sockets: Socket[] = [];
const timers: NodeJS.Timeout[] = [];
after(() => {
  for (const t of timers) clearInterval(t);
  for (const s of sockets) s.close();
});

async function bind(): Promise<Socket> {
  const socket = createSocket('udp4');
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  return socket;
}

interface Member {
  id: number;
  socket: Socket;
  sad: SaDatabase;
  ep: EspEndpoint;
  probe: TrafficProbe | undefined;
  spisReceived: Map<number, number>;
  /** the last datagram this member sent under each SPI */
  lastSent: Map<number, Uint8Array>;
}

const now = (): number => performance.now();

async function member(id: number): Promise<Member> {
  const socket = await bind();
  const sad = new SaDatabase();
  const m: Member = { id, socket, sad, probe: undefined, spisReceived: new Map(), lastSent: new Map(), ep: undefined as unknown as EspEndpoint };
  m.ep = new EspEndpoint({
    sad, senderId: id,
    send: (bytes, to) => {
      m.lastSent.set(peekEspHeader(bytes)!.spi, bytes);
      socket.send(bytes, to.port, to.address);
    },
    deliver: (p: DeliveredPacket) => {
      m.spisReceived.set(p.spi, (m.spisReceived.get(p.spi) ?? 0) + 1);
      m.probe?.receive(p);
    },
  });
  socket.on('message', (msg, rinfo) => m.ep.handle(new Uint8Array(msg), { address: rinfo.address, port: rinfo.port }, now()));
  return m;
}

for (const transform of ['aes-cbc-hmac-sha256-128', 'aes-gcm-16'] as const) {
  describe(`ESP-in-UDP on 127.0.0.1 with probes (${transform})`, () => {
    it('loses nothing across a TEK change and refuses the old TEK after its deactivation', { timeout: 20000 }, async (t) => {
      const a = await member(1);
      const b = await member(2);
      const port = (m: Member) => m.socket.address().port;
      const tek1 = testTek(0x1111_0000, transform, 'udp');
      for (const m of [a, b]) m.sad.install(tek1);
      a.probe = new TrafficProbe({ endpoint: a.ep, memberId: 1, peers: [{ address: '127.0.0.1', port: port(b), memberId: 2 }], intervalMs: 5, policy: GROUP_POLICY });
      b.probe = new TrafficProbe({ endpoint: b.ep, memberId: 2, peers: [{ address: '127.0.0.1', port: port(a), memberId: 1 }], intervalMs: 5, policy: GROUP_POLICY });
      const timer = setInterval(() => { a.probe!.tick(now()); b.probe!.tick(now()); }, 2);
      timers.push(timer);

      await waitFor(() => a.probe!.receivedFrom(2) >= 30 && b.probe!.receivedFrom(1) >= 30, 5000, '30 probes each way under TEK 1');

      // rekey: the new TEK activates 150 ms from now, the old one is deactivated 400 ms from now.
      // B hears of it first; A 50 ms later (pushes reach members at different times).
      const rekeyAt = now();
      const tek2 = testTek(0x2222_0000, transform, 'udp', { activation: rekeyAt + 150 });
      b.sad.install(tek2);
      b.sad.install(retimeTek(tek1, { deactivation: rekeyAt + 400 }));
      await waitFor(() => now() >= rekeyAt + 50, 1000, 'the second push');
      a.sad.install(tek2);
      a.sad.install(retimeTek(tek1, { deactivation: rekeyAt + 400 }));

      await waitFor(() => now() >= rekeyAt + 450 && (a.spisReceived.get(tek2.spi) ?? 0) >= 30 && (b.spisReceived.get(tek2.spi) ?? 0) >= 30,
        5000, '30 probes each way under TEK 2, past the old TEK deactivation');
      clearInterval(timer);
      assert.deepEqual(a.sad.expire(now()), [tek1.spi]);
      assert.deepEqual(b.sad.expire(now()), [tek1.spi]);

      // drain: everything sent must arrive (bounded wait, not a sleep)
      await waitFor(() => probeLoss(a.probe!, 1, b.probe!, 2) === 0 && probeLoss(b.probe!, 2, a.probe!, 1) === 0, 2000,
        `zero loss (A->B ${probeLoss(a.probe!, 1, b.probe!, 2)}, B->A ${probeLoss(b.probe!, 2, a.probe!, 1)})`);

      // the old TEK's last packet, replayed now, finds no SA: the old TEK is gone
      assert.equal(b.ep.handle(a.lastSent.get(tek1.spi)!, { address: '127.0.0.1', port: port(a) }, now()), 'no-sa');

      for (const m of [a, b]) {
        const c = m.ep.counters();
        const stats = m.probe!.stats();
        assert.equal(stats.peers[0]!.sendFailures, 0, `member ${m.id} could always send`);
        assert.equal(stats.senders[0]!.duplicates, 0);
        assert.equal(stats.invalid, 0);
        assert.equal(c.authFailures, 0);
        assert.equal(c.malformed, 0);
        assert.equal(c.replayDropped, 0);
        assert.equal(c.noSa, m === b ? 1 : 0, `member ${m.id}: no SA only for the deliberate old-TEK packet`);
        assert.ok((m.spisReceived.get(tek1.spi) ?? 0) >= 30 && (m.spisReceived.get(tek2.spi) ?? 0) >= 30);
        assert.equal(c.received, stats.senders[0]!.received);
      }
      const sentAB = a.probe.sentTo(2);
      const sentBA = b.probe.sentTo(1);
      t.diagnostic(`${transform}: A->B ${sentAB} sent / ${b.probe.receivedFrom(1)} received; B->A ${sentBA} / ${a.probe.receivedFrom(2)}; ` +
        `per SPI at B ${JSON.stringify([...b.spisReceived])}`);
    });
  });
}
