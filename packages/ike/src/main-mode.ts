/**
 * What both Main Mode roles share (RFC 2409 §5 with pre-shared keys, exchange type 2):
 *
 *   I->R  HDR, SA [, VID]          R->I  HDR, SA [, VID]
 *   I->R  HDR, KE, Ni              R->I  HDR, KE, Nr
 *   I->R  HDR*, IDii, HASH_I [, N(INITIAL-CONTACT)]
 *                                  R->I  HDR*, IDir, HASH_R
 *
 *   HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b)
 *   HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)
 *
 * SAi_b is the body of the SA payload the initiator SENT (all its offers), IDxx_b the ID payload body.
 */
import { isIPv4 } from 'node:net';
import { HeaderFlags, IdType, PayloadType, WireError } from '@gvpn/wire';
import type { Header, IdPayload, Payload, VendorIdPayload } from '@gvpn/wire';
import { CryptoError, equalBytes, hashI as cryptoHashI, hashR as cryptoHashR } from '@gvpn/crypto';
import type { DhKeyPair, RandomSource } from '@gvpn/crypto';
import { samePublicBytes } from './bytes.js';
import type { CounterName } from './statistics.js';
import type { Endpoint, GatewayPolicy, IkeProposal, NegotiationFailure } from './types.js';
import { lastBlock } from './keymat.js';
import type { Keymat } from './keymat.js';
import { chainBytes, ciphertextOf, parseDecrypted, payloadsOf } from './message.js';
import type { ParsedMessage } from './message.js';

export const IDENTITY_PROTECTION = 2;

/** RFC 3706 §5.1: DPD vendor ID, version 1.0. */
export const DPD_VENDOR_ID = Uint8Array.from([
  0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01, 0x00,
]);

/** Our nonce length; 16..256 is allowed (RFC 2409 §5), 32 matches strongSwan. */
export const NONCE_LENGTH = 32;

export function dpdVendorId(): VendorIdPayload {
  return { type: PayloadType.VID, data: DPD_VENDOR_ID };
}

export function hasDpdVendorId(payloads: readonly { payload: Payload }[]): boolean {
  return payloads.some(
    (p) => p.payload.type === PayloadType.VID && samePublicBytes((p.payload as VendorIdPayload).data, DPD_VENDOR_ID),
  );
}

/** Phase-1 identity: our IP address (the only identity PSK Main Mode can use), protocol and port 0. */
export function identityPayload(address: string): IdPayload {
  // Parsed once per address: the responder builds this for every message 6.
  let data = identityData.get(address);
  if (data === undefined) {
    data = identityBytes(address);
    if (identityData.size >= 256) identityData.clear(); // our own addresses: a handful, but stay bounded
    identityData.set(address, data);
  }
  return { type: PayloadType.ID, idType: data.length === 4 ? IdType.Ipv4Addr : IdType.Ipv6Addr, protocolId: 0, port: 0, data };
}

const identityData = new Map<string, Uint8Array>();

function identityBytes(address: string): Uint8Array {
  return identityPayloadUncached(address).data;
}

function identityPayloadUncached(address: string): IdPayload {
  if (isIPv4(address)) {
    return { type: PayloadType.ID, idType: IdType.Ipv4Addr, protocolId: 0, port: 0, data: Uint8Array.from(address.split('.').map(Number)) };
  }
  return { type: PayloadType.ID, idType: IdType.Ipv6Addr, protocolId: 0, port: 0, data: ipv6Bytes(address) };
}

