/**
 * The IKE task manager: the SA table, message dispatch, retransmission, the duplicate cache, DPD,
 * lifetimes and re-negotiation, the half-open bound. No I/O and no clock of its own: the host feeds
 * datagrams and `now` (ms), calls `poll(now)` at `nextDeadline()`, and supplies `send`.
 */
import { DOI, ExchangeType, HeaderFlags, NotifyType, PayloadType, ProtocolId, WireError, decodeHeader } from '@gvpn/wire';
import type { DeletePayload, Header, NotifyPayload } from '@gvpn/wire';
import type { RandomSource } from '@gvpn/crypto';
import { isZero, samePublicBytes, toHex } from './bytes.js';
import { DeadlineHeap } from './deadline-heap.js';
import { ResponderKeyPairs } from './dh-reuse.js';
import { DpdMonitor } from './dpd.js';
import { openInformational, protectedInformational } from './informational.js';
import { MainModeInitiator } from './main-mode-initiator.js';
import { MainModeResponder, ResponderState } from './main-mode-responder.js';
import type { ResponderContext } from './main-mode-responder.js';
import type { StepResult } from './main-mode.js';
import { parseClear, payloadsOf } from './message.js';
import { usableProposals } from './proposal.js';
import { RateLimitedWarn } from './rate-limited-log.js';
import { IkeSa, PendingRequest } from './sa.js';
import type { IkeEvents } from './sa.js';
import { Counters } from './statistics.js';
import type { CounterName } from './statistics.js';
import type {
  Endpoint, GatewayPolicy, IkeOptions, IkeSaStatus, Logger, NegotiationFailure, SaDownReason,
} from './types.js';

const DEFAULT_HALF_OPEN_TIMEOUT_MS = 30_000;
/** Ceiling of the delay between attempts to bring up an `initiate` gateway. */
const MAX_REINITIATE_DELAY_MS = 60_000;
/** Notify types below this are errors (RFC 2408 §3.14.1). */
const FIRST_STATUS_NOTIFY = 16384;
/**
 * Established responder SAs one peer address may hold; establishing one more deletes its oldest. Anyone
 * with a shared (dynamic-gateway) PSK could otherwise pile up SAs without Deletes until they expire. A
 * member needs one, two while re-keying; the margin is for several members behind one NAT address.
 */
const MAX_SAS_PER_PEER = 8;

export interface IkeEndpointConfig {
  local: Endpoint;
  gateways: GatewayPolicy[];
  options: IkeOptions;
  random: RandomSource;
  log: Logger;
  send(bytes: Uint8Array, to: Endpoint): void;
  /** Testing/debugging only: receives `<icookie hex>,<encryption key hex>` per SA (tshark's ikev1_decryption_table). */
  keyLog?(line: string): void;
  events?: IkeEvents;
}

/** Per `initiate: true` gateway: when to try again after a failure or loss. */
interface Keeper {
  failures: number;
  retryAt: number;
}

function samePeer(a: Endpoint, b: Endpoint): boolean {
  return a.address === b.address && a.port === b.port;
}

/**
 * The SAs that share a fate (INITIAL-CONTACT, DPD death, re-negotiation): those of one fixed gateway, or,
 * for the dynamic gateway, those with one peer address (Main Mode PSK identifies a peer by address only).
 */
function peerKey(gateway: GatewayPolicy, peer: Endpoint): string {
  return gateway.dynamic === true ? `d\0${gateway.name}\0${peer.address}` : `g\0${gateway.name}`;
}

export class IkeEndpoint {
  private readonly counters = new Counters();
  /** SAs by initiator cookie (hex); a list because two peers may pick the same cookie. */
  private readonly sas = new Map<string, IkeSa[]>();
  /** Every SA, in creation order. */
  private readonly all = new Set<IkeSa>();
  /** SAs by `peerKey`. */
  private readonly byPeer = new Map<string, Set<IkeSa>>();
  /** Each SA's earliest timer as last computed; the heap holds it (and stale entries, skipped). */
  private readonly scheduledAt = new Map<IkeSa, number>();
  private readonly timers = new DeadlineHeap<IkeSa>();
  /** SAs whose timers may have changed since they were last scheduled; rescheduled by `flush()`. */
  private readonly dirty = new Set<IkeSa>();
  private readonly keepers = new Map<string, Keeper>();
  private fixedGateways: GatewayPolicy[];
  private dynamicGateway: GatewayPolicy | undefined;
  private halfOpen = 0;
  /**
   * Responder SAs that sent message 2 and wait for message 3, oldest first: no DH done and no return path
   * shown, so the first to go when the half-open bound is reached.
   */
  private readonly awaitingMessage3 = new Set<IkeSa>();
  /** Established responder SAs by peer address (not port), oldest first, for MAX_SAS_PER_PEER. */
  private readonly respondersByAddress = new Map<string, Set<IkeSa>>();
  private started = false;
  private readonly junkLog: RateLimitedWarn;
  private readonly keyPairs: ResponderKeyPairs;
  /** What every responder task shares; each adds its gateway and proposals. */
  private readonly responderShared: Omit<ResponderContext, 'gateway' | 'proposals'>;

