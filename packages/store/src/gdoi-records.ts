/**
 * KEK and TEK as storable records (plain objects of bytes, Secrets, strings and numbers — what codec.ts
 * round-trips) and back.
 *
 *   KEK: the KeyObjects become DER — the public key as SPKI (the `publicKeyDer` the Kek already carries),
 *        the private key (GCKS only) as PKCS#8 in a Secret, so it is handled as key material everywhere.
 *        The SAK payload is stored as it is (its identities and attributes are bytes and numbers).
 *   TEK: policy, SPI, keys and salt as they are.
 *
 * A record shares the Kek's/Tek's Secrets (no copies): put it in the store right away. `*FromRecord` checks
 * the record's shape and throws StoreError BAD_RECORD for a missing or mistyped field.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { Secret } from '@gvpn/crypto';
import type { Kek, Tek } from '@gvpn/gdoi';
import { StoreError } from './errors.js';

export interface KekRecord {
  spi: Uint8Array;
  cipher: Kek['cipher'];
  key: Secret;
  iv: Uint8Array;
  sigHash: Kek['sigHash'];
  lifetimeSeconds: number;
  ackType?: number;
  /** DER SubjectPublicKeyInfo. */
  publicKeyDer: Uint8Array;
  sigBits: number;
  /** DER PKCS#8; GCKS only. */
  privateKeyDer?: Secret;
  sak: Kek['sak'];
}

export interface TekRecord {
  spi: Uint8Array;
  policy: Tek['policy'];
  encKey: Secret;
  salt?: Uint8Array;
  authKey?: Secret;
}

export function kekRecord(kek: Kek): KekRecord {
  const r: KekRecord = {
    spi: kek.spi, cipher: kek.cipher, key: kek.key, iv: kek.iv, sigHash: kek.sigHash, lifetimeSeconds: kek.lifetimeSeconds,
    publicKeyDer: kek.publicKeyDer, sigBits: kek.sigBits, sak: kek.sak,
  };
  if (kek.ackType !== undefined) r.ackType = kek.ackType;
  if (kek.privateKey !== undefined) r.privateKeyDer = new Secret(new Uint8Array(kek.privateKey.export({ format: 'der', type: 'pkcs8' })));
  return r;
}

export function tekRecord(tek: Tek): TekRecord {
  const r: TekRecord = { spi: tek.spi, policy: tek.policy, encKey: tek.encKey };
  if (tek.salt !== undefined) r.salt = tek.salt;
  if (tek.authKey !== undefined) r.authKey = tek.authKey;
  return r;
}

function badRecord(what: string, field: string, problem: string): StoreError {
  return new StoreError('BAD_RECORD', `${what} record: ${field} ${problem}`);
}

function object(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new StoreError('BAD_RECORD', `${what} record is not an object`);
  return v as Record<string, unknown>;
}

function bytes(r: Record<string, unknown>, what: string, field: string, length?: number): Uint8Array {
  const v = r[field];
  if (!(v instanceof Uint8Array)) throw badRecord(what, field, 'is not bytes');
  if (length !== undefined && v.length !== length) throw badRecord(what, field, `is ${v.length} bytes, not ${length}`);
  return v;
}

function secret(r: Record<string, unknown>, what: string, field: string): Secret {
  const v = r[field];
  if (!(v instanceof Secret)) throw badRecord(what, field, 'is not a secret');
  return v;
}

function int(r: Record<string, unknown>, what: string, field: string): number {
  const v = r[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw badRecord(what, field, 'is not a non-negative integer');
  return v;
}

function oneOf<T extends string>(r: Record<string, unknown>, what: string, field: string, values: readonly T[]): T {
  const v = r[field];
  if (!values.includes(v as T)) throw badRecord(what, field, `is not one of ${values.join(', ')}`);
  return v as T;
}

const KEK_CIPHERS = ['aes-128-cbc', 'aes-192-cbc', 'aes-256-cbc'] as const;
const SIG_HASHES = ['sha1', 'sha256', 'sha384'] as const;

export function kekFromRecord(record: unknown): Kek {
  const what = 'KEK';
  const r = object(record, what);
  const publicKeyDer = bytes(r, what, 'publicKeyDer');
  let publicKey: KeyObject;
  let privateKey: KeyObject | undefined;
  try {
    publicKey = createPublicKey({ key: Buffer.from(publicKeyDer), format: 'der', type: 'spki' });
  } catch {
    throw badRecord(what, 'publicKeyDer', 'is not a DER SubjectPublicKeyInfo');
  }
  if (r['privateKeyDer'] !== undefined) {
    const der = secret(r, what, 'privateKeyDer').reveal();
    try {
      privateKey = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
    } catch {
      throw badRecord(what, 'privateKeyDer', 'is not a DER PKCS#8 private key');
    }
  }
  const sak = object(r['sak'], 'KEK SAK');
  bytes(sak, 'KEK SAK', 'spi', 16);
  if (!Array.isArray(sak['attributes'])) throw badRecord(what, 'sak.attributes', 'is not a list');
  const kek: Kek = {
    spi: bytes(r, what, 'spi', 16), cipher: oneOf(r, what, 'cipher', KEK_CIPHERS), key: secret(r, what, 'key'),
    iv: bytes(r, what, 'iv', 16), sigHash: oneOf(r, what, 'sigHash', SIG_HASHES), lifetimeSeconds: int(r, what, 'lifetimeSeconds'),
    publicKey, publicKeyDer, sigBits: int(r, what, 'sigBits'), sak: sak as unknown as Kek['sak'],
  };
  if (r['ackType'] !== undefined) kek.ackType = int(r, what, 'ackType');
  if (privateKey !== undefined) kek.privateKey = privateKey;
  return kek;
}

export function tekFromRecord(record: unknown): Tek {
  const what = 'TEK';
  const r = object(record, what);
  const policy = object(r['policy'], 'TEK policy');
  if (typeof policy['name'] !== 'string' || typeof policy['cipher'] !== 'string') throw badRecord(what, 'policy', 'lacks name or cipher');
  object(policy['source'], 'TEK policy source');
  object(policy['destination'], 'TEK policy destination');
  const tek: Tek = { spi: bytes(r, what, 'spi', 4), policy: policy as unknown as Tek['policy'], encKey: secret(r, what, 'encKey') };
  if (r['salt'] !== undefined) tek.salt = bytes(r, what, 'salt');
  if (r['authKey'] !== undefined) tek.authKey = secret(r, what, 'authKey');
  return tek;
}
