/**
 * Whole ISAKMP messages: header + payload chain, in clear or encrypted with the phase-1 SA
 * (RFC 2408 §3.1, RFC 2409 App. B: zero padding, header Length includes the padding).
 */
import { HEADER_LENGTH, HeaderFlags, WireError, decodePayloads, encodeHeader, encodePayloads, isPayloadType } from '@gvpn/wire';
import type { DecodedPayload, Header, KnownPayload, Payload } from '@gvpn/wire';
import { BLOCK_SIZE, lastBlock } from './keymat.js';
import type { Keymat } from './keymat.js';

const ISAKMP_VERSION = 0x10;

export interface MessageHeader {
  icookie: Uint8Array;
  rcookie: Uint8Array;
  exchangeType: number;
  messageId: number;
}

function withHeader(h: MessageHeader, flags: number, nextPayload: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_LENGTH + body.length);
  const header: Header = {
    icookie: h.icookie, rcookie: h.rcookie, nextPayload, version: ISAKMP_VERSION,
    exchangeType: h.exchangeType, flags, messageId: h.messageId, length: out.length,
  };
  encodeHeader(header, out, 0);
  out.set(body, HEADER_LENGTH);
  return out;
}

export function encodeClear(h: MessageHeader, payloads: Payload[]): Uint8Array {
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
  return { bytes: withHeader(h, HeaderFlags.Encryption, firstPayload, ciphertext), lastBlock: lastBlock(ciphertext) };
}

export function chainBytes(payloads: Payload[], exchangeType: number): Uint8Array {
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

export function parseClear(header: Header, bytes: Uint8Array): ParsedMessage {
  const body = bytes.subarray(HEADER_LENGTH);
  const { payloads, end } = decodePayloads(body, header.nextPayload, 0, body.length, { exchangeType: header.exchangeType });
  if (end !== body.length) throw new WireError('TRAILING_BYTES', HEADER_LENGTH + end, 'bytes after the payload chain');
  return { header, body, payloads, chainEnd: end };
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
 * any content is accepted; more is an error.
 */
export function parseDecrypted(header: Header, plaintext: Uint8Array): ParsedMessage {
  const { payloads, end } = decodePayloads(plaintext, header.nextPayload, 0, plaintext.length, { exchangeType: header.exchangeType });
  if (plaintext.length - end > BLOCK_SIZE) throw new WireError('TRAILING_BYTES', HEADER_LENGTH + end, 'padding longer than a block');
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
