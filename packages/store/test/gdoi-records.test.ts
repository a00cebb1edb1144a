/** KEK and TEK records: real keys through an encrypted store and back, byte for byte and usable. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sign, verify } from 'node:crypto';
import { join } from 'node:path';
import { seededRandom } from '@gvpn/crypto';
import {
  generateKek, generateSigningKey, generateTek, hex, kekFromWire, kekKeyPacket, satPayload, tekFromWire, tekKeyPacket,
} from '@gvpn/gdoi';
import type { Kek, KekPolicy, Tek, TekPolicy } from '@gvpn/gdoi';
import { StoreError, kekFromRecord, kekRecord, openStore, tekFromRecord, tekRecord } from '../src/index.js';
import { KEY_HEX, keyBytes, recordingLog, tempDirs } from './helpers.js';

const dirs = tempDirs();
after(() => dirs.cleanup());

// As packages/gdoi/test/harness.ts makes them.
const KEK_POLICY: KekPolicy = {
  cipher: 'aes-256-cbc', lifetimeSeconds: 3600, sigHash: 'sha256', rsaBits: 2048, ackRequested: true,
  pushSource: { address: '127.0.0.2', port: 848 }, pushDestination: { address: '127.0.0.1', port: 848 },
};
const TEK_CBC: TekPolicy = {
  name: 'ipsec-1', cipher: 'aes-256-cbc', integrity: 'hmac-sha-256-128', protocol: 0,
  source: { prefix: '172.16.0.0/12', port: 0 }, destination: { prefix: '172.16.0.0/12', port: 0 },
  lifetimeSeconds: 3600, antiReplayWindowSeconds: 100,
};
const TEK_GCM: TekPolicy = {
  name: 'ipsec-2', cipher: 'aes-gcm-256', protocol: 17,
  source: { prefix: '10.1.0.0/16', port: 0 }, destination: { prefix: '10.2.0.0/16', port: 5000 }, lifetimeSeconds: 1800,
};

const signing = generateSigningKey(2048);

function throughStore<T>(value: unknown, back: (r: unknown) => T): T {
  const s = openStore({ path: join(dirs.make(), 'state.db'), log: recordingLog(), encryptionKey: keyBytes(KEY_HEX), env: {} });
  s.put('keys', 'one', value);
  s.close();
  const again = openStore({ path: s.path, log: recordingLog(), encryptionKey: keyBytes(KEY_HEX), env: {} });
  const r = again.get('keys', 'one');
  again.close();
  return back(r);
}

function sameKek(a: Kek, b: Kek): void {
  assert.equal(hex(b.spi), hex(a.spi));
  assert.equal(b.cipher, a.cipher);
  assert.equal(hex(b.key.reveal()), hex(a.key.reveal()));
  assert.equal(hex(b.iv), hex(a.iv));
  assert.equal(b.sigHash, a.sigHash);
  assert.equal(b.lifetimeSeconds, a.lifetimeSeconds);
  assert.equal(b.ackType, a.ackType);
  assert.equal(b.sigBits, a.sigBits);
  assert.equal(hex(b.publicKeyDer), hex(a.publicKeyDer));
  assert.ok(b.publicKey.equals(a.publicKey));
  assert.deepEqual(b.sak, a.sak);
  assert.deepEqual(kekKeyPacket(b), kekKeyPacket(a), 'the same KD packet on the wire');
}

describe('KEK and TEK records', () => {
  it('a GCKS KEK (with its private key) round-trips, and the restored key signs what the old one verifies', () => {
    const kek = generateKek(KEK_POLICY, seededRandom('kek'), signing);
    assert.ok(kek.privateKey !== undefined);
    const back = throughStore(kekRecord(kek), kekFromRecord);
    sameKek(kek, back);
    assert.ok(back.privateKey !== undefined && back.privateKey.equals(kek.privateKey));
    const data = Buffer.from('push to sign');
    assert.ok(verify('sha256', data, kek.publicKey, sign('sha256', data, back.privateKey)));
  });

  it('a member KEK (public key only, as parsed from the wire) round-trips without a private key', () => {
    const gcks = generateKek({ ...KEK_POLICY, ackRequested: false, cipher: 'aes-128-cbc' }, seededRandom('member'), signing);
    const parsed = kekFromWire(gcks.sak, kekKeyPacket(gcks));
    assert.ok(parsed.ok);
    const record = kekRecord(parsed.value);
    assert.equal('privateKeyDer' in record, false);
    assert.equal('ackType' in record, false);
    const back = throughStore(record, kekFromRecord);
    sameKek(parsed.value, back);
    assert.equal(back.privateKey, undefined);
  });

  it('TEKs, CBC+HMAC (auth key) and GCM (salt), round-trip to the same SAT and KD packet', () => {
    for (const p of [TEK_CBC, TEK_GCM]) {
      const tek = generateTek(p, seededRandom(p.name));
      const back = throughStore(tekRecord(tek), tekFromRecord);
      assert.equal(hex(back.spi), hex(tek.spi));
      assert.deepEqual(back.policy, tek.policy);
      assert.equal(hex(back.encKey.reveal()), hex(tek.encKey.reveal()));
      assert.equal(back.salt === undefined ? undefined : hex(back.salt), tek.salt === undefined ? undefined : hex(tek.salt));
      assert.equal(back.authKey === undefined ? undefined : hex(back.authKey.reveal()), tek.authKey === undefined ? undefined : hex(tek.authKey.reveal()));
      assert.deepEqual(satPayload(back), satPayload(tek));
      assert.deepEqual(tekKeyPacket(back), tekKeyPacket(tek));
      const member = tekFromWire(satPayload(back), tekKeyPacket(back));
      assert.ok(member.ok, 'a member accepts the restored TEK');
    }
    assert.equal(generateTek(TEK_GCM, seededRandom('g')).authKey, undefined);
  });

  it('a record with a missing or mistyped field is BAD_RECORD, naming the field', () => {
    const kek = kekRecord(generateKek(KEK_POLICY, seededRandom('bad'), signing));
    const tek = tekRecord(generateTek(TEK_CBC, seededRandom('bad')));
    const cases: [() => Kek | Tek, RegExp][] = [
      [() => kekFromRecord(null), /KEK record is not an object/],
      [() => kekFromRecord({ ...kek, spi: new Uint8Array(8) }), /spi is 8 bytes, not 16/],
      [() => kekFromRecord({ ...kek, key: kek.key.reveal() }), /key is not a secret/],
      [() => kekFromRecord({ ...kek, cipher: 'des' }), /cipher is not one of/],
      [() => kekFromRecord({ ...kek, publicKeyDer: new Uint8Array(10) }), /publicKeyDer is not a DER/],
      [() => kekFromRecord({ ...kek, lifetimeSeconds: '3600' }), /lifetimeSeconds/],
      [() => kekFromRecord({ ...kek, sak: undefined }), /SAK record is not an object/],
      [() => tekFromRecord({ ...tek, spi: undefined }), /TEK record: spi is not bytes/],
      [() => tekFromRecord({ ...tek, policy: {} }), /policy lacks name or cipher/],
      [() => tekFromRecord({ ...tek, authKey: 'x' }), /authKey is not a secret/],
    ];
    for (const [f, re] of cases) {
      assert.throws(f, (e: unknown) => e instanceof StoreError && e.code === 'BAD_RECORD' && re.test(e.message), String(re));
    }
  });
});
