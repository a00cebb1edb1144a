/**
 * Message plumbing shared by the exchanges: header + payload chain, encrypted after the header with CBC
 * and zero padding (RFC 2409 App. B; header Length includes the padding), decoding with the padding rule
 * of packages/ike (at most one block of padding after the chain).
 */
import {
  HEADER_LENGTH, HeaderFlags, ISAKMP_VERSION, WireError, checkMessageRules, decodeHeader, decodePayloads, encodeHeader,
  encodePayloads, isPayloadType,
} from '@gvpn/wire';
import type { DecodedPayload, Header, KnownPayload, MessageRule, Payload } from '@gvpn/wire';

export const BLOCK_SIZE = 16;

export function u32Bytes(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
}

export interface HeaderFields {
  icookie: Uint8Array;
  rcookie: Uint8Array;
  exchangeType: number;
  flags: number;
  messageId: number;
}

/** The 28-byte header with the given Length. */
export function headerBytes(h: HeaderFields, nextPayload: number, length: number): Uint8Array {
  const out = new Uint8Array(HEADER_LENGTH);
  const header: Header = { ...h, nextPayload, version: ISAKMP_VERSION, length };
  encodeHeader(header, out, 0);
  return out;
}

export function chain(payloads: readonly Payload[], exchangeType: number): Uint8Array {
  return encodePayloads(payloads, { exchangeType });
}

/** HDR | encrypt(chain); `encrypt` pads and returns whole blocks. */
export function encryptedMessage(h: HeaderFields, firstPayload: number, ciphertext: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_LENGTH + ciphertext.length);
  out.set(headerBytes({ ...h, flags: h.flags | HeaderFlags.Encryption }, firstPayload, out.length), 0);
  out.set(ciphertext, HEADER_LENGTH);
  return out;
}

export function clearMessage(h: HeaderFields, payloads: readonly Payload[]): Uint8Array {
  const body = chain(payloads, h.exchangeType);
  const out = new Uint8Array(HEADER_LENGTH + body.length);
  out.set(headerBytes(h, payloads[0]?.type ?? 0, out.length), 0);
  out.set(body, HEADER_LENGTH);
  return out;
}

/** Header, or undefined when the datagram is not even an ISAKMP header of the right length. */
export function tryHeader(datagram: Uint8Array): Header | undefined {
  try {
    return decodeHeader(datagram);
  } catch (e) {
    if (e instanceof WireError) return undefined;
    throw e;
  }
}

/** The ciphertext after the header, or undefined if it is not whole CBC blocks. */
export function ciphertextOf(datagram: Uint8Array): Uint8Array | undefined {
  const c = datagram.subarray(HEADER_LENGTH);
  return c.length === 0 || c.length % BLOCK_SIZE !== 0 ? undefined : c;
}

export function lastBlock(ciphertext: Uint8Array): Uint8Array {
  return ciphertext.slice(ciphertext.length - BLOCK_SIZE);
}

export interface Parsed {
  body: Uint8Array;
  payloads: DecodedPayload[];
  chainEnd: number;
}

/** Decodes a decrypted chain; more than one block of padding, or a rule violation, is a WireError. */
export function parseChain(header: Header, body: Uint8Array, rule: MessageRule | undefined, maxPadding = BLOCK_SIZE): Parsed {
  const { payloads, end } = decodePayloads(body, header.nextPayload, 0, body.length, { exchangeType: header.exchangeType });
  if (body.length - end > maxPadding) throw new WireError('TRAILING_BYTES', HEADER_LENGTH + end, 'padding longer than a block');
  if (rule !== undefined) {
    const problem = checkMessageRules(rule, payloads);
    if (problem !== undefined) throw problem;
  }
  return { body, payloads, chainEnd: end };
}

export function first<T extends KnownPayload['type']>(m: Parsed, type: T): { payload: Extract<KnownPayload, { type: T }>; start: number; end: number } | undefined {
  for (const d of m.payloads) if (isPayloadType(d.payload, type)) return { payload: d.payload, start: d.start, end: d.end };
  return undefined;
}

export function all<T extends KnownPayload['type']>(m: Parsed, type: T): Extract<KnownPayload, { type: T }>[] {
  const out: Extract<KnownPayload, { type: T }>[] = [];
  for (const d of m.payloads) if (isPayloadType(d.payload, type)) out.push(d.payload);
  return out;
}

/** Constant-time comparison for MACs. */
export { equalBytes } from '@gvpn/crypto';
