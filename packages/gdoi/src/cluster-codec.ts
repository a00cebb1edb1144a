/**
 * Server-cluster messages (ours; the vendor's format is not public) — byte layouts in docs/cluster-protocol.md.
 *
 *   CLUSTER-INIT (240)        sub -> root   HDR*, HASH(1), N(CLUSTER-INFO init-request), NONCE(Ni), ID(group)
 *                             root -> sub   HDR*, HASH(2), N(CLUSTER-INFO init-response), ID(group), [SEQ], SA, KD
 *   CLUSTER-UPDATE (241)      root -> sub   HDR*, HASH(1), N(CLUSTER-INFO update-*), ID(group), [ID(member)]*,
 *                                           [SEQ], [D]*, [SA, KD]
 *   CLUSTER-UPDATE-ACK (242)  sub -> root   HDR*, HASH(2), N(CLUSTER-INFO update-ack), ID(group)
 *
 *   HASH(1) = prf(SKEYID_a, M-ID | payloads after HASH)           (request, update)
 *   HASH(2) = prf(SKEYID_a, M-ID | Ni_b | payloads after HASH)    (init response)
 *   ACK HASH = prf(SKEYID_a, M-ID | payloads after HASH)          (M-ID = the update's)
 *
 * Everything after HDR is encrypted with the IKE SA (phase-2 IV = hash(last phase-1 block | M-ID) for the
 * first message of an exchange, then the last ciphertext block of the previous message). The payload chain
 * is encoded and decoded under GROUPKEY-PUSH's rules (an SA payload with DOI 2 has the RFC 6407 layout):
 * the codec picks the SA layout by exchange type and does not know 240-242.
 *
 * The group's PRIVATE signing key travels in a private-use KD packet (type 128, SPI = KEK SPI, attribute 1 =
 * PKCS#8 DER): sub-servers sign the PUSHes to their own members with it. It only ever travels inside a
 * message encrypted and authenticated by the IKE SA between two servers configured with each other's PSK.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import {
  GapAttr, HEADER_LENGTH, IdType, KdType, PayloadType, TekProtocolId, WireError, checkMessageRules, decodePayloads,
  encodePayloads, groupIdFromKeyId, isPayloadType, keyIdFromGroupId,
} from '@gvpn/wire';
import type { Attribute, DecodedPayload, GdoiSaPayload, Header, KeyPacket, MessageRule, Payload } from '@gvpn/wire';
import { BLOCK_SIZE, ciphertextOf, encryptedMessage, lastBlock, u32Bytes } from '@gvpn/ike';
import type { IkeSa } from '@gvpn/ike';
import { equalBytes } from '@gvpn/crypto';
import { equal, hex, kekFromWire, kekKeyPacket, satPayload, tekFromWire, tekKeyPacket } from './keys.js';
import type { Kek, Tek } from './keys.js';
import { GROUPKEY_PUSH } from './push-builder.js';

export const CLUSTER_INIT = 240;
export const CLUSTER_UPDATE = 241;
export const CLUSTER_UPDATE_ACK = 242;
/** Private-use status notify (RFC 2408 §3.14.1: 32768-40959). */
export const CLUSTER_INFO_NOTIFY = 32800;
/** Private-use KD type (RFC 6407 §5.6: 128-255) carrying the group's signing key. */
export const KD_SIGNING_KEY = 128;
/** Attribute of a KD_SIGNING_KEY packet: the private key, PKCS#8 DER (TLV). */
export const SIGNING_KEY_PKCS8 = 1;

export const ClusterKind = {
  InitRequest: 1, InitResponse: 2, UpdateKeys: 3, UpdateDeleteSas: 4, UpdateDeleteMembers: 5, UpdateAck: 6,
} as const;
/** CLUSTER-INFO flag of an update-delete-members: every registered member. */
export const CLUSTER_FLAG_ALL_MEMBERS = 0x01;

const INFO_FIXED = 8;
const LIFETIME_FIXED = 8;
const CHAIN_CTX = { exchangeType: GROUPKEY_PUSH };

