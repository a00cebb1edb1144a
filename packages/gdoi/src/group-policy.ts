/**
 * A group's policy as data (RFC 6407 §5.2-5.5): what the GCKS distributes and what a member checks.
 *
 * - The group is named by a number carried in an ID_KEY_ID of 4 octets, big-endian (RFC 6407 §5.1).
 *   gdoid writes it little-endian (protocol.md §1.3): accepted only behind `compat.groupIdLittleEndian`.
 * - KEK policy (SAK, §5.3): AES-CBC-128/192/256 for push encryption, RSA signatures (PKCS#1 v1.5) with
 *   SHA-256 / SHA-384 (SHA-1 only as a compatibility setting), lifetime, RFC 8263 ACK request.
 * - TEK policies (SAT, §5.5.1): ESP, AES-CBC + HMAC-SHA-256-128 by default, or AES-GCM-128/256; traffic
 *   selectors; lifetime; tunnel mode with address preservation; anti-replay window or none.
 * - ATD/DTD (GAP, §5.4).
 */
import { EspTransformId, IdType, KekAttr, TekAttr } from '@gvpn/wire';
import type { GdoiIdentity } from '@gvpn/wire';
import { GdoiError } from './errors.js';

export type KekCipher = 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc';
/** `sha1` exists only for peers limited to it (gdoid); RFC 6407 §6 makes SHA-256 mandatory. */
export type SigHash = 'sha256' | 'sha384' | 'sha1';
export type TekCipher = 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc' | 'aes-gcm-128' | 'aes-gcm-256';
export type TekIntegrity = 'hmac-sha-256-128' | 'hmac-sha1-96';

export interface KekPolicy {
  cipher: KekCipher;
  lifetimeSeconds: number;
  sigHash: SigHash;
  /** RSA modulus bits (2048 default, RFC 6407 §6). */
  rsaBits: number;
  /** RFC 8263 KEK_ACK_REQUESTED = REKEY_ACK_KEK_SHA256 in the SAK. */
  ackRequested: boolean;
  /** Addresses/ports of the PUSH datagrams, carried in the SAK (src = GCKS, dst = member or group). */
  pushSource: { address: string; port: number };
  pushDestination: { address: string; port: number };
}

export interface Selector {
  /** IPv4 prefix, e.g. "172.16.0.0/12". */
  prefix: string;
  /** 0 = any. */
  port: number;
}

export interface TekPolicy {
  name: string;
  cipher: TekCipher;
  /** Required for CBC, must be absent for GCM. */
  integrity?: TekIntegrity;
  /** IP protocol of the protected traffic, 0 = any. */
  protocol: number;
  source: Selector;
  destination: Selector;
  lifetimeSeconds: number;
  /**
   * Anti-replay time window in seconds, or undefined for `no-anti-replay`. RFC 6407 has no attribute for it:
   * it travels in the private-use SA attribute ANTI_REPLAY_WINDOW_ATTR (RFC 2407 §4.5 private range), and
   * only when set, so peers that do not know it are never sent it unless the operator configured one.
   */
  antiReplayWindowSeconds?: number;
}

/** Whether two TEK policies protect the same traffic: protocol and both selectors (what tells an ipsec-sa's TEK apart, R-CHG-1.5b). */
export const sameTraffic = (a: TekPolicy, b: TekPolicy): boolean => a.protocol === b.protocol
  && a.source.prefix === b.source.prefix && a.source.port === b.source.port
  && a.destination.prefix === b.destination.prefix && a.destination.port === b.destination.port;

export interface GroupCompat {
  /** Accept a group ID written little-endian (gdoid) when the big-endian reading names no group. */
  groupIdLittleEndian?: boolean;
  /** Sign pushes with the bare digest under PKCS#1 type-1 padding, no DigestInfo (gdoid). */
  bareDigestSignature?: boolean;
}

export interface GroupPolicy {
  groupId: number;
  kek: KekPolicy;
  teks: TekPolicy[];
  /** Activation / deactivation time delay in seconds (GAP). */
  activationDelaySeconds: number;
  deactivationDelaySeconds: number;
  compat?: GroupCompat;
}

/** Private-use RFC 2407 SA attribute class we carry the anti-replay time window in (seconds, TV). */
export const ANTI_REPLAY_WINDOW_ATTR = 32001;

