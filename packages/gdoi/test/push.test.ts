/** GROUPKEY-PUSH and its ACK: a GCKS group and a member registered through a real PULL (in-memory). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { aesCbcDecrypt, aesCbcEncrypt, seededRandom, type RandomSource } from '@gvpn/crypto';
import { HEADER_LENGTH } from '@gvpn/wire';
import {
  GcksGroup, GdoiError, PushReceiver, buildPush, generateKek, hex, verifyAck,
} from '../src/index.js';
import type { GroupPolicy, Kek, PushOutcome } from '../src/index.js';
import { MEMBER, policy, setup, signingKey } from './harness.js';

function registered(p: GroupPolicy = policy(), strictSignature = false): { group: GcksGroup; member: PushReceiver } {
  const s = setup({ groups: [p] });
  const pull = s.startPull(p.groupId);
  s.flush();
  assert.equal(pull.state, 'done');
  const group = s.groups.get(p.groupId);
  assert.ok(group !== undefined && pull.result !== undefined);
  return { group, member: new PushReceiver({ pull: pull.result, memberAddress: MEMBER.address, strictSignature }) };
}

/** Everything a dropped PUSH must leave alone. */
function snapshot(m: PushReceiver): string {
  return JSON.stringify({
    kek: m.kek === undefined ? null : [hex(m.kek.spi), hex(m.kek.key.reveal()), hex(m.kek.iv)],
    seq: m.lastSeq,
    teks: [...m.teks.values()].map((t) => [hex(t.spi), hex(t.encKey.reveal())]),
  });
}

function dropped(m: PushReceiver, bytes: Uint8Array, counter: string): void {
  const before = snapshot(m);
  const countBefore = (m.counters as Record<string, number>)[counter];
  const out: PushOutcome = m.handle(bytes);
  assert.equal(out.accepted, false);
  if (!out.accepted) assert.equal(out.counter, counter, out.detail);
  assert.equal((m.counters as Record<string, number>)[counter], (countBefore ?? 0) + 1);
  assert.equal(snapshot(m), before, 'member state unchanged');
}

/** Random bytes, but the next `sameSpis` draws of 4 bytes (TEK SPIs) are all 01010101. */
function spiRepeatingRandom(): RandomSource & { sameSpis: number } {
  const rest = seededRandom('spi-repeating');
  const r = {
    sameSpis: 0,
    bytes: (n: number): Uint8Array => (n === 4 && r.sameSpis > 0 ? (r.sameSpis--, new Uint8Array(4).fill(1)) : rest.bytes(n)),
  };
  return r;
}

describe('TEK SPIs of a group', () => {
  it('two TEKs made together never share a SPI, nor a new TEK the SPI of one it replaces', () => {
    // The test policy has two ipsec-sa; the second (GCM) also draws a 4-byte salt.
    const random = spiRepeatingRandom();
    random.sameSpis = 3; // the first TEK's SPI, the second's SPI and salt
    const group = new GcksGroup(policy(), random, signingKey());
    const first = group.teks.map((t) => hex(t.spi));
    assert.equal(new Set(first).size, 2, `distinct SPIs: ${first.join(', ')}`);
    assert.equal(first[0], '01010101');
    random.sameSpis = 1; // the rekey's first TEK draws the SPI of the TEK it replaces
    const { old } = group.rekeyTeks();
    assert.equal(old.length, 2, 'both old TEKs leave');
    const next = group.teks.map((t) => hex(t.spi));
    assert.equal(new Set([...next, ...first]).size, 4, `rekeyed SPIs ${next.join(', ')} unlike ${first.join(', ')}`);
  });
});