/** Seconds left of an SA (KEK SPI 16 bytes, TEK SPI 4). */
export interface SaLifetime {
  spi: Uint8Array;
  remainingSeconds: number;
}

export interface ClusterInfo {
  kind: number;
  flags: number;
  updateSeq: number;
  lifetimes: SaLifetime[];
}

export function encodeClusterInfo(info: ClusterInfo): Uint8Array {
  let n = INFO_FIXED;
  for (const l of info.lifetimes) n += LIFETIME_FIXED + l.spi.length;
  const out = new Uint8Array(n);
  const v = new DataView(out.buffer);
  if (info.lifetimes.length > 0xffff) throw new WireError('INVALID_VALUE', 2, 'too many lifetimes');
  v.setUint8(0, info.kind);
  v.setUint8(1, info.flags);
  v.setUint16(2, info.lifetimes.length);
  v.setUint32(4, info.updateSeq >>> 0);
  let off = INFO_FIXED;
  for (const l of info.lifetimes) {
    if (l.spi.length === 0 || l.spi.length > 255) throw new WireError('INVALID_VALUE', off, `lifetime SPI of ${l.spi.length} bytes`);
    v.setUint8(off, l.spi.length);
    v.setUint32(off + 4, Math.max(0, Math.floor(l.remainingSeconds)) >>> 0);
    out.set(l.spi, off + LIFETIME_FIXED);
    off += LIFETIME_FIXED + l.spi.length;
  }
  return out;
}

/** Strict: exact length, reserved bytes zero. Offsets are relative to the notify data. */
export function decodeClusterInfo(data: Uint8Array): ClusterInfo {
  if (data.length < INFO_FIXED) throw new WireError('TRUNCATED', 0, 'CLUSTER-INFO shorter than 8 bytes');
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const count = v.getUint16(2);
  const lifetimes: SaLifetime[] = [];
  let off = INFO_FIXED;
  for (let i = 0; i < count; i++) {
    if (data.length - off < LIFETIME_FIXED) throw new WireError('TRUNCATED', off, 'CLUSTER-INFO lifetime entry');
    const size = v.getUint8(off);
    if (size === 0) throw new WireError('BAD_SPI_SIZE', off, 'lifetime SPI size 0');
    if (v.getUint8(off + 1) !== 0 || v.getUint16(off + 2) !== 0) throw new WireError('RESERVED_NOT_ZERO', off + 1, 'lifetime reserved');
    if (data.length - off - LIFETIME_FIXED < size) throw new WireError('TRUNCATED', off, 'lifetime SPI');
    lifetimes.push({ spi: data.slice(off + LIFETIME_FIXED, off + LIFETIME_FIXED + size), remainingSeconds: v.getUint32(off + 4) });
    off += LIFETIME_FIXED + size;
  }
  if (off !== data.length) throw new WireError('TRAILING_BYTES', off, 'CLUSTER-INFO trailing bytes');
  return { kind: v.getUint8(0), flags: v.getUint8(1), updateSeq: v.getUint32(4), lifetimes };
}

/** All SAs and keys of a group as servers exchange them. On both sides `kek.privateKey` is set. */
export interface ClusterKeys {
  kek?: Kek;
  teks: Tek[];
  /** The push SEQ: current value (init) or the SEQ of the PUSH announcing this change (update). */
  seq?: number;
  activationDelaySeconds?: number;
  deactivationDelaySeconds?: number;
}

export type ClusterMessage =
  | { kind: 'init-request'; groupId: number; nonce: Uint8Array }
  | { kind: 'init-response'; groupId: number; updateSeq: number; keys: ClusterKeys; lifetimes: SaLifetime[] }
  | { kind: 'update-keys'; groupId: number; updateSeq: number; keys: ClusterKeys; lifetimes: SaLifetime[] }
  | { kind: 'update-delete-sas'; groupId: number; updateSeq: number; seq?: number; teks: Uint8Array[]; kek: boolean; all: boolean }
  | { kind: 'update-delete-members'; groupId: number; updateSeq: number; all: boolean; members: string[] }
  | { kind: 'update-ack'; groupId: number; updateSeq: number };

