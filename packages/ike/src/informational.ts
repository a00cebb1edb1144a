/**
 * Informational exchange (type 5), RFC 2409 §5.7 / RFC 2408 §4.8.
 *
 * Under an established phase-1 SA:   HDR*, HASH(1), N/D
 *   HASH(1) = prf(SKEYID_a, M-ID | N/D)      (N/D: the whole payload, generic header included)
 *   M-ID fresh and random; IV = hash(last phase-1 ciphertext block | M-ID).
 * Before phase 1 completes, error notifies go in clear: HDR, N.
 */
import { PayloadType, WireError, isPayloadType } from '@gvpn/wire';
import type { DeletePayload, Header, NotifyPayload } from '@gvpn/wire';
import { equalBytes } from '@gvpn/crypto';
import type { RandomSource } from '@gvpn/crypto';
import type { Keymat } from './keymat.js';
import { chainBytes, ciphertextOf, encodeClear, encodeEncrypted, parseDecrypted, u32Bytes } from './message.js';
import type { CounterName } from './statistics.js';

export const INFORMATIONAL = 5;

/** A random non-zero message ID. */
export function freshMessageId(random: RandomSource): number {
  for (;;) {
    const b = random.bytes(4);
    const id = ((b[0] ?? 0) << 24 | (b[1] ?? 0) << 16 | (b[2] ?? 0) << 8 | (b[3] ?? 0)) >>> 0;
    if (id !== 0) return id;
  }
}

export interface Cookies {
  icookie: Uint8Array;
  rcookie: Uint8Array;
}

/** An unprotected informational carrying one notify (only for errors during Main Mode). */
export function clearNotify(cookies: Cookies, notify: NotifyPayload, random: RandomSource): Uint8Array {
  return encodeClear({ ...cookies, exchangeType: INFORMATIONAL, messageId: freshMessageId(random) }, [notify]);
}

export function protectedInformational(cookies: Cookies, payload: NotifyPayload | DeletePayload, keys: Keymat, random: RandomSource): Uint8Array {
  const messageId = freshMessageId(random);
  const body = chainBytes([payload], INFORMATIONAL);
  const hash = { type: PayloadType.HASH, data: keys.prfA(u32Bytes(messageId), body) } as const;
  const chain = chainBytes([hash, payload], INFORMATIONAL);
  return encodeEncrypted({ ...cookies, exchangeType: INFORMATIONAL, messageId }, PayloadType.HASH, chain, keys, keys.phase2Iv(messageId)).bytes;
}

export type OpenResult =
  | { ok: true; payloads: (NotifyPayload | DeletePayload)[] }
  | { ok: false; counter: CounterName; detail: string };

/** Decrypts and authenticates a protected informational; nothing is trusted before HASH(1) verifies. */
export function openInformational(header: Header, bytes: Uint8Array, keys: Keymat): OpenResult {
  const ciphertext = ciphertextOf(bytes);
  if (ciphertext === undefined) return { ok: false, counter: 'malformedDropped', detail: 'ciphertext not whole blocks' };
  if (header.messageId === 0) return { ok: false, counter: 'malformedDropped', detail: 'informational with message ID 0' };
  let parsed;
  try {
    parsed = parseDecrypted(header, keys.decrypt(ciphertext, keys.phase2Iv(header.messageId)));
  } catch (e) {
    if (e instanceof WireError) return { ok: false, counter: 'decryptFailedDropped', detail: e.code };
    throw e;
  }
  const [first, ...rest] = parsed.payloads;
  if (first === undefined || !isPayloadType(first.payload, PayloadType.HASH)) {
    return { ok: false, counter: 'invalidPayloadDropped', detail: 'informational must start with HASH' };
  }
  const expected = keys.prfA(u32Bytes(header.messageId), parsed.body.subarray(first.end, parsed.chainEnd));
  if (!equalBytes(expected, first.payload.data)) return { ok: false, counter: 'hashMismatchDropped', detail: 'HASH(1)' };
  const payloads: (NotifyPayload | DeletePayload)[] = [];
  for (const { payload } of rest) {
    if (isPayloadType(payload, PayloadType.N) || isPayloadType(payload, PayloadType.D)) payloads.push(payload);
  }
  return { ok: true, payloads };
}
