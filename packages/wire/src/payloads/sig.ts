/**
 * Signature payload, RFC 2408 §3.12; in GROUPKEY-PUSH it signs the rekey message (RFC 6407 §4).
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Next Payload  !   RESERVED    !         Payload Length        !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                         Signature Data                        ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { decodeOpaque, encodeOpaque } from './opaque.js';

export interface SigPayload {
  type: 9;
  data: Uint8Array;
}

/** RSA-8192 signatures are 1024 bytes; ECDSA far less. */
const MAX_SIG = 1024;

export function decodeSig(buf: Uint8Array, off: number, end: number): SigPayload {
  return { type: 9, data: decodeOpaque(buf, off, end, 1, MAX_SIG, 'SIG data') };
}

export function encodeSig(p: SigPayload, out: Uint8Array, off: number): number {
  return encodeOpaque(p.data, 1, MAX_SIG, out, off, 'SIG data');
}

export function sigLength(p: SigPayload): number {
  return p.data.length;
}