export type ClusterUpdate = Extract<ClusterMessage, { kind: `update-${'keys' | 'delete-sas' | 'delete-members'}` }>;

const KIND_NUMBER: Record<ClusterMessage['kind'], number> = {
  'init-request': ClusterKind.InitRequest, 'init-response': ClusterKind.InitResponse, 'update-keys': ClusterKind.UpdateKeys,
  'update-delete-sas': ClusterKind.UpdateDeleteSas, 'update-delete-members': ClusterKind.UpdateDeleteMembers,
  'update-ack': ClusterKind.UpdateAck,
};

export function exchangeOf(kind: ClusterMessage['kind']): number {
  if (kind === 'init-request' || kind === 'init-response') return CLUSTER_INIT;
  return kind === 'update-ack' ? CLUSTER_UPDATE_ACK : CLUSTER_UPDATE;
}

const { HASH, N, NONCE, ID, SEQ, D, SA, KD } = PayloadType;
export const ClusterRules = {
  init: { name: 'CLUSTER-INIT', exchangeType: CLUSTER_INIT, first: HASH, ordered: true, payloads: [
    { type: HASH, min: 1, max: 1 }, { type: N, min: 1, max: 1 }, { type: NONCE, min: 0, max: 1 }, { type: ID, min: 1, max: 1 },
    { type: SEQ, min: 0, max: 1 }, { type: SA, min: 0, max: 1 }, { type: KD, min: 0, max: 1 }] },
  update: { name: 'CLUSTER-UPDATE', exchangeType: CLUSTER_UPDATE, first: HASH, ordered: true, payloads: [
    { type: HASH, min: 1, max: 1 }, { type: N, min: 1, max: 1 }, { type: ID, min: 1, max: 1025 }, { type: SEQ, min: 0, max: 1 },
    { type: D, min: 0, max: 4 }, { type: SA, min: 0, max: 1 }, { type: KD, min: 0, max: 1 }] },
  ack: { name: 'CLUSTER-UPDATE-ACK', exchangeType: CLUSTER_UPDATE_ACK, first: HASH, ordered: true, payloads: [
    { type: HASH, min: 1, max: 1 }, { type: N, min: 1, max: 1 }, { type: ID, min: 1, max: 1 }] },
} as const satisfies Record<string, MessageRule>;

function ruleFor(exchangeType: number): MessageRule | undefined {
  return exchangeType === CLUSTER_INIT ? ClusterRules.init : exchangeType === CLUSTER_UPDATE ? ClusterRules.update
    : exchangeType === CLUSTER_UPDATE_ACK ? ClusterRules.ack : undefined;
}

function groupIdPayload(groupId: number): Payload {
  return { type: PayloadType.ID, idType: IdType.KeyId, protocolId: 0, port: 0, data: keyIdFromGroupId(groupId, { littleEndian: false }) };
}

function ipv4Bytes(address: string): Uint8Array {
  const parts = address.split('.').map((p) => Number(p));
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new WireError('INVALID_VALUE', 0, `member address ${address}`);
  return Uint8Array.from(parts);
}

export function signingKeyPacket(kek: Kek): KeyPacket {
  if (kek.privateKey === undefined) throw new WireError('INVALID_VALUE', 0, 'KEK without its private signing key');
  const der = new Uint8Array(kek.privateKey.export({ format: 'der', type: 'pkcs8' }));
  return { kdType: KD_SIGNING_KEY, spi: Uint8Array.from(kek.spi), attributes: [{ type: SIGNING_KEY_PKCS8, bytes: der }] };
}

