/**
 * The identification block SAK and SAT use for their source and destination (RFC 6407 §5.3, §5.5.1).
 * Unlike the ID payload there is no protocol byte per identity: the SAK/SAT carries one for both.
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !   ID Type     !            ID Port            ! ID Data Len   !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                           ID Data                             ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

export interface GdoiIdentity {
  /** IdType value (IPv4 address, subnet, range ...); unknown types are kept as numbers. */
  idType: number;
  port: number;
  /** At most 255 bytes (1-octet length). gdoid byte-swaps IPv4 data in SATs; the codec does not interpret it. */
  data: Uint8Array;
}

export function readGdoiIdentity(r: Reader, what: string): GdoiIdentity {
  const idType = r.u8(`${what} ID type`);
  const port = r.u16(`${what} ID port`);
  const length = r.u8(`${what} ID data length`);
  return { idType, port, data: r.bytes(length, `${what} ID data`) };
}

export function writeGdoiIdentity(id: GdoiIdentity, w: Writer, what: string): void {
  w.u8(id.idType, `${what} ID type`);
  w.u16(id.port, `${what} ID port`);
  w.u8(id.data.length, `${what} ID data length`);
  w.bytes(id.data, `${what} ID data`);
}

export function gdoiIdentityLength(id: GdoiIdentity): number {
  return 4 + id.data.length;
}
