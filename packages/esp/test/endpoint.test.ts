import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EspEndpoint, EspError, ReplayWindow, SaDatabase, TrafficProbe, buildIpv4Udp, makeTek, parseIpv4, parsePrefix, probeLoss, type DeliveredPacket,
  type PeerAddress, type Tek,
} from '../src/index.js';
import { GROUP_POLICY, testTek } from './helpers.js';

const A: PeerAddress = { address: '127.0.0.1', port: 4501 };
const B: PeerAddress = { address: '127.0.0.1', port: 4502 };

function inner(src = '172.16.0.1', dst = '172.16.0.2'): Uint8Array {
  return buildIpv4Udp({ source: parseIpv4(src), destination: parseIpv4(dst), sourcePort: 9, destinationPort: 9, payload: new Uint8Array(10) });
}

/** An endpoint whose sent datagrams are collected in `wire`. */
function endpoint(teks: Tek[], options: { senderId?: number; antiReplay?: boolean } = {}) {
  const wire: Uint8Array[] = [];
  const delivered: DeliveredPacket[] = [];
  const sad = new SaDatabase({ antiReplay: options.antiReplay ?? true });
  for (const tek of teks) sad.install(tek);
  const ep = new EspEndpoint({
    sad, send: (bytes) => wire.push(bytes), deliver: (p) => delivered.push(p),
    ...(options.senderId === undefined ? {} : { senderId: options.senderId }),
  });
  return { ep, sad, wire, delivered };
}

