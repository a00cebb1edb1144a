/**
 * GROUPKEY-PUSH ACK, RFC 8263 §3:
 *
 *   GM -> GCKS: HDR(cookies of the PUSH, exchange 35, flags 0, M-ID 0), HASH, SEQ, ID   (in clear)
 *   HASH    = prf(ack_key, SEQ | ID)                     (whole payloads)
 *   ack_key = prf(base_key, "GROUPKEY-PUSH ACK\0" | SPI | L)
 *   base_key = KEK_ALGORITHM_KEY (without its IV) of the KEK that decrypted the PUSH; SPI = the 16 cookie
 *   octets; L = 2 octets, bits of the prf block (512 for HMAC-SHA-256, 1024 for HMAC-SHA-512).
 *   (Zero-filling keys to the block size, §3.2, is what HMAC does anyway.)
 * ID: ID_IPV4_ADDR of the member, protocol and port 0.
 */
import { prf, equalBytes } from '@gvpn/crypto';
import type { HashName } from '@gvpn/crypto';
import { IdType, MessageRules, PayloadType, WireError } from '@gvpn/wire';
import type { IdPayload, SeqPayload } from '@gvpn/wire';
import type { Kek } from './keys.js';
import { equal } from './keys.js';
import { addressIdentity } from './group-policy.js';
import { chainBytes, encodeClear, parseClear, payloadsOf, tryHeader } from '@gvpn/ike';

export const GROUPKEY_PUSH_ACK = 35;
const LABEL = new TextEncoder().encode('GROUPKEY-PUSH ACK\0');

function ackHash(kek: Kek): { hash: HashName; bits: number } | undefined {
  if (kek.ackType === 1) return { hash: 'sha256', bits: 512 };
  if (kek.ackType === 3) return { hash: 'sha512', bits: 1024 };
  return undefined;
}

export function ackKey(kek: Kek): Uint8Array {
  const h = ackHash(kek);
  if (h === undefined) throw new Error('KEK does not request ACKs');
  const l = new Uint8Array([h.bits >> 8, h.bits & 0xff]);
  return prf(h.hash, kek.key, LABEL, kek.spi, l);
}

export function buildAck(kek: Kek, seq: number, memberAddress: string): Uint8Array {
  const h = ackHash(kek);
  if (h === undefined) throw new Error('KEK does not request ACKs');
  const seqP: SeqPayload = { type: PayloadType.SEQ, seq };
  const idP: IdPayload = { type: PayloadType.ID, idType: IdType.Ipv4Addr, protocolId: 0, port: 0, data: addressIdentity(memberAddress, 0).data };
  const hash = prf(h.hash, ackKey(kek), chainBytes([seqP, idP], GROUPKEY_PUSH_ACK));
  return encodeClear({ icookie: kek.spi.subarray(0, 8), rcookie: kek.spi.subarray(8), exchangeType: GROUPKEY_PUSH_ACK, messageId: 0 },
    [{ type: PayloadType.HASH, data: hash }, seqP, idP]);
}

export type AckResult = { ok: true; seq: number; memberAddress: string } | { ok: false; reason: string };

/** Verifies an ACK against the KEK whose cookies it carries. */
export function verifyAck(kek: Kek, datagram: Uint8Array): AckResult {
  const h = ackHash(kek);
  if (h === undefined) return { ok: false, reason: 'KEK does not request ACKs' };
  const header = tryHeader(datagram);
  if (header === undefined) return { ok: false, reason: 'malformed header' };
  if (header.exchangeType !== GROUPKEY_PUSH_ACK || header.flags !== 0 || header.messageId !== 0) return { ok: false, reason: 'header fields' };
  if (!equal(header.icookie, kek.spi.subarray(0, 8)) || !equal(header.rcookie, kek.spi.subarray(8))) return { ok: false, reason: 'cookies' };
  let parsed;
  try {
    parsed = parseClear(header, datagram, MessageRules.pushAck);
  } catch (e) {
    if (e instanceof WireError) return { ok: false, reason: e.code };
    throw e;
  }
  const hashP = payloadsOf(parsed, PayloadType.HASH)[0];
  const seqP = payloadsOf(parsed, PayloadType.SEQ)[0];
  const idP = payloadsOf(parsed, PayloadType.ID)[0];
  if (hashP === undefined || seqP === undefined || idP === undefined) return { ok: false, reason: 'payloads' };
  const expected = prf(h.hash, ackKey(kek), parsed.body.subarray(hashP.end, parsed.chainEnd));
  if (!equalBytes(expected, hashP.payload.data)) return { ok: false, reason: 'HASH' };
  const id = idP.payload;
  if (id.idType !== IdType.Ipv4Addr || id.data.length !== 4 || id.protocolId !== 0 || id.port !== 0) return { ok: false, reason: 'ID' };
  return { ok: true, seq: seqP.payload.seq, memberAddress: Array.from(id.data).join('.') };
}
