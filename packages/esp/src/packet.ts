/**
 * ESP packets (RFC 4303 §2) for the two group transforms.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ ---
 * |               Security Parameters Index (SPI)                 |  ^ authenticated
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  | (CBC: HMAC input;
 * |                      Sequence Number                          |  |  GCM: AAD = SPI|seq)
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  |
 * |  IV: CBC 16 random bytes / GCM 8-byte explicit IV (counter)   |  | (CBC: in the HMAC)
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  |  ---
 * |      inner IPv4 packet (tunnel mode) ...                      |  |   ^ encrypted
 * +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  |   |
 * |               |   Padding 1, 2, 3, ... (0-255 bytes)          |  |   |
 * +-+-+-+-+-+-+-+-+               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  |   |
 * |                               |  Pad Length   | Next Header=4 |  v   v
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ ---
 * |         ICV (16 bytes: HMAC-SHA-256 truncated / GCM tag)      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * CBC: plaintext + padding + 2 is a multiple of 16; ICV = HMAC-SHA-256(authKey, SPI|seq|IV|ciphertext)[0..16]
 * (RFC 4868). GCM (RFC 4106): nonce = salt(4) | explicit IV(8), AAD = SPI | seq (32-bit sequence
 * numbers), plaintext + padding + 2 a multiple of 4. The receiver verifies the ICV, in constant time,
 * before it decrypts anything (for GCM, @noble/ciphers checks the tag before running CTR).
 */
import { gcm } from '@noble/ciphers/aes.js';
import { aesCbcDecrypt, aesCbcEncrypt, equalBytes, prf } from '@gvpn/crypto';
import { EspError } from './errors.js';
import { type Tek } from './tek.js';

export const ESP_HEADER_LENGTH = 8;
export const ICV_LENGTH = 16;
export const CBC_IV_LENGTH = 16;
export const GCM_IV_LENGTH = 8;
/** RFC 4303 next header for an IPv4 packet (tunnel mode) */
export const NEXT_HEADER_IPV4 = 4;
/** RFC 4303 §2.6: a dummy packet, to be discarded */
export const NEXT_HEADER_NO_NEXT = 59;

export function ivLength(tek: Tek): number {
  return tek.transform === 'aes-gcm-16' ? GCM_IV_LENGTH : CBC_IV_LENGTH;
}

function alignment(tek: Tek): number {
  return tek.transform === 'aes-gcm-16' ? 4 : 16;
}

/** The padded, encrypted length of a payload of `payloadLength` bytes. */
function encryptedLength(tek: Tek, payloadLength: number): number {
  const align = alignment(tek);
  return Math.ceil((payloadLength + 2) / align) * align;
}

/** Bytes of the ESP packet carrying `payloadLength` bytes under `tek`. */
export function espLength(tek: Tek, payloadLength: number): number {
  return ESP_HEADER_LENGTH + ivLength(tek) + encryptedLength(tek, payloadLength) + ICV_LENGTH;
}

export interface SealInput {
  seq: number;
  payload: Uint8Array;
  /** CBC: 16 unpredictable bytes. GCM: 8 bytes, never repeated under one key (see EspEndpoint). */
  iv: Uint8Array;
  nextHeader?: number;
}

function checkU32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new EspError('BAD_ARGUMENT', `${what} ${value} is not a u32`);
}

function gcmNonce(tek: Tek, iv: Uint8Array): Uint8Array {
  const nonce = new Uint8Array(12);
  nonce.set(tek.salt as Uint8Array);
  nonce.set(iv, 4);
  return nonce;
}

function cbcIcv(tek: Tek, authenticated: Uint8Array): Uint8Array {
  return prf('sha256', tek.authKey as NonNullable<Tek['authKey']>, authenticated).subarray(0, ICV_LENGTH);
}

