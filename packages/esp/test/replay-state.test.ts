import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EspEndpoint, MAX_REPLAY_SENDERS, PROBE_REORDER_WINDOW, SaDatabase, TrafficProbe, buildIpv4Udp, encodeProbePayload,
  hostInPrefix, parseIpv4, type DeliveredPacket, type PeerAddress, type Tek,
} from '../src/index.js';
import { GROUP_POLICY, testTek } from './helpers.js';

const A: PeerAddress = { address: '127.0.0.1', port: 4501 };
const B: PeerAddress = { address: '127.0.0.1', port: 4502 };

function inner(src = '172.16.0.1', dst = '172.16.0.2'): Uint8Array {
  return buildIpv4Udp({ source: parseIpv4(src), destination: parseIpv4(dst), sourcePort: 9, destinationPort: 9, payload: new Uint8Array(10) });
}

/** One sealed packet from a sender with id 1 and a receiver holding the same TEK. */
function pair(tek: Tek, deliver?: (packet: DeliveredPacket) => void, onDeliverError?: (error: unknown) => void) {
  const wire: Uint8Array[] = [];
  const sender = new EspEndpoint({ sad: new SaDatabase(), senderId: 1, send: (bytes) => wire.push(bytes) });
  sender.sad.install(tek);
  const receiver = new EspEndpoint({
    sad: new SaDatabase(), send: () => {},
    ...(deliver === undefined ? {} : { deliver }), ...(onDeliverError === undefined ? {} : { onDeliverError }),
  });
  receiver.sad.install(tek);
  return { sender, receiver, wire };
}

for (const transform of ['aes-cbc-hmac-sha256-128', 'aes-gcm-16'] as const) {
  describe(`anti-replay state (${transform})`, () => {
    const tek = testTek(0x50000, transform, 'replay-state');

    it('refuses a captured packet replayed from other UDP sources and creates no window for them', () => {
      const delivered: DeliveredPacket[] = [];
      const { sender, receiver, wire } = pair(tek, (p) => delivered.push(p));
      sender.send(inner(), B, 0);
      const captured = wire[0]!;
      assert.equal(receiver.handle(captured, A, 0), 'received');
      assert.equal(receiver.handle(captured, { address: A.address, port: A.port + 1 }, 0), 'replay');
      for (let i = 0; i < 500; i++) {
        assert.equal(receiver.handle(captured, { address: `10.0.${i >> 8}.${i & 255}`, port: 4500 + (i % 7) }, 0), 'replay');
      }
      assert.equal(delivered.length, 1);
      assert.equal(receiver.counters().replayDropped, 501);
      assert.equal(receiver.sad.replaySenders(tek.spi), 1);
      // the sender's next packet still gets in, from whichever transport address
      sender.send(inner(), B, 0);
      assert.equal(receiver.handle(wire[1]!, { address: '10.9.9.9', port: 1 }, 0), 'received');
    });

    it('caps the windows per SA: a new sender is refused and counted, known senders go on', () => {
      const { sender, receiver, wire } = pair(tek);
      sender.send(inner(), B, 0);
      assert.equal(receiver.handle(wire[0]!, A, 0), 'received'); // 172.16.0.1 holds a window
      const base = parseIpv4('172.17.0.0');
      for (let i = 1; i < MAX_REPLAY_SENDERS; i++) assert.equal(receiver.sad.replayAdmit(tek.spi, base + i, 1), 'ok');
      assert.equal(receiver.sad.replaySenders(tek.spi), MAX_REPLAY_SENDERS);
      const newcomer = pair(tek); // same TEK, inner source 172.16.0.3: a new sender
      newcomer.sender.send(inner('172.16.0.3'), B, 0);
      assert.equal(receiver.handle(newcomer.wire[0]!, A, 0), 'replay-senders-full');
      assert.equal(receiver.counters().replaySendersFull, 1);
      assert.equal(receiver.sad.replaySenders(tek.spi), MAX_REPLAY_SENDERS);
      sender.send(inner(), B, 0);
      assert.equal(receiver.handle(wire[1]!, A, 0), 'received');
      assert.equal(receiver.handle(wire[1]!, A, 0), 'replay');
    });

    it('counts a throwing deliver instead of throwing out of handle', () => {
      const errors: unknown[] = [];
      const { sender, receiver, wire } = pair(tek, () => { throw new RangeError('Set maximum size exceeded'); }, (e) => errors.push(e));
      sender.send(inner(), B, 0);
      assert.equal(receiver.handle(wire[0]!, A, 0), 'received');
      assert.equal(receiver.counters().deliverErrors, 1);
      assert.equal(receiver.counters().received, 1);
      assert.ok(errors[0] instanceof RangeError);
      // without an error listener it is still only counted
      const quiet = pair(tek, () => { throw new Error('boom'); });
      quiet.sender.send(inner(), B, 0);
      assert.equal(quiet.receiver.handle(quiet.wire[0]!, A, 0), 'received');
      assert.equal(quiet.receiver.counters().deliverErrors, 1);
    });
  });
}

describe('TrafficProbe receive state', () => {
  it('stays bounded when sequence 1 never arrives, writing off old gaps', () => {
    const probe = new TrafficProbe({ endpoint: pair(testTek(0x50001, 'aes-gcm-16', 'probe')).sender, memberId: 2, peers: [], intervalMs: 1000, policy: GROUP_POLICY });
    const packet = (seq: number): DeliveredPacket => {
      const source = hostInPrefix(GROUP_POLICY.source, 7);
      const destination = hostInPrefix(GROUP_POLICY.destination, 2);
      const bytes = buildIpv4Udp({ source, destination, sourcePort: 9, destinationPort: 9, payload: encodeProbePayload({ senderId: 7, seq, sentAt: 0 }) });
      return { spi: 0x50001, seq, from: A, inner: bytes, source, destination };
    };
    const highest = 20_000;
    const writtenOff = highest - PROBE_REORDER_WINDOW;
    const tracked = writtenOff + 1;
    const missing = new Set([1, writtenOff, tracked]);
    for (let seq = 1; seq <= highest; seq++) if (!missing.has(seq)) probe.receive(packet(seq));
    let [stats] = probe.stats().senders;
    assert.deepEqual(stats, { senderId: 7, received: highest - 3, highest, duplicates: 0 });
    // The receiver tracks only the last PROBE_REORDER_WINDOW sequences (its Set is a private field, so
    // this shows through behaviour): a probe missing within the window still counts when it arrives late,
    // one further back was written off as a gap and counts as a duplicate.
    for (const seq of missing) assert.equal(probe.receive(packet(seq)), true);
    [stats] = probe.stats().senders;
    assert.deepEqual(stats, { senderId: 7, received: highest - 2, highest, duplicates: 2 });
    assert.equal(stats!.highest - stats!.received, 2, 'gaps: 1 and highest - window stay lost');
    // a jump of 2^31 is cheap and writes off everything in between
    probe.receive(packet(2 ** 31));
    [stats] = probe.stats().senders;
    assert.equal(stats!.highest - stats!.received, 2 ** 31 - highest + 1);
  });
});