function keysPayloads(keys: ClusterKeys, policyGap: boolean): Payload[] {
  const out: Payload[] = [];
  if (keys.seq !== undefined) out.push({ type: PayloadType.SEQ, seq: keys.seq });
  const sa: GdoiSaPayload = { type: 1, layout: 'gdoi', doi: 2, situation: 0, teks: keys.teks.map((t) => satPayload(t)) };
  const packets: KeyPacket[] = [];
  if (keys.kek !== undefined) {
    sa.kek = keys.kek.sak;
    packets.push(kekKeyPacket(keys.kek), signingKeyPacket(keys.kek));
  }
  if (policyGap && keys.activationDelaySeconds !== undefined && keys.deactivationDelaySeconds !== undefined) {
    sa.gap = { type: 22, attributes: [
      { type: GapAttr.ActivationTimeDelay, value: keys.activationDelaySeconds },
      { type: GapAttr.DeactivationTimeDelay, value: keys.deactivationDelaySeconds },
    ] };
  }
  for (const t of keys.teks) packets.push(tekKeyPacket(t));
  if (packets.length === 0) throw new WireError('INVALID_VALUE', 0, 'cluster keys without KEK or TEK');
  out.push(sa, { type: PayloadType.KD, packets });
  return out;
}

/** The payloads after HASH, in order. */
export function clusterPayloads(m: ClusterMessage): Payload[] {
  const info = (flags: number, updateSeq: number, lifetimes: SaLifetime[] = []): Payload => ({
    type: PayloadType.N, doi: 2, protocolId: 0, spi: new Uint8Array(0), notifyType: CLUSTER_INFO_NOTIFY,
    data: encodeClusterInfo({ kind: KIND_NUMBER[m.kind], flags, updateSeq, lifetimes }),
  });
  switch (m.kind) {
    case 'init-request':
      return [info(0, 0), { type: PayloadType.NONCE, data: m.nonce }, groupIdPayload(m.groupId)];
    case 'init-response':
    case 'update-keys':
      return [info(0, m.updateSeq, m.lifetimes), groupIdPayload(m.groupId), ...keysPayloads(m.keys, true)];
    case 'update-delete-sas': {
      const out: Payload[] = [info(0, m.updateSeq), groupIdPayload(m.groupId)];
      if (m.seq !== undefined) out.push({ type: PayloadType.SEQ, seq: m.seq });
      if (m.teks.length > 0) out.push({ type: PayloadType.D, doi: 2, protocolId: TekProtocolId.IpsecEsp, spiSize: 4, spis: m.teks.map((s) => Uint8Array.from(s)) });
      if (m.all) out.push({ type: PayloadType.D, doi: 2, protocolId: TekProtocolId.IpsecEsp, spiSize: 4, spis: [new Uint8Array(4)] });
      // The KEK delete names SPI 0, "the group's KEK": the sub holds the root's, so no SPI is needed. Alone
      // (without the ESP SPI 0) it ends only the KEK (server-member-communication deleted, R-CHG-1.4c).
      if (m.all || m.kek) out.push({ type: PayloadType.D, doi: 2, protocolId: TekProtocolId.Kek, spiSize: 16, spis: [new Uint8Array(16)] });
      if (out.length === 2 + (m.seq === undefined ? 0 : 1)) throw new WireError('INVALID_VALUE', 0, 'delete-sas without SPIs');
      return out;
    }
    case 'update-delete-members': {
      if (!m.all && m.members.length === 0) throw new WireError('INVALID_VALUE', 0, 'delete-members without members');
      return [info(m.all ? CLUSTER_FLAG_ALL_MEMBERS : 0, m.updateSeq), groupIdPayload(m.groupId),
        ...m.members.map((a): Payload => ({ type: PayloadType.ID, idType: IdType.Ipv4Addr, protocolId: 0, port: 0, data: ipv4Bytes(a) }))];
    }
    case 'update-ack':
      return [info(0, m.updateSeq), groupIdPayload(m.groupId)];
  }
}

export function clusterChain(payloads: readonly Payload[]): Uint8Array {
  return encodePayloads(payloads, CHAIN_CTX);
}

export interface Sealed {
  bytes: Uint8Array;
  /** Last ciphertext block: the IV of the next message of this exchange. */
  nextIv: Uint8Array;
}

