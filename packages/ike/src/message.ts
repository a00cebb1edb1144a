/**
 * Whole ISAKMP messages: header + payload chain, in clear or encrypted with the phase-1 SA
 * (RFC 2408 §3.1, RFC 2409 App. B: zero padding, header Length includes the padding).
 */
import {
  HEADER_LENGTH, HeaderFlags, ISAKMP_VERSION, WireError, checkMessageRules, decodeHeader, decodePayloads, encodeHeader, encodePayloads, isPayloadType,
} from '@gvpn/wire';
import type { DecodedPayload, Header, KnownPayload, MessageRule, Payload } from '@gvpn/wire';
import { BLOCK_SIZE, lastBlock } from './keymat.js';
import type { Keymat } from './keymat.js';

export { BLOCK_SIZE, lastBlock };

export interface MessageHeader {
  icookie: Uint8Array;
  rcookie: Uint8Array;
  exchangeType: number;
  messageId: number;
}

/** The 28-byte header alone, with the given flags, first payload and Length (e.g. for signed data). */
export function headerBytes(h: MessageHeader, flags: number, nextPayload: number, length: number): Uint8Array {
  const out = new Uint8Array(HEADER_LENGTH);
  writeHeader(h, flags, nextPayload, length, out);
  return out;
}

function writeHeader(h: MessageHeader, flags: number, nextPayload: number, length: number, out: Uint8Array): void {
  const header: Header = {
    icookie: h.icookie, rcookie: h.rcookie, nextPayload, version: ISAKMP_VERSION,
    exchangeType: h.exchangeType, flags, messageId: h.messageId, length,
  };
  encodeHeader(header, out, 0);
}

function withHeader(h: MessageHeader, flags: number, nextPayload: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_LENGTH + body.length);
  writeHeader(h, flags, nextPayload, out.length, out);
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

/** A message ID (or any 32-bit number) as the 4 big-endian bytes that phase-2 HASHes cover. */
export function u32Bytes(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

export function encodeClear(h: MessageHeader, payloads: readonly Payload[]): Uint8Array {
  return withHeader(h, 0, payloads[0]?.type ?? 0, encodePayloads(payloads, { exchangeType: h.exchangeType }));
}

export interface EncryptedMessage {
  bytes: Uint8Array;
  /** Last ciphertext block: the running IV after this message. */
  lastBlock: Uint8Array;
}

/** Encrypts an already-encoded payload chain (see `chainBytes`). */
export function encodeEncrypted(h: MessageHeader, firstPayload: number, chain: Uint8Array, keys: Keymat, iv: Uint8Array): EncryptedMessage {
  const ciphertext = keys.encrypt(chain, iv);
  return { bytes: encryptedMessage(h, firstPayload, ciphertext), lastBlock: lastBlock(ciphertext) };
}

/** HDR (E flag set) | ciphertext, for a chain the caller encrypted (whole blocks, padding included). */
export function encryptedMessage(h: MessageHeader, firstPayload: number, ciphertext: Uint8Array): Uint8Array {
  return withHeader(h, HeaderFlags.Encryption, firstPayload, ciphertext);
}

export function chainBytes(payloads: readonly Payload[], exchangeType: number): Uint8Array {
  return encodePayloads(payloads, { exchangeType });
}

export interface ParsedMessage {
  header: Header;
  /** The bytes the payload chain was decoded from (plaintext for encrypted messages). */
  body: Uint8Array;
  payloads: DecodedPayload[];
  /** Where the chain ended inside `body`; anything after it is CBC padding. */
  chainEnd: number;
}

/** Decodes a clear message; bytes after the chain, or a violation of `rule` when given, are a WireError. */
export function parseClear(header: Header, bytes: Uint8Array, rule?: MessageRule): ParsedMessage {
  const body = bytes.subarray(HEADER_LENGTH);
  const { payloads, end } = decodePayloads(body, header.nextPayload, 0, body.length, { exchangeType: header.exchangeType });
  if (end !== body.length) throw new WireError('TRAILING_BYTES', HEADER_LENGTH + end, 'bytes after the payload chain');
  checkRule(rule, payloads);
  return { header, body, payloads, chainEnd: end };
}

function checkRule(rule: MessageRule | undefined, payloads: readonly DecodedPayload[]): void {
  if (rule === undefined) return;
  const problem = checkMessageRules(rule, payloads);
  if (problem !== undefined) throw problem;
}

/** The ciphertext of an encrypted message, or undefined if it cannot be CBC data. */
export function ciphertextOf(bytes: Uint8Array): Uint8Array | undefined {
  const ciphertext = bytes.subarray(HEADER_LENGTH);
  if (ciphertext.length === 0 || ciphertext.length % BLOCK_SIZE !== 0) return undefined;
  return ciphertext;
}

/**
 * Decodes a decrypted chain. RFC 2409 App. B pads with zeros to the block size, but peers differ: strongSwan
 * always adds 1..16 bytes (a whole block when the chain is already aligned). So up to one block of padding of
 * any content is accepted; more is an error, and so is a violation of `rule` when given.
 */
export function parseDecrypted(header: Header, plaintext: Uint8Array, rule?: MessageRule): ParsedMessage {
  const { payloads, end } = decodePayloads(plaintext, header.nextPayload, 0, plaintext.length, { exchangeType: header.exchangeType });
  if (plaintext.length - end > BLOCK_SIZE) throw new WireError('TRAILING_BYTES', HEADER_LENGTH + end, 'padding longer than a block');
  checkRule(rule, payloads);
  return { header, body: plaintext, payloads, chainEnd: end };
}

/** Payloads of one known type, in order (named-unknown payloads never match). */
export function payloadsOf<T extends KnownPayload['type']>(m: ParsedMessage, type: T): Located<Extract<KnownPayload, { type: T }>>[] {
  const out: Located<Extract<KnownPayload, { type: T }>>[] = [];
  for (const { payload, start, end } of m.payloads) if (isPayloadType(payload, type)) out.push({ payload, start, end });
  return out;
}

export interface Located<P extends Payload> {
  payload: P;
  /** Offsets of the payload (generic header included) inside the decoded body. */
  start: number;
  end: number;
}
