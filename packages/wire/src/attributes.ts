/**
 * Data attributes, RFC 2408 §3.3. The form (TV or TLV) is part of the representation so that re-encoding
 * is byte-exact: peers disagree about it (gdoid sends KEK_KEY_LIFETIME as TV, RFC 6407 says V).
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !A!       Attribute Type        !    AF=0  Attribute Length     !
 * !F!                             !    AF=1  Attribute Value      !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * .                   AF=0  Attribute Value                       .
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { WireError } from './errors.js';
import { Reader } from './reader.js';
import { Writer, checkRange } from './writer.js';

/** TV form (AF bit set): a 16-bit value in the header itself. */
export interface TvAttribute {
  type: number;
  value: number;
}

/** TLV form (AF bit clear): a variable-length value. */
export interface TlvAttribute {
  type: number;
  bytes: Uint8Array;
}

/** `type` is the 15-bit class, without the AF bit. */
export type Attribute = TvAttribute | TlvAttribute;

const AF_TV = 0x8000;

export function readAttributes(r: Reader): Attribute[] {
  const attributes: Attribute[] = [];
  while (r.remaining > 0) {
    const typeField = r.u16('attribute type');
    const type = typeField & 0x7fff;
    if (typeField & AF_TV) {
      attributes.push({ type, value: r.u16('attribute value') });
    } else {
      const at = r.pos;
      const length = r.u16('attribute length');
      if (length > r.remaining) throw new WireError('TRUNCATED', at, `attribute ${type} length ${length} beyond its payload`);
      attributes.push({ type, bytes: r.bytes(length, 'attribute value') });
    }
  }
  return attributes;
}

export function writeAttributes(attributes: readonly Attribute[], w: Writer): void {
  for (const a of attributes) {
    checkRange(a.type, 0x7fff, 'attribute type', w.pos);
    if ('value' in a) {
      w.u16(AF_TV | a.type, 'attribute type');
      w.u16(a.value, 'attribute value');
    } else {
      w.u16(a.type, 'attribute type');
      w.u16(a.bytes.length, 'attribute length');
      w.bytes(a.bytes, 'attribute value');
    }
  }
}

export function attributesLength(attributes: readonly Attribute[]): number {
  let n = 0;
  for (const a of attributes) n += 'value' in a ? 4 : 4 + a.bytes.length;
  return n;
}

/** Attributes filling exactly [off, end). */
export function decodeAttributes(buf: Uint8Array, off: number, end: number): Attribute[] {
  return readAttributes(new Reader(buf, off, end));
}

export function encodeAttributes(attributes: readonly Attribute[], out: Uint8Array, off: number): number {
  const w = new Writer(out, off);
  writeAttributes(attributes, w);
  return w.pos - off;
}

/**
 * The numeric value of a basic (TV) or variable (TLV, 1..6 bytes, big-endian) attribute, for classes that
 * RFC 2408 allows in either form (lifetimes). Throws WireError for a TLV that is empty or too long.
 */
export function attributeNumber(a: Attribute): number {
  if ('value' in a) return a.value;
  if (a.bytes.length === 0 || a.bytes.length > 6) {
    throw new WireError('INVALID_VALUE', 0, `attribute ${a.type}: ${a.bytes.length}-byte value is not a number`);
  }
  let n = 0;
  for (const b of a.bytes) n = n * 256 + b;
  return n;
}

export function findAttribute(attributes: readonly Attribute[], type: number): Attribute | undefined {
  return attributes.find((a) => a.type === type);
}