  constructor(private readonly config: IkeEndpointConfig) {
    this.junkLog = new RateLimitedWarn(config.log, this.counters);
    this.keyPairs = new ResponderKeyPairs(config.options.dhReuseSeconds ?? 0, config.options.allowLegacyGroups);
    this.responderShared = {
      local: config.local, random: config.random, allowLegacyGroups: config.options.allowLegacyGroups, keyPairs: this.keyPairs,
      countDh: () => this.counters.add('dhComputations'), countDhReused: () => this.counters.add('dhKeyPairsReused'),
    };
    [this.fixedGateways, this.dynamicGateway] = IkeEndpoint.split(config.gateways);
  }

  private static split(gateways: readonly GatewayPolicy[]): [GatewayPolicy[], GatewayPolicy | undefined] {
    const dynamic = gateways.filter((g) => g.dynamic === true);
    if (dynamic.length > 1) throw new Error(`at most one dynamic gateway (got ${dynamic.map((g) => g.name).join(', ')})`);
    if (dynamic[0]?.initiate === true) throw new Error(`dynamic gateway ${dynamic[0].name} cannot initiate`);
    return [gateways.filter((g) => g.dynamic !== true), dynamic[0]];
  }

  /**
   * A new gateway list (a configuration commit). The SAs of gateways named in `reset`, and of gateways no
   * longer listed, are deleted (with a Delete to the peer); SAs of the others stay, on their old gateway
   * object. New `initiate` gateways are brought up when the endpoint runs.
   */
  setGateways(gateways: readonly GatewayPolicy[], reset: readonly string[], now: number): void {
    const [fixed, dynamic] = IkeEndpoint.split(gateways);
    const names = new Set(gateways.map((g) => g.name));
    for (const sa of this.allSas()) {
      if (!names.has(sa.gateway.name) || reset.includes(sa.gateway.name)) {
        if (sa.established) this.sendDelete(sa);
        this.remove(sa, 'deleted-locally', now);
      }
    }
    this.fixedGateways = fixed;
    this.dynamicGateway = dynamic;
    for (const name of [...this.keepers.keys()]) if (!fixed.some((g) => g.name === name && g.initiate)) this.keepers.delete(name);
    if (this.started) {
      for (const gateway of fixed) {
        if (!gateway.initiate || this.keepers.has(gateway.name)) continue;
        this.keepers.set(gateway.name, { failures: 0, retryAt: Infinity });
        if (this.sasOf(gateway).length === 0) this.initiate(gateway, now, true);
      }
      // A reset gateway we keep up comes back at the next poll, with its new settings.
      for (const name of reset) {
        const keeper = this.keepers.get(name);
        if (keeper !== undefined) keeper.retryAt = now;
      }
    }
    this.flush();
  }

  // ---- public surface -------------------------------------------------------------------------------

  /** Never throws on bad input: every datagram that is not acted on is counted. */
  handleDatagram(bytes: Uint8Array, from: Endpoint, now: number): void {
    this.counters.add('datagramsReceived');
    try {
      this.dispatch(bytes, from, now);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      this.drop('malformedDropped', now, from, e.code);
    } finally {
      this.flush();
    }
  }

  poll(now: number): void {
    this.keyPairs.expire(now);
    // Only SAs with a timer due; an SA whose timers moved since its entry was pushed is checked anyway
    // (pollSa does nothing before its deadlines) and rescheduled.
    const due: IkeSa[] = [];
    for (let top = this.timers.peek(); top !== undefined && top.at <= now; top = this.timers.peek()) {
      this.timers.pop();
      if (this.scheduledAt.get(top.item) !== top.at) continue; // stale entry
      this.scheduledAt.delete(top.item);
      due.push(top.item);
    }
    for (const sa of due) {
      if (!this.all.has(sa)) continue; // removed earlier in this poll
      this.dirty.add(sa);
      this.pollSa(sa, now);
    }
    if (this.started) {
      for (const gateway of this.fixedGateways) {
        const keeper = this.keepers.get(gateway.name);
        if (keeper !== undefined && now >= keeper.retryAt && this.idle(gateway)) {
          keeper.retryAt = Infinity;
          this.initiate(gateway, now, true);
        }
      }
    }
    this.flush();
  }

  nextDeadline(): number | undefined {
    let next = this.keyPairs.nextDeadline() ?? Infinity;
    for (let top = this.timers.peek(); top !== undefined; top = this.timers.peek()) {
      if (this.scheduledAt.get(top.item) === top.at) {
        next = Math.min(next, top.at);
        break;
      }
      this.timers.pop(); // stale
    }
    if (this.started) {
      for (const gateway of this.fixedGateways) {
        const keeper = this.keepers.get(gateway.name);
        if (keeper !== undefined && this.idle(gateway)) next = Math.min(next, keeper.retryAt);
      }
    }
    return next === Infinity ? undefined : next;
  }

  /** Brings up every `initiate: true` gateway and keeps it up. */
  start(now: number): void {
    this.started = true;
    for (const gateway of this.fixedGateways) {
      if (!gateway.initiate) continue;
      this.keepers.set(gateway.name, { failures: 0, retryAt: Infinity });
      if (this.sasOf(gateway).length === 0) this.initiate(gateway, now, true);
    }
    this.flush();
  }

