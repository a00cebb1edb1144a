/**
 * Registration of one group (`ipsec vpn NAME`) with its key servers, R-REG-4: try the gateway's server
 * addresses in order; at each, bring up the IKE SA (Main Mode, `initiateGateway`) and run GROUPKEY-PULL
 * over it; if that does not complete within `registration-timeout-seconds`, move to the next address;
 * after the last, wait (1 s, 2 s, 4 s ... at most 60 s) and start again from the first.
 *
 * A pull unanswered over an established SA looks the same whether the server restarted and forgot the SA
 * (it drops all we send on it) or does not serve this group (it refuses the pull silently). One R-U-THERE
 * on the SA (RFC 3706 on demand, never periodic: members run no DPD) tells them apart: unanswered, the SA
 * goes, and the next try at this server negotiates afresh; acknowledged, the SA stays while another vpn
 * through this gateway is registered over it or trying it (deleting it would cut theirs every round).
 *
 * The keys of a registration (`keys`) outlive the attempt that produced them: a re-registration (keys
 * near expiry without a rekey, an operator `clear`) runs a new attempt while the old keys keep working,
 * and replaces them only when the new PULL completes. A PULL answered before PUSHes the old keys accepted
 * meanwhile is stale (RFC 6407 §3.2): what those PUSHes brought is kept (PushReceiver `previous`).
 */
import type { RandomSource } from '@gvpn/crypto';
import { PullInitiator, PushReceiver, PUSH_COUNTER_NAMES, type PullResult, type PushCounter } from '@gvpn/gdoi';
import type { Header } from '@gvpn/wire';
import type { IkeEndpoint, IkeSa } from '@gvpn/ike';
import type { Endpoint, IkeGatewayConfig, Logger, MemberVpnConfig } from '@gvpn/runtime';
import type { AcceptedPush } from './durable.js';

const FIRST_ROUND_BACKOFF_MS = 1000;
const MAX_ROUND_BACKOFF_MS = 60_000;

export type AttemptState = 'connecting' | 'pulling' | 'waiting';

type Attempt =
  | { state: 'connecting' | 'pulling'; serverIndex: number; deadline: number; pull: PullInitiator | undefined; reason: string; check?: SaCheck }
  | { state: 'waiting'; retryAt: number; reason: string };

/** Whether the server still knows the SA a pull runs over: an R-U-THERE at `at` if the pull is still unanswered. */
interface SaCheck {
  sa: IkeSa;
  at: number;
  /** The probe's sequence number once sent (undefined: not sent, or the peer announced no DPD). */
  seq: number | undefined;
}

export interface RegistrationKeys {
  result: PullResult;
  receiver: PushReceiver;
  server: IkeGatewayConfig;
  registeredAt: number;
  kekInstalledAt: number;
  /** The last PUSHes accepted (most recent last), kept with the registration in the state store. */
  acceptedPushes: AcceptedPush[];
  /** These keys were read back from the state store at start (no PULL in this run). */
  restoredFromStore?: boolean;
}

export const REGISTRATION_COUNTER_NAMES = [
  'registrationAttempts', 'registrations', 'reRegistrations', 'serverTimeouts', 'ikeFailures', 'pullFailures', 'failovers',
  'rounds',
] as const;
export type RegistrationCounter = (typeof REGISTRATION_COUNTER_NAMES)[number];

export interface GroupRegistrationOptions {
  vpn: MemberVpnConfig;
  ike: IkeEndpoint;
  random: RandomSource;
  send(bytes: Uint8Array, to: Endpoint): void;
  log: Logger;
  /** A PULL completed: `previous` is what it replaces (undefined for a first registration). */
  onRegistered(keys: RegistrationKeys, previous: RegistrationKeys | undefined, now: number): void;
  /** Whether another vpn is registered with, or trying, this server (`GATEWAY/ADDRESS`): its IKE SA is theirs too. */
  othersUse?(server: string): boolean;
}

