/**
 * Group Associated Policy payload (GAP), RFC 6407 §5.4: in a GDOI SA after the SAK, or on its own in
 * GROUPKEY-PULL message 3 (SENDER_ID_REQUEST).
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Next Payload  !   RESERVED    !         Payload Length        !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                  Group Associated Policy Attributes           ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { decodeAttributes, encodeAttributes, attributesLength } from '../attributes.js';
import type { Attribute } from '../attributes.js';

export interface GapPayload {
  type: 22;
  /** GapAttr classes. */
  attributes: Attribute[];
}

export function decodeGap(buf: Uint8Array, off: number, end: number): GapPayload {
  return { type: 22, attributes: decodeAttributes(buf, off, end) };
}

export function encodeGap(p: GapPayload, out: Uint8Array, off: number): number {
  return encodeAttributes(p.attributes, out, off);
}

export function gapLength(p: GapPayload): number {
  return attributesLength(p.attributes);
}