/** SIG_HASH_ALGORITHM values, RFC 6407 §5.3.5. */
export const SIG_HASH_VALUE: Record<SigHash, number> = { sha1: 2, sha256: 3, sha384: 4 };
/** SIG_ALGORITHM RSA (EMSA-PKCS1-v1_5), §5.3.6. */
export const SIG_ALG_RSA = 1;
/** KEK_ALGORITHM AES (CBC), §5.3.3. */
export const KEK_ALG_AES = 3;
/** RFC 8263 §2.1 */
export const REKEY_ACK_KEK_SHA256 = 1;
/** RFC 2407 §4.5 */
export const AUTH_ALG_HMAC_SHA = 2;
export const AUTH_ALG_HMAC_SHA2_256 = 5;
export const ENCAPSULATION_TUNNEL = 1;
export const ADDRESS_PRESERVATION_BOTH = 4;
export const SA_DIRECTION_SYMMETRIC = 3;
export const LIFE_TYPE_SECONDS = 1;

export function kekKeyLength(cipher: KekCipher): number {
  return cipher === 'aes-128-cbc' ? 16 : cipher === 'aes-192-cbc' ? 24 : 32;
}

export interface TekAlgorithm {
  transformId: number;
  /** Encryption key bytes (without GCM salt). */
  keyLength: number;
  /** GCM: 4-byte salt appended to the key in TEK_ALGORITHM_KEY (RFC 4106 §8.1). */
  saltLength: number;
  /** RFC 2407 Authentication Algorithm value, undefined for GCM. */
  authAlgorithm?: number;
  authKeyLength: number;
}

export function tekAlgorithm(p: Pick<TekPolicy, 'cipher' | 'integrity'>): TekAlgorithm {
  const gcm = p.cipher === 'aes-gcm-128' || p.cipher === 'aes-gcm-256';
  const keyLength = p.cipher === 'aes-128-cbc' || p.cipher === 'aes-gcm-128' ? 16 : p.cipher === 'aes-192-cbc' ? 24 : 32;
  if (gcm) {
    if (p.integrity !== undefined) throw new GdoiError('BAD_POLICY', `${p.cipher} takes no integrity algorithm`);
    return { transformId: EspTransformId.AesGcm16, keyLength, saltLength: 4, authKeyLength: 0 };
  }
  const integrity = p.integrity ?? 'hmac-sha-256-128';
  return integrity === 'hmac-sha-256-128'
    ? { transformId: EspTransformId.AesCbc, keyLength, saltLength: 0, authAlgorithm: AUTH_ALG_HMAC_SHA2_256, authKeyLength: 32 }
    : { transformId: EspTransformId.AesCbc, keyLength, saltLength: 0, authAlgorithm: AUTH_ALG_HMAC_SHA, authKeyLength: 20 };
}

/** The TEK cipher/integrity a SAT names, or undefined when we do not support it. */
export function tekPolicyFromWire(transformId: number, keyBits: number | undefined, authAlgorithm: number | undefined):
  Pick<TekPolicy, 'cipher' | 'integrity'> | undefined {
  if (transformId === EspTransformId.AesGcm16) {
    if (authAlgorithm !== undefined) return undefined;
    if (keyBits === 128) return { cipher: 'aes-gcm-128' };
    if (keyBits === 256) return { cipher: 'aes-gcm-256' };
    return undefined;
  }
  if (transformId !== EspTransformId.AesCbc) return undefined;
  const cipher = keyBits === 128 ? 'aes-128-cbc' : keyBits === 192 ? 'aes-192-cbc' : keyBits === 256 ? 'aes-256-cbc' : undefined;
  if (cipher === undefined) return undefined;
  if (authAlgorithm === AUTH_ALG_HMAC_SHA2_256) return { cipher, integrity: 'hmac-sha-256-128' };
  if (authAlgorithm === AUTH_ALG_HMAC_SHA) return { cipher, integrity: 'hmac-sha1-96' };
  return undefined;
}

function parseIpv4(text: string, what: string): Uint8Array {
  const parts = text.split('.');
  const out = new Uint8Array(4);
  if (parts.length !== 4) throw new GdoiError('BAD_POLICY', `${what}: ${text} is not an IPv4 address`);
  parts.forEach((p, i) => {
    const n = Number(p);
    if (!/^\d{1,3}$/.test(p) || n > 255) throw new GdoiError('BAD_POLICY', `${what}: ${text} is not an IPv4 address`);
    out[i] = n;
  });
  return out;
}

