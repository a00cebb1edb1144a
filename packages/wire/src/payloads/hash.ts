/**
 * Hash payload, RFC 2408 §3.11.
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Next Payload  !   RESERVED    !         Payload Length        !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                           Hash Data                           ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { decodeOpaque, encodeOpaque } from './opaque.js';

export interface HashPayload {
  type: 8;
  data: Uint8Array;
}

/** MD5 is the shortest PRF output (16), SHA-512 the longest (64); the codec only refuses the absurd. */
const MIN_HASH = 1;
const MAX_HASH = 64;

export function decodeHash(buf: Uint8Array, off: number, end: number): HashPayload {
  return { type: 8, data: decodeOpaque(buf, off, end, MIN_HASH, MAX_HASH, 'HASH data') };
}

export function encodeHash(p: HashPayload, out: Uint8Array, off: number): number {
  return encodeOpaque(p.data, MIN_HASH, MAX_HASH, out, off, 'HASH data');
}

export function hashLength(p: HashPayload): number {
  return p.data.length;
}
