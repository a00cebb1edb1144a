// The traffic probe of a member that holds several SAs with different selectors (a group with two
// ipsec-sa, or a member of two groups): peers whose probes use different SAs still count each other's
// probes, and a probe moved to another selector keeps its counters.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '@gvpn/crypto';
import {
  EspEndpoint, EspError, SaDatabase, TrafficProbe, buildIpv4Udp, encodeProbePayload, makeTek, parseIpv4, parsePrefix, type DeliveredPacket, type Tek, type TekPolicy,
} from '../src/index.js';

const NET1: TekPolicy = { source: parsePrefix('10.1.0.0/16'), destination: parsePrefix('10.1.0.0/16') };
const NET2: TekPolicy = { source: parsePrefix('10.2.0.0/16'), destination: parsePrefix('10.2.0.0/16') };
const TINY: TekPolicy = { source: parsePrefix('10.3.0.0/30'), destination: parsePrefix('10.3.0.0/30') };
const A = { address: '127.0.0.1', port: 4501 };
const B = { address: '127.0.0.1', port: 4502 };

function tek(spi: number, policy: TekPolicy): Tek {
  const random = seededRandom(`probe-selectors:${spi}`);
  return makeTek({ spi, transform: 'aes-gcm-16', encKey: random.bytes(32), salt: random.bytes(4), policy });
}

function endpoint(teks: Tek[], senderId: number) {
  const wire: Uint8Array[] = [];
  const delivered: DeliveredPacket[] = [];
  const sad = new SaDatabase();
  for (const t of teks) sad.install(t);
  const ep = new EspEndpoint({ sad, senderId, send: (bytes) => wire.push(bytes), deliver: (p) => delivered.push(p) });
  return { ep, wire, delivered };
}

describe('TrafficProbe with several selectors', () => {
  const teks = [tek(0x1000, NET1), tek(0x2000, NET2)];

  it('counts a peer probing under another SA of ours than the one it probes with', () => {
    const a = endpoint(teks, 1);
    const b = endpoint(teks, 2);
    const probeA = new TrafficProbe({ endpoint: a.ep, memberId: 1, peers: [{ ...B, memberId: 2 }], intervalMs: 10, policy: NET1 });
    const probeB = new TrafficProbe({ endpoint: b.ep, memberId: 2, peers: [{ ...A, memberId: 1 }], intervalMs: 10, policy: NET2 });
    probeA.tick(0);
    assert.equal(b.ep.handle(a.wire[0]!, A, 0), 'received');
    assert.equal(probeB.receive(b.delivered[0]!), true);
    assert.deepEqual(probeB.stats().senders, [{ senderId: 1, received: 1, highest: 1, duplicates: 0 }]);
    assert.equal(probeB.stats().invalid, 0);
  });

  it('still refuses a probe whose inner source is not its sender id under the SA it came in', () => {
    const a = endpoint(teks, 1);
    const b = endpoint(teks, 2);
    const probeB = new TrafficProbe({ endpoint: b.ep, memberId: 2, peers: [], intervalMs: 10, policy: NET2 });
    const probe = (source: string, senderId: number): Uint8Array => buildIpv4Udp({
      source: parseIpv4(source), destination: parseIpv4('10.1.0.2'), sourcePort: 9, destinationPort: 9,
      payload: encodeProbePayload({ senderId, seq: 1, sentAt: 0 }),
    });
    assert.equal(a.ep.send(probe('10.1.0.3', 3), B, 0), 'sent');
    assert.equal(a.ep.send(probe('10.1.0.3', 4), B, 0), 'sent');
    for (const bytes of a.wire) b.ep.handle(bytes, A, 0);
    assert.equal(probeB.receive(b.delivered[0]!), true);
    assert.equal(probeB.receive(b.delivered[1]!), false);
    assert.equal(probeB.stats().invalid, 1);
  });

  it('moves to another selector and keeps its counters; refuses one its addresses do not fit', () => {
    const a = endpoint(teks, 1);
    const probe = new TrafficProbe({ endpoint: a.ep, memberId: 1, peers: [{ ...B, memberId: 2 }], intervalMs: 10, policy: NET1 });
    probe.tick(0);
    probe.retarget(NET2);
    assert.equal(probe.policy, NET2);
    probe.tick(10);
    assert.equal(probe.stats().peers[0]!.sent, 2);
    assert.throws(() => probe.retarget({ source: TINY.source, destination: parsePrefix('10.3.0.0/31') }), EspError);
    assert.equal(probe.policy, NET2);
  });
});