export class GroupRegistration {
  /** Replaced by a commit (`reconfigure`). */
  vpn: MemberVpnConfig;
  keys: RegistrationKeys | undefined;
  readonly counters = Object.fromEntries(REGISTRATION_COUNTER_NAMES.map((n) => [n, 0])) as Record<RegistrationCounter, number>;
  /** PUSH counters of receivers that were replaced by a re-registration, so totals never go backwards. */
  readonly #pastPush = Object.fromEntries(PUSH_COUNTER_NAMES.map((n) => [n, 0])) as Record<PushCounter, number>;
  #attempt: Attempt | undefined;
  #rounds = 0;
  readonly #options: GroupRegistrationOptions;
  #log: Logger;

  constructor(options: GroupRegistrationOptions) {
    this.#options = options;
    this.vpn = options.vpn;
    this.#log = options.log.child({ group: options.vpn.name, groupId: options.vpn.groupId });
  }

  get name(): string {
    return this.vpn.name;
  }

  get attemptState(): AttemptState | undefined {
    return this.#attempt?.state;
  }

  /** The server currently tried (while connecting/pulling). */
  get tryingServer(): IkeGatewayConfig | undefined {
    const a = this.#attempt;
    return a === undefined || a.state === 'waiting' ? undefined : this.vpn.gateway.servers[a.serverIndex];
  }

  /** First registration, or a re-registration that starts from the first server. */
  start(now: number, reason = 'start'): void {
    this.#rounds = 0;
    this.#try(0, now, reason);
  }