/** HDR*, HASH, payloads: HASH = prf(SKEYID_a, M-ID | hashPrefix... | payloads), encrypted under `iv`. */
export function sealCluster(sa: IkeSa, m: ClusterMessage, messageId: number, iv: Uint8Array, hashPrefix: readonly Uint8Array[] = []): Sealed {
  const payloads = clusterPayloads(m);
  const hash = sa.prfA(u32Bytes(messageId), ...hashPrefix, clusterChain(payloads));
  const ct = sa.encrypt(clusterChain([{ type: PayloadType.HASH, data: hash }, ...payloads]), iv);
  const bytes = encryptedMessage({ icookie: sa.icookie, rcookie: sa.rcookie, exchangeType: exchangeOf(m.kind), messageId }, PayloadType.HASH, ct);
  return { bytes, nextIv: lastBlock(ct) };
}

export type OpenFailure = 'malformedDropped' | 'decryptFailedDropped' | 'hashMismatchDropped' | 'invalidPayloadDropped';

export type Opened = { ok: true; message: ClusterMessage; nextIv: Uint8Array } | { ok: false; counter: OpenFailure; detail: string };

/**
 * Decrypts with `iv`, checks the shape, verifies HASH (constant time) and interprets the payloads. Nothing
 * is returned from a message whose HASH does not verify; callers move their IV only on `ok`.
 */
export function openCluster(sa: IkeSa, datagram: Uint8Array, header: Header, iv: Uint8Array, hashPrefix: readonly Uint8Array[] = []): Opened {
  const rule = ruleFor(header.exchangeType);
  const ct = ciphertextOf(datagram);
  if (rule === undefined || ct === undefined || (header.flags & 1) === 0 || header.messageId === 0) {
    return { ok: false, counter: 'malformedDropped', detail: 'not an encrypted cluster message' };
  }
  const body = sa.decrypt(ct, iv);
  let payloads: DecodedPayload[];
  try {
    const decoded = decodePayloads(body, header.nextPayload, 0, body.length, CHAIN_CTX);
    if (body.length - decoded.end > BLOCK_SIZE) throw new WireError('TRAILING_BYTES', HEADER_LENGTH + decoded.end, 'padding longer than a block');
    const problem = checkMessageRules(rule, decoded.payloads);
    if (problem !== undefined) throw problem;
    payloads = decoded.payloads;
    const hashP = payloads[0] as DecodedPayload;
    if (!isPayloadType(hashP.payload, PayloadType.HASH)) throw new WireError('PAYLOAD_ORDER', 0, 'HASH first');
    const expected = sa.prfA(u32Bytes(header.messageId), ...hashPrefix, body.subarray(hashP.end, decoded.end));
    if (!equalBytes(expected, hashP.payload.data)) return { ok: false, counter: 'hashMismatchDropped', detail: rule.name };
  } catch (e) {
    if (e instanceof WireError) return { ok: false, counter: 'decryptFailedDropped', detail: `${e.code} at ${e.offset}` };
    throw e;
  }
  const message = clusterMessageFrom(header.exchangeType, payloads.slice(1).map((d) => d.payload));
  if (typeof message === 'string') return { ok: false, counter: 'invalidPayloadDropped', detail: message };
  return { ok: true, message, nextIv: lastBlock(ct) };
}

const KIND_BY_NUMBER = new Map(Object.entries(KIND_NUMBER).map(([k, v]) => [v, k as ClusterMessage['kind']]));

