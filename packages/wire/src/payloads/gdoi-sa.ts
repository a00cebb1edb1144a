/**
 * Security Association payload in the GDOI layout, RFC 6407 §5.2, used when DOI = 2 inside
 * GROUPKEY-PULL and GROUPKEY-PUSH. The SA payload length covers this header and the whole SA attribute
 * chain that follows it; the SA's own Next Payload names what comes after the chain.
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Next Payload  !   RESERVED    !         Payload Length        !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !              DOI                                              !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !                           Situation                           !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! SA Attribute Next Payload     !          RESERVED2            !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~            SAK (0..1), GAP (0..1), SAT (0..n), in that order  ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Chain rules (§5.2.1, §5.3-5.5): SA Attribute Next Payload is SAK, GAP or SAT; SAK.next in {GAP, SAT, 0};
 * GAP.next in {SAT, 0}; SAT.next in {SAT, 0}; at least one SAK or SAT.
 */
import { MAX_PAYLOADS, PayloadType } from '../constants.js';
import { WireError } from '../errors.js';
import { Reader } from '../reader.js';
import { Writer } from '../writer.js';
import { decodeGap, encodeGap, gapLength } from './gap.js';
import type { GapPayload } from './gap.js';
import { decodeSak, encodeSak, sakLength } from './sa-kek.js';
import type { SakPayload } from './sa-kek.js';
import { decodeSat, encodeSat, satLength } from './sa-tek.js';
import type { SatPayload } from './sa-tek.js';

export interface GdoiSaPayload {
  type: 1;
  layout: 'gdoi';
  /** 2 (GDOI); kept as read. */
  doi: number;
  situation: number;
  /** The rekey SA policy (SAK), when the group has a KEK. */
  kek?: SakPayload;
  /** Group associated policy (ATD/DTD). */
  gap?: GapPayload;
  /** One SAT per traffic encryption key. */
  teks: SatPayload[];
}

const SA_GDOI_HEADER = 12;

/** Which SA attribute payloads may follow each one (0 ends the chain). */
const ALLOWED_NEXT: ReadonlyMap<number, readonly number[]> = new Map([
  [PayloadType.SAK, [PayloadType.GAP, PayloadType.SAT, 0]],
  [PayloadType.GAP, [PayloadType.SAT, 0]],
  [PayloadType.SAT, [PayloadType.SAT, 0]],
]);

export function decodeGdoiSa(buf: Uint8Array, off: number, end: number): GdoiSaPayload {
  const r = new Reader(buf, off, end);
  const doi = r.u32('SA DOI');
  const situation = r.u32('SA situation');
  const firstAt = r.pos;
  let type = r.u16('SA attribute next payload');
  r.zeros(2, 'SA RESERVED2');
  if (!ALLOWED_NEXT.has(type)) throw new WireError('BAD_NEXT_PAYLOAD', firstAt, `SA attribute next payload ${type}`);
  const sa: GdoiSaPayload = { type: 1, layout: 'gdoi', doi, situation, teks: [] };
  let count = 0;
  while (type !== 0) {
    const at = r.pos;
    if (++count > MAX_PAYLOADS) throw new WireError('TOO_MANY_PAYLOADS', at, 'SA attribute chain too long');
    const next = r.u8('SA attribute next payload');
    r.zeros(1, 'SA attribute reserved');
    const lengthAt = r.pos;
    const length = r.u16('SA attribute length');
    if (length < 4) throw new WireError('BAD_LENGTH', lengthAt, `SA attribute length ${length} below 4`);
    if (length - 4 > r.remaining) throw new WireError('TRUNCATED', lengthAt, `SA attribute length ${length} beyond its SA`);
    if (!(ALLOWED_NEXT.get(type) ?? []).includes(next)) {
      throw new WireError('BAD_NEXT_PAYLOAD', at, `payload ${next} cannot follow SA attribute ${type}`);
    }
    const body = r.sub(length - 4, 'SA attribute');
    if (type === PayloadType.SAK) sa.kek = decodeSak(buf, body.pos, body.end);
    else if (type === PayloadType.GAP) sa.gap = decodeGap(buf, body.pos, body.end);
    else sa.teks.push(decodeSat(buf, body.pos, body.end));
    type = next;
  }
  r.expectEnd('SA attribute chain');
  if (sa.kek === undefined && sa.teks.length === 0) throw new WireError('MISSING_PAYLOAD', firstAt, 'GDOI SA without SAK or SAT');
  return sa;
}

/** The chain in wire order, each with its body length. */
function chain(p: GdoiSaPayload): Array<{ type: number; length: number; write: (out: Uint8Array, off: number) => number }> {
  const items: Array<{ type: number; length: number; write: (out: Uint8Array, off: number) => number }> = [];
  const { kek, gap } = p;
  if (kek !== undefined) items.push({ type: PayloadType.SAK, length: sakLength(kek), write: (o, at) => encodeSak(kek, o, at) });
  if (gap !== undefined) items.push({ type: PayloadType.GAP, length: gapLength(gap), write: (o, at) => encodeGap(gap, o, at) });
  for (const tek of p.teks) items.push({ type: PayloadType.SAT, length: satLength(tek), write: (o, at) => encodeSat(tek, o, at) });
  return items;
}

export function gdoiSaLength(p: GdoiSaPayload): number {
  let n = SA_GDOI_HEADER;
  for (const item of chain(p)) n += 4 + item.length;
  return n;
}

export function encodeGdoiSa(p: GdoiSaPayload, out: Uint8Array, off: number): number {
  const w = new Writer(out, off);
  if (p.kek === undefined && p.teks.length === 0) throw new WireError('INVALID_VALUE', off, 'GDOI SA without SAK or SAT');
  const items = chain(p);
  w.u32(p.doi, 'SA DOI');
  w.u32(p.situation, 'SA situation');
  w.u16(items[0]?.type ?? 0, 'SA attribute next payload');
  w.zeros(2, 'SA RESERVED2');
  items.forEach((item, i) => {
    w.u8(items[i + 1]?.type ?? 0, 'SA attribute next payload');
    w.zeros(1, 'SA attribute reserved');
    w.u16(4 + item.length, 'SA attribute length');
    w.pos += item.write(w.out, w.pos);
  });
  return w.pos - off;
}
