/**
 * KEK and TEK material and their wire forms (RFC 6407 §5.3 SAK, §5.5.1 SAT, §5.6 KD key packets).
 *
 * Symmetric keys, SPIs and IVs come from the injected RandomSource. The RSA signing key pair comes from
 * node:crypto (`generateKeyPairSync`), which is native and fast here (RSA-2048 sign 284/ms-class figures in
 * /work/shared/notes/performance.md; noble has no RSA) — it uses the OS CSPRNG, not the RandomSource, so
 * tests that need determinism pass a pre-made key pair. SIG_ALGORITHM_KEY carries the public key as a DER
 * SubjectPublicKeyInfo, as gdoid does (protocol.md §1.8; the RFC does not fix the encoding).
 */
import { createPublicKey, generateKeyPair, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { Secret } from '@gvpn/crypto';
import type { RandomSource } from '@gvpn/crypto';
import { KdType, KekKeyAttr, TekKeyAttr, TekProtocolId, attributeNumber } from '@gvpn/wire';
import type { Attribute, IpsecSatPayload, KeyPacket, SakPayload, SatPayload } from '@gvpn/wire';
import {
  ADDRESS_PRESERVATION_BOTH, ANTI_REPLAY_WINDOW_ATTR, ENCAPSULATION_TUNNEL, KEK_ALG_AES, KekAttr, LIFE_TYPE_SECONDS,
  REKEY_ACK_KEK_SHA256, SA_DIRECTION_SYMMETRIC, SIG_ALG_RSA, SIG_HASH_VALUE, TekAttr, addressIdentity, kekKeyLength,
  selectorFromIdentity, selectorIdentity, tekAlgorithm, tekPolicyFromWire,
} from './group-policy.js';
import type { KekCipher, KekPolicy, SigHash, TekPolicy } from './group-policy.js';

export const KEK_IV_LENGTH = 16;
/** IP protocol of PUSH datagrams (UDP), carried in the SAK. */
export const PUSH_PROTOCOL_UDP = 17;

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** DER SubjectPublicKeyInfo, the SIG_ALGORITHM_KEY value. */
  publicKeyDer: Uint8Array;
  bits: number;
}

/** A KEK as the GCKS holds it (with `signing.privateKey`) or as a member installed it (public key only). */
export interface Kek {
  /** 16 bytes = icookie | rcookie of the PUSH headers it protects. */
  spi: Uint8Array;
  cipher: KekCipher;
  key: Secret;
  /** The static IV of every PUSH under this KEK (protocol.md §1.10). */
  iv: Uint8Array;
  sigHash: SigHash;
  lifetimeSeconds: number;
  /** RFC 8263 KEK_ACK_REQUESTED value (1 = REKEY_ACK_KEK_SHA256, 3 = ..._SHA512), undefined = none. */
  ackType?: number;
  publicKey: KeyObject;
  publicKeyDer: Uint8Array;
  sigBits: number;
  /** GCKS only. */
  privateKey?: KeyObject;
  /** The SAK this KEK travels in (PUSH source/destination identities). */
  sak: SakPayload;
}

export interface Tek {
  /** 4 bytes, never zero. */
  spi: Uint8Array;
  policy: TekPolicy;
  /** Encryption key, without the GCM salt. */
  encKey: Secret;
  /** GCM only: the 4-byte salt (RFC 4106). */
  salt?: Uint8Array;
  authKey?: Secret;
}

export function generateSigningKey(bits: number): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  return signingKeyFrom(privateKey, publicKey);
}

/**
 * The same, off the event loop (libuv's thread pool): an RSA-2048 key takes 100-500 ms here, longer than a
 * root-pair heartbeat may go unanswered.
 */
export function generateSigningKeyAsync(bits: number): Promise<SigningKey> {
  return new Promise((resolve, reject) => {
    generateKeyPair('rsa', { modulusLength: bits }, (error, publicKey, privateKey) => {
      if (error !== null) reject(error);
      else resolve(signingKeyFrom(privateKey, publicKey));
    });
  });
}

