/**
 * Two R-U-THEREs outstanding on one SA, both answered in order: the second ACK counts too. A member sends one
 * on demand per unanswered pull (packages/member/src/registration.ts), so two vpns through one gateway can
 * each have one in flight; before, the first ACK reset the outstanding count and the second was dropped as a
 * mismatch, so the second vpn took the server for one that forgot the SA and cleared it under the first.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DpdMonitor } from '../src/dpd.js';
import { pair, rng, stat } from './harness.js';

describe('DPD: several probes outstanding', () => {
  it('two on-demand probes on one SA: both ACKs accepted, both answered', () => {
    const { net, a } = pair();
    a.endpoint.start(0);
    net.flush();
    const sa = a.up[0];
    assert.ok(sa !== undefined);
    const first = a.endpoint.probe(sa);
    const second = a.endpoint.probe(sa);
    assert.ok(first !== undefined && second !== undefined);
    net.flush();
    assert.equal(stat(a, 'dpdAckMismatchDropped'), 0);
    assert.equal(stat(a, 'dpdAcksReceived'), 2);
    assert.equal(sa.dpd?.answered(first), true);
    assert.equal(sa.dpd?.answered(second), true);
  });

  it('ACKs accepted once each, in order: an older or repeated one is dropped, a later one is not', () => {
    const monitor = new DpdMonitor(undefined, true, rng('two-probes'), 0);
    const s1 = monitor.probeNow();
    const s2 = monitor.probeNow();
    const s3 = monitor.probeNow();
    assert.ok(s1 !== undefined && s2 !== undefined && s3 !== undefined);
    assert.equal(monitor.acknowledge(s2), true);
    assert.equal(monitor.acknowledge(s1), false, 'older than one acknowledged');
    assert.equal(monitor.acknowledge(s2), false, 'acknowledged already');
    assert.equal(monitor.acknowledge(s3), true);
    assert.equal(monitor.acknowledge((s3 + 1) >>> 0), false, 'never sent');
    assert.equal(monitor.answered(s3), true);
  });

  it('with a policy: the first ACK still clears the outstanding count (RFC 3706 liveness)', () => {
    const monitor = new DpdMonitor({ interval: 2, threshold: 3 }, true, rng('policy'), 0);
    const t1 = monitor.tick(2_000);
    const t2 = monitor.tick(4_000);
    assert.ok(t1.kind === 'probe' && t2.kind === 'probe');
    assert.equal(monitor.acknowledge(t1.seq), true);
    assert.equal(monitor.status().outstanding, 0);
    assert.equal(monitor.acknowledge(t2.seq), true);
    assert.equal(monitor.status().outstanding, 0);
  });
});
