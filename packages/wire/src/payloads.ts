/**
 * The payload chain (RFC 2408 §3.2): each payload's generic header names the type of the next one; the
 * header (or the preceding payload) names the first. This module owns the generic header, so per-payload
 * codecs only see their bodies.
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Next Payload  !   RESERVED    !         Payload Length        !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The SA layout depends on context: DOI 2 inside GROUPKEY-PULL/PUSH is the RFC 6407 layout, anything else
 * (including the DOI 2 phase-1 SA) the RFC 2408 one.
 */
import { DOI, ExchangeType, GENERIC_HEADER_LENGTH, MAX_PAYLOADS, PayloadType } from './constants.js';
import { WireError } from './errors.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';
import { decodeDelete, deleteLength, encodeDelete } from './payloads/delete.js';
import type { DeletePayload } from './payloads/delete.js';
import { decodeGap, encodeGap, gapLength } from './payloads/gap.js';
import type { GapPayload } from './payloads/gap.js';
import { decodeGdoiSa, encodeGdoiSa, gdoiSaLength } from './payloads/gdoi-sa.js';
import type { GdoiSaPayload } from './payloads/gdoi-sa.js';
import { decodeHash, encodeHash, hashLength } from './payloads/hash.js';
import type { HashPayload } from './payloads/hash.js';
import { decodeId, encodeId, idLength } from './payloads/id.js';
import type { IdPayload } from './payloads/id.js';
import { decodeKe, encodeKe, keLength } from './payloads/ke.js';
import type { KePayload } from './payloads/ke.js';
import { decodeKeyDownload, encodeKeyDownload, keyDownloadLength } from './payloads/key-download.js';
import type { KeyDownloadPayload } from './payloads/key-download.js';
import { decodeNonce, encodeNonce, nonceLength } from './payloads/nonce.js';
import type { NoncePayload } from './payloads/nonce.js';
import { decodeNotify, encodeNotify, notifyLength } from './payloads/notify.js';
import type { NotifyPayload } from './payloads/notify.js';
import { decodeSa, encodeSa, saLength } from './payloads/sa.js';
import type { SaPayload } from './payloads/sa.js';
import { decodeSeq, encodeSeq, seqLength } from './payloads/seq.js';
import type { SeqPayload } from './payloads/seq.js';
import { decodeSig, encodeSig, sigLength } from './payloads/sig.js';
import type { SigPayload } from './payloads/sig.js';
import { decodeUnknown, encodeUnknown, unknownLength } from './payloads/unknown.js';
import type { UnknownPayload } from './payloads/unknown.js';
import { decodeVendorId, encodeVendorId, vendorIdLength } from './payloads/vendor-id.js';
import type { VendorIdPayload } from './payloads/vendor-id.js';

export type Payload =
  | SaPayload
  | GdoiSaPayload
  | KePayload
  | IdPayload
  | HashPayload
  | SigPayload
  | NoncePayload
  | NotifyPayload
  | DeletePayload
  | VendorIdPayload
  | SeqPayload
  | KeyDownloadPayload
  | GapPayload
  | UnknownPayload;

export type KnownPayload = Exclude<Payload, UnknownPayload>;

/** Narrows a payload by type, excluding UnknownPayload (whose `type` is any number). */
export function isPayloadType<T extends KnownPayload['type']>(p: Payload, type: T): p is Extract<KnownPayload, { type: T }> {
  return p.type === type && !('unknown' in p);
}

export interface PayloadContext {
  exchangeType: number;
}

export interface DecodedPayload {
  payload: Payload;
  /** Offset of the generic header. */
  start: number;
  /** Offset just past the payload (start + Payload Length). */
  end: number;
}

/** Types that only exist inside another payload (Proposal/Transform in SA, SAK/SAT in a GDOI SA). */
const NESTED_ONLY: ReadonlySet<number> = new Set([PayloadType.Proposal, PayloadType.Transform, PayloadType.SAK, PayloadType.SAT]);

