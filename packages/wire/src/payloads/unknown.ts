/**
 * A payload whose type this codec does not interpret (CERT, CR, NAT-D, private use, unassigned...). The
 * body is kept verbatim so the chain still walks and re-encodes; message rules decide whether it may
 * appear (RFC 2408 §5.1: an unexpected type draws INVALID-PAYLOAD-TYPE).
 */
import { copyBytes } from '../reader.js';
import { Writer } from '../writer.js';

export interface UnknownPayload {
  type: number;
  unknown: true;
  body: Uint8Array;
}

export function decodeUnknown(type: number, buf: Uint8Array, off: number, end: number): UnknownPayload {
  return { type, unknown: true, body: copyBytes(buf, off, end) };
}

export function encodeUnknown(p: UnknownPayload, out: Uint8Array, off: number): number {
  new Writer(out, off).bytes(p.body, 'payload body');
  return p.body.length;
}

export function unknownLength(p: UnknownPayload): number {
  return p.body.length;
}