  /** Deletes every established SA towards its peer, forgets all state and timers. */
  stop(now: number): void {
    this.started = false;
    this.keepers.clear();
    for (const sa of this.allSas()) {
      if (sa.established) this.sendDelete(sa);
      this.remove(sa, 'stopped', now);
    }
    this.timers.clear();
    this.scheduledAt.clear();
    this.dirty.clear();
    this.keyPairs.clear();
  }

  /** Starts a negotiation with a configured gateway now (e.g. an operator request); never a dynamic one. */
  initiateGateway(name: string, now: number): boolean {
    const gateway = this.fixedGateways.find((g) => g.name === name);
    if (gateway === undefined) return false;
    this.initiate(gateway, now, this.sasOf(gateway).length === 0);
    this.flush();
    return true;
  }

  /** Deletes (with a Delete notification) the SAs of one gateway, or all; returns how many. */
  clearSas(now: number, gatewayName?: string): number {
    const victims = this.allSas().filter((sa) => gatewayName === undefined || sa.gateway.name === gatewayName);
    for (const sa of victims) {
      if (sa.established) this.sendDelete(sa);
      this.remove(sa, 'deleted-locally', now);
    }
    this.flush();
    return victims.length;
  }

  /**
   * Sends one R-U-THERE on an established SA now, DPD policy or not (RFC 3706 on demand), and returns its
   * sequence number; `sa.dpd.answered(seq)` then tells whether the peer still knows the SA. Undefined when
   * the SA is no longer established here or the peer did not announce DPD.
   */
  probe(sa: IkeSa): number | undefined {
    if (!this.all.has(sa) || !sa.established) return undefined;
    const seq = sa.dpd?.probeNow();
    if (seq === undefined) return undefined;
    this.sendNotify(sa, NotifyType.RUThere, sequenceBytes(seq));
    this.counters.add('dpdRequestsSent');
    sa.log.debug({ seq }, 'R-U-THERE sent on demand');
    return seq;
  }

  status(now: number): IkeSaStatus[] {
    return this.allSas().map((sa) => sa.status(now));
  }

  /** Established SAs, for the exchanges that ride on them. */
  establishedSas(): IkeSa[] {
    return this.allSas().filter((sa) => sa.established);
  }

  statistics(): Record<CounterName, number> {
    return this.counters.snapshot();
  }

  // ---- dispatch -------------------------------------------------------------------------------------

  private dispatch(bytes: Uint8Array, from: Endpoint, now: number): void {
    const header = decodeHeader(bytes, 0);
    switch (header.exchangeType) {
      case ExchangeType.IdentityProtection:
        if (isZero(header.rcookie)) this.onFirstMessage(header, bytes, from, now);
        else this.onMainMode(header, bytes, from, now);
        return;
      case ExchangeType.Informational:
        if ((header.flags & HeaderFlags.Encryption) === 0) this.onClearInformational(header, bytes, from, now);
        else this.onProtectedInformational(header, bytes, from, now);
        return;
      default:
        this.onOtherExchange(header, bytes, from, now);
    }
  }

  /** Main Mode message 1, or a retransmission of one we answered. */
  private onFirstMessage(header: Header, bytes: Uint8Array, from: Endpoint, now: number): void {
    const existing = this.candidates(header.icookie).find((sa) => sa.role === 'responder' && samePeer(sa.peer, from));
    if (existing !== undefined) {
      this.answerDuplicate(existing, bytes, now);
      return;
    }
    const gateway = this.gatewayFor(from);
    if (gateway === undefined) return this.drop('unknownPeerDropped', now, from, 'no gateway for this address');
    // The half-open bound comes before any decoding beyond the header and long before any DH. Forged
    // message 1s cost nothing to send, so at the bound the oldest SA still waiting for message 3 makes
    // room; only SAs whose peer answered message 2 keep a newcomer out.
    if (this.halfOpen >= this.config.options.maxHalfOpen) {
      const oldest = this.awaitingMessage3.values().next();
      if (oldest.done === true) return this.drop('halfOpenRejected', now, from, 'half-open limit');
      this.evictHalfOpen(oldest.value, now);
    }
    const message = parseClear(header, bytes);
    const task = new MainModeResponder({
      ...this.responderShared, gateway, proposals: usableProposals(gateway.proposals, this.config.options.allowLegacyGroups),
    }, header.icookie);
    const step = task.begin(message);
    if (step.kind !== 'send') {
      if (step.kind === 'fail') {
        this.counters.add(step.counter);
        this.config.log.debug({ peer: from, reason: step.reason }, 'main mode message 1 refused');
        if (step.reply !== undefined) this.sendUnauthenticatedReply(step.reply, bytes, from);
      }
      return;
    }
    const sa = new IkeSa('responder', gateway, this.config.local, { ...from }, task.icookie, task.rcookie, task.peerDoi, now, this.config.log);
    sa.task = task;
    this.insert(sa);
    this.halfOpen++;
    this.awaitingMessage3.add(sa);
    this.counters.add('negotiationsStarted');
    sa.log.debug({ halfOpen: this.halfOpen }, 'main mode responder started');
    sa.lastRequest = Uint8Array.from(bytes);
    sa.lastReply = step.bytes;
    this.sendUnauthenticatedReply(step.bytes, bytes, from, sa);
  }

