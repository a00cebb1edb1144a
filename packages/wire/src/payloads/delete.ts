/**
 * Delete payload, RFC 2408 §3.15. In GDOI (RFC 6407 §5.9) Protocol-ID is a TEK protocol, 0 meaning
 * the KEK, and an all-zero SPI means "all of that protocol".
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Next Payload  !   RESERVED    !         Payload Length        !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !              Domain of Interpretation  (DOI)                  !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !  Protocol-Id  !   SPI Size    !           # of SPIs           !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~               Security Parameter Index(es) (SPI)              ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { WireError } from '../errors.js';
import { Reader } from '../reader.js';
import { Writer } from '../writer.js';

export interface DeletePayload {
  type: 12;
  doi: number;
  protocolId: number;
  spiSize: number;
  /** Each exactly `spiSize` bytes. */
  spis: Uint8Array[];
}

export function decodeDelete(buf: Uint8Array, off: number, end: number): DeletePayload {
  const r = new Reader(buf, off, end);
  const doi = r.u32('delete DOI');
  const protocolId = r.u8('delete protocol');
  const spiSizeAt = r.pos;
  const spiSize = r.u8('delete SPI size');
  const countAt = r.pos;
  const count = r.u16('delete # of SPIs');
  // The CVE-2004-0183 check: # of SPIs times SPI size must be exactly what the payload holds.
  if (spiSize === 0) throw new WireError('BAD_SPI_SIZE', spiSizeAt, 'delete with SPI size 0');
  if (count === 0 || count * spiSize !== r.remaining) {
    throw new WireError('BAD_COUNT', countAt, `${count} SPIs of ${spiSize} bytes in ${r.remaining} bytes`);
  }
  const spis: Uint8Array[] = [];
  for (let i = 0; i < count; i++) spis.push(r.bytes(spiSize, 'delete SPI'));
  return { type: 12, doi, protocolId, spiSize, spis };
}

export function encodeDelete(p: DeletePayload, out: Uint8Array, off: number): number {
  const w = new Writer(out, off);
  if (p.spiSize === 0 || p.spis.length === 0) throw new WireError('INVALID_VALUE', off, 'delete needs at least one SPI');
  w.u32(p.doi, 'delete DOI');
  w.u8(p.protocolId, 'delete protocol');
  w.u8(p.spiSize, 'delete SPI size');
  w.u16(p.spis.length, 'delete # of SPIs');
  for (const spi of p.spis) {
    if (spi.length !== p.spiSize) throw new WireError('INVALID_VALUE', w.pos, `delete SPI of ${spi.length} bytes, size ${p.spiSize}`);
    w.bytes(spi, 'delete SPI');
  }
  return w.pos - off;
}

export function deleteLength(p: DeletePayload): number {
  return 8 + p.spiSize * p.spis.length;
}