/** Payloads after HASH -> typed message, or why not. */
export function clusterMessageFrom(exchangeType: number, payloads: readonly Payload[]): ClusterMessage | string {
  const [n, ...rest] = payloads;
  if (n === undefined || !isPayloadType(n, PayloadType.N) || n.notifyType !== CLUSTER_INFO_NOTIFY || n.spi.length !== 0) return 'no CLUSTER-INFO notify';
  let info: ClusterInfo;
  try {
    info = decodeClusterInfo(n.data);
  } catch (e) {
    if (e instanceof WireError) return `CLUSTER-INFO: ${e.message}`;
    throw e;
  }
  const kind = KIND_BY_NUMBER.get(info.kind);
  if (kind === undefined || exchangeOf(kind) !== exchangeType) return `kind ${info.kind} in exchange ${exchangeType}`;
  const ids = rest.filter((p) => isPayloadType(p, PayloadType.ID));
  const groupP = ids[0];
  if (groupP === undefined || !isPayloadType(groupP, PayloadType.ID) || groupP.idType !== IdType.KeyId || groupP.data.length !== 4) return 'no group ID_KEY_ID';
  const groupId = groupIdFromKeyId(groupP.data, { littleEndian: false });
  const members = ids.slice(1);
  if (kind !== 'update-delete-members' && members.length > 0) return 'member IDs outside delete-members';
  const seq = rest.find((p) => isPayloadType(p, PayloadType.SEQ));
  const seqValue = seq !== undefined && isPayloadType(seq, PayloadType.SEQ) ? seq.seq : undefined;
  const deletes = rest.filter((p) => isPayloadType(p, PayloadType.D));
  const sa = rest.find((p) => isPayloadType(p, PayloadType.SA));
  const kd = rest.find((p) => isPayloadType(p, PayloadType.KD));
  const nonce = rest.find((p) => isPayloadType(p, PayloadType.NONCE));
  const hasKeys = sa !== undefined || kd !== undefined;
  if (info.flags !== 0 && kind !== 'update-delete-members') return `flags ${info.flags}`;
  switch (kind) {
    case 'init-request':
      if (nonce === undefined || !isPayloadType(nonce, PayloadType.NONCE) || nonce.data.length < 8 || nonce.data.length > 128) return 'nonce';
      if (hasKeys || seqValue !== undefined || info.updateSeq !== 0 || info.lifetimes.length > 0) return 'init request with keys';
      return { kind, groupId, nonce: Uint8Array.from(nonce.data) };
    case 'init-response':
    case 'update-keys': {
      if (nonce !== undefined || deletes.length > 0) return `${kind}: unexpected payloads`;
      if (sa === undefined || kd === undefined || !isPayloadType(sa, PayloadType.SA) || !isPayloadType(kd, PayloadType.KD) || sa.layout !== 'gdoi') return `${kind}: SA and KD required`;
      const keys = keysFromWire(sa, kd.packets, seqValue);
      if (typeof keys === 'string') return `${kind}: ${keys}`;
      return { kind, groupId, updateSeq: info.updateSeq, keys, lifetimes: info.lifetimes };
    }
    case 'update-delete-sas': {
      if (hasKeys || info.lifetimes.length > 0 || deletes.length === 0) return 'delete-sas: payloads';
      const teks: Uint8Array[] = [];
      let all = false;
      let kek = false;
      for (const d of deletes) {
        if (!isPayloadType(d, PayloadType.D) || d.doi !== 2) return 'delete DOI';
        if (d.protocolId === TekProtocolId.IpsecEsp && d.spiSize === 4) {
          for (const s of d.spis) if (s.every((b) => b === 0)) all = true; else teks.push(Uint8Array.from(s));
        } else if (d.protocolId === TekProtocolId.Kek && d.spiSize === 16) {
          kek = true;
          if (!d.spis.every((s) => s.every((b) => b === 0))) return 'KEK delete names a SPI: only all (SPI 0) is defined';
        } else {
          return `delete protocol ${d.protocolId} SPI size ${d.spiSize}`;
        }
      }
      if (all && !kek) return 'delete-all needs both the ESP and the KEK delete';
      return { kind, groupId, updateSeq: info.updateSeq, ...(seqValue === undefined ? {} : { seq: seqValue }), teks, kek, all };
    }
    case 'update-delete-members': {
      if (hasKeys || deletes.length > 0 || seqValue !== undefined || info.lifetimes.length > 0) return 'delete-members: payloads';
      const all = (info.flags & CLUSTER_FLAG_ALL_MEMBERS) !== 0;
      if ((info.flags & ~CLUSTER_FLAG_ALL_MEMBERS) !== 0) return `flags ${info.flags}`;
      const addresses: string[] = [];
      for (const m of members) {
        if (!isPayloadType(m, PayloadType.ID) || m.idType !== IdType.Ipv4Addr || m.data.length !== 4) return 'member ID is not ID_IPV4_ADDR';
        addresses.push(Array.from(m.data).join('.'));
      }
      if (!all && addresses.length === 0) return 'delete-members names nobody';
      return { kind, groupId, updateSeq: info.updateSeq, all, members: addresses };
    }
    case 'update-ack':
      if (info.lifetimes.length > 0) return 'ack with lifetimes';
      return { kind, groupId, updateSeq: info.updateSeq };
  }
}

