/**
 * Which payloads each message may carry, how many, and in what order — as data (after strongSwan's
 * message.c tables), checked once after decoding so exchange code can rely on the shape.
 *
 * Sources: RFC 2409 §5 (Main Mode with pre-shared keys; Vendor IDs may ride along, RFC 3706 §3),
 * RFC 2409 §5.7 (Informational), RFC 6407 §3.2 (GROUPKEY-PULL), §4 (GROUPKEY-PUSH), RFC 8263 §3.1 (ACK).
 */
import { ExchangeType, PayloadType } from './constants.js';
import { WireError } from './errors.js';
import type { DecodedPayload, Payload } from './payloads.js';

export interface PayloadRule {
  type: number;
  min: number;
  max: number;
}

export interface MessageRule {
  name: string;
  exchangeType: number;
  /** Payload that must come first: HASH in protected phase-2 messages, where it covers all that follows. */
  first?: number;
  /** Payloads must appear in the order listed (repeats of one type stay together). */
  ordered: boolean;
  payloads: readonly PayloadRule[];
  /** At least one payload of these types (an Informational carries a Notify or a Delete). */
  oneOf?: readonly number[];
}

/** Vendor IDs (DPD, NAT-T, vendor quirks) are allowed throughout phase 1. */
const VIDS: PayloadRule = { type: PayloadType.VID, min: 0, max: 16 };
const { SA, KE, ID, HASH, SIG, NONCE, N, D, KD, SEQ, GAP } = PayloadType;

export const MessageRules = {
  mainMode1: { name: 'Main Mode 1', exchangeType: ExchangeType.IdentityProtection, first: SA, ordered: false, payloads: [{ type: SA, min: 1, max: 1 }, VIDS] },
  mainMode2: { name: 'Main Mode 2', exchangeType: ExchangeType.IdentityProtection, first: SA, ordered: false, payloads: [{ type: SA, min: 1, max: 1 }, VIDS] },
  mainMode3: { name: 'Main Mode 3', exchangeType: ExchangeType.IdentityProtection, ordered: false, payloads: [{ type: KE, min: 1, max: 1 }, { type: NONCE, min: 1, max: 1 }, VIDS] },
  mainMode4: { name: 'Main Mode 4', exchangeType: ExchangeType.IdentityProtection, ordered: false, payloads: [{ type: KE, min: 1, max: 1 }, { type: NONCE, min: 1, max: 1 }, VIDS] },
  /** N: INITIAL-CONTACT (RFC 2407 §4.6.3.3). */
  mainMode5: { name: 'Main Mode 5', exchangeType: ExchangeType.IdentityProtection, first: ID, ordered: false, payloads: [{ type: ID, min: 1, max: 1 }, { type: HASH, min: 1, max: 1 }, { type: N, min: 0, max: 4 }, VIDS] },
  mainMode6: { name: 'Main Mode 6', exchangeType: ExchangeType.IdentityProtection, first: ID, ordered: false, payloads: [{ type: ID, min: 1, max: 1 }, { type: HASH, min: 1, max: 1 }, { type: N, min: 0, max: 4 }, VIDS] },
  /** Under the phase-1 SA: HDR*, HASH(1), N/D (RFC 2409 §5.7). */
  informational: { name: 'Informational', exchangeType: ExchangeType.Informational, first: HASH, ordered: true, payloads: [{ type: HASH, min: 1, max: 1 }, { type: N, min: 0, max: 16 }, { type: D, min: 0, max: 16 }], oneOf: [N, D] },
  /** Before any SA exists (e.g. NO-PROPOSAL-CHOSEN to MM1): a lone Notify, no HASH. */
  informationalUnprotected: { name: 'Informational (unprotected)', exchangeType: ExchangeType.Informational, first: N, ordered: true, payloads: [{ type: N, min: 1, max: 1 }] },
  pull1: { name: 'GROUPKEY-PULL 1', exchangeType: ExchangeType.GroupkeyPull, first: HASH, ordered: true, payloads: [{ type: HASH, min: 1, max: 1 }, { type: NONCE, min: 1, max: 1 }, { type: ID, min: 1, max: 1 }] },
  pull2: { name: 'GROUPKEY-PULL 2', exchangeType: ExchangeType.GroupkeyPull, first: HASH, ordered: true, payloads: [{ type: HASH, min: 1, max: 1 }, { type: NONCE, min: 1, max: 1 }, { type: SA, min: 1, max: 1 }] },
  /** GAP only to request Sender-IDs. */
  pull3: { name: 'GROUPKEY-PULL 3', exchangeType: ExchangeType.GroupkeyPull, first: HASH, ordered: true, payloads: [{ type: HASH, min: 1, max: 1 }, { type: GAP, min: 0, max: 1 }] },
  /** SEQ omitted when the group has no KEK (RFC 6407 §5.7). */
  pull4: { name: 'GROUPKEY-PULL 4', exchangeType: ExchangeType.GroupkeyPull, first: HASH, ordered: true, payloads: [{ type: HASH, min: 1, max: 1 }, { type: SEQ, min: 0, max: 1 }, { type: KD, min: 1, max: 1 }] },
  /** HDR*, SEQ, [D,]*, SA, KD, SIG — SA and KD omitted when only deleting (RFC 6407 §5.9). */
  push: { name: 'GROUPKEY-PUSH', exchangeType: ExchangeType.GroupkeyPush, first: SEQ, ordered: true, payloads: [{ type: SEQ, min: 1, max: 1 }, { type: D, min: 0, max: 16 }, { type: SA, min: 0, max: 1 }, { type: KD, min: 0, max: 1 }, { type: SIG, min: 1, max: 1 }] },
  pushAck: { name: 'GROUPKEY-PUSH ACK', exchangeType: ExchangeType.GroupkeyPushAck, first: HASH, ordered: true, payloads: [{ type: HASH, min: 1, max: 1 }, { type: SEQ, min: 1, max: 1 }, { type: ID, min: 1, max: 1 }] },
} as const satisfies Record<string, MessageRule>;

