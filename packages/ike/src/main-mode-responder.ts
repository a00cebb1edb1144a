/**
 * Main Mode, responder side: processes messages 1, 3, 5 and answers with 2, 4, 6.
 *
 * Denial-of-service rules: message 1 costs no Diffie-Hellman (the endpoint bounds half-open SAs before
 * creating this task); our DH runs when message 3 arrives, once: a message 3 that fails after it ends the
 * negotiation. Answers to unauthenticated messages are
 * never longer than the message itself: we echo the DPD vendor ID only when the peer sent it, answer
 * with its own transform bytes, and size our nonce to at most the peer's.
 */
import { NotifyType, PayloadType, ProtocolId } from '@gvpn/wire';
import type { HashPayload, Header, KePayload, NoncePayload, NotifyPayload } from '@gvpn/wire';
import { concat, samePublicBytes } from './bytes.js';
import type { ResponderKeyPairs } from './dh-reuse.js';
import { Keymat } from './keymat.js';
import { IDENTITY_PROTECTION, NONCE_LENGTH, dpdVendorId, hasDpdVendorId, hashI, hashR, identityPayload, openIdentityMessage, payloadBody, sharedSecret } from './main-mode.js';
import type { MainModeContext, StepResult } from './main-mode.js';
import { chainBytes, encodeClear, encodeEncrypted, payloadsOf } from './message.js';
import type { ParsedMessage } from './message.js';
import { clearNotify } from './informational.js';
import { answerSa, encryptionKeyLength, isPhase1Sa, selectProposal } from './proposal.js';
import type { IkeProposal } from './types.js';

export enum ResponderState {
  Mm2Sent = 'mm2-sent',
  Mm4Sent = 'mm4-sent',
  Established = 'established',
}

export interface ResponderContext extends MainModeContext {
  /** Where our key pair for message 4 comes from (fresh, or the current reuse window's). */
  keyPairs: ResponderKeyPairs;
  countDhReused(): void;
}

export class MainModeResponder {
  state = ResponderState.Mm2Sent;
  readonly icookie: Uint8Array;
  readonly rcookie: Uint8Array;
  proposal: IkeProposal | undefined;
  peerSupportsDpd = false;
  peerDoi = 2;
  keys: Keymat | undefined;
  private saiB = new Uint8Array(0);
  private gxi: Uint8Array | undefined;
  private gxr: Uint8Array | undefined;

  constructor(private readonly ctx: ResponderContext, icookie: Uint8Array) {
    this.icookie = Uint8Array.from(icookie);
    this.rcookie = ctx.random.bytes(8);
  }

  private header(): { icookie: Uint8Array; rcookie: Uint8Array; exchangeType: number; messageId: number } {
    return { icookie: this.icookie, rcookie: this.rcookie, exchangeType: IDENTITY_PROTECTION, messageId: 0 };
  }

  /** Message 1 (already decoded by the endpoint, which also checked the half-open bound). */
  begin(m: ParsedMessage): StepResult {
    const sas = payloadsOf(m, PayloadType.SA);
    const decoded = sas[0];
    const sa = decoded?.payload;
    if (m.header.flags !== 0 || m.header.messageId !== 0 || sas.length !== 1 || decoded === undefined || sa === undefined || !isPhase1Sa(sa)) {
      return { kind: 'fail', counter: 'invalidPayloadDropped', reason: 'invalid-message' };
    }
    if (sa.doi !== 1 && sa.doi !== 2) return { kind: 'fail', counter: 'invalidPayloadDropped', reason: 'invalid-message' };
    const selection = selectProposal(sa, this.ctx.proposals);
    if (selection === undefined) {
      const notify: NotifyPayload = {
        type: PayloadType.N, doi: sa.doi, protocolId: ProtocolId.Isakmp, spi: new Uint8Array(0),
        notifyType: NotifyType.NoProposalChosen, data: new Uint8Array(0),
      };
      return {
        kind: 'fail', counter: 'noProposalChosen', reason: 'no-proposal-chosen',
        reply: clearNotify({ icookie: this.icookie, rcookie: new Uint8Array(8) }, notify, this.ctx.random),
      };
    }
    this.proposal = selection.proposal;
    this.peerDoi = sa.doi;
    this.peerSupportsDpd = hasDpdVendorId(m.payloads);
    this.saiB = Uint8Array.from(m.body.subarray(decoded.start + 4, decoded.end));
    const answer = [answerSa(sa, selection.transform), ...(this.peerSupportsDpd ? [dpdVendorId()] : [])];
    return { kind: 'send', bytes: encodeClear(this.header(), answer) };
  }

  /** Messages 3 and 5. Throws WireError for an undecodable clear message 3. */
  process(header: Header, bytes: Uint8Array, parseClear: (header: Header, bytes: Uint8Array) => ParsedMessage, now: number): StepResult {
    switch (this.state) {
      case ResponderState.Mm2Sent:
        return this.onMessage3(parseClear(header, bytes), now);
      case ResponderState.Mm4Sent:
        return this.onMessage5(header, bytes);
      case ResponderState.Established:
        return { kind: 'drop', counter: 'unexpectedMessageDropped', detail: 'main mode already complete' };
    }
  }

