/**
 * Key Exchange payload, RFC 2408 §3.7.
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Next Payload  !   RESERVED    !         Payload Length        !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                       Key Exchange Data                       ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Codecs here and in every payload file work on the body: the generic header belongs to the chain
 * (payloads.ts), which alone knows the next payload.
 */
import { decodeOpaque, encodeOpaque } from './opaque.js';

export interface KePayload {
  type: 4;
  /** The DH public value, big-endian, padded to the group size (RFC 2409 §5). */
  data: Uint8Array;
}

/** Largest public value we could meet (MODP 8192); anything above is not a KE. */
const MAX_KE = 1024;

export function decodeKe(buf: Uint8Array, off: number, end: number): KePayload {
  return { type: 4, data: decodeOpaque(buf, off, end, 1, MAX_KE, 'KE data') };
}

export function encodeKe(p: KePayload, out: Uint8Array, off: number): number {
  return encodeOpaque(p.data, 1, MAX_KE, out, off, 'KE data');
}

export function keLength(p: KePayload): number {
  return p.data.length;
}
