/** Main Mode, initiator side: builds messages 1, 3, 5 and processes 2, 4, 6. */
import { DOI, HeaderFlags, NotifyType, PayloadType, ProtocolId } from '@gvpn/wire';
import type { HashPayload, Header, IdPayload, KePayload, NoncePayload, NotifyPayload, SaPayload } from '@gvpn/wire';
import { dhGroup } from '@gvpn/crypto';
import type { DhKeyPair } from '@gvpn/crypto';
import { Keymat } from './keymat.js';
import { concat } from './bytes.js';
import {
  IDENTITY_PROTECTION, NONCE_LENGTH, dpdVendorId, hasDpdVendorId, hashI, hashR, identityPayload, openIdentityMessage, payloadBody,
  sharedSecret,
} from './main-mode.js';
import type { MainModeContext, StepResult } from './main-mode.js';
import { chainBytes, encodeClear, encodeEncrypted, parseClear, payloadsOf } from './message.js';
import type { ParsedMessage } from './message.js';
import { acceptAnswer, encryptionKeyLength, isPhase1Sa, offerSa } from './proposal.js';
import type { IkeProposal } from './types.js';

export enum InitiatorState {
  Mm1Sent = 'mm1-sent',
  Mm3Sent = 'mm3-sent',
  Mm5Sent = 'mm5-sent',
  Established = 'established',
}

/** `proposals` is what we offer. */
export interface InitiatorContext extends MainModeContext {
  /** Tell the responder to drop SAs it still holds from our previous life (RFC 2407 §4.6.3.3). */
  initialContact: boolean;
}

export class MainModeInitiator {
  state = InitiatorState.Mm1Sent;
  readonly icookie: Uint8Array;
  rcookie = new Uint8Array(8);
  proposal: IkeProposal | undefined;
  peerSupportsDpd = false;
  keys: Keymat | undefined;
  private readonly saiB: Uint8Array;
  private readonly nonceI: Uint8Array;
  private keyPair: DhKeyPair | undefined;
  private gxr: Uint8Array | undefined;

  constructor(private readonly ctx: InitiatorContext) {
    this.icookie = ctx.random.bytes(8);
    this.nonceI = ctx.random.bytes(NONCE_LENGTH);
    this.saiB = payloadBody(this.offer(), IDENTITY_PROTECTION);
  }

  private offer(): SaPayload {
    return offerSa(this.ctx.proposals, this.ctx.gateway.doi ?? 2);
  }

  private header(messageId = 0): { icookie: Uint8Array; rcookie: Uint8Array; exchangeType: number; messageId: number } {
    return { icookie: this.icookie, rcookie: this.rcookie, exchangeType: IDENTITY_PROTECTION, messageId };
  }

  /** Message 1. We always send the DPD vendor ID: we always answer R-U-THERE. Never NAT-T. */
  start(): Uint8Array {
    return encodeClear(this.header(), [this.offer(), dpdVendorId()]);
  }

  /** Throws WireError for undecodable clear messages; the caller counts them. */
  process(header: Header, bytes: Uint8Array): StepResult {
    switch (this.state) {
      case InitiatorState.Mm1Sent:
        return this.onMessage2(header, parseClear(header, bytes));
      case InitiatorState.Mm3Sent:
        return this.onMessage4(parseClear(header, bytes));
      case InitiatorState.Mm5Sent:
        return this.onMessage6(header, bytes);
      case InitiatorState.Established:
        return { kind: 'drop', counter: 'unexpectedMessageDropped', detail: 'main mode already complete' };
    }
  }

  private onMessage2(header: Header, m: ParsedMessage): StepResult {
    if ((header.flags & HeaderFlags.Encryption) !== 0) return { kind: 'drop', counter: 'unexpectedMessageDropped', detail: 'encrypted message 2' };
    const sas = payloadsOf(m, PayloadType.SA);
    const sa = sas[0]?.payload;
    if (sas.length !== 1 || sa === undefined || !isPhase1Sa(sa)) {
      return { kind: 'drop', counter: 'invalidPayloadDropped', detail: 'message 2 needs one SA payload' };
    }
    // An answer we did not offer is dropped rather than fatal: anyone who saw message 1 could forge it.
    const chosen = acceptAnswer(sa, this.ctx.proposals);
    if (chosen === undefined) return { kind: 'drop', counter: 'invalidPayloadDropped', detail: 'answer is not one of our offers' };
    this.proposal = chosen;
    this.peerSupportsDpd = hasDpdVendorId(m.payloads);
    this.rcookie = Uint8Array.from(header.rcookie);
    const group = dhGroup(chosen.dhGroup, { allowLegacy: this.ctx.allowLegacyGroups });
    this.keyPair = group.generate(this.ctx.random);
    const ke: KePayload = { type: PayloadType.KE, data: this.keyPair.publicValue };
    const nonce: NoncePayload = { type: PayloadType.NONCE, data: this.nonceI };
    this.state = InitiatorState.Mm3Sent;
    return { kind: 'send', bytes: encodeClear(this.header(), [ke, nonce]) };
  }

