/** GROUPKEY-PULL between a GCKS and a member over two real IkeEndpoints (in-memory network, manual clock). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NotifyType } from '@gvpn/wire';
import { hex } from '../src/index.js';
import type { PullInitiator, Tek } from '../src/index.js';
import { flipHash, hexOf, lastBlockOf, policy, quietLog, setup } from './harness.js';
import type { Datagram, Setup } from './harness.js';

/** Delivers the four PULL messages one by one; returns the originals. */
function runPull(s: Setup, p: PullInitiator, mutate: (n: number, d: Datagram) => Datagram | undefined = (_n, d) => d): Datagram[] {
  const msgs: Datagram[] = [];
  for (let n = 1; n <= 4 && s.queue.length > 0; n++) {
    const d = s.step((x) => mutate(n, x));
    if (d !== undefined) msgs.push(d);
  }
  void p;
  return msgs;
}

describe('GROUPKEY-PULL', () => {
  it('Main Mode then PULL: the member holds exactly the server KEK and TEKs, registered once at message 3', () => {
    const s = setup();
    const p = s.startPull(1);
    const msgs = runPull(s, p);
    assert.equal(msgs.length, 4);
    assert.equal(p.state, 'done');
    const r = p.result;
    assert.ok(r !== undefined);
    const g = s.groups.get(1);
    assert.ok(g !== undefined);
    assert.equal(hex(r.kek?.spi ?? new Uint8Array()), hex(g.kek.spi));
    assert.equal(hex(r.kek?.key.reveal() ?? new Uint8Array()), hex(g.kek.key.reveal()));
    assert.equal(hex(r.kek?.iv ?? new Uint8Array()), hex(g.kek.iv));
    assert.equal(hex(r.kek?.publicKeyDer ?? new Uint8Array()), hex(g.kek.publicKeyDer));
    assert.equal(r.kek?.cipher, 'aes-256-cbc');
    assert.equal(r.kek?.sigHash, 'sha256');
    assert.equal(r.kek?.ackType, 1);
    assert.equal(r.seq, 0);
    assert.equal(r.activationDelaySeconds, 15);
    assert.equal(r.deactivationDelaySeconds, 30);
    assert.equal(r.teks.length, 2);
    for (const [i, t] of r.teks.entries()) {
      const st: Tek | undefined = g.teks[i];
      assert.ok(st !== undefined);
      assert.equal(hex(t.spi), hex(st.spi));
      assert.equal(hex(t.encKey.reveal()), hex(st.encKey.reveal()));
      assert.equal(hex(t.authKey?.reveal() ?? new Uint8Array()), hex(st.authKey?.reveal() ?? new Uint8Array()));
      assert.equal(hex(t.salt ?? new Uint8Array()), hex(st.salt ?? new Uint8Array()));
      assert.equal(t.policy.cipher, st.policy.cipher);
      assert.deepEqual(t.policy.source, st.policy.source);
      assert.deepEqual(t.policy.destination, st.policy.destination);
      assert.equal(t.policy.protocol, st.policy.protocol);
      assert.equal(t.policy.lifetimeSeconds, st.policy.lifetimeSeconds);
      assert.equal(t.policy.antiReplayWindowSeconds, st.policy.antiReplayWindowSeconds);
    }
    assert.equal(r.teks[0]?.authKey?.length, 32, 'hmac-sha-256-128 key');
    assert.equal(r.teks[1]?.salt?.length, 4, 'GCM salt');
    assert.equal(r.teks[1]?.authKey, undefined);
    assert.equal(s.committed.length, 1);
    assert.equal(s.responder.counters.registrations, 1);
    assert.equal(s.queue.length, 0);
  });

  it('a pull late in the TEKs\' life hands out the seconds they have left, not their configured lifetime', () => {
    let left = 77;
    const s = setup({ teksLifetimeLeft: () => left });
    const first = s.startPull(1);
    runPull(s, first);
    assert.deepEqual(first.result?.teks.map((t) => t.policy.lifetimeSeconds), [77, 77]);
    left = 12;
    const second = s.startPull(1);
    runPull(s, second);
    assert.deepEqual(second.result?.teks.map((t) => t.policy.lifetimeSeconds), [12, 12], 're-encoded when the time left changes');
  });

  it('only exchanges waiting for message 3 count against the bound: completed pulls never block new ones', () => {
    const s = setup({ maxExchanges: 1 });
    for (let i = 0; i < 3; i++) {
      const p = s.startPull(1);
      runPull(s, p);
      assert.equal(p.state, 'done', `pull ${i + 1} completes`);
      assert.equal(s.responder.pendingExchanges, 0);
    }
    assert.equal(s.responder.counters.registrations, 3);
    assert.equal(s.responder.counters.exchangeLimitDropped, 0);
    // a second member-side exchange while one waits for message 3 is over the bound
    s.startPull(1);
    s.step(); // msg1 -> server
    s.startPull(1);
    s.step(); // msg2 of the first -> member (queue order)
    s.step(); // msg1 of the second -> server: one exchange already waits for message 3
    assert.equal(s.responder.counters.exchangeLimitDropped, 1);
  });

  it('one peer holds at most 8 pulls waiting for message 3: its next one is dropped, the rest of the bound stays for others', () => {
    const s = setup();
    for (let i = 0; i < 9; i++) {
      s.startPull(1);
      s.step(); // message 1 -> server
      s.step(() => undefined); // its message 2 is lost: the exchange waits for message 3
    }
    assert.equal(s.responder.pendingExchanges, 8);
    assert.equal(s.responder.counters.exchangeLimitDropped, 1);
    s.advance(31_000); // the eight expire; the peer may pull again
    assert.equal(s.responder.pendingExchanges, 0);
    const p = s.startPull(1);
    s.flush();
    assert.equal(p.state, 'done');
  });

  it('the KD of a replaced key generation is zeroed once no pending pull still needs it', () => {
    const s = setup();
    runPull(s, s.startPull(1));
    const cache = (s.responder as unknown as { encoded: Map<number, { kd: Uint8Array }> }).encoded;
    const before = cache.get(1)!.kd;
    assert.ok(before.some((b) => b !== 0));
    const pending = s.startPull(1);
    s.step(); // its message 1 -> server: it will send `before` in message 4
    s.groups.get(1)!.rekeyTeks();
    s.startPull(1);
    s.step(); // message 2 of the pending pull -> member (its message 3 is queued)
    s.step(); // the new pull's message 1 -> server: a new generation is encoded
    assert.notEqual(cache.get(1)!.kd, before);
    assert.ok(before.some((b) => b !== 0), 'still in use by the pending pull');
    s.step(); // the pending pull's message 3 -> server: message 4 goes out with the old keys
    assert.ok(before.every((b) => b === 0), 'zeroed after its last use');
    s.flush();
    assert.equal(pending.state, 'done');
  });

  it('no group state change before message 3 verifies: a lost message 3 registers nothing', () => {
    const s = setup();
    const p = s.startPull(1);
    s.step(); // msg1 -> server
    assert.equal(s.committed.length, 0);
    s.step(); // msg2 -> member
    assert.equal(s.committed.length, 0);
    assert.equal(s.responder.pendingExchanges, 1);
    assert.equal(p.state, 'msg3-sent');
    s.queue.splice(0); // msg3 lost, and the member gives up before retransmitting it
    p.abort('test');
    s.advance(31_000);
    assert.equal(s.committed.length, 0);
    assert.equal(s.responder.counters.registrations, 0);
    assert.equal(s.responder.counters.exchangesExpired, 1);
    assert.equal(s.responder.pendingExchanges, 0);
  });

  for (const n of [1, 2, 3, 4]) {
    it(`a wrong HASH(${n}) is dropped and counted without state change; the genuine message then completes`, () => {
      const s = setup();
      const p = s.startPull(1);
      const ivs: Uint8Array[] = [s.memberSa().phase2Iv(p.messageId)];
      for (let k = 1; k < n; k++) {
        const d = s.step();
        assert.ok(d !== undefined);
        ivs.push(lastBlockOf(d.bytes));
      }
      const original = s.queue.shift();
      assert.ok(original !== undefined);
      const toServer = original.to.address === '127.0.0.2';
      const sa = toServer ? s.serverSa() : s.memberSa();
      const before = toServer ? s.responder.counters.hashMismatchDropped : p.counters.hashMismatchDropped;
      const stateBefore = p.state;
      (toServer ? s.server : s.member).handleDatagram(flipHash(sa, original.bytes, ivs[n - 1] as Uint8Array), original.from, s.now);
      const after = toServer ? s.responder.counters.hashMismatchDropped : p.counters.hashMismatchDropped;
      assert.equal(after, before + 1, `HASH(${n}) mismatch counted`);
      assert.equal(s.queue.length, 0, 'no answer to a bad HASH');
      assert.equal(p.state, stateBefore);
      assert.equal(s.committed.length, n === 4 ? 1 : 0, 'the server registers at message 3, not before');
      // The genuine message still works: the running IV did not move on the bad one.
      s.queue.unshift(original);
      s.flush();
      assert.equal(p.state, 'done');
      assert.equal(s.committed.length, 1);
    });
  }

  it('a duplicate message 3 is answered from the cache and not processed again', () => {
    const s = setup();
    const p = s.startPull(1);
    s.step();
    s.step();
    const msg3 = s.queue[0];
    assert.ok(msg3 !== undefined);
    s.step(); // msg3 -> server, msg4 queued
    const msg4 = s.queue[0];
    assert.ok(msg4 !== undefined);
    s.server.handleDatagram(msg3.bytes, msg3.from, s.now); // duplicate
    assert.equal(s.responder.counters.duplicateRequests, 1);
    assert.equal(s.responder.counters.registrations, 1);
    assert.equal(s.committed.length, 1);
    assert.equal(s.queue.length, 2);
    assert.equal(hexOf(s.queue[1]?.bytes ?? new Uint8Array()), hexOf(msg4.bytes), 'cached message 4, byte for byte');
    s.flush();
    assert.equal(p.state, 'done');
    assert.equal(p.counters.duplicateRepliesDropped, 1);
  });

  it('a duplicate message 1 gets the cached message 2, one exchange only', () => {
    const s = setup();
    const p = s.startPull(1);
    const msg1 = s.queue[0];
    assert.ok(msg1 !== undefined);
    s.step();
    s.server.handleDatagram(msg1.bytes, msg1.from, s.now);
    assert.equal(s.responder.counters.duplicateRequests, 1);
    assert.equal(s.responder.counters.pullRequests, 1);
    assert.equal(hexOf(s.queue[0]?.bytes ?? new Uint8Array()), hexOf(s.queue[1]?.bytes ?? new Uint8Array()));
    s.flush();
    assert.equal(p.state, 'done');
    assert.equal(s.committed.length, 1);
  });

  it('a member retransmits a lost message 1 and completes', () => {
    const s = setup();
    const p = s.startPull(1);
    s.queue.splice(0);
    s.advance(1000);
    assert.equal(p.counters.retransmissions, 1);
    assert.equal(p.state, 'done');
  });

  it('an unknown group gets no keys and no answer (silent refusal); the member times out', () => {
    const s = setup();
    const p = s.startPull(99);
    s.flush();
    assert.equal(s.responder.counters.unknownGroupRefused, 1);
    assert.equal(s.committed.length, 0);
    assert.equal(p.result, undefined);
    s.advance(10_000);
    assert.equal(p.state, 'failed');
    assert.equal(p.failure, 'timeout');
    assert.equal(s.responder.counters.unknownGroupRefused, 3, 'each retransmission refused again');
  });

  it('an unauthorised member (authorize hook) gets no keys; with refusal "notify" an encrypted Notify', () => {
    const s = setup({ authorize: () => ({ ok: false, reason: 'member threshold' }), refusal: 'notify' });
    const p = s.startPull(1);
    s.step();
    assert.equal(s.responder.counters.unauthorizedRefused, 1);
    assert.equal(s.responder.counters.refusalNotifiesSent, 1);
    assert.equal(s.committed.length, 0);
    const reply = s.queue[0];
    assert.ok(reply !== undefined);
    assert.equal(reply.bytes[18], 5, 'informational exchange');
    const informationalBefore = (s.member.statistics() as Record<string, number>).informationalReceived ?? 0;
    s.step();
    const stats = s.member.statistics() as Record<string, number>;
    assert.equal((stats.informationalReceived ?? 0), informationalBefore + 1, 'the member IKE endpoint authenticated the Notify');
    assert.equal(p.result, undefined);
    assert.equal(NotifyType.InvalidIdInformation, 18);
  });

  it('refusals are logged at most 10 times per 10 s (a member may send refused pulls as fast as it likes); every one is counted', () => {
    const warnings: string[] = [];
    const log = { ...quietLog, warn: (_o: object, msg: string) => { warnings.push(msg); } };
    const s = setup({ authorize: () => ({ ok: false, reason: 'member threshold' }), responderLog: log });
    for (let i = 0; i < 30; i++) {
      s.startPull(1);
      s.step();
    }
    assert.equal(s.responder.counters.unauthorizedRefused, 30);
    assert.equal(warnings.filter((m) => m === 'GROUPKEY-PULL refused').length, 10);
  });

  it('authorisation is asked again at message 3 (a threshold reached meanwhile stops the registration)', () => {
    let allow = true;
    const s = setup({ authorize: () => (allow ? { ok: true } : { ok: false, reason: 'threshold' }) });
    const p = s.startPull(1);
    s.step();
    s.step();
    allow = false;
    s.step();
    assert.equal(s.committed.length, 0);
    assert.equal(s.responder.counters.unauthorizedRefused, 1);
    assert.equal(s.queue.length, 0);
    assert.equal(p.state, 'msg3-sent');
  });

  it('group ID byte order: little-endian (gdoid) only with the group compat flag', () => {
    const strict = setup({ groups: [policy({ groupId: 1234 })] });
    const p1 = strict.startPull(1234, { littleEndian: true });
    strict.flush();
    assert.equal(p1.result, undefined);
    assert.equal(strict.responder.counters.unknownGroupRefused, 1);
    const compat = setup({ groups: [policy({ groupId: 1234, compat: { groupIdLittleEndian: true } })] });
    const p2 = compat.startPull(1234, { littleEndian: true });
    compat.flush();
    assert.equal(p2.state, 'done');
    assert.equal(compat.committed[0]?.groupId, 1234);
    const be = compat.startPull(1234);
    compat.flush();
    assert.equal(be.state, 'done', 'big-endian always works');
  });
});
