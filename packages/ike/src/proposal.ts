/**
 * Phase-1 proposal encoding and selection (RFC 2409 §5, App. A; RFC 3602 §5 for AES key lengths).
 *
 * The initiator offers ONE proposal (protocol ISAKMP, SPI empty) with one KEY_IKE transform per configured
 * IkeProposal, in preference order. The responder walks ITS OWN preference order and picks the first
 * proposal the peer offered with the same cipher, key length, hash, group and PSK authentication, then
 * answers with exactly that transform, byte for byte as offered.
 *
 * Lifetimes are not a matching criterion (peers such as strongSwan offer their own defaults): the SA lives
 * for the lower of the two lifetimes, and each side expires it on its own clock (we do not send
 * RESPONDER-LIFETIME).
 */
import { Phase1Attr, ProtocolId } from '@gvpn/wire';
import { CryptoError, dhGroup } from '@gvpn/crypto';
import type { Attribute, Payload, SaPayload, SaProposal, SaTransform } from '@gvpn/wire';
import type { IkeEncryption, IkeHash, IkeProposal } from './types.js';

/** RFC 2409 App. A values. */
const ENCRYPTION_AES_CBC = 7;
const AUTH_PRE_SHARED_KEY = 1;
const LIFE_TYPE_SECONDS = 1;
const TRANSFORM_KEY_IKE = 1;
/** RFC 2407 §4.6.1: the IPsec DOI situation we claim; GDOI (RFC 6407 §2.1) uses 0. */
const SIT_IDENTITY_ONLY = 1;

const HASH_IDS: Record<IkeHash, number> = { sha1: 2, sha256: 4, sha384: 5, sha512: 6 };
const KEY_BITS: Record<IkeEncryption, number> = { 'aes-128-cbc': 128, 'aes-192-cbc': 192, 'aes-256-cbc': 256 };

/** The proposals whose DH group we can run (legacy groups 2 and 5 only when allowed). */
export function usableProposals(proposals: IkeProposal[], allowLegacyGroups: boolean): IkeProposal[] {
  return proposals.filter((p) => {
    try {
      dhGroup(p.dhGroup, { allowLegacy: allowLegacyGroups });
      return true;
    } catch (e) {
      if (e instanceof CryptoError) return false;
      throw e;
    }
  });
}

export function encryptionKeyLength(encryption: IkeEncryption): number {
  return KEY_BITS[encryption] / 8;
}

function lifetimeAttribute(seconds: number): Attribute {
  if (seconds <= 0xffff) return { type: Phase1Attr.LifeDuration, value: seconds };
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, seconds);
  return { type: Phase1Attr.LifeDuration, bytes };
}

function transformFor(p: IkeProposal, number: number): SaTransform {
  return {
    number,
    transformId: TRANSFORM_KEY_IKE,
    attributes: [
      { type: Phase1Attr.EncryptionAlgorithm, value: ENCRYPTION_AES_CBC },
      { type: Phase1Attr.KeyLength, value: KEY_BITS[p.encryption] },
      { type: Phase1Attr.HashAlgorithm, value: HASH_IDS[p.hash] },
      { type: Phase1Attr.AuthenticationMethod, value: AUTH_PRE_SHARED_KEY },
      { type: Phase1Attr.GroupDescription, value: p.dhGroup },
      { type: Phase1Attr.LifeType, value: LIFE_TYPE_SECONDS },
      lifetimeAttribute(p.lifetimeSeconds),
    ],
  };
}

/** The initiator's SA payload: one ISAKMP proposal carrying every configured transform. */
export function offerSa(proposals: IkeProposal[], doi: 1 | 2): SaPayload {
  return {
    type: 1,
    doi,
    situation: doi === 1 ? SIT_IDENTITY_ONLY : 0,
    proposals: [
      {
        number: 1,
        protocolId: ProtocolId.Isakmp,
        spi: new Uint8Array(0),
        transforms: proposals.map((p, i) => transformFor(p, i + 1)),
      },
    ],
  };
}

function attributeNumber(a: Attribute): number | undefined {
  if ('value' in a) return a.value;
  if (a.bytes.length === 0 || a.bytes.length > 4) return undefined;
  let n = 0;
  for (const b of a.bytes) n = n * 256 + b;
  return n;
}

/**
 * Reads a KEY_IKE transform as an IkeProposal, or undefined when it uses anything we do not implement
 * (another cipher or auth method, kilobyte lifetimes, a PRF attribute, a duplicated attribute).
 */