/** Types decodePayloads turns into a typed payload, so an UnknownPayload of one would not round-trip. */
const INTERPRETED: ReadonlySet<number> = new Set([
  PayloadType.SA, PayloadType.KE, PayloadType.ID, PayloadType.HASH, PayloadType.SIG, PayloadType.NONCE, PayloadType.N,
  PayloadType.D, PayloadType.VID, PayloadType.KD, PayloadType.SEQ, PayloadType.GAP,
]);

function usesGdoiLayout(doi: number, ctx: PayloadContext): boolean {
  return doi === DOI.GDOI && (ctx.exchangeType === ExchangeType.GroupkeyPull || ctx.exchangeType === ExchangeType.GroupkeyPush);
}

function decodeBody(type: number, buf: Uint8Array, off: number, end: number, ctx: PayloadContext): Payload {
  switch (type) {
    case PayloadType.SA:
      // Both layouts start with the 4-octet DOI; a body too short for it fails in decodeSa.
      return end - off >= 4 && usesGdoiLayout(new Reader(buf, off, end).u32('SA DOI'), ctx)
        ? decodeGdoiSa(buf, off, end)
        : decodeSa(buf, off, end);
    case PayloadType.KE: return decodeKe(buf, off, end);
    case PayloadType.ID: return decodeId(buf, off, end);
    case PayloadType.HASH: return decodeHash(buf, off, end);
    case PayloadType.SIG: return decodeSig(buf, off, end);
    case PayloadType.NONCE: return decodeNonce(buf, off, end);
    case PayloadType.N: return decodeNotify(buf, off, end);
    case PayloadType.D: return decodeDelete(buf, off, end);
    case PayloadType.VID: return decodeVendorId(buf, off, end);
    case PayloadType.KD: return decodeKeyDownload(buf, off, end);
    case PayloadType.SEQ: return decodeSeq(buf, off, end);
    case PayloadType.GAP: return decodeGap(buf, off, end);
    default:
      if (NESTED_ONLY.has(type)) throw new WireError('MISPLACED_PAYLOAD', off - GENERIC_HEADER_LENGTH, `payload ${type} outside its container`);
      return decodeUnknown(type, buf, off, end);
  }
}

/**
 * Walks the chain from `firstType` at `off` until a Next Payload of 0. Every payload must lie inside
 * [off, end); whatever follows the last one (CBC padding) is the caller's business.
 */
export function decodePayloads(
  buf: Uint8Array,
  firstType: number,
  off: number,
  end: number,
  ctx: PayloadContext,
): { payloads: DecodedPayload[]; end: number } {
  if (off < 0 || end > buf.length || off > end) throw new WireError('TRUNCATED', off, 'chain range outside the buffer');
  const payloads: DecodedPayload[] = [];
  let type = firstType;
  let pos = off;
  while (type !== PayloadType.None) {
    if (payloads.length === MAX_PAYLOADS) throw new WireError('TOO_MANY_PAYLOADS', pos, `more than ${MAX_PAYLOADS} payloads`);
    if (end - pos < GENERIC_HEADER_LENGTH) throw new WireError('TRUNCATED', pos, `payload ${type}: no room for its header`);
    const next = buf[pos] as number;
    if (buf[pos + 1] !== 0) throw new WireError('RESERVED_NOT_ZERO', pos + 1, 'payload header reserved');
    const length = ((buf[pos + 2] as number) << 8) | (buf[pos + 3] as number);
    if (length < GENERIC_HEADER_LENGTH) throw new WireError('BAD_LENGTH', pos + 2, `payload length ${length} below 4`);
    if (length > end - pos) throw new WireError('TRUNCATED', pos + 2, `payload length ${length}, ${end - pos} bytes left`);
    const payload = decodeBody(type, buf, pos + GENERIC_HEADER_LENGTH, pos + length, ctx);
    payloads.push({ payload, start: pos, end: pos + length });
    pos += length;
    type = next;
  }
  return { payloads, end: pos };
}

