/**
 * SA KEK payload (SAK), RFC 6407 §5.3: the policy of the rekey SA, inside a GDOI SA payload.
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Next Payload  !   RESERVED    !         Payload Length        !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !    Protocol   !  SRC ID Type  !         SRC ID Port           !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !SRC ID Data Len!          SRC Identification Data              ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! DST ID Type   !         DST ID Port           !DST ID Data Len!
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                    DST Identification Data                    ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !                                                               !
 * ~                              SPI                              ~
 * !                                                               !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !                           RESERVED2                           !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                        KEK Attributes                         ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * SPI: 16 octets, the cookie pair of future PUSH headers. RESERVED2: 4 zero octets (POP Algorithm and POP
 * Key Length in RFC 3547). Deviation accepted on decode (protocol.md §1.5): gdoid writes 6 zero octets.
 * After the 4 we take 2 more only when they are zero AND a TV attribute (AF bit set) follows them, as
 * protocol.md advises; an RFC-form SAK only looks like that if its first attribute is a TLV of the
 * reserved class 0 with a length of 32768 or more. `reservedLength` records the form so re-encoding is byte-exact; encoders use 4.
 */
import { WireError } from '../errors.js';
import { readAttributes, writeAttributes, attributesLength } from '../attributes.js';
import type { Attribute } from '../attributes.js';
import { Reader } from '../reader.js';
import { Writer, checkSize } from '../writer.js';
import { readGdoiIdentity, writeGdoiIdentity, gdoiIdentityLength } from './gdoi-id.js';
import type { GdoiIdentity } from './gdoi-id.js';

export const KEK_SPI_LENGTH = 16;

export interface SakPayload {
  type: 15;
  /** IP protocol of the PUSH datagrams (17 = UDP). */
  protocol: number;
  src: GdoiIdentity;
  dst: GdoiIdentity;
  /** 16 bytes: initiator cookie || responder cookie of the PUSH header. */
  spi: Uint8Array;
  /** Zero octets after the SPI: 4 per RFC 6407; 6 as gdoid sends them. Absent = 4. */
  reservedLength?: 4 | 6;
  attributes: Attribute[];
}

export function decodeSak(buf: Uint8Array, off: number, end: number): SakPayload {
  const r = new Reader(buf, off, end);
  const protocol = r.u8('SAK protocol');
  const src = readGdoiIdentity(r, 'SAK source');
  const dst = readGdoiIdentity(r, 'SAK destination');
  const spi = r.bytes(KEK_SPI_LENGTH, 'SAK SPI');
  r.zeros(4, 'SAK RESERVED2');
  const b = r.buf;
  const gdoidTail = r.remaining >= 4 && b[r.pos] === 0 && b[r.pos + 1] === 0 && ((b[r.pos + 2] as number) & 0x80) !== 0;
  if (gdoidTail) r.zeros(2, 'SAK gdoid RESERVED2 tail');
  const attributes = readAttributes(r);
  const sak: SakPayload = { type: 15, protocol, src, dst, spi, attributes };
  if (gdoidTail) sak.reservedLength = 6;
  return sak;
}

/** Whether decodeSak's tail detection will see the RESERVED2 length this SAK is written with. */
function decodesAsWritten(p: SakPayload): boolean {
  const first = p.attributes[0];
  const looksLikeGdoidTail = first !== undefined && 'bytes' in first && first.type === 0 && first.bytes.length >= 0x8000;
  return p.reservedLength === 6 ? first !== undefined && 'value' in first : !looksLikeGdoidTail;
}

export function encodeSak(p: SakPayload, out: Uint8Array, off: number): number {
  const w = new Writer(out, off);
  w.u8(p.protocol, 'SAK protocol');
  writeGdoiIdentity(p.src, w, 'SAK source');
  writeGdoiIdentity(p.dst, w, 'SAK destination');
  checkSize(p.spi, KEK_SPI_LENGTH, 'SAK SPI', w.pos);
  if (!decodesAsWritten(p)) throw new WireError('INVALID_VALUE', w.pos, 'SAK RESERVED2 length would be misread by the tail detection');
  w.bytes(p.spi, 'SAK SPI');
  w.zeros(p.reservedLength ?? 4, 'SAK RESERVED2');
  writeAttributes(p.attributes, w);
  return w.pos - off;
}

export function sakLength(p: SakPayload): number {
  return 1 + gdoiIdentityLength(p.src) + gdoiIdentityLength(p.dst) + KEK_SPI_LENGTH + (p.reservedLength ?? 4) + attributesLength(p.attributes);
}