  private onMainMode(header: Header, bytes: Uint8Array, from: Endpoint, now: number): void {
    const sa = this.lookup(header);
    if (sa === undefined) return this.drop('unknownCookieDropped', now, from, 'main mode');
    if (!samePeer(sa.peer, from)) return this.drop('peerAddressDropped', now, from, 'main mode');
    sa.counters.datagramsIn++;
    if (sa.role === 'responder') {
      if (sa.lastRequest !== undefined && samePublicBytes(sa.lastRequest, bytes)) {
        this.answerDuplicate(sa, bytes, now);
        return;
      }
      const task = sa.task;
      if (!(task instanceof MainModeResponder) || sa.established) {
        return this.drop('unexpectedMessageDropped', now, from, 'main mode after establishment');
      }
      const step = task.process(header, bytes, parseClear, now);
      if (task.state !== ResponderState.Mm2Sent) this.awaitingMessage3.delete(sa);
      this.apply(sa, step, bytes, now);
      return;
    }
    if (sa.lastAnswer !== undefined && samePublicBytes(sa.lastAnswer, bytes)) {
      return this.drop('duplicateRepliesDropped', now, from, 'retransmitted answer');
    }
    const task = sa.task;
    if (!(task instanceof MainModeInitiator) || sa.established) {
      return this.drop('unexpectedMessageDropped', now, from, 'main mode after establishment');
    }
    const step = task.process(header, bytes);
    if (!samePublicBytes(sa.rcookie, task.rcookie)) sa.learnRcookie(task.rcookie);
    this.apply(sa, step, bytes, now);
  }

  /** Re-sends the cached answer to an identical retransmission; nothing is processed again. */
  private answerDuplicate(sa: IkeSa, bytes: Uint8Array, now: number): void {
    if (sa.lastRequest === undefined || sa.lastReply === undefined || !samePublicBytes(sa.lastRequest, bytes)) {
      return this.drop('unexpectedMessageDropped', now, sa.peer, 'not the last request');
    }
    this.counters.add('duplicateRequests');
    sa.log.debug({}, 'duplicate request answered from cache');
    this.sendTo(sa, sa.lastReply);
  }

  private apply(sa: IkeSa, step: StepResult, request: Uint8Array, now: number): void {
    switch (step.kind) {
      case 'send':
        if (sa.role === 'initiator') {
          sa.lastAnswer = Uint8Array.from(request);
          sa.pending = new PendingRequest(step.bytes, now, this.config.options.retransmitInitialMs);
          this.sendTo(sa, step.bytes);
        } else {
          sa.lastRequest = Uint8Array.from(request);
          sa.lastReply = step.bytes;
          this.sendUnauthenticatedReply(step.bytes, request, sa.peer, sa);
        }
        return;
      case 'established':
        if (sa.role === 'initiator') sa.lastAnswer = Uint8Array.from(request);
        if (step.reply !== undefined) {
          sa.lastRequest = Uint8Array.from(request);
          sa.lastReply = step.reply;
          this.sendTo(sa, step.reply);
        }
        this.establish(sa, step.initialContact, now);
        return;
      case 'drop':
        this.drop(step.counter, now, sa.peer, step.detail);
        return;
      case 'fail':
        if (step.reply !== undefined) this.sendUnauthenticatedReply(step.reply, request, sa.peer, sa);
        this.fail(sa, step.counter, step.reason, now);
    }
  }

  private establish(sa: IkeSa, initialContact: boolean, now: number): void {
    const task = sa.task;
    if (task?.keys === undefined || task.proposal === undefined) throw new Error('established without keys');
    if (sa.role === 'responder') this.halfOpen--;
    sa.keys = task.keys;
    sa.proposal = task.proposal;
    sa.peerSupportsDpd = task.peerSupportsDpd;
    sa.task = undefined;
    sa.pending = undefined;
    sa.establishedAt = now;
    const lifetimeMs = task.proposal.lifetimeSeconds * 1000;
    sa.expiresAt = now + lifetimeMs;
    if (sa.role === 'initiator') {
      const marginMs = (this.config.options.rekeyMarginSeconds ?? task.proposal.lifetimeSeconds / 10) * 1000;
      sa.rekeyAt = now + Math.max(0, lifetimeMs - marginMs);
    }
    sa.dpd = new DpdMonitor(sa.gateway.dpd, sa.peerSupportsDpd, this.config.random, now);
    this.counters.add('saEstablished');
    this.config.keyLog?.(`${toHex(sa.icookie)},${toHex(sa.keys.encKey.reveal())}`);
    sa.log.info({ role: sa.role, proposal: sa.proposal, peerSupportsDpd: sa.peerSupportsDpd }, 'IKE SA established');
    if (sa.gateway.dpd !== undefined && !sa.peerSupportsDpd) sa.log.warn({}, 'peer did not announce DPD; not probing it');

    const keeper = this.keepers.get(sa.gateway.name);
    if (keeper !== undefined) keeper.failures = 0;
    const others = this.sasOfPeer(sa).filter((o) => o !== sa);
    if (initialContact) {
      // The peer restarted: whatever we still hold with it is stale (RFC 2407 §4.6.3.3).
      this.counters.add('initialContactReceived');
      for (const old of others) this.remove(old, 'initial-contact', now);
    } else if (sa.role === 'initiator') {
      // A re-negotiation completed: the older SAs go, with a Delete so the peer drops them too.
      for (const old of others.filter((o) => o.established)) {
        this.sendDelete(old);
        this.remove(old, 'rekeyed', now);
      }
    }
    if (sa.role === 'responder') this.limitPeerSas(sa, now);
    this.config.events?.saUp?.(sa);
  }