/** ID_IPV4_ADDR of a single address (SAK source/destination). */
export function addressIdentity(address: string, port: number): GdoiIdentity {
  return { idType: IdType.Ipv4Addr, port, data: parseIpv4(address, 'address') };
}

/** ID_IPV4_ADDR_SUBNET (address, mask) of a selector; the host bits must be zero. */
export function selectorIdentity(s: Selector): GdoiIdentity {
  const [addr, bitsText] = s.prefix.split('/');
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > 32) throw new GdoiError('BAD_POLICY', `selector ${s.prefix}: bad prefix length`);
  const a = parseIpv4(addr ?? '', 'selector');
  const mask = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const b = Math.max(0, Math.min(8, bits - 8 * i));
    mask[i] = (0xff << (8 - b)) & 0xff;
    if (((a[i] as number) & ~(mask[i] as number)) !== 0) throw new GdoiError('BAD_POLICY', `selector ${s.prefix}: host bits set`);
  }
  const data = new Uint8Array(8);
  data.set(a, 0);
  data.set(mask, 4);
  return { idType: IdType.Ipv4AddrSubnet, port: s.port, data };
}

/** The selector a SAT identity describes (IPv4 address or subnet), or undefined if unsupported. */
export function selectorFromIdentity(id: GdoiIdentity): Selector | undefined {
  const addr = (d: Uint8Array): string => Array.from(d.subarray(0, 4)).join('.');
  if (id.idType === IdType.Ipv4Addr && id.data.length === 4) return { prefix: `${addr(id.data)}/32`, port: id.port };
  if (id.idType === IdType.Ipv4AddrSubnet && id.data.length === 8) {
    let bits = 0;
    let seenZero = false;
    for (const byte of id.data.subarray(4)) {
      for (let b = 7; b >= 0; b--) {
        if ((byte >> b) & 1) {
          if (seenZero) return undefined;
          bits++;
        } else seenZero = true;
      }
    }
    return { prefix: `${addr(id.data)}/${bits}`, port: id.port };
  }
  return undefined;
}

/** Throws GdoiError('BAD_POLICY') for a policy we cannot serve. */
export function validatePolicy(p: GroupPolicy): void {
  if (!Number.isInteger(p.groupId) || p.groupId < 0 || p.groupId > 0xffffffff) throw new GdoiError('BAD_POLICY', `group id ${p.groupId}`);
  if (p.kek.rsaBits < 1024 || p.kek.rsaBits > 8192) throw new GdoiError('BAD_POLICY', `RSA key of ${p.kek.rsaBits} bits`);
  if (!(p.kek.sigHash in SIG_HASH_VALUE)) throw new GdoiError('BAD_POLICY', `sig hash ${String(p.kek.sigHash)}`);
  kekKeyLength(p.kek.cipher);
  addressIdentity(p.kek.pushSource.address, p.kek.pushSource.port);
  addressIdentity(p.kek.pushDestination.address, p.kek.pushDestination.port);
  const names = new Set<string>();
  for (const t of p.teks) {
    if (names.has(t.name)) throw new GdoiError('BAD_POLICY', `TEK ${t.name} defined twice`);
    names.add(t.name);
    tekAlgorithm(t);
    selectorIdentity(t.source);
    selectorIdentity(t.destination);
    if (t.lifetimeSeconds < 1 || t.lifetimeSeconds > 0xffffffff) throw new GdoiError('BAD_POLICY', `TEK ${t.name} lifetime`);
    if (t.antiReplayWindowSeconds !== undefined && (t.antiReplayWindowSeconds < 1 || t.antiReplayWindowSeconds > 0xffff)) {
      throw new GdoiError('BAD_POLICY', `TEK ${t.name} anti-replay window`);
    }
  }
  if (p.activationDelaySeconds < 0 || p.activationDelaySeconds > 0xffff || p.deactivationDelaySeconds < 0 || p.deactivationDelaySeconds > 0xffff) {
    throw new GdoiError('BAD_POLICY', 'ATD/DTD out of range');
  }
}

export { KekAttr, TekAttr };
