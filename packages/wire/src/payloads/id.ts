/**
 * Identification payload, RFC 2408 §3.8 with the IPsec DOI fields of RFC 2407 §4.6.2. GROUPKEY-PULL
 * message 1 names the group with ID_KEY_ID and 4 data bytes, protocol and port 0 (RFC 6407 §5.1).
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Next Payload  !   RESERVED    !        Payload Length         !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !   ID Type     !  Protocol ID  !             Port              !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                     Identification Data                       ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { WireError } from '../errors.js';
import { Reader } from '../reader.js';
import { Writer } from '../writer.js';

export interface IdPayload {
  type: 5;
  /** IdType value; unknown types are kept as numbers. */
  idType: number;
  protocolId: number;
  port: number;
  data: Uint8Array;
}

export function decodeId(buf: Uint8Array, off: number, end: number): IdPayload {
  const r = new Reader(buf, off, end);
  return { type: 5, idType: r.u8('ID type'), protocolId: r.u8('ID protocol'), port: r.u16('ID port'), data: r.rest() };
}

export function encodeId(p: IdPayload, out: Uint8Array, off: number): number {
  const w = new Writer(out, off);
  w.u8(p.idType, 'ID type');
  w.u8(p.protocolId, 'ID protocol');
  w.u16(p.port, 'ID port');
  w.bytes(p.data, 'ID data');
  return w.pos - off;
}

export function idLength(p: IdPayload): number {
  return 4 + p.data.length;
}

export interface GroupIdOptions {
  /**
   * gdoid writes the group number in host order (x86: little-endian), so group 1234 arrives as
   * d2 04 00 00 (protocol.md §1.3). RFC 6407 §5.1 only says "4 octets"; big-endian is the network norm.
   */
  littleEndian: boolean;
}

/** The group number carried in the 4 data bytes of an ID_KEY_ID. */
export function groupIdFromKeyId(data: Uint8Array, options: GroupIdOptions): number {
  if (data.length !== 4) throw new WireError('BAD_LENGTH', 0, `group KEY_ID must be 4 bytes, got ${data.length}`);
  const view = new DataView(data.buffer, data.byteOffset, 4);
  return view.getUint32(0, options.littleEndian);
}

export function keyIdFromGroupId(groupId: number, options: GroupIdOptions): Uint8Array {
  const data = new Uint8Array(4);
  new DataView(data.buffer).setUint32(0, groupId, options.littleEndian);
  return data;
}