/**
 * Checks a decoded message against its rule; returns the first violation (offset = the offending
 * payload's start, or 0 for a missing one), or undefined when the message has the allowed shape.
 */
export function checkMessageRules(rule: MessageRule, payloads: readonly (DecodedPayload | Payload)[]): WireError | undefined {
  const counts = new Map<number, number>();
  let lastIndex = 0;
  for (const [i, item] of payloads.entries()) {
    const payload = 'payload' in item ? item.payload : item;
    const at = 'payload' in item ? item.start : 0;
    const index = rule.payloads.findIndex((r) => r.type === payload.type);
    const allowed = rule.payloads[index];
    if (allowed === undefined || 'unknown' in payload) {
      return new WireError('UNEXPECTED_PAYLOAD', at, `${rule.name}: payload ${payload.type} not allowed`);
    }
    if (i === 0 && rule.first !== undefined && payload.type !== rule.first) {
      return new WireError('PAYLOAD_ORDER', at, `${rule.name}: must start with payload ${rule.first}, not ${payload.type}`);
    }
    if (rule.ordered && index < lastIndex) {
      return new WireError('PAYLOAD_ORDER', at, `${rule.name}: payload ${payload.type} out of order`);
    }
    lastIndex = index;
    const count = (counts.get(payload.type) ?? 0) + 1;
    if (count > allowed.max) return new WireError('DUPLICATE_PAYLOAD', at, `${rule.name}: more than ${allowed.max} of payload ${payload.type}`);
    counts.set(payload.type, count);
  }
  for (const r of rule.payloads) {
    if ((counts.get(r.type) ?? 0) < r.min) return new WireError('MISSING_PAYLOAD', 0, `${rule.name}: payload ${r.type} missing`);
  }
  if (rule.oneOf !== undefined && !rule.oneOf.some((t) => counts.has(t))) {
    return new WireError('MISSING_PAYLOAD', 0, `${rule.name}: needs one of payloads ${rule.oneOf.join(', ')}`);
  }
  return undefined;
}