/** SA + KD (+ the private-use signing-key packet) -> KEK with its private key, TEKs; every packet used once. */
export function keysFromWire(sa: GdoiSaPayload, packets: readonly KeyPacket[], seq: number | undefined): ClusterKeys | string {
  const used = new Set<KeyPacket>();
  const take = (kdType: number, spi: Uint8Array): KeyPacket | undefined => {
    const p = packets.find((k) => k.kdType === kdType && equal(k.spi, spi) && !used.has(k));
    if (p !== undefined) used.add(p);
    return p;
  };
  const keys: ClusterKeys = { teks: [] };
  if (seq !== undefined) keys.seq = seq;
  if (sa.kek !== undefined) {
    const packet = take(KdType.Kek, sa.kek.spi);
    const signing = take(KD_SIGNING_KEY, sa.kek.spi);
    if (packet === undefined || signing === undefined) return 'KEK without its KD and signing-key packets';
    const kek = kekFromWire(sa.kek, packet);
    if (!kek.ok) return kek.reason;
    const priv = privateKeyFrom(signing, kek.value.publicKeyDer);
    if (typeof priv === 'string') return priv;
    keys.kek = { ...kek.value, privateKey: priv };
  }
  const spis = new Set<string>();
  for (const sat of sa.teks) {
    if (sat.kind !== 'ipsec') return `TEK protocol ${sat.protocolId}`;
    // SPI 0 is reserved (RFC 4303) and names every TEK in a delete; a SPI twice is one SA twice: neither
    // could be deleted or timed on its own.
    if (sat.spi.every((b) => b === 0)) return 'TEK SPI 0';
    if (spis.has(hex(sat.spi))) return `TEK SPI ${hex(sat.spi)} twice`;
    spis.add(hex(sat.spi));
    const packet = take(KdType.Tek, sat.spi);
    if (packet === undefined) return 'TEK without its KD packet';
    const tek = tekFromWire(sat, packet);
    if (!tek.ok) return tek.reason;
    keys.teks.push(tek.value);
  }
  if (used.size !== packets.length) return 'KD packet without policy';
  for (const a of sa.gap?.attributes ?? []) {
    if (!('value' in a)) return `GAP attribute ${a.type} not TV`;
    if (a.type === GapAttr.ActivationTimeDelay) keys.activationDelaySeconds = a.value;
    else if (a.type === GapAttr.DeactivationTimeDelay) keys.deactivationDelaySeconds = a.value;
    else return `unknown GAP attribute ${a.type}`;
  }
  if (keys.kek === undefined && keys.teks.length === 0) return 'no keys';
  return keys;
}

function privateKeyFrom(packet: KeyPacket, publicKeyDer: Uint8Array): KeyObject | string {
  const attrs: Attribute[] = packet.attributes;
  const a = attrs[0];
  if (attrs.length !== 1 || a === undefined || a.type !== SIGNING_KEY_PKCS8 || !('bytes' in a)) return 'signing-key packet: one PKCS#8 TLV attribute';
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: Buffer.from(a.bytes), format: 'der', type: 'pkcs8' });
  } catch {
    return 'signing key is not PKCS#8 DER';
  }
  const spki = new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }));
  if (!equal(spki, publicKeyDer)) return 'signing key does not match SIG_ALGORITHM_KEY';
  return key;
}