  private onMessage3(m: ParsedMessage, now: number): StepResult {
    const proposal = this.proposal;
    if (proposal === undefined) throw new Error('message 3 before message 1');
    const kes = payloadsOf(m, PayloadType.KE);
    const nonces = payloadsOf(m, PayloadType.NONCE);
    const ke = kes[0]?.payload;
    const nonce = nonces[0]?.payload;
    if (m.header.flags !== 0 || kes.length !== 1 || nonces.length !== 1 || ke === undefined || nonce === undefined) {
      return { kind: 'drop', counter: 'invalidPayloadDropped', detail: 'message 3 needs one KE and one nonce' };
    }
    const { keyPair, reused } = this.ctx.keyPairs.take(proposal.dhGroup, this.ctx.random, now);
    if (reused) this.ctx.countDhReused();
    const gxy = sharedSecret(this.ctx, keyPair, ke.data);
    this.ctx.keyPairs.release(keyPair);
    // After DH work a bad message 3 ends the negotiation: were it dropped, the SA would stay and the
    // next forged message 3 would cost another key generation.
    if (!(gxy instanceof Uint8Array)) return { kind: 'fail', counter: 'invalidPayloadDropped', reason: 'invalid-message' };
    const nonceR = this.ctx.random.bytes(Math.min(NONCE_LENGTH, nonce.data.length));
    this.gxi = Uint8Array.from(ke.data);
    this.gxr = keyPair.publicValue;
    this.keys = new Keymat({
      hash: proposal.hash, psk: this.ctx.gateway.psk, nonceI: nonce.data, nonceR, gxy,
      gxi: this.gxi, gxr: this.gxr, icookie: this.icookie, rcookie: this.rcookie,
      encKeyLength: encryptionKeyLength(proposal.encryption),
    });
    gxy.fill(0);
    const reply: [KePayload, NoncePayload] = [{ type: PayloadType.KE, data: this.gxr }, { type: PayloadType.NONCE, data: nonceR }];
    this.state = ResponderState.Mm4Sent;
    return { kind: 'send', bytes: encodeClear(this.header(), reply) };
  }

  /**
   * Message 5 is the first one protected by the PSK: if it does not decrypt to a well-formed chain, or
   * HASH_I does not verify, the peer used another key. We then fail with an unprotected
   * AUTHENTICATION-FAILED notify (no larger than message 5) so the initiator stops retransmitting.
   */
  private onMessage5(header: Header, bytes: Uint8Array): StepResult {
    const keys = this.keys;
    const gxi = this.gxi;
    const gxr = this.gxr;
    if (keys === undefined || gxi === undefined || gxr === undefined) throw new Error('message 5 before message 3');
    const opened = openIdentityMessage(header, bytes, keys, (idiB) => hashI(keys, gxi, gxr, this.icookie, this.rcookie, this.saiB, idiB));
    if (!opened.ok) {
      if (opened.rejection.kind === 'not-encrypted') {
        return { kind: 'drop', counter: 'unexpectedMessageDropped', detail: 'message 5 must be encrypted' };
      }
      return this.authFailed();
    }
    const m = opened.m;

    // HASH_I does not cover the notify, so honour INITIAL-CONTACT only when it names this SA (RFC 2407
    // §4.6.3.3: protocol ISAKMP, SPI = both cookies); a damaged one must not tear down other SAs.
    const cookies = concat(this.icookie, this.rcookie);
    const initialContact = payloadsOf(m, PayloadType.N).some(({ payload: n }) =>
      n.notifyType === NotifyType.InitialContact && n.protocolId === ProtocolId.Isakmp && samePublicBytes(n.spi, cookies));
    const idR = identityPayload(this.ctx.local.address);
    const hashRPayload: HashPayload = {
      type: PayloadType.HASH,
      data: hashR(keys, gxi, gxr, this.icookie, this.rcookie, this.saiB, payloadBody(idR, IDENTITY_PROTECTION)),
    };
    const mm6 = encodeEncrypted(this.header(), PayloadType.ID, chainBytes([idR, hashRPayload], IDENTITY_PROTECTION), keys, keys.phase1Iv());
    keys.advancePhase1(mm6.lastBlock);
    this.state = ResponderState.Established;
    return { kind: 'established', reply: mm6.bytes, initialContact };
  }

  private authFailed(): StepResult {
    const notify: NotifyPayload = {
      type: PayloadType.N, doi: this.peerDoi, protocolId: ProtocolId.Isakmp, spi: new Uint8Array(0),
      notifyType: NotifyType.AuthenticationFailed, data: new Uint8Array(0),
    };
    return {
      kind: 'fail', counter: 'authFailed', reason: 'auth-failed',
      reply: clearNotify({ icookie: this.icookie, rcookie: this.rcookie }, notify, this.ctx.random),
    };
  }
}
