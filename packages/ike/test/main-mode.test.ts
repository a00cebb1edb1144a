import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeHeader } from '@gvpn/wire';
import type { IkeProposal } from '../src/index.js';
import { OPTIONS, P_AES128_SHA1_G2, P_AES256_SHA256_G14, P_AES256_SHA256_G19, pair, stat } from './harness.js';

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

describe('Main Mode', () => {
  const suites: [string, IkeProposal][] = [
    ['group 14, aes-256, sha256', P_AES256_SHA256_G14],
    ['group 19, aes-256, sha256', P_AES256_SHA256_G19],
    ['group 2, aes-128, sha1 (legacy allowed)', P_AES128_SHA1_G2],
    ['group 14, aes-128, sha1', { encryption: 'aes-128-cbc', hash: 'sha1', dhGroup: 14, lifetimeSeconds: 3600 }],
    ['group 19, aes-192, sha384', { encryption: 'aes-192-cbc', hash: 'sha384', dhGroup: 19, lifetimeSeconds: 3600 }],
  ];
  for (const [name, proposal] of suites) {
    it(`completes with ${name}; both sides derive the same keys`, () => {
      const { net, a, b } = pair({ proposals: [proposal] }, { proposals: [proposal] });
      a.endpoint.start(0);
      const exchanges: number[] = [];
      while (net.queue.length > 0) exchanges.push(decodeHeader(net.step()!.bytes).exchangeType);
      assert.deepEqual(exchanges, [2, 2, 2, 2, 2, 2]);
      const [ia] = a.up;
      const [ib] = b.up;
      assert.ok(ia !== undefined && ib !== undefined);
      assert.equal(ia.role, 'initiator');
      assert.equal(ib.role, 'responder');
      assert.equal(hex(ia.icookie), hex(ib.icookie));
      assert.equal(hex(ia.rcookie), hex(ib.rcookie));
      for (const k of ['skeyidD', 'skeyidA', 'skeyidE'] as const) assert.equal(hex(ia[k].reveal()), hex(ib[k].reveal()));
      assert.equal(hex(ia.phase2Iv(0x01020304)), hex(ib.phase2Iv(0x01020304)));
      assert.deepEqual(ia.proposal, proposal);
      assert.deepEqual(ib.proposal, proposal);
      // Key log: one line per SA, tshark's "<icookie>,<key>" with the key length of the cipher.
      assert.equal(a.keyLog.length, 1);
      assert.deepEqual(a.keyLog, b.keyLog);
      const [cookie, key] = (a.keyLog[0] ?? '').split(',');
      assert.equal(cookie, hex(ia.icookie));
      assert.equal(key?.length, { 'aes-128-cbc': 32, 'aes-192-cbc': 48, 'aes-256-cbc': 64 }[proposal.encryption]);
      assert.equal(stat(a, 'saEstablished'), 1);
      assert.equal(stat(b, 'saEstablished'), 1);
      assert.equal(stat(b, 'dhComputations'), 1);
      const [status] = b.endpoint.status(net.now);
      assert.equal(status?.state, 'established');
      assert.equal(status?.lifetimeRemaining, 3600);
      assert.equal(status?.dpd.peerSupportsDpd, true);
    });
  }

  it('the responder picks the first of ITS preferences that the initiator offers and runs the lower lifetime', () => {
    const p19long: IkeProposal = { ...P_AES256_SHA256_G19, lifetimeSeconds: 7200 };
    const { net, a, b } = pair(
      { proposals: [P_AES256_SHA256_G14, P_AES128_SHA1_G2, p19long] },
      { proposals: [{ ...P_AES256_SHA256_G19, lifetimeSeconds: 1800 }, P_AES128_SHA1_G2, P_AES256_SHA256_G14] },
    );
    a.endpoint.start(0);
    net.flush();
    // RFC 2408 §4.2: the chosen transform goes back unmodified, so the initiator keeps its own lifetime;
    // the responder expires the SA at its lower one and sends a Delete then.
    assert.deepEqual(a.up[0]?.proposal, p19long);
    assert.deepEqual(b.up[0]?.proposal, { ...P_AES256_SHA256_G19, lifetimeSeconds: 1800 });
    net.advanceTo(1800 * 1000);
    assert.equal(stat(b, 'saExpired'), 1);
    assert.equal(stat(a, 'deletesReceived'), 1);
    assert.deepEqual(a.down.map((d) => d.reason), ['deleted-by-peer']);
    net.advanceTo(1800 * 1000 + OPTIONS.retransmitInitialMs);
    assert.equal(a.up.length, 2, 'the kept-up gateway comes back after retransmitInitialMs');
  });

  it('no common proposal: NO-PROPOSAL-CHOSEN, no SA on either side, counted on both', () => {
    const { net, a, b } = pair({ proposals: [P_AES256_SHA256_G14] }, { proposals: [P_AES256_SHA256_G19] });
    a.endpoint.start(0);
    const mm1 = net.step();
    const notify = net.step();
    assert.ok(mm1 !== undefined && notify !== undefined);
    assert.equal(decodeHeader(notify.bytes).exchangeType, 5);
    assert.ok(notify.bytes.length <= mm1.bytes.length, 'never larger than the request');
    assert.equal(net.queue.length, 0);
    assert.equal(stat(b, 'noProposalChosen'), 1);
    assert.equal(stat(a, 'noProposalChosen'), 1);
    assert.deepEqual(a.failed, ['no-proposal-chosen']);
    assert.equal(a.endpoint.status(net.now).length, 0);
    assert.equal(b.endpoint.status(net.now).length, 0);
  });

  it('legacy groups are not chosen unless allowed', () => {
    const { net, a, b } = pair({ proposals: [P_AES128_SHA1_G2] }, { proposals: [P_AES128_SHA1_G2], options: { allowLegacyGroups: false } });
    a.endpoint.start(0);
    net.flush();
    assert.equal(stat(b, 'noProposalChosen'), 1);
    assert.equal(a.up.length + b.up.length, 0);
  });

  it('wrong PSK: no SA on either side, authFailed on both', () => {
    const { net, a, b } = pair({ psk: 'one secret' }, { psk: 'another secret' });
    a.endpoint.start(0);
    net.flush();
    assert.equal(stat(b, 'authFailed'), 1);
    assert.equal(stat(a, 'authFailed'), 1);
    assert.equal(stat(a, 'saEstablished') + stat(b, 'saEstablished'), 0);
    assert.equal(a.endpoint.status(net.now).length, 0);
    assert.equal(b.endpoint.status(net.now).length, 0);
    assert.deepEqual(a.failed, ['auth-failed']);
  });

  it('retransmits with exponential backoff, then fails when the peer stays silent', () => {
    const { net, a } = pair({ options: { retransmitInitialMs: 500, retransmitTries: 3 } });
    a.endpoint.start(0);
    const times: number[] = [];
    const first = net.discard();
    times.push(0);
    for (let t = 0; t <= 10_000; t += 100) {
      net.advanceTo(t, false);
      for (const d of net.discard()) {
        times.push(net.now);
        assert.deepEqual(d.bytes, first[0]?.bytes, 'the same message 1 each time');
      }
      if (a.failed.length > 0) break;
    }
    assert.deepEqual(times, [0, 500, 1500, 3500]);
    assert.equal(stat(a, 'retransmissions'), 3);
    assert.deepEqual(a.failed, ['timeout']);
    assert.equal(stat(a, 'negotiationTimeouts'), 1);
    assert.equal(net.now, 7500, 'the last retransmission is given 500 * 2^3 ms');
    assert.equal(a.endpoint.status(net.now).length, 0);
  });

  it('a lost answer is recovered by retransmission', () => {
    const { net, a, b } = pair();
    a.endpoint.start(0);
    net.step(); // MM1 -> B
    net.step(); // MM2 -> A
    net.step(); // MM3 -> B
    net.discard(); // MM4 lost
    net.advanceTo(1000); // A resends MM3, B answers from its cache
    assert.equal(stat(a, 'retransmissions'), 1);
    assert.equal(stat(b, 'duplicateRequests'), 1);
    assert.equal(stat(b, 'dhComputations'), 1);
    assert.equal(a.up.length, 1);
    assert.equal(b.up.length, 1);
  });

  it('duplicated messages 3 and 5 are answered from the cache, byte for byte, never re-processed', () => {
    const { net, a, b } = pair();
    a.endpoint.start(0);
    net.step(); // MM1
    net.step(); // MM2
    const mm3 = net.step();
    assert.ok(mm3 !== undefined);
    net.deliver(mm3);
    const [mm4, mm4again] = net.queue;
    assert.ok(mm4 !== undefined && mm4again !== undefined);
    assert.deepEqual(mm4again.bytes, mm4.bytes);
    assert.equal(stat(b, 'dhComputations'), 1);
    net.step(); // MM4 -> A
    net.step(); // duplicate MM4 -> A: dropped
    assert.equal(stat(a, 'duplicateRepliesDropped'), 1);
    const mm5 = net.step();
    assert.ok(mm5 !== undefined);
    net.deliver(mm5);
    const [mm6, mm6again] = net.queue;
    assert.ok(mm6 !== undefined && mm6again !== undefined);
    assert.deepEqual(mm6again.bytes, mm6.bytes);
    assert.equal(stat(b, 'duplicateRequests'), 2);
    assert.equal(stat(b, 'saEstablished'), 1);
    assert.equal(b.up.length, 1);
    net.flush();
    assert.equal(stat(a, 'saEstablished'), 1);
  });

  it('half-open bound: MM1s beyond maxHalfOpen evict the oldest half-open SA, before any DH; half-open SAs expire', () => {
    const { net, a, b } = pair({ options: { retransmitTries: 10 } }, { options: { maxHalfOpen: 4, halfOpenTimeoutMs: 30_000 } });
    a.endpoint.start(0);
    const mm1 = net.discard()[0];
    assert.ok(mm1 !== undefined);
    for (let i = 0; i < 50; i++) {
      const forged = Uint8Array.from(mm1.bytes);
      forged[0] = i;
      forged[7] = 0xee;
      net.deliver({ ...mm1, bytes: forged });
    }
    assert.equal(stat(b, 'halfOpenEvicted'), 46);
    assert.equal(stat(b, 'halfOpenRejected'), 0);
    assert.equal(stat(b, 'dhComputations'), 0);
    assert.equal(b.endpoint.status(net.now).length, 4);
    net.discard();
    net.advanceTo(30_000, false);
    net.discard();
    assert.equal(stat(b, 'halfOpenExpired'), 4);
    assert.equal(b.endpoint.status(net.now).length, 0);
    net.deliver(mm1);
    net.flush();
    assert.equal(a.up.length, 1, 'a genuine initiator gets through once the flood has expired');
  });

  it('keeps a gateway up: re-initiates after a failure with backoff', () => {
    const { net, a, b } = pair({ options: { retransmitInitialMs: 1000, retransmitTries: 1 } });
    a.endpoint.start(0);
    net.discard();
    net.advanceTo(1000, false);
    net.discard();
    net.advanceTo(3000, false); // timeout after 1000 * 2^1 more
    assert.deepEqual(a.failed, ['timeout']);
    net.discard();
    net.advanceTo(3999, false);
    assert.equal(net.queue.length, 0);
    net.advanceTo(4000); // first re-initiation one retransmitInitialMs later, and B answers now
    assert.equal(a.up.length, 1);
    assert.equal(b.up.length, 1);
  });
});
