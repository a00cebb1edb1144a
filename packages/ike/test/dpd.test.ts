import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NotifyType, decodeHeader } from '@gvpn/wire';
import type { NotifyPayload } from '@gvpn/wire';
import { protectedInformational } from '../src/informational.js';
import { pair, rng, stat } from './harness.js';

const DPD = { interval: 2, threshold: 3 };

describe('Dead Peer Detection (RFC 3706, always-send)', () => {
  it('R-U-THERE every interval, answered with R-U-THERE-ACK echoing the sequence', () => {
    const { net, a, b } = pair({ dpd: DPD }, { dpd: DPD });
    a.endpoint.start(0);
    net.flush();
    net.advanceTo(2000, false);
    const probes = net.discard();
    assert.equal(probes.length, 2, 'both sides probe');
    for (const p of probes) {
      const h = decodeHeader(p.bytes);
      assert.equal(h.exchangeType, 5);
      assert.equal(h.flags & 1, 1, 'encrypted');
      assert.notEqual(h.messageId, 0);
      net.deliver(p);
    }
    net.flush();
    for (const side of [a, b]) {
      assert.equal(stat(side, 'dpdRequestsSent'), 1);
      assert.equal(stat(side, 'dpdRequestsReceived'), 1);
      assert.equal(stat(side, 'dpdAcksSent'), 1);
      assert.equal(stat(side, 'dpdAcksReceived'), 1);
      const [s] = side.endpoint.status(net.now);
      assert.ok(s?.dpd.sentSeq !== undefined);
      assert.ok(s.dpd.sentSeq < 0x80000000, 'first sequence number has the high bit clear');
      assert.equal(s.dpd.lastAck, s.dpd.sentSeq);
      assert.equal(s.dpd.outstanding, 0);
    }
    const firstSeq = a.endpoint.status(net.now)[0]?.dpd.sentSeq ?? -1;
    net.advanceTo(4000);
    const [s] = a.endpoint.status(net.now);
    assert.equal(s?.dpd.sentSeq, firstSeq + 1, 'the sequence number advances by one');
    assert.equal(s?.dpd.lastAck, s?.dpd.sentSeq);
    assert.equal(stat(a, 'dpdAcksReceived'), 2);
  });

  it('a silent peer is dead after `threshold` unanswered probes, one interval each', () => {
    const { net, a } = pair({ dpd: DPD }, { dpd: DPD });
    a.endpoint.start(0);
    net.flush();
    net.advanceTo(2000); // one successful round trip
    assert.equal(stat(a, 'dpdAcksReceived'), 1);
    // From now on B hears nothing.
    const deadAt: number[] = [];
    for (let t = 2000; t <= 20_000 && a.dead.length === 0; t += 500) {
      net.advanceTo(t, false);
      net.discard();
      if (a.dead.length > 0) deadAt.push(net.now);
    }
    assert.equal(stat(a, 'dpdRequestsSent'), 4, 'probes at 2 s (answered), 4, 6 and 8 s');
    assert.deepEqual(deadAt, [10_000], 'dead one interval after the third unanswered probe');
    assert.deepEqual(a.dead, ['to-127.0.0.2']);
    assert.equal(stat(a, 'peersDead'), 1);
    assert.deepEqual(a.down.map((d) => d.reason), ['dpd']);
    assert.equal(a.endpoint.status(net.now).filter((s) => s.state === 'established').length, 0);
  });

  it('an ACK with the wrong sequence number is dropped and counted', () => {
    const { net, a, b } = pair({ dpd: DPD }, { dpd: DPD });
    a.endpoint.start(0);
    net.flush();
    const [sa] = b.up;
    assert.ok(sa !== undefined);
    net.advanceTo(2000, false);
    net.discard();
    // B forges an ACK for a sequence A never sent, under the real SA.
    const seqA = a.endpoint.status(net.now)[0]?.dpd.sentSeq ?? 0;
    const wrong = new Uint8Array(4);
    new DataView(wrong.buffer).setUint32(0, (seqA + 7) >>> 0);
    const ack: NotifyPayload = { type: 11, doi: 1, protocolId: 1, spi: sa.spi, notifyType: NotifyType.RUThereAck, data: wrong };
    net.deliver({ from: b.address, to: a.address, bytes: protectedInformational(sa, ack, sa.keys!, rng('forge')) });
    assert.equal(stat(a, 'dpdAckMismatchDropped'), 1);
    assert.equal(stat(a, 'dpdAcksReceived'), 0);
    assert.equal(a.endpoint.status(net.now)[0]?.dpd.outstanding, 1);
  });

  it('no probing when the peer did not announce DPD', () => {
    const { net, a } = pair({ dpd: DPD }, {});
    a.endpoint.start(0);
    const mm1 = net.queue[0];
    assert.ok(mm1 !== undefined);
    // Strip the DPD vendor ID from message 1: B then does not echo it, and A must not probe.
    net.step((d) => ({ ...d, bytes: stripTrailingVid(d.bytes) }));
    net.flush();
    assert.equal(a.up.length, 1);
    assert.equal(a.up[0]?.peerSupportsDpd, false);
    net.advanceTo(10_000);
    assert.equal(stat(a, 'dpdRequestsSent'), 0);
  });
});

/** Message 1 is HDR, SA, VID(DPD): drop the last 20 bytes and end the chain at the SA. */
function stripTrailingVid(bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bytes.subarray(0, bytes.length - 20));
  new DataView(out.buffer).setUint32(24, out.length);
  out[28] = 0; // SA's next payload
  return out;
}