export function signingKeyFrom(privateKey: KeyObject, publicKey: KeyObject): SigningKey {
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return { privateKey, publicKey, publicKeyDer: new Uint8Array(der), bits: publicKey.asymmetricKeyDetails?.modulusLength ?? 0 };
}

function nonZero(random: RandomSource, n: number): Uint8Array {
  for (;;) {
    const b = random.bytes(n);
    if (b.some((x) => x !== 0)) return b;
  }
}

/** A fresh KEK: 16-byte SPI whose two cookies are each non-zero, key, static IV; `signing` is reused. */
export function generateKek(policy: KekPolicy, random: RandomSource, signing: SigningKey): Kek {
  const spi = new Uint8Array(16);
  spi.set(nonZero(random, 8), 0);
  spi.set(nonZero(random, 8), 8);
  const kek: Omit<Kek, 'sak'> = {
    spi, cipher: policy.cipher, key: new Secret(random.bytes(kekKeyLength(policy.cipher))), iv: random.bytes(KEK_IV_LENGTH),
    sigHash: policy.sigHash, lifetimeSeconds: policy.lifetimeSeconds, publicKey: signing.publicKey,
    publicKeyDer: signing.publicKeyDer, sigBits: signing.bits, privateKey: signing.privateKey,
    ...(policy.ackRequested ? { ackType: REKEY_ACK_KEK_SHA256 } : {}),
  };
  return { ...kek, sak: buildSak(kek, policy) };
}

/** A fresh TEK with a non-zero 4-byte SPI and keys of the lengths its transform needs. */
export function generateTek(policy: TekPolicy, random: RandomSource): Tek {
  const alg = tekAlgorithm(policy);
  const tek: Tek = { spi: nonZero(random, 4), policy, encKey: new Secret(random.bytes(alg.keyLength)) };
  if (alg.saltLength > 0) tek.salt = random.bytes(alg.saltLength);
  if (alg.authKeyLength > 0) tek.authKey = new Secret(random.bytes(alg.authKeyLength));
  return tek;
}