/** Builds one ESP packet. */
export function sealEsp(tek: Tek, input: SealInput): Uint8Array {
  checkU32(input.seq, 'sequence number');
  const nextHeader = input.nextHeader ?? NEXT_HEADER_IPV4;
  if (!Number.isInteger(nextHeader) || nextHeader < 0 || nextHeader > 255) throw new EspError('BAD_ARGUMENT', `next header ${nextHeader}`);
  if (input.iv.length !== ivLength(tek)) throw new EspError('BAD_ARGUMENT', `IV must be ${ivLength(tek)} bytes for ${tek.transform}`);
  const encLength = encryptedLength(tek, input.payload.length);
  const padLength = encLength - input.payload.length - 2;
  const plaintext = new Uint8Array(encLength);
  plaintext.set(input.payload);
  for (let i = 0; i < padLength; i++) plaintext[input.payload.length + i] = i + 1;
  plaintext[encLength - 2] = padLength;
  plaintext[encLength - 1] = nextHeader;

  const ivLen = ivLength(tek);
  const out = new Uint8Array(espLength(tek, input.payload.length));
  const view = new DataView(out.buffer);
  view.setUint32(0, tek.spi);
  view.setUint32(4, input.seq);
  out.set(input.iv, ESP_HEADER_LENGTH);
  const bodyStart = ESP_HEADER_LENGTH + ivLen;
  if (tek.transform === 'aes-gcm-16') {
    const sealed = gcm(tek.encKey.reveal(), gcmNonce(tek, input.iv), out.subarray(0, ESP_HEADER_LENGTH)).encrypt(plaintext);
    out.set(sealed, bodyStart); // ciphertext | 16-byte tag
  } else {
    out.set(aesCbcEncrypt(tek.encKey, input.iv, plaintext), bodyStart);
    out.set(cbcIcv(tek, out.subarray(0, bodyStart + encLength)), bodyStart + encLength);
  }
  plaintext.fill(0);
  return out;
}

/** SPI and sequence number of a packet of at least 8 bytes, else undefined. */
export function peekEspHeader(bytes: Uint8Array): { spi: number; seq: number } | undefined {
  if (bytes.length < ESP_HEADER_LENGTH) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, ESP_HEADER_LENGTH);
  return { spi: view.getUint32(0), seq: view.getUint32(4) };
}

/** Whether the length fits the transform: header, IV, a non-empty aligned ciphertext, ICV. */
export function espLengthValid(tek: Tek, length: number): boolean {
  const encLength = length - ESP_HEADER_LENGTH - ivLength(tek) - ICV_LENGTH;
  return encLength >= alignment(tek) && encLength % alignment(tek) === 0;
}

export type OpenResult =
  | { ok: true; seq: number; nextHeader: number; payload: Uint8Array }
  | { ok: false; reason: 'malformed' | 'auth'; detail: string };

/**
 * Verifies and decrypts one ESP packet whose SPI selected `tek`. Never throws for any input bytes:
 * a bad length or trailer is 'malformed', a wrong ICV is 'auth' (and nothing is decrypted then).
 */
export function openEsp(tek: Tek, bytes: Uint8Array): OpenResult {
  if (!espLengthValid(tek, bytes.length)) return { ok: false, reason: 'malformed', detail: `length ${bytes.length} does not fit ${tek.transform}` };
  const header = peekEspHeader(bytes) as { spi: number; seq: number };
  if (header.spi !== tek.spi) return { ok: false, reason: 'malformed', detail: 'SPI does not match the SA' };
  const ivLen = ivLength(tek);
  const bodyStart = ESP_HEADER_LENGTH + ivLen;
  const icvStart = bytes.length - ICV_LENGTH;
  const iv = bytes.subarray(ESP_HEADER_LENGTH, bodyStart);
  let plaintext: Uint8Array;
  if (tek.transform === 'aes-gcm-16') {
    try {
      plaintext = gcm(tek.encKey.reveal(), gcmNonce(tek, iv), bytes.subarray(0, ESP_HEADER_LENGTH)).decrypt(bytes.subarray(bodyStart));
    } catch (error) {
      // lengths were checked above, so the only failure left is the tag
      if (error instanceof Error && /invalid tag/.test(error.message)) return { ok: false, reason: 'auth', detail: 'GCM tag mismatch' };
      throw error;
    }
  } else {
    const expected = cbcIcv(tek, bytes.subarray(0, icvStart));
    if (!equalBytes(expected, bytes.subarray(icvStart))) return { ok: false, reason: 'auth', detail: 'HMAC-SHA-256-128 ICV mismatch' };
    plaintext = aesCbcDecrypt(tek.encKey, iv, bytes.subarray(bodyStart, icvStart));
  }
  const padLength = plaintext[plaintext.length - 2] as number;
  const nextHeader = plaintext[plaintext.length - 1] as number;
  const payloadLength = plaintext.length - 2 - padLength;
  if (payloadLength < 0) return { ok: false, reason: 'malformed', detail: `pad length ${padLength} exceeds the payload` };
  for (let i = 0; i < padLength; i++) {
    if (plaintext[payloadLength + i] !== i + 1) return { ok: false, reason: 'malformed', detail: 'padding is not 1, 2, 3, ...' };
  }
  return { ok: true, seq: header.seq, nextHeader, payload: plaintext.slice(0, payloadLength) };
}