  /** Records a new responder SA under its peer's address and deletes that address's oldest beyond MAX_SAS_PER_PEER. */
  private limitPeerSas(sa: IkeSa, now: number): void {
    let group = this.respondersByAddress.get(sa.peer.address);
    if (group === undefined) {
      group = new Set();
      this.respondersByAddress.set(sa.peer.address, group);
    }
    group.add(sa);
    for (const oldest of group) {
      if (group.size <= MAX_SAS_PER_PEER) break;
      this.counters.add('peerSasEvicted');
      oldest.log.info({ limit: MAX_SAS_PER_PEER }, 'too many IKE SAs with this peer address; deleting the oldest');
      this.sendDelete(oldest);
      this.remove(oldest, 'deleted-locally', now); // also takes it out of `group`
    }
  }

  /** Makes room under the half-open bound; to the peer it looks like an early half-open expiry. */
  private evictHalfOpen(sa: IkeSa, now: number): void {
    this.counters.add('halfOpenEvicted');
    sa.log.debug({}, 'half-open SA evicted');
    this.remove(sa, undefined, now);
    this.config.events?.negotiationFailed?.(sa.gateway, 'half-open-expired');
  }

  private fail(sa: IkeSa, counter: CounterName, reason: NegotiationFailure, now: number): void {
    this.counters.add(counter);
    if (counter !== 'negotiationsFailed') this.counters.add('negotiationsFailed');
    sa.log.info({ reason }, 'IKE negotiation failed');
    this.remove(sa, undefined, now);
    // A failed re-negotiation: let the SA it was replacing try again later.
    for (const old of this.sasOfPeer(sa)) {
      if (old.rekeyStarted) {
        old.rekeyStarted = false;
        old.rekeyAt = now + this.backoff(1);
        this.dirty.add(old);
      }
    }
    const keeper = this.keepers.get(sa.gateway.name);
    if (keeper !== undefined && sa.role === 'initiator') {
      keeper.failures++;
      keeper.retryAt = now + this.backoff(keeper.failures);
    }
    this.config.events?.negotiationFailed?.(sa.gateway, reason);
  }

  /** retransmitInitialMs, doubling per consecutive failure, at most a minute. */
  private backoff(failures: number): number {
    return Math.min(MAX_REINITIATE_DELAY_MS, this.config.options.retransmitInitialMs * 2 ** Math.max(0, failures - 1));
  }

  // ---- informational --------------------------------------------------------------------------------

  /** Before phase 1 completes, errors come in clear; they can only end OUR negotiation with that peer. */
  private onClearInformational(header: Header, bytes: Uint8Array, from: Endpoint, now: number): void {
    const message = parseClear(header, bytes);
    const notifies = payloadsOf(message, PayloadType.N).map((n) => n.payload);
    if (notifies.some((n) => n.notifyType === NotifyType.RUThere || n.notifyType === NotifyType.RUThereAck)) {
      // RFC 3706 §5.2: DPD notifies MUST be encrypted.
      return this.drop('unencryptedDpdDropped', now, from, 'DPD in clear');
    }
    const sa = this.candidates(header.icookie).find(
      (c) => c.role === 'initiator' && !c.established && samePeer(c.peer, from)
        && (isZero(header.rcookie) || samePublicBytes(header.rcookie, c.rcookie)),
    );
    const error = notifies.find((n) => n.notifyType < FIRST_STATUS_NOTIFY);
    if (sa === undefined || error === undefined) return this.drop('unencryptedInformationalDropped', now, from, 'clear informational');
    this.counters.add('errorNotifiesReceived');
    sa.log.warn({ notifyType: error.notifyType }, 'peer refused the negotiation');
    if (error.notifyType === NotifyType.NoProposalChosen) this.fail(sa, 'noProposalChosen', 'no-proposal-chosen', now);
    else if (error.notifyType === NotifyType.AuthenticationFailed || error.notifyType === NotifyType.InvalidHashInformation) {
      this.fail(sa, 'authFailed', 'auth-failed', now);
    } else this.fail(sa, 'negotiationsFailed', 'peer-error', now);
  }

  private onProtectedInformational(header: Header, bytes: Uint8Array, from: Endpoint, now: number): void {
    const sa = this.lookup(header);
    if (sa === undefined) return this.drop('unknownCookieDropped', now, from, 'informational');
    if (!samePeer(sa.peer, from)) return this.drop('peerAddressDropped', now, from, 'informational');
    // E.g. a peer with another PSK reporting, under keys we do not share, that message 5 failed.
    if (sa.keys === undefined) return this.drop('unexpectedMessageDropped', now, from, 'protected informational before phase 1 completed');
    const opened = openInformational(header, bytes, sa.keys);
    if (!opened.ok) return this.drop(opened.counter, now, from, opened.detail);
    this.counters.add('informationalReceived');
    sa.counters.datagramsIn++;
    sa.counters.informationalIn++;
    for (const payload of opened.payloads) {
      if (!this.all.has(sa)) return; // deleted by an earlier payload
      if (payload.type === PayloadType.N) this.onNotify(sa, payload, now);
      else this.onDelete(sa, payload, now);
    }
  }

