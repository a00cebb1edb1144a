/**
 * Nonce payload, RFC 2408 §3.13.
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Next Payload  !   RESERVED    !         Payload Length        !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                            Ni/Nr                              ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Size: RFC 2409 §5 allows 8..256 bytes, RFC 6407 §5.8 narrows GDOI to 8..128. The codec takes the
 * wider IKE bound (it serves both); never more than 256.
 */
import { decodeOpaque, encodeOpaque } from './opaque.js';

export interface NoncePayload {
  type: 10;
  data: Uint8Array;
}

export const MIN_NONCE = 8;
export const MAX_NONCE = 256;

export function decodeNonce(buf: Uint8Array, off: number, end: number): NoncePayload {
  return { type: 10, data: decodeOpaque(buf, off, end, MIN_NONCE, MAX_NONCE, 'nonce') };
}

export function encodeNonce(p: NoncePayload, out: Uint8Array, off: number): number {
  return encodeOpaque(p.data, MIN_NONCE, MAX_NONCE, out, off, 'nonce');
}

export function nonceLength(p: NoncePayload): number {
  return p.data.length;
}
