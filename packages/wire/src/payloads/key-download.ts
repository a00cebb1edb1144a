/**
 * Key Download payload (KD), RFC 6407 §5.6, and its key packets (§5.6.1-5.6.4).
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Next Payload  !   RESERVED    !         Payload Length        !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !   Number of Key Packets       !            RESERVED2          !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                    Key Packets                                ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Key packet (KD Length includes its 4-octet header):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !   KD Type     !   RESERVED    !            KD Length          !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !    SPI Size   !                   SPI (variable)              ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                    Key Packet Attributes                      ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * SPI sizes: TEK 4 (matches the SAT), KEK 16 (the SAK cookie pair), SID 0 (§5.6.4). LKH and unassigned
 * types take any size. Attributes are keys: callers must never log them.
 */
import { KdType } from '../constants.js';
import { readAttributes, writeAttributes, attributesLength } from '../attributes.js';
import type { Attribute } from '../attributes.js';
import { WireError } from '../errors.js';
import { Reader } from '../reader.js';
import { Writer } from '../writer.js';

export interface KeyPacket {
  /** KdType value; unknown types are kept as numbers. */
  kdType: number;
  spi: Uint8Array;
  attributes: Attribute[];
}

export interface KeyDownloadPayload {
  type: 17;
  packets: KeyPacket[];
}

const KEY_PACKET_HEADER = 5;

const REQUIRED_SPI_SIZE: ReadonlyMap<number, number> = new Map([
  [KdType.Tek, 4],
  [KdType.Kek, 16],
  [KdType.Sid, 0],
]);

/** Why `size` is wrong for a key packet of `kdType`, or undefined when it is right. */
function spiSizeProblem(kdType: number, size: number): string | undefined {
  const required = REQUIRED_SPI_SIZE.get(kdType);
  return required === undefined || size === required ? undefined : `KD type ${kdType} needs a ${required}-byte SPI, got ${size}`;
}

function readKeyPacket(r: Reader): KeyPacket {
  const kdType = r.u8('KD type');
  r.zeros(1, 'KD reserved');
  const lengthAt = r.pos;
  const length = r.u16('KD length');
  if (length < KEY_PACKET_HEADER) throw new WireError('BAD_LENGTH', lengthAt, `KD length ${length} below ${KEY_PACKET_HEADER}`);
  if (length - 4 > r.remaining) throw new WireError('TRUNCATED', lengthAt, `KD length ${length} beyond its payload`);
  const body = r.sub(length - 4, 'key packet');
  const spiSizeAt = body.pos;
  const spiSize = body.u8('KD SPI size');
  const problem = spiSizeProblem(kdType, spiSize);
  if (problem !== undefined) throw new WireError('BAD_SPI_SIZE', spiSizeAt, problem);
  const spi = body.bytes(spiSize, 'KD SPI');
  return { kdType, spi, attributes: readAttributes(body) };
}

export function decodeKeyDownload(buf: Uint8Array, off: number, end: number): KeyDownloadPayload {
  const r = new Reader(buf, off, end);
  const countAt = r.pos;
  const count = r.u16('number of key packets');
  r.zeros(2, 'KD RESERVED2');
  const packets: KeyPacket[] = [];
  while (r.remaining > 0) packets.push(readKeyPacket(r));
  if (count === 0 || packets.length !== count) {
    throw new WireError('BAD_COUNT', countAt, `KD says ${count} key packets, has ${packets.length}`);
  }
  return { type: 17, packets };
}

function keyPacketLength(k: KeyPacket): number {
  return KEY_PACKET_HEADER + k.spi.length + attributesLength(k.attributes);
}

export function keyDownloadLength(p: KeyDownloadPayload): number {
  let n = 4;
  for (const k of p.packets) n += keyPacketLength(k);
  return n;
}

export function encodeKeyDownload(p: KeyDownloadPayload, out: Uint8Array, off: number): number {
  const w = new Writer(out, off);
  if (p.packets.length === 0) throw new WireError('INVALID_VALUE', off, 'KD without key packets');
  w.u16(p.packets.length, 'number of key packets');
  w.zeros(2, 'KD RESERVED2');
  for (const k of p.packets) {
    const problem = spiSizeProblem(k.kdType, k.spi.length);
    if (problem !== undefined) throw new WireError('INVALID_VALUE', w.pos, problem);
    w.u8(k.kdType, 'KD type');
    w.zeros(1, 'KD reserved');
    w.u16(keyPacketLength(k), 'KD length');
    w.u8(k.spi.length, 'KD SPI size');
    w.bytes(k.spi, 'KD SPI');
    writeAttributes(k.attributes, w);
  }
  return w.pos - off;
}