  private onNotify(sa: IkeSa, n: NotifyPayload, now: number): void {
    const aboutThisSa = n.protocolId === ProtocolId.Isakmp && samePublicBytes(n.spi, sa.spi);
    switch (n.notifyType) {
      case NotifyType.RUThere: {
        this.counters.add('dpdRequestsReceived');
        if (!aboutThisSa) return this.drop('dpdSpiMismatchDropped', now, sa.peer, 'R-U-THERE');
        const seq = sequenceOf(n);
        if (seq === undefined) return this.drop('invalidPayloadDropped', now, sa.peer, 'R-U-THERE sequence');
        if (sa.dpd !== undefined && !sa.dpd.acceptRequest(seq)) return this.drop('dpdStaleSequenceDropped', now, sa.peer, 'R-U-THERE');
        this.sendNotify(sa, NotifyType.RUThereAck, n.data);
        this.counters.add('dpdAcksSent');
        return;
      }
      case NotifyType.RUThereAck: {
        const seq = sequenceOf(n);
        if (!aboutThisSa) return this.drop('dpdSpiMismatchDropped', now, sa.peer, 'R-U-THERE-ACK');
        if (seq === undefined || sa.dpd === undefined || !sa.dpd.acknowledge(seq)) {
          return this.drop('dpdAckMismatchDropped', now, sa.peer, 'R-U-THERE-ACK');
        }
        this.counters.add('dpdAcksReceived');
        sa.log.trace({ seq }, 'DPD acknowledged');
        return;
      }
      case NotifyType.InitialContact:
        if (!aboutThisSa) return this.drop('initialContactSpiMismatchDropped', now, sa.peer, 'INITIAL-CONTACT');
        this.counters.add('initialContactReceived');
        for (const old of this.sasOfPeer(sa)) if (old !== sa) this.remove(old, 'initial-contact', now);
        return;
      default:
        if (n.notifyType < FIRST_STATUS_NOTIFY) {
          this.counters.add('errorNotifiesReceived');
          sa.log.warn({ notifyType: n.notifyType }, 'error notify received');
        } else {
          this.counters.add('unknownNotifyIgnored');
        }
    }
  }

  /** Only ISAKMP SA deletes concern this layer; each SPI is both cookies, and only the peer's SAs count. */
  private onDelete(sa: IkeSa, d: DeletePayload, now: number): void {
    this.counters.add('deletesReceived');
    if (d.protocolId !== ProtocolId.Isakmp || d.spiSize !== 16) {
      this.counters.add('deleteUnknownSpiIgnored');
      return;
    }
    for (const spi of d.spis) {
      const victim = this.candidates(spi.subarray(0, 8)).find(
        (c) => samePublicBytes(c.spi, spi) && samePeer(c.peer, sa.peer) && c.gateway === sa.gateway,
      );
      if (victim === undefined) this.counters.add('deleteUnknownSpiIgnored');
      else this.remove(victim, 'deleted-by-peer', now);
    }
  }

  private onOtherExchange(header: Header, bytes: Uint8Array, from: Endpoint, now: number): void {
    const sa = this.lookup(header);
    if (sa === undefined || !sa.established) return this.drop('unknownCookieDropped', now, from, `exchange ${header.exchangeType}`);
    if (!samePeer(sa.peer, from)) return this.drop('peerAddressDropped', now, from, `exchange ${header.exchangeType}`);
    const handler = this.config.events?.phase2;
    if (handler === undefined) return this.drop('phase2NoHandlerDropped', now, from, `exchange ${header.exchangeType}`);
    this.counters.add('phase2Routed');
    sa.counters.datagramsIn++;
    handler(sa, bytes, now);
  }

  // ---- timers ---------------------------------------------------------------------------------------

  private pollSa(sa: IkeSa, now: number): void {
    const pending = sa.pending;
    if (pending !== undefined && now >= pending.nextAt) {
      if (pending.tries >= this.config.options.retransmitTries) {
        this.fail(sa, 'negotiationTimeouts', 'timeout', now);
        return;
      }
      pending.resent(now);
      this.counters.add('retransmissions');
      sa.log.debug({ tries: pending.tries }, 'retransmitting');
      this.sendTo(sa, pending.bytes);
    }
    if (!sa.established) {
      const timeout = this.config.options.halfOpenTimeoutMs ?? DEFAULT_HALF_OPEN_TIMEOUT_MS;
      if (sa.role === 'responder' && now >= sa.createdAt + timeout) {
        this.counters.add('halfOpenExpired');
        sa.log.debug({}, 'half-open SA expired');
        this.remove(sa, undefined, now);
        this.config.events?.negotiationFailed?.(sa.gateway, 'half-open-expired');
      }
      return;
    }
    if (sa.expiresAt !== undefined && now >= sa.expiresAt) {
      this.counters.add('saExpired');
      this.sendDelete(sa);
      this.remove(sa, 'expired', now);
      return;
    }
    if (sa.rekeyAt !== undefined && now >= sa.rekeyAt && !sa.rekeyStarted) {
      sa.rekeyStarted = true;
      this.counters.add('saRekeyStarted');
      sa.log.info({}, 'IKE SA re-negotiation started');
      this.initiate(sa.gateway, now, false);
    }
    const tick = sa.dpd?.tick(now);
    if (tick?.kind === 'probe') {
      this.sendNotify(sa, NotifyType.RUThere, sequenceBytes(tick.seq));
      this.counters.add('dpdRequestsSent');
    } else if (tick?.kind === 'dead') {
      this.peerDead(sa, now);
    }
  }

