/**
 * SA TEK payload (SAT), RFC 6407 §5.5, with the ESP/AH body of §5.5.1. Other Protocol-IDs (private use,
 * gdoid's SRTP 128 or IEC 90-5 161) keep their body opaque.
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Next Payload  !   RESERVED    !         Payload Length        !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Protocol-ID   !       TEK Protocol-Specific Payload           ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * ESP/AH TEK body:
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !   Protocol    !  SRC ID Type  !         SRC ID Port           !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !SRC ID Data Len!          SRC Identification Data              ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! DST ID Type   !         DST ID Port           !DST ID Data Len!
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                    DST Identification Data                    ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Transform ID  !                        SPI                    !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !     SPI       !                                               ~
 * +-+-+-+-+-+-+-+-+                                               ~
 * ~                        SA Attributes                          ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { TekProtocolId } from '../constants.js';
import { readAttributes, writeAttributes, attributesLength } from '../attributes.js';
import type { Attribute } from '../attributes.js';
import { WireError } from '../errors.js';
import { Reader } from '../reader.js';
import { Writer, checkSize } from '../writer.js';
import { readGdoiIdentity, writeGdoiIdentity, gdoiIdentityLength } from './gdoi-id.js';
import type { GdoiIdentity } from './gdoi-id.js';

export const TEK_SPI_LENGTH = 4;

/** A TEK for ESP (Protocol-ID 1) or AH (2). */
export interface IpsecSatPayload {
  type: 16;
  kind: 'ipsec';
  protocolId: number;
  /** IP protocol of the protected traffic, 0 = any. */
  protocol: number;
  src: GdoiIdentity;
  dst: GdoiIdentity;
  /** EspTransformId / AhTransformId value. */
  transformId: number;
  spi: Uint8Array;
  /** RFC 2407 §4.5 SA attributes (TekAttr). */
  attributes: Attribute[];
}

/** A TEK of a protocol this codec does not interpret; the body after Protocol-ID, verbatim. */
export interface OpaqueSatPayload {
  type: 16;
  kind: 'opaque';
  protocolId: number;
  body: Uint8Array;
}

export type SatPayload = IpsecSatPayload | OpaqueSatPayload;

function isIpsec(protocolId: number): boolean {
  return protocolId === TekProtocolId.IpsecEsp || protocolId === TekProtocolId.IpsecAh;
}

export function decodeSat(buf: Uint8Array, off: number, end: number): SatPayload {
  const r = new Reader(buf, off, end);
  const protocolId = r.u8('SAT protocol id');
  if (!isIpsec(protocolId)) return { type: 16, kind: 'opaque', protocolId, body: r.rest() };
  const protocol = r.u8('SAT protocol');
  const src = readGdoiIdentity(r, 'SAT source');
  const dst = readGdoiIdentity(r, 'SAT destination');
  const transformId = r.u8('SAT transform id');
  const spi = r.bytes(TEK_SPI_LENGTH, 'SAT SPI');
  return { type: 16, kind: 'ipsec', protocolId, protocol, src, dst, transformId, spi, attributes: readAttributes(r) };
}

export function encodeSat(p: SatPayload, out: Uint8Array, off: number): number {
  const w = new Writer(out, off);
  if (isIpsec(p.protocolId) !== (p.kind === 'ipsec')) {
    throw new WireError('INVALID_VALUE', w.pos, `SAT kind ${p.kind} with protocol id ${p.protocolId}`);
  }
  w.u8(p.protocolId, 'SAT protocol id');
  if (p.kind === 'opaque') {
    w.bytes(p.body, 'SAT body');
    return w.pos - off;
  }
  w.u8(p.protocol, 'SAT protocol');
  writeGdoiIdentity(p.src, w, 'SAT source');
  writeGdoiIdentity(p.dst, w, 'SAT destination');
  w.u8(p.transformId, 'SAT transform id');
  checkSize(p.spi, TEK_SPI_LENGTH, 'SAT SPI', w.pos);
  w.bytes(p.spi, 'SAT SPI');
  writeAttributes(p.attributes, w);
  return w.pos - off;
}

export function satLength(p: SatPayload): number {
  if (p.kind === 'opaque') return 1 + p.body.length;
  return 2 + gdoiIdentityLength(p.src) + gdoiIdentityLength(p.dst) + 1 + TEK_SPI_LENGTH + attributesLength(p.attributes);
}
