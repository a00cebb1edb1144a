/**
 * Payloads whose body is a single opaque value (KE, HASH, SIG, NONCE, VID): shared bounds handling so the
 * per-payload files only state their type and size limits.
 */
import { WireError } from '../errors.js';
import { copyBytes } from '../reader.js';
import { Writer } from '../writer.js';

export function decodeOpaque(buf: Uint8Array, off: number, end: number, min: number, max: number, what: string): Uint8Array {
  const n = end - off;
  if (n < min || n > max) throw new WireError('BAD_LENGTH', off, `${what}: ${n} bytes, allowed ${min}..${max}`);
  return copyBytes(buf, off, end);
}

export function encodeOpaque(data: Uint8Array, min: number, max: number, out: Uint8Array, off: number, what: string): number {
  if (data.length < min || data.length > max) {
    throw new WireError('INVALID_VALUE', off, `${what}: ${data.length} bytes, allowed ${min}..${max}`);
  }
  new Writer(out, off).bytes(data, what);
  return data.length;
}
