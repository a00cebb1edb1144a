/**
 * A re-registration's receiver built from a PULL and the receiver it replaces (RFC 6407 §3.2: a PULL whose
 * SEQ is lower than the latest PUSH accepted under its KEK is stale). The PULLs here are answered before the
 * PUSHes the old receiver then accepts, as when PUSHes overtake the PULL's message 4.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hex, PushReceiver } from '../src/index.js';
import type { GcksGroup, PullResult } from '../src/index.js';
import { MEMBER, policy, setup } from './harness.js';

function pulled(seed?: string): { group: GcksGroup; pull: () => PullResult } {
  const p = policy();
  const s = setup(seed === undefined ? { groups: [p] } : { groups: [p], seed });
  const group = s.groups.get(p.groupId);
  assert.ok(group !== undefined);
  return {
    group,
    pull: () => {
      const pull = s.startPull(p.groupId);
      s.flush();
      assert.ok(pull.result !== undefined);
      return pull.result;
    },
  };
}

function accepted(receiver: PushReceiver, bytes: Uint8Array): void {
  const out = receiver.handle(bytes);
  assert.ok(out.accepted, out.accepted ? '' : out.detail);
}

describe('re-registration: PULL against the PUSHes already accepted', () => {
  it('same KEK, PUSHes past the PULL\'s SEQ: their SEQ, TEKs and duplicate cache are kept', () => {
    const { group, pull } = pulled();
    const stalePull = pull(); // SEQ 0
    const old = new PushReceiver({ pull: stalePull, memberAddress: MEMBER.address });
    const first = group.rekeyTeks().push;
    const second = group.rekeyTeks().push;
    accepted(old, first.bytes);
    accepted(old, second.bytes);
    const pushedTeks = [...old.teks.keys()].sort();

    const renewed = new PushReceiver({ pull: stalePull, memberAddress: MEMBER.address, previous: old });
    assert.equal(renewed.stalePull, 'seq');
    assert.equal(renewed.lastSeq, 2);
    assert.deepEqual([...renewed.teks.keys()].sort(), pushedTeks);
    const again = renewed.handle(second.bytes);
    assert.ok(!again.accepted && again.counter === 'duplicateDropped' && again.ack !== undefined, 'a repeat is answered, not taken');
    const replay = renewed.handle(first.bytes);
    assert.ok(!replay.accepted && replay.counter === 'duplicateDropped');
    accepted(renewed, group.rekeyTeks().push.bytes);
  });

  it('a KEK rekey PUSH past the PULL\'s SEQ: the new KEK, its SEQ and TEKs are kept', () => {
    const { group, pull } = pulled();
    const stalePull = pull(); // KEK K, SEQ 0
    const old = new PushReceiver({ pull: stalePull, memberAddress: MEMBER.address });
    const kekPush = group.rekeyKek(); // SEQ 1 under K: K2
    accepted(old, kekPush.bytes);
    const tekPush = group.rekeyTeks().push; // SEQ 1 under K2
    accepted(old, tekPush.bytes);

    const renewed = new PushReceiver({ pull: stalePull, memberAddress: MEMBER.address, previous: old });
    assert.equal(renewed.stalePull, 'kek');
    assert.equal(hex(renewed.kek?.spi ?? new Uint8Array()), hex(group.kek.spi));
    assert.equal(renewed.lastSeq, 1);
    for (const t of group.teks) assert.ok(renewed.teks.has(hex(t.spi)), 'TEKs pushed under K2 kept');
    const replay = renewed.handle(kekPush.bytes);
    assert.ok(!replay.accepted && replay.counter === 'unknownKekDropped', 'the KEK rekey cannot be replayed');
    const repeat = renewed.handle(tekPush.bytes);
    assert.ok(!repeat.accepted && repeat.counter === 'duplicateDropped' && repeat.ack !== undefined);
    accepted(renewed, group.rekeyTeks().push.bytes);
    // And a stale PULL again (still K, SEQ 0) keeps K2: the KEK history went along.
    assert.equal(new PushReceiver({ pull: stalePull, memberAddress: MEMBER.address, previous: renewed }).stalePull, 'kek');
  });

  it('a PULL as new as the PUSHes: its state, and the duplicate cache of the same KEK', () => {
    const { group, pull } = pulled();
    const old = new PushReceiver({ pull: pull(), memberAddress: MEMBER.address });
    const push = group.rekeyTeks().push;
    accepted(old, push.bytes);
    const current = pull(); // SEQ 1, the TEKs of the push
    assert.equal(current.seq, 1);
    const renewed = new PushReceiver({ pull: current, memberAddress: MEMBER.address, previous: old });
    assert.equal(renewed.stalePull, undefined);
    assert.equal(renewed.lastSeq, 1);
    assert.deepEqual([...renewed.teks.keys()], current.teks.map((t) => hex(t.spi)));
    const repeat = renewed.handle(push.bytes);
    assert.ok(!repeat.accepted && repeat.counter === 'duplicateDropped');
  });

  it('a server restarted with new keys (another KEK, lower SEQ): the PULL wins', () => {
    const before = pulled();
    const old = new PushReceiver({ pull: before.pull(), memberAddress: MEMBER.address });
    accepted(old, before.group.rekeyTeks().push.bytes);
    accepted(old, before.group.rekeyTeks().push.bytes);
    const restarted = pulled('restarted with new keys');
    const fresh = restarted.pull(); // KEK K', SEQ 0
    assert.notEqual(hex(fresh.kek?.spi ?? new Uint8Array()), hex(old.kek?.spi ?? new Uint8Array()));
    const renewed = new PushReceiver({ pull: fresh, memberAddress: MEMBER.address, previous: old });
    assert.equal(renewed.stalePull, undefined);
    assert.equal(hex(renewed.kek?.spi ?? new Uint8Array()), hex(restarted.group.kek.spi));
    assert.equal(renewed.lastSeq, 0);
    assert.deepEqual([...renewed.teks.keys()], fresh.teks.map((t) => hex(t.spi)));
    accepted(renewed, restarted.group.rekeyTeks().push.bytes);
  });
});