  private peerDead(sa: IkeSa, now: number): void {
    this.counters.add('peersDead');
    sa.log.info({ threshold: sa.gateway.dpd?.threshold }, 'peer dead');
    for (const other of this.sasOfPeer(sa)) this.remove(other, 'dpd', now);
    const keeper = this.keepers.get(sa.gateway.name);
    if (keeper !== undefined) keeper.retryAt = now + this.backoff(keeper.failures + 1);
    this.config.events?.peerDead?.(sa.gateway);
  }

  // ---- helpers --------------------------------------------------------------------------------------

  private initiate(gateway: GatewayPolicy, now: number, initialContact: boolean): void {
    if (gateway.dynamic === true) return; // responder only: there is no address to initiate to
    const proposals = usableProposals(gateway.proposals, this.config.options.allowLegacyGroups);
    if (proposals.length === 0) {
      // A configuration error (e.g. only legacy groups, not allowed); the config loader should catch it first.
      this.config.log.error({ gateway: gateway.name }, 'no usable IKE proposal; not initiating');
      return;
    }
    const task = new MainModeInitiator({
      gateway, proposals, local: this.config.local, random: this.config.random, allowLegacyGroups: this.config.options.allowLegacyGroups,
      initialContact, countDh: () => this.counters.add('dhComputations'),
    });
    const sa = new IkeSa('initiator', gateway, this.config.local, gateway.peer, task.icookie, task.rcookie, gateway.doi ?? 2, now, this.config.log);
    sa.task = task;
    this.insert(sa);
    this.counters.add('negotiationsStarted');
    sa.log.debug({ initialContact }, 'main mode initiator started');
    const mm1 = task.start();
    sa.pending = new PendingRequest(mm1, now, this.config.options.retransmitInitialMs);
    this.sendTo(sa, mm1);
  }

  private sendNotify(sa: IkeSa, notifyType: number, data: Uint8Array): void {
    const keys = sa.keys;
    if (keys === undefined) return;
    const notify: NotifyPayload = { type: PayloadType.N, doi: DOI.IPSEC, protocolId: ProtocolId.Isakmp, spi: sa.spi, notifyType, data };
    this.sendTo(sa, protectedInformational(sa, notify, keys, this.config.random));
    this.counters.add('informationalSent');
    sa.counters.informationalOut++;
  }

  private sendDelete(sa: IkeSa): void {
    const keys = sa.keys;
    if (keys === undefined) return;
    const del: DeletePayload = { type: PayloadType.D, doi: DOI.IPSEC, protocolId: ProtocolId.Isakmp, spiSize: 16, spis: [sa.spi] };
    this.sendTo(sa, protectedInformational(sa, del, keys, this.config.random));
    this.counters.add('deletesSent');
    this.counters.add('informationalSent');
    sa.counters.informationalOut++;
    sa.log.debug({}, 'delete sent');
  }

  private sendTo(sa: IkeSa, bytes: Uint8Array): void {
    sa.counters.datagramsOut++;
    this.counters.add('datagramsSent');
    this.config.send(bytes, sa.peer);
  }

  /** Never answer an unauthenticated datagram with more bytes than it carried. */
  private sendUnauthenticatedReply(reply: Uint8Array, request: Uint8Array, to: Endpoint, sa?: IkeSa): void {
    if (reply.length > request.length) {
      this.counters.add('replySuppressed');
      return;
    }
    if (sa !== undefined) sa.counters.datagramsOut++;
    this.counters.add('datagramsSent');
    this.config.send(reply, to);
  }

  private remove(sa: IkeSa, reason: SaDownReason | undefined, now: number): void {
    const key = toHex(sa.icookie);
    const list = this.sas.get(key);
    if (list === undefined || !list.includes(sa)) return;
    const rest = list.filter((s) => s !== sa);
    if (rest.length === 0) this.sas.delete(key);
    else this.sas.set(key, rest);
    this.all.delete(sa);
    const pk = peerKey(sa.gateway, sa.peer);
    const group = this.byPeer.get(pk);
    group?.delete(sa);
    if (group?.size === 0) this.byPeer.delete(pk);
    this.scheduledAt.delete(sa);
    this.dirty.delete(sa);
    if (!sa.established && sa.role === 'responder') this.halfOpen--;
    this.awaitingMessage3.delete(sa);
    const sameAddress = this.respondersByAddress.get(sa.peer.address);
    if (sameAddress?.delete(sa) === true && sameAddress.size === 0) this.respondersByAddress.delete(sa.peer.address);
    sa.pending = undefined;
    if (sa.established) {
      this.counters.add('saDeleted');
      sa.log.info({ reason }, 'IKE SA deleted');
      if (reason !== undefined) this.config.events?.saDown?.(sa, reason);
    }
    sa.keys?.wipe();
    // A kept-up gateway that just lost its last SA is re-initiated soon (not for failures: fail() decides).
    const keeper = this.keepers.get(sa.gateway.name);
    if (this.started && keeper !== undefined && sa.established && reason !== 'rekeyed' && keeper.retryAt === Infinity) {
      keeper.retryAt = now + this.backoff(1);
    }
  }