describe('GROUPKEY-PUSH', () => {
  it('a TEK rekey is accepted and applied; the ACK verifies at the GCKS', () => {
    const { group, member } = registered();
    const { push, old } = group.rekeyTeks();
    assert.equal(push.seq, 1);
    const bytes = push.bytes;
    assert.equal(hex(bytes.subarray(0, 16)), hex(group.kek.spi), 'cookies = KEK SPI');
    assert.deepEqual([bytes[17], bytes[18], bytes[19]], [0x10, 33, 1]);
    assert.equal(new DataView(bytes.buffer, bytes.byteOffset).getUint32(20), 0, 'M-ID 0');
    assert.equal((bytes.length - HEADER_LENGTH) % 16, 0);
    const out = member.handle(bytes);
    assert.ok(out.accepted, out.accepted ? '' : out.detail);
    assert.equal(out.seq, 1);
    assert.equal(out.signatureForm, 'digest-info');
    assert.deepEqual(out.newTeks.map((t) => hex(t.spi)), group.teks.map((t) => hex(t.spi)));
    for (const t of group.teks) {
      const installed = member.teks.get(hex(t.spi));
      assert.ok(installed !== undefined);
      assert.equal(hex(installed.encKey.reveal()), hex(t.encKey.reveal()));
    }
    assert.equal(member.teks.size, 4, 'old TEKs stay until their deactivation (daemon) or a delete');
    for (const t of old) assert.ok(member.teks.has(hex(t.spi)));
    assert.equal(member.lastSeq, 1);
    assert.ok(out.ack !== undefined);
    const ack = verifyAck(group.kek, out.ack);
    assert.deepEqual(ack, { ok: true, seq: 1, memberAddress: MEMBER.address });
    const bad = Uint8Array.from(out.ack);
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 1; // member address changed, HASH no longer matches
    assert.equal(verifyAck(group.kek, bad).ok, false);
    const wrongSeq = Uint8Array.from(out.ack);
    const seqAt = wrongSeq.length - 8 - 8;
    wrongSeq[seqAt + 7] = 2;
    assert.equal(verifyAck(group.kek, wrongSeq).ok, false);
  });

  it('the same PUSH again is a duplicate: dropped, counted, its ACK offered again', () => {
    const { group, member } = registered();
    const { push } = group.rekeyTeks();
    const first = member.handle(push.bytes);
    assert.ok(first.accepted);
    const before = snapshot(member);
    const again = member.handle(push.bytes);
    assert.equal(again.accepted, false);
    if (!again.accepted) {
      assert.equal(again.counter, 'duplicateDropped');
      assert.equal(hex(again.ack ?? new Uint8Array()), hex(first.ack ?? new Uint8Array()));
    }
    assert.equal(snapshot(member), before);
  });

  it('a replayed (old) SEQ is dropped and counted, state unchanged', () => {
    const { group, member } = registered();
    const first = group.rekeyTeks().push;
    const second = group.rekeyTeks().push;
    assert.ok(member.handle(second.bytes).accepted);
    dropped(member, first.bytes, 'replayDropped');
    // Equal SEQ with different content (a fresh signature by the real key): also a replay.
    const sameSeq = buildPush({ kek: group.kek, seq: 2, deletes: { teks: [group.teks[0]?.spi ?? new Uint8Array(4)] } });
    dropped(member, sameSeq.bytes, 'replayDropped');
  });

  it('a forged signature (another RSA key) is dropped and counted, state unchanged', () => {
    const { group, member } = registered();
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forgedKek: Kek = { ...group.kek, privateKey };
    const forged = buildPush({ kek: forgedKek, seq: 1, teks: group.teks });
    dropped(member, forged.bytes, 'badSignatureDropped');
    // A genuine push with one signature bit flipped, re-encrypted under the real KEK.
    const genuine = buildPush({ kek: group.kek, seq: 1, teks: group.teks });
    const plain = aesCbcDecrypt(group.kek.key, group.kek.iv, genuine.bytes.subarray(HEADER_LENGTH));
    const at = genuine.unpaddedLength - HEADER_LENGTH - 1;
    plain[at] = (plain[at] as number) ^ 0x01;
    const tampered = Uint8Array.from(genuine.bytes);
    tampered.set(aesCbcEncrypt(group.kek.key, group.kek.iv, plain), HEADER_LENGTH);
    dropped(member, tampered, 'badSignatureDropped');
    assert.ok(member.handle(genuine.bytes).accepted, 'the untampered one verifies');
  });

  it('strict members refuse the bare-digest form; the compat switch makes the GCKS sign that way', () => {
    const p = policy({ compat: { bareDigestSignature: true } });
    const lenient = registered(p);
    const out = lenient.member.handle(lenient.group.rekeyTeks().push.bytes);
    assert.ok(out.accepted);
    assert.equal(out.signatureForm, 'bare');
    const strict = registered(p, true);
    dropped(strict.member, strict.group.rekeyTeks().push.bytes, 'badSignatureDropped');
  });

  it('a PUSH under a wrong KEK is dropped: unknown cookies, or right cookies but undecryptable', () => {
    const { group, member } = registered();
    const other = generateKek(policy().kek, seededRandom('other-kek'), signingKey());
    dropped(member, buildPush({ kek: other, seq: 1, teks: group.teks }).bytes, 'unknownKekDropped');
    const sameSpiWrongKey: Kek = { ...other, spi: group.kek.spi };
    dropped(member, buildPush({ kek: sameSpiWrongKey, seq: 1, teks: group.teks }).bytes, 'decryptFailedDropped');
  });

  it('header rules: flags other than E, a non-zero M-ID, a truncated datagram are dropped', () => {
    const { group, member } = registered();
    const good = group.rekeyTeks().push.bytes;
    const flags = Uint8Array.from(good);
    flags[19] = 0x03;
    dropped(member, flags, 'badFlagsDropped');
    const mid = Uint8Array.from(good);
    mid[23] = 1;
    dropped(member, mid, 'badMessageIdDropped');
    dropped(member, good.subarray(0, 40), 'malformedDropped');
    assert.ok(member.handle(good).accepted, 'the genuine one is still accepted');
  });

  it('KEK rekey, then a TEK push under the new KEK; pushes under the old KEK are dropped afterwards', () => {
    const { group, member } = registered();
    const oldKek = group.kek;
    const oldSpi = hex(oldKek.spi);
    const tekPushUnderOld = buildPush({ kek: oldKek, seq: 5, teks: group.teks });
    const kekPush = group.rekeyKek();
    assert.equal(hex(kekPush.bytes.subarray(0, 16)), oldSpi, 'a new KEK travels under the old one');
    const out = member.handle(kekPush.bytes);
    assert.ok(out.accepted, out.accepted ? '' : out.detail);
    assert.equal(hex(out.newKek?.spi ?? new Uint8Array()), hex(group.kek.spi));
    assert.equal(out.newTeks.length, 0);
    assert.ok(out.ack !== undefined);
    assert.equal(verifyAck(oldKek, out.ack).ok, true, 'ACK keyed by the KEK that decrypted the PUSH');
    assert.equal(hex(member.kek?.key.reveal() ?? new Uint8Array()), hex(group.kek.key.reveal()));
    assert.equal(member.lastSeq, 0);
    const { push } = group.rekeyTeks();
    assert.equal(push.seq, 1, 'SEQ restarts under a new KEK');
    const tekOut = member.handle(push.bytes);
    assert.ok(tekOut.accepted, tekOut.accepted ? '' : tekOut.detail);
    for (const t of group.teks) assert.ok(member.teks.has(hex(t.spi)));
    dropped(member, tekPushUnderOld.bytes, 'unknownKekDropped');
  });

  it('forward access control: a KEK change and new TEKs cannot share a PUSH', () => {
    const { group } = registered();
    const next = generateKek(policy().kek, seededRandom('next'), signingKey());
    assert.throws(() => buildPush({ kek: group.kek, seq: 1, newKek: next, teks: group.teks }),
      (e: unknown) => e instanceof GdoiError && e.code === 'FORWARD_ACCESS');
  });

  it('delete of named TEKs, then delete-all (all TEKs and the KEK)', () => {
    const { group, member } = registered();
    const [t1, t2] = group.teks;
    assert.ok(t1 !== undefined && t2 !== undefined);
    const del = member.handle(group.deleteTeks([t1.spi]).bytes);
    assert.ok(del.accepted);
    assert.deepEqual(del.deletedTeks.map(hex), [hex(t1.spi)]);
    assert.equal(member.teks.has(hex(t1.spi)), false);
    assert.equal(member.teks.has(hex(t2.spi)), true);
    const all = group.deleteAll();
    const plainCheck = member.handle(all.bytes);
    assert.ok(plainCheck.accepted);
    assert.equal(plainCheck.kekDeleted, true);
    assert.deepEqual(plainCheck.deletedTeks.map(hex), [hex(t2.spi)]);
    assert.equal(member.teks.size, 0);
    assert.equal(member.kek, undefined, 'registration over: the member must pull again');
    const after = group.rekeyTeks().push.bytes;
    assert.equal(member.handle(after).accepted, false);
  });

  it('R-CHG-1.4c: a delete of the KEK alone (its SPI) drops the KEK and keeps the TEKs; it is acknowledged; nothing under it is taken after', () => {
    const { group, member } = registered();
    const kek = group.kek;
    const del = group.deleteKek();
    const out = member.handle(del.bytes);
    assert.ok(out.accepted, out.accepted ? '' : out.detail);
    assert.equal(out.kekDeleted, true);
    assert.deepEqual(out.deletedTeks, []);
    assert.deepEqual([...member.teks.keys()].sort(), group.teks.map((t) => hex(t.spi)).sort(), 'TEKs kept');
    assert.equal(member.kek, undefined);
    assert.ok(out.ack !== undefined && verifyAck(kek, out.ack).ok, 'the ACK verifies under the deleted KEK');
    assert.equal(member.handle(group.deleteKek().bytes).accepted, false, 'no KEK: later pushes are dropped');
  });

  it('R-CHG-1.4c: a KEK delete naming another KEK is refused; a replay of the delete is refused', () => {
    const { group, member } = registered();
    const other = generateKek(policy().kek, seededRandom('other'), signingKey());
    dropped(member, buildPush({ kek: group.kek, seq: 1, deletes: { kek: other.spi } }).bytes, 'policyRejectedDropped');
    const del = group.deleteKek();
    assert.ok(member.handle(del.bytes).accepted);
    assert.equal(member.handle(del.bytes).accepted, false, 'a replay finds no KEK');
    assert.throws(() => buildPush({ kek: group.kek, seq: 9, deletes: { kek: new Uint8Array(4) } }), (e: unknown) => e instanceof GdoiError && e.code === 'BAD_STATE');
  });

  it('R-CHG-1.4a: replaceKek makes a new KEK without a push: next SEQ of the old one taken, then SEQ from 0', () => {
    const seen: number[] = [];
    const g = new GcksGroup(policy(), seededRandom('replace'), signingKey(), 7, (n) => seen.push(n));
    const old = g.kek;
    assert.equal(g.replaceKek(), 8);
    assert.notEqual(hex(g.kek.spi), hex(old.spi));
    assert.equal(g.kek.sigBits, old.sigBits, 'the same signing key');
    assert.equal(g.previousKek, undefined);
    assert.equal(g.seq(), 0);
    assert.equal(g.rekeyTeks().push.seq, 1);
    assert.deepEqual(seen, [8, 1]);
  });

  it('the SEQ counter never goes backwards and reports each value for persistence', () => {
    const seen: number[] = [];
    const g = new GcksGroup(policy(), seededRandom('seq'), signingKey(), 41, (n) => seen.push(n));
    g.rekeyTeks();
    g.deleteTeks([g.teks[0]?.spi ?? new Uint8Array(4)]);
    assert.deepEqual(seen, [42, 43]);
    assert.equal(g.seq(), 43);
  });
});
