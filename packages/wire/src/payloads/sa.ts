/**
 * Security Association payload in the RFC 2408 layout (§3.4-3.6): DOI, Situation, then a chain of
 * Proposal payloads, each followed by its Transform payloads. Used by phase 1 under DOI 1 and DOI 2
 * (RFC 6407 §2.1 keeps this layout for the GDOI phase-1 SA). The Situation is 4 octets in both DOIs.
 *
 * SA body:
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !              Domain of Interpretation  (DOI)                  !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !                           Situation                           !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                     Proposal payloads ...                     ~
 *
 * Proposal:
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Next Payload  !   RESERVED    !         Payload Length        !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !  Proposal #   !  Protocol-Id  !    SPI Size   !# of Transforms!
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                        SPI (variable)                         ~
 * ~                     Transform payloads ...                    ~
 *
 * Transform:
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Next Payload  !   RESERVED    !         Payload Length        !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !  Transform #  !  Transform-Id !           RESERVED2           !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                        SA Attributes                          ~
 *
 * Proposal Next Payload is 2 (more proposals) or 0 (last); Transform Next Payload is 3 or 0 (§3.5, §3.6).
 */
import { PayloadType } from '../constants.js';
import { readAttributes, writeAttributes, attributesLength } from '../attributes.js';
import type { Attribute } from '../attributes.js';
import { WireError } from '../errors.js';
import { Reader } from '../reader.js';
import { Writer } from '../writer.js';

export interface SaTransform {
  number: number;
  transformId: number;
  attributes: Attribute[];
}

export interface SaProposal {
  number: number;
  protocolId: number;
  /** Empty in phase 1 (RFC 2409 §5: the cookies are the SPI). */
  spi: Uint8Array;
  transforms: SaTransform[];
}

export interface SaPayload {
  type: 1;
  /** Absent or 'rfc2408'; distinguishes this from GdoiSaPayload (layout 'gdoi'). */
  layout?: 'rfc2408';
  doi: number;
  situation: number;
  proposals: SaProposal[];
}

const PROPOSAL_HEADER = 8;
const TRANSFORM_HEADER = 8;

/** Reads a sub-payload generic header, returning its next-payload value and a reader over its body. */
function subPayload(r: Reader, allowedNext: number, what: string): { next: number; body: Reader } {
  const at = r.pos;
  const next = r.u8(`${what} next payload`);
  if (next !== 0 && next !== allowedNext) throw new WireError('BAD_NEXT_PAYLOAD', at, `${what} next payload ${next}`);
  r.zeros(1, `${what} reserved`);
  const lengthAt = r.pos;
  const length = r.u16(`${what} length`);
  if (length < 8) throw new WireError('BAD_LENGTH', lengthAt, `${what} length ${length} below 8`);
  if (length - 4 > r.remaining) throw new WireError('TRUNCATED', lengthAt, `${what} length ${length} beyond its SA`);
  return { next, body: r.sub(length - 4, what) };
}

function readTransform(r: Reader): SaTransform {
  const number = r.u8('transform number');
  const transformId = r.u8('transform id');
  r.zeros(2, 'transform reserved');
  return { number, transformId, attributes: readAttributes(r) };
}

function readProposal(r: Reader): SaProposal {
  const number = r.u8('proposal number');
  const protocolId = r.u8('proposal protocol');
  const spiSize = r.u8('proposal SPI size');
  const countAt = r.pos;
  const count = r.u8('proposal # of transforms');
  const spi = r.bytes(spiSize, 'proposal SPI');
  const transforms: SaTransform[] = [];
  let more = r.remaining > 0;
  while (more) {
    const { next, body } = subPayload(r, PayloadType.Transform, 'transform');
    transforms.push(readTransform(body));
    more = next === PayloadType.Transform;
    if (more && r.remaining === 0) throw new WireError('TRUNCATED', r.pos, 'transform chain promises more');
  }
  r.expectEnd('last transform');
  if (count === 0 || transforms.length !== count) {
    throw new WireError('BAD_COUNT', countAt, `proposal says ${count} transforms, has ${transforms.length}`);
  }
  return { number, protocolId, spi, transforms };
}

export function decodeSa(buf: Uint8Array, off: number, end: number): SaPayload {
  const r = new Reader(buf, off, end);
  const doi = r.u32('SA DOI');
  const situation = r.u32('SA situation');
  const proposals: SaProposal[] = [];
  let more = true;
  while (more) {
    const { next, body } = subPayload(r, PayloadType.Proposal, 'proposal');
    proposals.push(readProposal(body));
    more = next === PayloadType.Proposal;
    if (more && r.remaining === 0) throw new WireError('TRUNCATED', r.pos, 'proposal chain promises more');
  }
  r.expectEnd('last proposal');
  return { type: 1, doi, situation, proposals };
}

function transformLength(t: SaTransform): number {
  return TRANSFORM_HEADER + attributesLength(t.attributes);
}

function proposalLength(p: SaProposal): number {
  let n = PROPOSAL_HEADER + p.spi.length;
  for (const t of p.transforms) n += transformLength(t);
  return n;
}

export function saLength(p: SaPayload): number {
  let n = 8;
  for (const proposal of p.proposals) n += proposalLength(proposal);
  return n;
}

export function encodeSa(p: SaPayload, out: Uint8Array, off: number): number {
  const w = new Writer(out, off);
  if (p.proposals.length === 0) throw new WireError('INVALID_VALUE', off, 'SA without proposals');
  w.u32(p.doi, 'SA DOI');
  w.u32(p.situation, 'SA situation');
  p.proposals.forEach((proposal, i) => {
    if (proposal.transforms.length === 0) throw new WireError('INVALID_VALUE', w.pos, 'proposal without transforms');
    w.u8(i + 1 < p.proposals.length ? PayloadType.Proposal : 0, 'proposal next payload');
    w.zeros(1, 'proposal reserved');
    w.u16(proposalLength(proposal), 'proposal length');
    w.u8(proposal.number, 'proposal number');
    w.u8(proposal.protocolId, 'proposal protocol');
    w.u8(proposal.spi.length, 'proposal SPI size');
    w.u8(proposal.transforms.length, 'proposal # of transforms');
    w.bytes(proposal.spi, 'proposal SPI');
    proposal.transforms.forEach((t, j) => {
      w.u8(j + 1 < proposal.transforms.length ? PayloadType.Transform : 0, 'transform next payload');
      w.zeros(1, 'transform reserved');
      w.u16(transformLength(t), 'transform length');
      w.u8(t.number, 'transform number');
      w.u8(t.transformId, 'transform id');
      w.zeros(2, 'transform reserved');
      writeAttributes(t.attributes, w);
    });
  });
  return w.pos - off;
}