  private onMessage4(m: ParsedMessage): StepResult {
    const kes = payloadsOf(m, PayloadType.KE);
    const nonces = payloadsOf(m, PayloadType.NONCE);
    const ke = kes[0]?.payload;
    const nonce = nonces[0]?.payload;
    if (m.header.flags !== 0 || kes.length !== 1 || nonces.length !== 1 || ke === undefined || nonce === undefined) {
      return { kind: 'drop', counter: 'invalidPayloadDropped', detail: 'message 4 needs one KE and one nonce' };
    }
    const keyPair = this.keyPair;
    const proposal = this.proposal;
    if (keyPair === undefined || proposal === undefined) throw new Error('message 4 before message 2');
    const gxy = sharedSecret(this.ctx, keyPair, ke.data);
    if (!(gxy instanceof Uint8Array)) return gxy;
    this.gxr = ke.data;
    const keys = new Keymat({
      hash: proposal.hash, psk: this.ctx.gateway.psk, nonceI: this.nonceI, nonceR: nonce.data, gxy,
      gxi: keyPair.publicValue, gxr: ke.data, icookie: this.icookie, rcookie: this.rcookie,
      encKeyLength: encryptionKeyLength(proposal.encryption),
    });
    gxy.fill(0);
    this.keys = keys;

    const id = identityPayload(this.ctx.local.address);
    const hash: HashPayload = {
      type: PayloadType.HASH,
      data: hashI(keys, keyPair.publicValue, ke.data, this.icookie, this.rcookie, this.saiB, payloadBody(id, IDENTITY_PROTECTION)),
    };
    const payloads: (IdPayload | HashPayload | NotifyPayload)[] = [id, hash];
    if (this.ctx.initialContact) {
      payloads.push({
        type: PayloadType.N, doi: DOI.IPSEC, protocolId: ProtocolId.Isakmp,
        spi: concat(this.icookie, this.rcookie), notifyType: NotifyType.InitialContact, data: new Uint8Array(0),
      });
    }
    const mm5 = encodeEncrypted(this.header(), PayloadType.ID, chainBytes(payloads, IDENTITY_PROTECTION), keys, keys.phase1Iv());
    keys.advancePhase1(mm5.lastBlock);
    this.state = InitiatorState.Mm5Sent;
    return { kind: 'send', bytes: mm5.bytes };
  }

  private onMessage6(header: Header, bytes: Uint8Array): StepResult {
    const keys = this.keys;
    const keyPair = this.keyPair;
    const gxr = this.gxr;
    if (keys === undefined || keyPair === undefined || gxr === undefined) throw new Error('message 6 before message 4');
    const opened = openIdentityMessage(header, bytes, keys,
      (idrB) => hashR(keys, keyPair.publicValue, gxr, this.icookie, this.rcookie, this.saiB, idrB));
    if (!opened.ok) {
      // Anyone can send a message 6 with our cookies: only a HASH that does not verify ends the negotiation.
      switch (opened.rejection.kind) {
        case 'not-encrypted': return { kind: 'drop', counter: 'unexpectedMessageDropped', detail: 'message 6 must be encrypted' };
        case 'undecryptable': return { kind: 'drop', counter: 'decryptFailedDropped', detail: opened.rejection.code };
        case 'payloads': return { kind: 'drop', counter: 'invalidPayloadDropped', detail: 'message 6 needs one ID and one HASH' };
        case 'hash-mismatch': return { kind: 'fail', counter: 'authFailed', reason: 'auth-failed' };
      }
    }
    this.state = InitiatorState.Established;
    return { kind: 'established', initialContact: false };
  }
}