for (const transform of ['aes-cbc-hmac-sha256-128', 'aes-gcm-16'] as const) {
  describe(`EspEndpoint (${transform})`, () => {
    const tek = testTek(0x10000, transform, 'ep');

    it('delivers the inner packet with its preserved addresses', () => {
      const a = endpoint([tek], { senderId: 1 });
      const b = endpoint([tek], { senderId: 2 });
      assert.equal(a.ep.send(inner(), B, 0), 'sent');
      assert.equal(b.ep.handle(a.wire[0]!, A, 0), 'received');
      assert.equal(b.delivered.length, 1);
      assert.deepEqual(b.delivered[0]!.inner, inner());
      assert.equal(b.delivered[0]!.source, parseIpv4('172.16.0.1'));
      assert.equal(b.delivered[0]!.spi, 0x10000);
      assert.equal(b.delivered[0]!.seq, 1);
      assert.equal(a.ep.counters().sent, 1);
      assert.equal(b.ep.counters().received, 1);
    });

    it('counts a flipped ICV byte as an authentication failure and delivers nothing', () => {
      const a = endpoint([tek], { senderId: 1 });
      const b = endpoint([tek]);
      a.ep.send(inner(), B, 0);
      const bad = Uint8Array.from(a.wire[0]!);
      bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0x80;
      assert.equal(b.ep.handle(bad, A, 0), 'auth-failure');
      const badBody = Uint8Array.from(a.wire[0]!);
      badBody[20] = (badBody[20] as number) ^ 0x01;
      assert.equal(b.ep.handle(badBody, A, 0), 'auth-failure');
      assert.equal(b.ep.counters().authFailures, 2);
      assert.equal(b.delivered.length, 0);
      // the forgeries did not move the replay window: the genuine packet still gets in
      assert.equal(b.ep.handle(a.wire[0]!, A, 0), 'received');
    });

    it('counts an unknown SPI as no SA', () => {
      const a = endpoint([tek], { senderId: 1 });
      const b = endpoint([testTek(0x20000, transform, 'ep')]);
      a.ep.send(inner(), B, 0);
      assert.equal(b.ep.handle(a.wire[0]!, A, 0), 'no-sa');
      assert.equal(b.ep.counters().noSa, 1);
    });

    it('drops a replay per (SPI, sender) and accepts the same sequence from another sender', () => {
      const a = endpoint([tek], { senderId: 1 });
      const c = endpoint([tek], { senderId: 3 });
      const b = endpoint([tek]);
      a.ep.send(inner(), B, 0);
      c.ep.send(inner('172.16.0.3'), B, 0);
      assert.equal(b.ep.handle(a.wire[0]!, A, 0), 'received');
      assert.equal(b.ep.handle(a.wire[0]!, A, 0), 'replay');
      // same SPI, same sequence number 1, different sender: its own window
      assert.equal(b.ep.handle(c.wire[0]!, { address: '127.0.0.3', port: 4500 }, 0), 'received');
      assert.equal(b.ep.counters().replayDropped, 1);
      assert.equal(b.sad.replaySenders(tek.spi), 2);
    });

    it('with no-anti-replay accepts a replay', () => {
      const a = endpoint([tek], { senderId: 1 });
      const b = endpoint([tek], { antiReplay: false });
      a.ep.send(inner(), B, 0);
      assert.equal(b.ep.handle(a.wire[0]!, A, 0), 'received');
      assert.equal(b.ep.handle(a.wire[0]!, A, 0), 'received');
      assert.equal(b.ep.counters().replayDropped, 0);
    });

    it('counts every truncation as malformed (or no SA under 8 bytes of SPI) and never throws', () => {
      const a = endpoint([tek], { senderId: 1 });
      const b = endpoint([tek]);
      a.ep.send(inner(), B, 0);
      const packet = a.wire[0]!;
      const results = new Map<string, number>();
      for (let n = 0; n < packet.length; n++) {
        const r = b.ep.handle(packet.subarray(0, n), A, 0);
        results.set(r, (results.get(r) ?? 0) + 1);
        assert.ok(r === 'malformed' || r === 'auth-failure', `${n}: ${r}`);
      }
      assert.equal(b.ep.counters().received, 0);
      assert.ok((results.get('malformed') ?? 0) > packet.length / 2);
      // random junk of every length: no throw, nothing delivered
      for (let n = 0; n < 200; n++) b.ep.handle(Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff), A, 0);
      assert.equal(b.delivered.length, 0);
      assert.equal(b.ep.handle(new Uint8Array([0xff]), A, 0), 'non-esp');
      assert.equal(b.ep.handle(new Uint8Array(20), A, 0), 'non-esp');
    });

    it('drops a decrypted inner header outside the selector, and refuses to send one', () => {
      const a = endpoint([tek], { senderId: 1 });
      assert.equal(a.ep.send(inner('10.0.0.1', '172.16.0.2'), B, 0), 'outside-policy');
      assert.equal(a.ep.counters().outboundPolicyDropped, 1);
      assert.equal(a.wire.length, 0);
      // a sender whose TEK has no selector sends it; a receiver with the selector drops it
      const loose = endpoint([{ ...tek, policy: undefined }], { senderId: 1 });
      loose.ep.send(inner('10.0.0.1', '172.16.0.2'), B, 0);
      const b = endpoint([tek]);
      assert.equal(b.ep.handle(loose.wire[0]!, A, 0), 'policy');
      assert.equal(b.ep.counters().policyDropped, 1);
    });

    it('stops at the end of the 32-bit sequence space', () => {
      const a = endpoint([tek], { senderId: 1 });
      a.sad.setSentSequence(tek.spi, 0xfffffffe);
      assert.equal(a.ep.send(inner(), B, 0), 'sent');
      assert.equal(a.ep.send(inner(), B, 0), 'sequence-exhausted');
      assert.equal(a.ep.counters().sequenceExhausted, 1);
    });
  });
}