/** The same KEK with its SAK naming `policy`'s push source and destination (the server that sends its pushes). */
export function readdressKek(kek: Kek, policy: KekPolicy): Kek {
  return { ...kek, sak: buildSak(kek, policy) };
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

function buildSak(kek: Omit<Kek, 'sak'>, policy: KekPolicy): SakPayload {
  const attributes: Attribute[] = [
    { type: KekAttr.Algorithm, value: KEK_ALG_AES },
    { type: KekAttr.KeyLength, value: kekKeyLength(kek.cipher) * 8 },
    { type: KekAttr.KeyLifetime, bytes: u32(kek.lifetimeSeconds) },
    { type: KekAttr.SigHashAlgorithm, value: SIG_HASH_VALUE[kek.sigHash] },
    { type: KekAttr.SigAlgorithm, value: SIG_ALG_RSA },
    { type: KekAttr.SigKeyLength, value: kek.sigBits },
  ];
  if (kek.ackType !== undefined) attributes.push({ type: KekAttr.AckRequested, value: kek.ackType });
  return {
    type: 15, protocol: PUSH_PROTOCOL_UDP,
    src: addressIdentity(policy.pushSource.address, policy.pushSource.port),
    dst: addressIdentity(policy.pushDestination.address, policy.pushDestination.port),
    spi: kek.spi, attributes,
  };
}

/** `lifetimeSeconds`: what the SAT says is left (a pull late in the TEK's life); default the full lifetime. */
export function satPayload(tek: Tek, lifetimeSeconds = tek.policy.lifetimeSeconds): IpsecSatPayload {
  const p = tek.policy;
  const alg = tekAlgorithm(p);
  const attributes: Attribute[] = [
    { type: TekAttr.SaLifeType, value: LIFE_TYPE_SECONDS },
    { type: TekAttr.SaLifeDuration, bytes: u32(lifetimeSeconds) },
    { type: TekAttr.EncapsulationMode, value: ENCAPSULATION_TUNNEL },
  ];
  if (alg.authAlgorithm !== undefined) attributes.push({ type: TekAttr.AuthenticationAlgorithm, value: alg.authAlgorithm });
  attributes.push(
    { type: TekAttr.KeyLength, value: alg.keyLength * 8 },
    { type: TekAttr.AddressPreservation, value: ADDRESS_PRESERVATION_BOTH },
    { type: TekAttr.SaDirection, value: SA_DIRECTION_SYMMETRIC },
  );
  if (p.antiReplayWindowSeconds !== undefined) attributes.push({ type: ANTI_REPLAY_WINDOW_ATTR, value: p.antiReplayWindowSeconds });
  return {
    type: 16, kind: 'ipsec', protocolId: TekProtocolId.IpsecEsp, protocol: p.protocol,
    src: selectorIdentity(p.source), dst: selectorIdentity(p.destination), transformId: alg.transformId, spi: tek.spi, attributes,
  };
}

/** KD KEK packet: KEK_ALGORITHM_KEY = IV | key, SIG_ALGORITHM_KEY = SPKI. */
export function kekKeyPacket(kek: Kek): KeyPacket {
  const ivKey = new Uint8Array(KEK_IV_LENGTH + kek.key.length);
  ivKey.set(kek.iv, 0);
  ivKey.set(kek.key.reveal(), KEK_IV_LENGTH);
  return {
    kdType: KdType.Kek, spi: kek.spi,
    attributes: [{ type: KekKeyAttr.AlgorithmKey, bytes: ivKey }, { type: KekKeyAttr.SigAlgorithmKey, bytes: kek.publicKeyDer }],
  };
}

/** KD TEK packet: TEK_ALGORITHM_KEY = key (| salt for GCM), TEK_INTEGRITY_KEY for CBC. */
export function tekKeyPacket(tek: Tek): KeyPacket {
  const key = tek.encKey.reveal();
  const algKey = new Uint8Array(key.length + (tek.salt?.length ?? 0));
  algKey.set(key, 0);
  if (tek.salt !== undefined) algKey.set(tek.salt, key.length);
  const attributes: Attribute[] = [{ type: TekKeyAttr.AlgorithmKey, bytes: algKey }];
  if (tek.authKey !== undefined) attributes.push({ type: TekKeyAttr.IntegrityKey, bytes: Uint8Array.from(tek.authKey.reveal()) });
  return { kdType: KdType.Tek, spi: tek.spi, attributes };
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

function fail<T>(reason: string): Parsed<T> {
  return { ok: false, reason };
}

/**
 * The two key attributes a KD packet may carry (KEK: algorithm key, signature key; TEK: algorithm key,
 * integrity key), each once and in TLV form; a TV attribute, a repeat or any other type is refused.
 */
function keyPacketAttributes(packet: KeyPacket, what: 'KEK' | 'TEK', firstType: number, secondType: number):
  Parsed<[Uint8Array | undefined, Uint8Array | undefined]> {
  let first: Uint8Array | undefined;
  let second: Uint8Array | undefined;
  for (const a of packet.attributes) {
    if ('value' in a) return fail(`${what} key attribute ${a.type} in TV form`);
    if (a.type === firstType && first === undefined) first = a.bytes;
    else if (a.type === secondType && second === undefined) second = a.bytes;
    else return fail(`unexpected ${what} key attribute ${a.type}`);
  }
  return { ok: true, value: [first, second] };
}

function tvOnly(a: Attribute): number | undefined {
  return 'value' in a ? a.value : undefined;
}

function numberOf(a: Attribute): number | undefined {
  try {
    return attributeNumber(a);
  } catch {
    return undefined;
  }
}

const SIG_HASH_BY_VALUE: ReadonlyMap<number, SigHash> = new Map([[2, 'sha1'], [3, 'sha256'], [4, 'sha384']]);

/**
 * A member's view of a KEK from its SAK and KD KEK packet. Unknown KEK attributes abort (RFC 6407 §5.3.2);
 * KEK_MANAGEMENT_ALGORITHM is ignored (it MUST NOT appear in a PULL). Lifetimes are accepted TV or TLV.
 */
export function kekFromWire(sak: SakPayload, packet: KeyPacket): Parsed<Kek> {
  let alg: number | undefined;
  let keyBits: number | undefined;
  let lifetime: number | undefined;
  let sigHashValue: number | undefined;
  let sigAlg: number | undefined;
  let sigBits: number | undefined;
  let ackType: number | undefined;
  for (const a of sak.attributes) {
    switch (a.type) {
      case KekAttr.ManagementAlgorithm: break;
      case KekAttr.Algorithm: alg = tvOnly(a); break;
      case KekAttr.KeyLength: keyBits = tvOnly(a); break;
      case KekAttr.KeyLifetime: lifetime = numberOf(a); break;
      case KekAttr.SigHashAlgorithm: sigHashValue = tvOnly(a); break;
      case KekAttr.SigAlgorithm: sigAlg = tvOnly(a); break;
      case KekAttr.SigKeyLength: sigBits = tvOnly(a); break;
      case KekAttr.AckRequested: ackType = tvOnly(a); break;
      default: return fail(`unknown KEK attribute ${a.type}`);
    }
  }
  if (alg !== KEK_ALG_AES) return fail(`KEK algorithm ${alg ?? 'missing'}`);
  const cipher: KekCipher | undefined = keyBits === 128 ? 'aes-128-cbc' : keyBits === 192 ? 'aes-192-cbc' : keyBits === 256 ? 'aes-256-cbc' : undefined;
  if (cipher === undefined) return fail(`KEK key length ${keyBits ?? 'missing'}`);
  if (sigAlg !== SIG_ALG_RSA) return fail(`signature algorithm ${sigAlg ?? 'missing'}`);
  const sigHash = SIG_HASH_BY_VALUE.get(sigHashValue ?? 0);
  if (sigHash === undefined) return fail(`signature hash ${sigHashValue ?? 'missing'}`);
  if (lifetime === undefined || lifetime === 0) return fail('KEK lifetime missing');
  if (ackType !== undefined && ackType !== 1 && ackType !== 3) return fail(`KEK_ACK_REQUESTED ${ackType}`);
  if (packet.kdType !== KdType.Kek || !equal(packet.spi, sak.spi)) return fail('KD KEK packet does not match the SAK SPI');
  const keyAttrs = keyPacketAttributes(packet, 'KEK', KekKeyAttr.AlgorithmKey, KekKeyAttr.SigAlgorithmKey);
  if (!keyAttrs.ok) return keyAttrs;
  const [algKey, spki] = keyAttrs.value;
  const keyLength = kekKeyLength(cipher);
  if (algKey?.length !== KEK_IV_LENGTH + keyLength) return fail(`KEK_ALGORITHM_KEY of ${algKey?.length ?? 0} bytes`);
  if (spki === undefined) return fail('SIG_ALGORITHM_KEY missing');
  const publicKey = importSignatureKey(spki);
  if (publicKey === undefined) return fail('SIG_ALGORITHM_KEY is not a DER SubjectPublicKeyInfo');
  if (publicKey.asymmetricKeyType !== 'rsa') return fail(`signature key type ${publicKey.asymmetricKeyType ?? '?'}`);
  const bits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 1024) return fail(`RSA key of ${bits} bits`);
  if (sigBits !== undefined && sigBits !== bits) return fail(`SIG_KEY_LENGTH ${sigBits}, key has ${bits} bits`);
  return {
    ok: true,
    value: {
      spi: Uint8Array.from(sak.spi), cipher, key: Secret.copyOf(algKey.subarray(KEK_IV_LENGTH)), iv: algKey.slice(0, KEK_IV_LENGTH),
      sigHash, lifetimeSeconds: lifetime, publicKey, publicKeyDer: Uint8Array.from(spki), sigBits: bits, sak,
      ...(ackType === undefined ? {} : { ackType }),
    },
  };
}

/**
 * The last few group signature keys imported, by their DER bytes. Importing an RSA public key costs about
 * as much as a DH computation, and every registration to a group carries the same key: a process holding
 * many members (a lab host, the registration benchmark's generator, a member re-registering) imports it
 * once. Keys are public and immutable; the cache is bounded.
 */
const importedSignatureKeys = new Map<string, KeyObject>();
const IMPORTED_SIGNATURE_KEYS_MAX = 16;

function importSignatureKey(spki: Uint8Array): KeyObject | undefined {
  const id = Buffer.from(spki).toString('base64');
  let key = importedSignatureKeys.get(id);
  if (key !== undefined) return key;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
  if (importedSignatureKeys.size >= IMPORTED_SIGNATURE_KEYS_MAX) importedSignatureKeys.delete(importedSignatureKeys.keys().next().value as string);
  importedSignatureKeys.set(id, key);
  return key;
}

/** A member's view of a TEK from its SAT and KD TEK packet. Unknown SA attributes abort. */
export function tekFromWire(sat: SatPayload, packet: KeyPacket): Parsed<Tek> {
  if (sat.kind !== 'ipsec' || sat.protocolId !== TekProtocolId.IpsecEsp) return fail(`TEK protocol ${sat.protocolId}`);
  let lifeType: number | undefined;
  let lifetime: number | undefined;
  let keyBits: number | undefined;
  let authAlg: number | undefined;
  let encapsulation: number | undefined;
  let antiReplay: number | undefined;
  for (const a of sat.attributes) {
    switch (a.type) {
      case TekAttr.SaLifeType: lifeType = tvOnly(a); break;
      case TekAttr.SaLifeDuration: lifetime = numberOf(a); break;
      case TekAttr.GroupDescription: break;
      case TekAttr.EncapsulationMode: encapsulation = tvOnly(a); break;
      case TekAttr.AuthenticationAlgorithm: authAlg = tvOnly(a); break;
      case TekAttr.KeyLength: keyBits = tvOnly(a); break;
      case TekAttr.AddressPreservation: break;
      case TekAttr.SaDirection: break;
      case ANTI_REPLAY_WINDOW_ATTR: antiReplay = tvOnly(a); break;
      default: return fail(`unknown TEK attribute ${a.type}`);
    }
  }
  if (lifeType !== undefined && lifeType !== LIFE_TYPE_SECONDS) return fail(`TEK life type ${lifeType}`);
  if (lifetime === undefined || lifetime === 0) return fail('TEK lifetime missing');
  if (encapsulation !== undefined && encapsulation !== ENCAPSULATION_TUNNEL && encapsulation !== 2) return fail(`encapsulation ${encapsulation}`);
  const algPolicy = tekPolicyFromWire(sat.transformId, keyBits, authAlg);
  if (algPolicy === undefined) return fail(`TEK transform ${sat.transformId} key length ${keyBits ?? 'missing'} auth ${authAlg ?? 'none'}`);
  const source = selectorFromIdentity(sat.src);
  const destination = selectorFromIdentity(sat.dst);
  if (source === undefined || destination === undefined) return fail('unsupported TEK selector');
  if (packet.kdType !== KdType.Tek || !equal(packet.spi, sat.spi)) return fail('KD TEK packet does not match the SAT SPI');
  const alg = tekAlgorithm(algPolicy);
  const keyAttrs = keyPacketAttributes(packet, 'TEK', TekKeyAttr.AlgorithmKey, TekKeyAttr.IntegrityKey);
  if (!keyAttrs.ok) return keyAttrs;
  const [algKey, authKey] = keyAttrs.value;
  if (algKey?.length !== alg.keyLength + alg.saltLength) return fail(`TEK_ALGORITHM_KEY of ${algKey?.length ?? 0} bytes`);
  if ((authKey?.length ?? 0) !== alg.authKeyLength) return fail(`TEK_INTEGRITY_KEY of ${authKey?.length ?? 0} bytes`);
  const policy: TekPolicy = {
    name: `spi-${Buffer.from(sat.spi).toString('hex')}`, ...algPolicy, protocol: sat.protocol, source, destination, lifetimeSeconds: lifetime,
    ...(antiReplay === undefined ? {} : { antiReplayWindowSeconds: antiReplay }),
  };
  const tek: Tek = { spi: Uint8Array.from(sat.spi), policy, encKey: Secret.copyOf(algKey.subarray(0, alg.keyLength)) };
  if (alg.saltLength > 0) tek.salt = algKey.slice(alg.keyLength);
  if (authKey !== undefined) tek.authKey = Secret.copyOf(authKey);
  return { ok: true, value: tek };
}

export function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