function bodyLength(p: Payload): number {
  if ('unknown' in p) return unknownLength(p);
  switch (p.type) {
    case PayloadType.SA: return p.layout === 'gdoi' ? gdoiSaLength(p) : saLength(p);
    case PayloadType.KE: return keLength(p);
    case PayloadType.ID: return idLength(p);
    case PayloadType.HASH: return hashLength(p);
    case PayloadType.SIG: return sigLength(p);
    case PayloadType.NONCE: return nonceLength(p);
    case PayloadType.N: return notifyLength(p);
    case PayloadType.D: return deleteLength(p);
    case PayloadType.VID: return vendorIdLength(p);
    case PayloadType.KD: return keyDownloadLength(p);
    case PayloadType.SEQ: return seqLength();
    case PayloadType.GAP: return gapLength(p);
  }
}

function encodeBody(p: Payload, ctx: PayloadContext, out: Uint8Array, off: number): number {
  if ('unknown' in p) return encodeUnknown(p, out, off);
  switch (p.type) {
    case PayloadType.SA:
      // Refuse bytes that the receiver would decode with the other layout.
      if ((p.layout === 'gdoi') !== usesGdoiLayout(p.doi, ctx)) {
        throw new WireError('INVALID_VALUE', off, `SA layout ${p.layout ?? 'rfc2408'} does not match DOI ${p.doi} in exchange ${ctx.exchangeType}`);
      }
      return p.layout === 'gdoi' ? encodeGdoiSa(p, out, off) : encodeSa(p, out, off);
    case PayloadType.KE: return encodeKe(p, out, off);
    case PayloadType.ID: return encodeId(p, out, off);
    case PayloadType.HASH: return encodeHash(p, out, off);
    case PayloadType.SIG: return encodeSig(p, out, off);
    case PayloadType.NONCE: return encodeNonce(p, out, off);
    case PayloadType.N: return encodeNotify(p, out, off);
    case PayloadType.D: return encodeDelete(p, out, off);
    case PayloadType.VID: return encodeVendorId(p, out, off);
    case PayloadType.KD: return encodeKeyDownload(p, out, off);
    case PayloadType.SEQ: return encodeSeq(p, out, off);
    case PayloadType.GAP: return encodeGap(p, out, off);
  }
}

/**
 * Bytes the chain takes, generic headers included. `ctx` mirrors encodePayloads; lengths do not depend on
 * it (the SA layout is in the representation).
 */
export function payloadsLength(payloads: readonly Payload[], _ctx: PayloadContext): number {
  let n = 0;
  for (const p of payloads) n += GENERIC_HEADER_LENGTH + bodyLength(p);
  return n;
}

/** Writes the chain at `off`, the last Next Payload 0; returns bytes written. */
export function encodePayloadsInto(payloads: readonly Payload[], ctx: PayloadContext, out: Uint8Array, off: number): number {
  if (payloads.length > MAX_PAYLOADS) throw new WireError('INVALID_VALUE', off, `more than ${MAX_PAYLOADS} payloads`);
  const w = new Writer(out, off);
  payloads.forEach((p, i) => {
    if ('unknown' in p && (p.type === PayloadType.None || NESTED_ONLY.has(p.type) || INTERPRETED.has(p.type))) {
      throw new WireError('INVALID_VALUE', w.pos, `payload type ${p.type} cannot be encoded as unknown`);
    }
    const start = w.pos;
    w.u8(payloads[i + 1]?.type ?? PayloadType.None, 'next payload');
    w.zeros(1, 'payload reserved');
    w.u16(0, 'payload length');
    w.pos += encodeBody(p, ctx, out, w.pos);
    w.patchU16(start + 2, w.pos - start, 'payload length');
  });
  return w.pos - off;
}

export function encodePayloads(payloads: readonly Payload[], ctx: PayloadContext): Uint8Array {
  const out = new Uint8Array(payloadsLength(payloads, ctx));
  encodePayloadsInto(payloads, ctx, out, 0);
  return out;
}