describe('TEK lifecycle in the SA database', () => {
  it('accepts an old TEK until its deactivation, then counts no SA', () => {
    const old = testTek(0x30000, 'aes-cbc-hmac-sha256-128', 'life', { activation: 0, deactivation: 1000 });
    const a = endpoint([old]);
    const b = endpoint([old]);
    a.ep.send(inner(), B, 0);
    a.ep.send(inner(), B, 0);
    assert.equal(b.ep.handle(a.wire[0]!, A, 999), 'received');
    assert.equal(b.ep.handle(a.wire[1]!, A, 1000), 'no-sa');
    assert.deepEqual(b.sad.expire(1000), [0x30000]);
    assert.equal(b.sad.size, 0);
  });

  it('switches outbound to the newest TEK at its activation and accepts it inbound before that', () => {
    const old = testTek(0x30001, 'aes-gcm-16', 'life', { activation: 0, deactivation: 2000 });
    const next = testTek(0x30002, 'aes-gcm-16', 'life', { activation: 1000, deactivation: 5000 });
    const a = endpoint([old, next], { senderId: 1 });
    const b = endpoint([old, next], { senderId: 2 });
    assert.equal(a.sad.outbound(999)?.spi, 0x30001);
    assert.equal(a.sad.outbound(1000)?.spi, 0x30002);
    assert.equal(a.sad.nextDeadline(0), 1000);
    assert.equal(a.sad.nextDeadline(1000), 2000);
    // b sends under the new TEK early (its clock is ahead); a, still sending under the old one, accepts it
    b.ep.send(inner('172.16.0.2', '172.16.0.1'), A, 1500);
    assert.equal(a.ep.handle(b.wire[0]!, B, 500), 'received');
    assert.equal(a.delivered[0]!.spi, 0x30002);
    assert.equal(a.sad.outbound(5000), undefined);
    assert.equal(a.ep.send(inner(), B, 5000), 'no-sa');
    assert.equal(a.ep.counters().noOutboundSa, 1);
  });

  it('sends each packet under the newest active TEK whose selector covers it: a group with several SAs, or several groups', () => {
    // Two SAs of different match-policies, the second installed and activated later (a rekey makes both at once).
    const web = makeTek({ ...testTek(0x30010, 'aes-gcm-16', 'sel'), policy: { source: parsePrefix('172.16.0.0/12'), destination: parsePrefix('172.16.0.0/12') } });
    const voice = makeTek({ ...testTek(0x30011, 'aes-gcm-16', 'sel'), activation: 100, policy: { source: parsePrefix('10.20.0.0/16'), destination: parsePrefix('10.20.0.0/16') } });
    const a = endpoint([web, voice], { senderId: 1 });
    assert.equal(a.ep.send(inner('172.16.0.1', '172.16.0.2'), B, 200), 'sent');
    assert.equal(a.ep.send(inner('10.20.0.1', '10.20.0.2'), B, 200), 'sent');
    assert.equal(a.ep.send(inner('192.168.0.1', '192.168.0.2'), B, 200), 'outside-policy');
    assert.deepEqual(a.wire.map((w) => Buffer.from(w.subarray(0, 4)).toString('hex')), ['00030010', '00030011']);
    assert.deepEqual([a.ep.counters().sent, a.ep.counters().outboundPolicyDropped, a.ep.counters().noOutboundSa], [2, 1, 0]);
    // Without a packet the newest active TEK of all; status marks each SA outbound for its own selector.
    assert.equal(a.sad.outbound(200)?.spi, 0x30011);
    assert.deepEqual([a.sad.isOutbound(0x30010, 200), a.sad.isOutbound(0x30011, 200), a.sad.isOutbound(0x30011, 50)], [true, true, false]);
  });

  it('refuses to send under GCM without a sender id, and builds the IV from sender id and sequence', () => {
    const gcm = testTek(0x30003, 'aes-gcm-16', 'iv');
    assert.throws(() => endpoint([gcm]).ep.send(inner(), B, 0), (e: unknown) => e instanceof EspError && e.code === 'NO_SENDER_ID');
    const a = endpoint([gcm], { senderId: 0x1234 });
    a.ep.send(inner(), B, 0);
    a.ep.send(inner(), B, 0);
    assert.equal(Buffer.from(a.wire[1]!.subarray(8, 16)).toString('hex'), '1234000000000002');
  });

  it('keeps the replay window when the same SA is reinstalled and resets it for new keys', () => {
    const tek = testTek(0x30004, 'aes-cbc-hmac-sha256-128', 're');
    const a = endpoint([tek]);
    const b = endpoint([tek]);
    a.ep.send(inner(), B, 0);
    assert.equal(b.ep.handle(a.wire[0]!, A, 0), 'received');
    b.sad.install(tek);
    assert.equal(b.ep.handle(a.wire[0]!, A, 0), 'replay');
    a.ep.send(inner(), B, 0);
    assert.equal(Buffer.from(a.wire[1]!.subarray(4, 8)).readUInt32BE(), 2);
  });
});