  /**
   * Takes keys held before a restart (read back from the state store) as the current registration, with no
   * PULL: the key server still counts us as registered, and its PUSHes find the KEK they expect.
   */
  restore(keys: RegistrationKeys): void {
    this.#attempt = undefined;
    this.#rounds = 0;
    this.keys = keys;
    this.#log.info({
      server: keys.result.server.address, kek: keys.receiver.kek === undefined ? null : Buffer.from(keys.receiver.kek.spi).toString('hex'),
      teks: [...keys.receiver.teks.values()].map((t) => Buffer.from(t.spi).toString('hex')), seq: keys.receiver.lastSeq,
    }, 'registration restored from the state store');
  }

  /** A new PULL while the current keys stay in use; starts with the server we are registered with. */
  reRegister(now: number, reason: string): void {
    if (this.#attempt !== undefined && this.#attempt.state !== 'waiting') return; // one attempt at a time
    const current = this.keys === undefined ? -1 : this.vpn.gateway.servers.indexOf(this.keys.server);
    this.#rounds = 0;
    this.#try(Math.max(0, current), now, reason);
  }

  /** Forgets the keys (the caller clears the data plane) and registers again from the first server. */
  reset(now: number, reason: string): void {
    this.drop(now, reason);
    this.start(now, reason);
  }

  /** Ends any attempt and forgets the keys (the caller clears the data plane); registers no more. */
  drop(now: number, reason: string): void {
    this.#abort(now, reason);
    if (this.keys !== undefined) this.#retireReceiver(this.keys.receiver);
    this.keys = undefined;
  }

  /**
   * A commit gave the vpn new values: later attempts use them (server list, timeout, group-id). The keys
   * stay, and their server is looked up again by name (`GATEWAY/ADDRESS`: the commit made new objects).
   * Returns false when that server is no longer listed. An attempt under way goes on: the caller stops it.
   */
  reconfigure(vpn: MemberVpnConfig): boolean {
    this.vpn = vpn;
    this.#log = this.#options.log.child({ group: vpn.name, groupId: vpn.groupId });
    const keys = this.keys;
    if (keys === undefined) return true;
    const server = vpn.gateway.servers.find((s) => s.name === keys.server.name);
    if (server === undefined) return false;
    keys.server = server;
    return true;
  }

  stop(now: number): void {
    this.#abort(now, 'stopped');
    this.#attempt = undefined;
  }

  pushCounters(): Record<PushCounter, number> {
    const live = this.keys?.receiver.counters;
    return Object.fromEntries(PUSH_COUNTER_NAMES.map((n) => [n, this.#pastPush[n] + (live?.[n] ?? 0)])) as Record<PushCounter, number>;
  }

  // ---- IKE and phase-2 events ------------------------------------------------------------------------

  onSaUp(sa: IkeSa, now: number): void {
    const a = this.#attempt;
    if (a?.state !== 'connecting' || sa.gateway.name !== this.vpn.gateway.servers[a.serverIndex]?.name) return;
    this.#startPull(sa, now);
  }

  onNegotiationFailed(gatewayName: string, reason: string, now: number): void {
    const a = this.#attempt;
    if (a?.state !== 'connecting' || gatewayName !== this.vpn.gateway.servers[a.serverIndex]?.name) return;
    this.counters.ikeFailures++;
    this.#next(now, `IKE negotiation failed: ${reason}`);
  }

  /** Returns true when the datagram belonged to our PULL. */
  onPhase2(sa: IkeSa, datagram: Uint8Array, header: Header, now: number): boolean {
    const a = this.#attempt;
    if (a?.state !== 'pulling' || a.pull === undefined || header.messageId !== a.pull.messageId) return false;
    if (sa.gateway.name !== this.vpn.gateway.servers[a.serverIndex]?.name) return false;
    a.pull.handle(datagram, header, now);
    this.#checkPull(now);
    return true;
  }

  nextDeadline(): number | undefined {
    const a = this.#attempt;
    if (a === undefined) return undefined;
    if (a.state === 'waiting') return a.retryAt;
    return Math.min(a.deadline, a.pull?.nextDeadline() ?? Infinity, a.check?.at ?? Infinity);
  }

  poll(now: number): void {
    const a = this.#attempt;
    if (a === undefined) return;
    if (a.state === 'waiting') {
      if (now >= a.retryAt) this.#try(0, now, a.reason);
      return;
    }
    a.pull?.poll(now);
    if (this.#checkPull(now)) return;
    const check = a.check;
    if (check !== undefined && now >= check.at) {
      check.at = Infinity;
      check.seq = this.#options.ike.probe(check.sa);
    }
    if (now >= a.deadline) {
      this.counters.serverTimeouts++;
      const server = this.vpn.gateway.servers[a.serverIndex];
      const known = check?.seq !== undefined && check.sa.dpd?.answered(check.seq) === true;
      const keep = known && server !== undefined && this.#options.othersUse?.(server.name) === true;
      if (known) {
        this.#log.warn({
          server: server?.remote.address, likely: 'a group id the server does not serve, or a gateway the group does not authorise', saKept: keep,
        }, 'registration: key server answers on the IKE SA but not this group\'s pull');
      } else if (a.state === 'pulling' && server !== undefined) {
        // The server may have restarted and forgotten the SA (it then drops everything sent on it).
        this.#options.ike.clearSas(now, server.name);
      }
      this.#next(now, `no registration within ${this.vpn.registrationTimeoutSeconds} s`, keep);
    }
  }

  // ---- the attempt ------------------------------------------------------------------------------------

  #try(index: number, now: number, reason: string): void {
    const server = this.vpn.gateway.servers[index];
    if (server === undefined) return;
    this.counters.registrationAttempts++;
    const deadline = now + this.vpn.registrationTimeoutSeconds * 1000;
    this.#attempt = { state: 'connecting', serverIndex: index, deadline, pull: undefined, reason };
    const sa = this.#options.ike.establishedSas().find((s) => s.gateway.name === server.name);
    // Another vpn through the same gateway may be in Main Mode with it already: that SA's saUp (or failure)
    // reaches us too, and a second negotiation beside it would only be dropped by the server and fail.
    const negotiating = sa === undefined &&
      this.#options.ike.status(now).some((s) => s.gateway === server.name && s.role === 'initiator' && s.establishedAt === undefined);
    this.#log.info({ server: server.remote.address, port: server.remote.port, serverIndex: index, reason, ikeSaUp: sa !== undefined, negotiating }, 'registration: trying key server');
    if (sa !== undefined) this.#startPull(sa, now);
    else if (!negotiating) this.#options.ike.initiateGateway(server.name, now);
  }

  #startPull(sa: IkeSa, now: number): void {
    const a = this.#attempt;
    if (a === undefined || a.state === 'waiting') return;
    // Retransmit within the registration timeout: three tries spread over it.
    const retransmitInitialMs = Math.max(100, Math.floor((this.vpn.registrationTimeoutSeconds * 1000) / 4));
    const pull = new PullInitiator({
      sa, groupId: this.vpn.groupId, random: this.#options.random, send: this.#options.send, log: this.#log,
      retransmitInitialMs, retransmitTries: 3,
    });
    // Probed with the pull's first retransmission: an answer has the rest of the timeout to arrive.
    this.#attempt = { ...a, state: 'pulling', pull, check: { sa, at: now + retransmitInitialMs, seq: undefined } };
    this.#log.debug({ server: sa.peer.address, messageId: pull.messageId }, 'registration: GROUPKEY-PULL started');
    pull.start(now);
  }

  /** Acts on a finished PULL; true if the attempt ended. */
  #checkPull(now: number): boolean {
    const a = this.#attempt;
    if (a?.state !== 'pulling' || a.pull === undefined) return false;
    const pull = a.pull;
    if (pull.state === 'failed') {
      this.counters.pullFailures++;
      this.#next(now, `GROUPKEY-PULL failed: ${pull.failure ?? 'unknown'}`);
      return true;
    }
    if (pull.state !== 'done' || pull.result === undefined) return false;
    const server = this.vpn.gateway.servers[a.serverIndex] as IkeGatewayConfig;
    const previous = this.keys;
    const receiver = new PushReceiver({ pull: pull.result, memberAddress: this.vpn.gateway.localAddress, previous: previous?.receiver });
    const stale = receiver.stalePull;
    // The data plane installs `result.teks` and retires the others: those are the receiver's.
    const result = stale === undefined ? pull.result : { ...pull.result, kek: receiver.kek, teks: [...receiver.teks.values()], seq: receiver.lastSeq };
    this.keys = {
      result, receiver, server, registeredAt: now,
      kekInstalledAt: stale === 'kek' && previous !== undefined ? previous.kekInstalledAt : now,
      acceptedPushes: receiver.continuesPrevious && previous !== undefined ? previous.acceptedPushes : [],
    };
    if (previous !== undefined) {
      this.#retireReceiver(previous.receiver);
      this.counters.reRegistrations++;
    }
    this.counters.registrations++;
    this.#attempt = undefined;
    this.#rounds = 0;
    this.#log.info({
      server: server.remote.address, reason: a.reason, kek: result.kek === undefined ? null : Buffer.from(result.kek.spi).toString('hex'),
      teks: result.teks.map((t) => Buffer.from(t.spi).toString('hex')), seq: result.seq ?? null, stalePull: stale ?? null,
    }, 'registered with key server');
    this.#options.onRegistered(this.keys, previous, now);
    return true;
  }

  /** `keepSa`: the server knows the SA of this attempt, and other vpns use it. */
  #next(now: number, why: string, keepSa = false): void {
    const a = this.#attempt;
    if (a === undefined || a.state === 'waiting') return;
    const failed = this.vpn.gateway.servers[a.serverIndex] as IkeGatewayConfig;
    a.pull?.abort(why);
    // Stop negotiating with (or leave) the server that did not register us; keep an SA we are registered over.
    if (!keepSa && this.keys?.server !== failed) this.#options.ike.clearSas(now, failed.name);
    this.#log.info({ server: failed.remote.address, serverIndex: a.serverIndex, why }, 'registration: key server did not register us');
    const next = a.serverIndex + 1;
    if (next < this.vpn.gateway.servers.length) {
      this.counters.failovers++;
      this.#try(next, now, a.reason);
      return;
    }
    this.#rounds++;
    this.counters.rounds++;
    const waitMs = Math.min(MAX_ROUND_BACKOFF_MS, FIRST_ROUND_BACKOFF_MS * 2 ** (this.#rounds - 1));
    this.#attempt = { state: 'waiting', retryAt: now + waitMs, reason: a.reason };
    this.#log.warn({ servers: this.vpn.gateway.servers.length, round: this.#rounds, retryInMs: waitMs }, 'registration: no key server answered; backing off');
  }

  #abort(now: number, why: string): void {
    const a = this.#attempt;
    if (a !== undefined && a.state !== 'waiting') a.pull?.abort(why);
    this.#attempt = undefined;
    void now;
  }

  #retireReceiver(receiver: PushReceiver): void {
    for (const n of PUSH_COUNTER_NAMES) this.#pastPush[n] += receiver.counters[n];
  }
}