  private insert(sa: IkeSa): void {
    const key = toHex(sa.icookie);
    this.sas.set(key, [...(this.sas.get(key) ?? []), sa]);
    this.all.add(sa);
    const pk = peerKey(sa.gateway, sa.peer);
    let group = this.byPeer.get(pk);
    if (group === undefined) {
      group = new Set();
      this.byPeer.set(pk, group);
    }
    group.add(sa);
    this.dirty.add(sa);
  }

  /** The earliest time `poll` has something to do for this SA (Infinity: nothing). */
  private deadlineOf(sa: IkeSa): number {
    let next = Infinity;
    if (sa.pending !== undefined) next = Math.min(next, sa.pending.nextAt);
    if (!sa.established && sa.role === 'responder') {
      next = Math.min(next, sa.createdAt + (this.config.options.halfOpenTimeoutMs ?? DEFAULT_HALF_OPEN_TIMEOUT_MS));
    }
    if (sa.expiresAt !== undefined) next = Math.min(next, sa.expiresAt);
    if (sa.rekeyAt !== undefined && !sa.rekeyStarted) next = Math.min(next, sa.rekeyAt);
    return Math.min(next, sa.dpd?.deadline() ?? Infinity);
  }

  /**
   * Re-schedules every SA touched since the last call. Every public entry point ends here, and every
   * SA whose timers a call can change is marked: the one a datagram was looked up for, new ones, the
   * ones polled, and the older SAs a failed re-negotiation re-arms.
   */
  private flush(): void {
    for (const sa of this.dirty) {
      if (!this.all.has(sa)) continue;
      const at = this.deadlineOf(sa);
      if (at === Infinity) {
        this.scheduledAt.delete(sa);
      } else if (this.scheduledAt.get(sa) !== at) {
        this.scheduledAt.set(sa, at);
        this.timers.push(at, sa);
      }
    }
    this.dirty.clear();
    // Entries of removed or re-scheduled SAs are skipped when they surface, but until then they hold the
    // SA: compact once they are the majority (amortised O(1) per push).
    if (this.timers.size > 1024 && this.timers.size > 2 * this.scheduledAt.size) this.timers.rebuild(this.scheduledAt);
  }

  private candidates(icookie: Uint8Array): IkeSa[] {
    return this.sas.get(toHex(icookie)) ?? [];
  }

  /** The SA a non-first message belongs to; an initiator still waiting for message 2 matches any rcookie. */
  private lookup(header: Header): IkeSa | undefined {
    const list = this.candidates(header.icookie);
    const sa = list.find((s) => samePublicBytes(s.rcookie, header.rcookie))
      ?? list.find((s) => s.role === 'initiator' && isZero(s.rcookie));
    if (sa !== undefined) this.dirty.add(sa); // whatever the datagram does may move its timers
    return sa;
  }

  private allSas(): IkeSa[] {
    return [...this.all];
  }

  /** The SAs of a fixed gateway. */
  private sasOf(gateway: GatewayPolicy): IkeSa[] {
    return [...(this.byPeer.get(peerKey(gateway, gateway.peer)) ?? [])];
  }

  /** A fixed gateway with no SA at all. */
  private idle(gateway: GatewayPolicy): boolean {
    return !this.byPeer.has(peerKey(gateway, gateway.peer));
  }

  /** The SAs that share `sa`'s fate: same fixed gateway, or same dynamic gateway and peer address. */
  private sasOfPeer(sa: IkeSa): IkeSa[] {
    return [...(this.byPeer.get(peerKey(sa.gateway, sa.peer)) ?? [])];
  }

  /**
   * PSK Main Mode can only choose the gateway (and key) by the peer's address (RFC 2409 §5.4): a fixed
   * gateway with the exact address and port, then one with the address, then the dynamic gateway if any.
   */
  private gatewayFor(from: Endpoint): GatewayPolicy | undefined {
    const gateways = this.fixedGateways;
    return gateways.find((g) => samePeer(g.peer, from)) ?? gateways.find((g) => g.peer.address === from.address) ?? this.dynamicGateway;
  }

  private drop(counter: CounterName, now: number, from: Endpoint, detail: string): void {
    this.counters.add(counter);
    this.junkLog.warn(now, { peer: `${from.address}:${from.port}`, counter, detail }, 'datagram dropped');
  }
}

/** RFC 3706 §5.3: the notification data of R-U-THERE(-ACK) is a 32-bit sequence number. */
function sequenceOf(n: NotifyPayload): number | undefined {
  if (n.data.length !== 4) return undefined;
  return new DataView(n.data.buffer, n.data.byteOffset, 4).getUint32(0);
}

function sequenceBytes(seq: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, seq);
  return out;
}