describe('ReplayWindow (RFC 4303 App. A)', () => {
  it('accepts in-window out-of-order packets once and refuses old ones', () => {
    const w = new ReplayWindow(64);
    assert.equal(w.check(0), 'zero');
    for (const seq of [5, 3, 100, 37, 99]) {
      assert.equal(w.check(seq), 'ok', `${seq}`);
      w.accept(seq);
      assert.equal(w.check(seq), 'replay', `${seq} again`);
    }
    assert.equal(w.check(37), 'replay');
    assert.equal(w.check(38), 'ok');
    assert.equal(w.check(36), 'too-old'); // 100 - 36 = 64: just outside
    assert.equal(w.highest, 100);
    w.accept(1000);
    assert.equal(w.check(100), 'too-old');
    assert.equal(w.check(999), 'ok');
  });
});

describe('TrafficProbe (manual clock)', () => {
  it('counts sent and received per peer and reports loss', () => {
    const tek = testTek(0x40000, 'aes-gcm-16', 'probe');
    const a = endpoint([tek], { senderId: 1 });
    const b = endpoint([tek], { senderId: 2 });
    const probeA = new TrafficProbe({ endpoint: a.ep, memberId: 1, peers: [{ ...B, memberId: 2 }], intervalMs: 100, policy: GROUP_POLICY });
    const probeB = new TrafficProbe({ endpoint: b.ep, memberId: 2, peers: [{ ...A, memberId: 1 }], intervalMs: 100, policy: GROUP_POLICY });
    assert.equal(probeA.tick(0), 100);
    assert.equal(probeA.tick(50), 100); // not due: nothing sent
    assert.equal(probeA.tick(100), 200);
    assert.equal(probeA.tick(200), 300);
    assert.equal(a.wire.length, 3);
    // deliver 1 and 3, then 3 again (duplicate at the probe level)
    b.ep.handle(a.wire[0]!, A, 300);
    b.ep.handle(a.wire[2]!, A, 300);
    for (const p of b.delivered) probeB.receive(p);
    probeB.receive(b.delivered[1]!);
    assert.equal(probeLoss(probeA, 1, probeB, 2), 1);
    const stats = probeB.stats();
    assert.deepEqual(stats.senders, [{ senderId: 1, received: 2, highest: 3, duplicates: 1 }]);
    assert.equal(stats.invalid, 0);
    b.ep.handle(a.wire[1]!, A, 300);
    probeB.receive(b.delivered[2]!);
    assert.equal(probeLoss(probeA, 1, probeB, 2), 0);
    assert.equal(probeA.stats().peers[0]!.sent, 3);
  });

  it('counts probes it could not send', () => {
    const a = endpoint([]);
    const probe = new TrafficProbe({ endpoint: a.ep, memberId: 1, peers: [{ ...B, memberId: 2 }], intervalMs: 10, policy: GROUP_POLICY });
    probe.tick(0);
    assert.equal(probe.stats().peers[0]!.sendFailures, 1);
    assert.equal(probe.stats().peers[0]!.lastResult, 'no-sa');
  });
});
