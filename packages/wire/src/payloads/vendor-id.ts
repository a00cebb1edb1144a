/**
 * Vendor ID payload, RFC 2408 §3.16 (DPD announces itself with one, RFC 3706 §3).
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Next Payload  !   RESERVED    !         Payload Length        !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                        Vendor ID (VID)                        ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { decodeOpaque, encodeOpaque } from './opaque.js';

export interface VendorIdPayload {
  type: 13;
  data: Uint8Array;
}

/** Bounded only by the payload length field. */
const MAX_VID = 0xffff - 4;

export function decodeVendorId(buf: Uint8Array, off: number, end: number): VendorIdPayload {
  return { type: 13, data: decodeOpaque(buf, off, end, 1, MAX_VID, 'vendor id') };
}

export function encodeVendorId(p: VendorIdPayload, out: Uint8Array, off: number): number {
  return encodeOpaque(p.data, 1, MAX_VID, out, off, 'vendor id');
}

export function vendorIdLength(p: VendorIdPayload): number {
  return p.data.length;
}