function ipv6Bytes(address: string): Uint8Array {
  const [head = '', tail = ''] = address.split('::');
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const h = groups(head);
  const t = address.includes('::') ? groups(tail) : [];
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** A payload's body: its encoding without the 4-byte generic header. */
export function payloadBody(p: Payload, exchangeType: number): Uint8Array {
  return chainBytes([p], exchangeType).subarray(4);
}

export function hashI(keys: Keymat, gxi: Uint8Array, gxr: Uint8Array, ckyI: Uint8Array, ckyR: Uint8Array, saiB: Uint8Array, idiiB: Uint8Array): Uint8Array {
  return cryptoHashI(keys.hash, keys.skeyid, gxi, gxr, ckyI, ckyR, saiB, idiiB);
}

/** Same argument order as hashI (initiator value first); the swap happens inside. */
export function hashR(keys: Keymat, gxi: Uint8Array, gxr: Uint8Array, ckyI: Uint8Array, ckyR: Uint8Array, saiB: Uint8Array, idirB: Uint8Array): Uint8Array {
  return cryptoHashR(keys.hash, keys.skeyid, gxi, gxr, ckyI, ckyR, saiB, idirB);
}

/** What a Main Mode task of either role gets from its endpoint. */
export interface MainModeContext {
  gateway: GatewayPolicy;
  /** The gateway's proposals that we can run, in preference order (never empty for an initiator). */
  proposals: IkeProposal[];
  local: Endpoint;
  random: RandomSource;
  allowLegacyGroups: boolean;
  countDh(): void;
}

/** g^xy from our key pair and the peer's KE data (counted as one DH); a bad public value is a drop, which the responder turns into a failure. */
export function sharedSecret(ctx: MainModeContext, keyPair: DhKeyPair, peerKe: Uint8Array): Uint8Array | StepResult {
  try {
    ctx.countDh();
    return keyPair.computeSecret(peerKe);
  } catch (e) {
    if (e instanceof CryptoError) return { kind: 'drop', counter: 'invalidPayloadDropped', detail: `KE: ${e.code}` };
    throw e;
  }
}

/** Outcome of feeding one message to a Main Mode task. */
export type StepResult =
  /** Send `bytes`; for the initiator they are the new request to retransmit until answered. */
  | { kind: 'send'; bytes: Uint8Array }
  /** Phase 1 is complete; a responder also sends `reply` (message 6). */
  | { kind: 'established'; reply?: Uint8Array; initialContact: boolean }
  /** Ignore the datagram; the negotiation goes on. */
  | { kind: 'drop'; counter: CounterName; detail: string }
  /** The negotiation is over; `reply` (an unprotected error notify) may be sent. */
  | { kind: 'fail'; counter: CounterName; reason: NegotiationFailure; reply?: Uint8Array };

/** Why a protected Main Mode message (5 or 6) was not accepted; each role maps this to its own answer. */
export type IdentityRejection =
  /** The E flag is clear or the body is not whole CBC blocks. */
  | { kind: 'not-encrypted' }
  /** The plaintext is no well-formed payload chain (usually: the peer's key differs). */
  | { kind: 'undecryptable'; code: string }
  /** Not exactly one ID and one HASH. */
  | { kind: 'payloads' }
  /** The HASH does not verify. */
  | { kind: 'hash-mismatch' };

/**
 * Messages 5 and 6 (HDR*, ID, HASH [, N]): decrypts with the phase-1 IV, parses, finds exactly one ID and one
 * HASH and compares the HASH in constant time with `expectedHash(ID body)`. Only when it verifies does the
 * phase-1 IV advance (to the last ciphertext block) and the decrypted message come back.
 */
export function openIdentityMessage(
  header: Header, bytes: Uint8Array, keys: Keymat, expectedHash: (idBody: Uint8Array) => Uint8Array,
): { ok: true; m: ParsedMessage } | { ok: false; rejection: IdentityRejection } {
  const ciphertext = ciphertextOf(bytes);
  if ((header.flags & HeaderFlags.Encryption) === 0 || ciphertext === undefined) return { ok: false, rejection: { kind: 'not-encrypted' } };
  let m: ParsedMessage;
  try {
    m = parseDecrypted(header, keys.decrypt(ciphertext, keys.phase1Iv()));
  } catch (e) {
    if (e instanceof WireError) return { ok: false, rejection: { kind: 'undecryptable', code: e.code } };
    throw e;
  }
  const ids = payloadsOf(m, PayloadType.ID);
  const hashes = payloadsOf(m, PayloadType.HASH);
  const id = ids[0];
  const hash = hashes[0]?.payload;
  if (ids.length !== 1 || hashes.length !== 1 || id === undefined || hash === undefined) return { ok: false, rejection: { kind: 'payloads' } };
  if (!equalBytes(expectedHash(m.body.subarray(id.start + 4, id.end)), hash.data)) return { ok: false, rejection: { kind: 'hash-mismatch' } };
  keys.advancePhase1(lastBlock(ciphertext));
  return { ok: true, m };
}
