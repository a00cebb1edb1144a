/**
 * Notification payload, RFC 2408 §3.14. DPD (RFC 3706 §5) puts the 16-byte cookie pair in the SPI and a
 * 4-byte sequence number in the data.
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Next Payload  !   RESERVED    !         Payload Length        !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !              Domain of Interpretation  (DOI)                  !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !  Protocol-ID  !   SPI Size    !      Notify Message Type      !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                Security Parameter Index (SPI)                 ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                       Notification Data                       ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { Reader } from '../reader.js';
import { Writer } from '../writer.js';

export interface NotifyPayload {
  type: 11;
  doi: number;
  protocolId: number;
  /** Size is carried by the array (0 = no SPI). */
  spi: Uint8Array;
  /** NotifyType value; unknown types are kept as numbers. */
  notifyType: number;
  data: Uint8Array;
}

export function decodeNotify(buf: Uint8Array, off: number, end: number): NotifyPayload {
  const r = new Reader(buf, off, end);
  const doi = r.u32('notify DOI');
  const protocolId = r.u8('notify protocol');
  const spiSize = r.u8('notify SPI size');
  const notifyType = r.u16('notify type');
  const spi = r.bytes(spiSize, 'notify SPI');
  return { type: 11, doi, protocolId, spi, notifyType, data: r.rest() };
}

export function encodeNotify(p: NotifyPayload, out: Uint8Array, off: number): number {
  const w = new Writer(out, off);
  w.u32(p.doi, 'notify DOI');
  w.u8(p.protocolId, 'notify protocol');
  w.u8(p.spi.length, 'notify SPI size');
  w.u16(p.notifyType, 'notify type');
  w.bytes(p.spi, 'notify SPI');
  w.bytes(p.data, 'notify data');
  return w.pos - off;
}

export function notifyLength(p: NotifyPayload): number {
  return 8 + p.spi.length + p.data.length;
}
