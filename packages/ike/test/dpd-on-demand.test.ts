/**
 * R-U-THERE on demand (`IkeEndpoint.probe`, RFC 3706): one probe when the host asks, with no DPD policy on
 * either side (a member runs no periodic DPD), and `DpdMonitor.answered` telling whether the peer still
 * knows the SA. The member asks this when a pull goes unanswered (packages/member/src/registration.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeHeader } from '@gvpn/wire';
import { DpdMonitor } from '../src/dpd.js';
import { A_ADDR, B_ADDR, pair, rng, stat } from './harness.js';

describe('R-U-THERE on demand (RFC 3706)', () => {
  it('with no DPD policy: one encrypted probe, acknowledged; nothing periodic follows', () => {
    const { net, a, b } = pair();
    a.endpoint.start(0);
    net.flush();
    const sa = a.up[0];
    assert.ok(sa !== undefined && sa.peerSupportsDpd);
    const seq = a.endpoint.probe(sa);
    assert.ok(seq !== undefined);
    assert.equal(sa.dpd?.answered(seq), false, 'not answered before the ACK arrives');
    const [probe] = net.queue;
    assert.ok(probe !== undefined);
    const h = decodeHeader(probe.bytes);
    assert.equal(h.exchangeType, 5);
    assert.equal(h.flags & 1, 1, 'encrypted');
    net.flush();
    assert.equal(sa.dpd?.answered(seq), true);
    assert.equal(stat(a, 'dpdRequestsSent'), 1);
    assert.equal(stat(b, 'dpdAcksSent'), 1);
    assert.equal(stat(a, 'dpdAcksReceived'), 1);
    assert.equal(a.endpoint.status(net.now)[0]?.dpd.outstanding, 0);
    net.advanceTo(600_000);
    assert.equal(stat(a, 'dpdRequestsSent'), 1, 'no periodic probes without a policy');
    assert.equal(stat(b, 'dpdRequestsSent'), 0);
  });

  it('a peer that restarted and forgot the SA drops the probe: never answered', () => {
    const { net, a } = pair();
    a.endpoint.start(0);
    net.flush();
    const sa = a.up[0];
    assert.ok(sa !== undefined);
    const restarted = net.addSide('b-restarted', B_ADDR, A_ADDR); // replaces B at its address, with no SA
    const seq = a.endpoint.probe(sa);
    assert.ok(seq !== undefined);
    net.flush();
    assert.equal(stat(restarted, 'unknownCookieDropped'), 1);
    assert.equal(sa.dpd?.answered(seq), false);
    assert.equal(a.endpoint.status(net.now)[0]?.dpd.outstanding, 1);
    assert.equal(a.down.length, 0, 'the probe alone ends nothing');
  });

  it('no probe on an SA that is gone, or when the peer announced no DPD', () => {
    const { net, a } = pair();
    a.endpoint.start(0);
    net.step((d) => ({ ...d, bytes: stripTrailingVid(d.bytes) })); // message 1 without the DPD vendor ID
    net.flush();
    const sa = a.up[0];
    assert.ok(sa !== undefined && !sa.peerSupportsDpd);
    assert.equal(a.endpoint.probe(sa), undefined);
    assert.equal(net.queue.length, 0);

    const other = pair();
    other.a.endpoint.start(0);
    other.net.flush();
    const gone = other.a.up[0];
    assert.ok(gone !== undefined);
    other.a.endpoint.clearSas(other.net.now);
    other.net.discard();
    assert.equal(other.a.endpoint.probe(gone), undefined);
    assert.equal(other.net.queue.length, 0);
    assert.equal(stat(other.a, 'dpdRequestsSent'), 0);
  });

  it('answered(seq): the ACK of that probe or of a later one', () => {
    const monitor = new DpdMonitor(undefined, true, rng('on-demand'), 0);
    const first = monitor.probeNow();
    const second = monitor.probeNow();
    assert.ok(first !== undefined && second === ((first + 1) >>> 0));
    assert.equal(monitor.answered(first), false);
    assert.equal(monitor.acknowledge(second), true);
    assert.equal(monitor.answered(first), true, 'a later probe answered: the peer knows the SA');
    assert.equal(monitor.answered(second), true);
    assert.equal(monitor.answered((second + 1) >>> 0), false, 'not a probe still to come');
    assert.equal(monitor.status().outstanding, 0);

    assert.equal(new DpdMonitor(undefined, false, rng('no-dpd'), 0).probeNow(), undefined, 'the peer announced no DPD');
  });
});

/** Message 1 is HDR, SA, VID(DPD): drop the last 20 bytes and end the chain at the SA (as dpd.test.ts). */
function stripTrailingVid(bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bytes.subarray(0, bytes.length - 20));
  new DataView(out.buffer).setUint32(24, out.length);
  out[28] = 0; // SA's next payload
  return out;
}