export function parseTransform(t: SaTransform): IkeProposal | undefined {
  if (t.transformId !== TRANSFORM_KEY_IKE) return undefined;
  const seen = new Map<number, number>();
  for (const a of t.attributes) {
    const v = attributeNumber(a);
    if (v === undefined || seen.has(a.type)) return undefined;
    seen.set(a.type, v);
  }
  const known = new Set<number>([
    Phase1Attr.EncryptionAlgorithm, Phase1Attr.KeyLength, Phase1Attr.HashAlgorithm,
    Phase1Attr.AuthenticationMethod, Phase1Attr.GroupDescription, Phase1Attr.LifeType, Phase1Attr.LifeDuration,
  ]);
  for (const type of seen.keys()) if (!known.has(type)) return undefined;
  if (seen.get(Phase1Attr.EncryptionAlgorithm) !== ENCRYPTION_AES_CBC) return undefined;
  if (seen.get(Phase1Attr.AuthenticationMethod) !== AUTH_PRE_SHARED_KEY) return undefined;
  const encryption = (Object.keys(KEY_BITS) as IkeEncryption[]).find((e) => KEY_BITS[e] === seen.get(Phase1Attr.KeyLength));
  const hash = (Object.keys(HASH_IDS) as IkeHash[]).find((h) => HASH_IDS[h] === seen.get(Phase1Attr.HashAlgorithm));
  const dhGroup = seen.get(Phase1Attr.GroupDescription);
  if (encryption === undefined || hash === undefined || dhGroup === undefined) return undefined;
  // RFC 2409 App. A: without a life type the default is 8 hours.
  let lifetimeSeconds = 28800;
  const lifeType = seen.get(Phase1Attr.LifeType);
  if (lifeType !== undefined) {
    const duration = seen.get(Phase1Attr.LifeDuration);
    if (lifeType !== LIFE_TYPE_SECONDS || duration === undefined || duration === 0) return undefined;
    lifetimeSeconds = duration;
  } else if (seen.has(Phase1Attr.LifeDuration)) {
    return undefined;
  }
  return { encryption, hash, dhGroup, lifetimeSeconds };
}

/** An SA payload in the RFC 2408 proposal layout (the only one Main Mode uses). */
export function isPhase1Sa(p: Payload): p is SaPayload {
  return p.type === 1 && 'proposals' in p;
}

function sameAlgorithms(a: IkeProposal, b: IkeProposal): boolean {
  return a.encryption === b.encryption && a.hash === b.hash && a.dhGroup === b.dhGroup;
}

/** The single ISAKMP proposal of a phase-1 SA payload, or undefined. */
function isakmpProposal(sa: SaPayload): SaProposal | undefined {
  if (sa.proposals.length !== 1) return undefined;
  const p = sa.proposals[0];
  if (p === undefined || p.protocolId !== ProtocolId.Isakmp) return undefined;
  return p;
}

export interface Selection {
  /** What the SA runs with (lifetime = the lower of both). */
  proposal: IkeProposal;
  /** The peer's transform, echoed unchanged in message 2. */
  transform: SaTransform;
}

/** Responder side: first of `ours` (preference order) that the peer offers. */
export function selectProposal(offer: SaPayload, ours: IkeProposal[]): Selection | undefined {
  const proposal = isakmpProposal(offer);
  if (proposal === undefined) return undefined;
  const offered = proposal.transforms.map((t) => ({ transform: t, parsed: parseTransform(t) }));
  for (const mine of ours) {
    const match = offered.find((o) => o.parsed !== undefined && sameAlgorithms(o.parsed, mine));
    if (match?.parsed !== undefined) {
      return {
        proposal: { ...mine, lifetimeSeconds: Math.min(mine.lifetimeSeconds, match.parsed.lifetimeSeconds) },
        transform: match.transform,
      };
    }
  }
  return undefined;
}

/** The responder's answer: same DOI and situation, one proposal, exactly the chosen transform. */
export function answerSa(offer: SaPayload, chosen: SaTransform): SaPayload {
  const proposal = offer.proposals[0];
  return {
    type: 1,
    doi: offer.doi,
    situation: offer.situation,
    proposals: [{ number: proposal?.number ?? 1, protocolId: ProtocolId.Isakmp, spi: new Uint8Array(0), transforms: [chosen] }],
  };
}

/** Initiator side: the responder must have chosen exactly one of the transforms we offered. */
export function acceptAnswer(answer: SaPayload, offered: IkeProposal[]): IkeProposal | undefined {
  const proposal = isakmpProposal(answer);
  if (proposal === undefined || proposal.transforms.length !== 1 || proposal.transforms[0] === undefined) return undefined;
  const chosen = parseTransform(proposal.transforms[0]);
  if (chosen === undefined) return undefined;
  const mine = offered.find((p) => sameAlgorithms(p, chosen) && chosen.lifetimeSeconds <= p.lifetimeSeconds);
  return mine === undefined ? undefined : { ...mine, lifetimeSeconds: chosen.lifetimeSeconds };
}
