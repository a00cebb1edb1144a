/**
 * The member agent: the RoleModule the daemon host runs for `security.group-vpn.member`. It owns one
 * `GroupRegistration` per vpn, the PUSH handler, the data plane, and the lifecycle that ties them:
 *
 *   PULL done     -> TEKs installed (active at once); TEKs the new PULL no longer lists retire after the
 *                    deactivation delay (a re-registration)
 *   PUSH accepted -> new TEKs installed, active after the activation delay; the TEKs they replace (same
 *                    selectors) retire after the deactivation delay; deletes applied at once; a new KEK
 *                    restarts the KEK clock; a KEK delete ends the registration: register again
 *   near expiry   -> KEK or the newest TEK of any of its SAs within 5 % of its lifetime (at least 2 s, at
 *                    most 60 s) of its end with no rekey: register again (R-OPS-1 drift) while the old keys keep working; no
 *                    usable TEK at all: register again 5 s after the last registration
 *   clear         -> `ipsec security-associations`: drop the TEKs, pull again; `group`: drop everything
 *                    (keys, IKE SAs with the servers) and register from the first server
 *   commit        -> vpns added, removed, renumbered or given a new gateway (live-config.ts); what must
 *                    register again does so at the next poll, after the host's IKE part of the commit
 *
 * With a state store (durable.ts) every change of a registration is written before anything depends on
 * it, and a start first looks there: a registration whose KEK and at least one TEK are still valid is
 * taken up again as it was — same server, KEK, SEQ, TEK SPIs, data-plane times and outbound sequence
 * numbers above the stored mark — without a PULL; anything else registers as usual.
 */
import type { Kek, PushAccepted } from '@gvpn/gdoi';
import { PushReceiver, tryHeader } from '@gvpn/gdoi';
import type { IkeSa } from '@gvpn/ike';
import {
  rateLimited, type ApplyResult, type ConfigChange, type DaemonConfig, type MemberDaemonConfig, type MemberVpnConfig, type RoleContext, type RoleModule,
} from '@gvpn/runtime';
import { MemberControl } from './control.js';
import { DataPlane, type InstalledTek } from './data-plane.js';
import { SEQUENCE_BLOCK, pullResultOf, type MemberStateStore, type RegistrationState, type TekState } from './durable.js';
import { memberRefusal, planVpns } from './live-config.js';
import { PushHandler } from './push-handler.js';
import { GroupRegistration, type RegistrationKeys } from './registration.js';
import { spiNumber } from './tek-convert.js';

const REFRESH_FRACTION = 0.05;
// A fresh Main Mode and pull must fit in the margin even on a busy host; short test lifetimes hit this floor.
const MIN_REFRESH_MARGIN_MS = 2000;
const MAX_REFRESH_MARGIN_MS = 60_000;
const NO_TEK_RETRY_MS = 5000;

export class MemberAgent {
  readonly registrations: GroupRegistration[];
  readonly dataPlane: DataPlane;
  readonly pushes: PushHandler;
  /** The running configuration: the start-up one, then the last one committed. */
  config: MemberDaemonConfig;
  readonly #ctx: RoleContext;
  readonly #refreshNotBefore = new WeakMap<GroupRegistration, number>();
  readonly #state: MemberStateStore | undefined;
  /** Registrations changed in a way that may wait for `settle` (a TEK expired). */
  readonly #dirty = new Set<GroupRegistration>();
  /**
   * Registrations a commit (re)starts, with why: at the next poll, once the host has given the IKE engine the
   * committed gateways (a new server address is no IKE peer before that).
   */
  readonly #pending = new Map<GroupRegistration, string>();
  #started = false;
  /** Writes go to the store from the start until `stop` begins (stopping clears the data plane). */
  #persisting = false;

  constructor(ctx: RoleContext, state?: MemberStateStore) {
    if (ctx.config.role !== 'member') throw new Error('the member agent needs a member configuration');
    this.#ctx = ctx;
    this.#state = state;
    this.config = ctx.config;
    const member = this.config.member;
    this.registrations = member.vpns.map((vpn) => this.#registration(vpn));
    this.dataPlane = new DataPlane({
      config: member.dataPlane, log: ctx.log.child({ component: 'data-plane' }), random: ctx.random,
      rearm: () => ctx.rearm(), now: () => ctx.clock.now(),
      onExpired: (tek) => {
        const r = this.registrations.find((candidate) => candidate.name === tek.group);
        r?.keys?.receiver.removeTek(tek.gdoi.spi);
        if (r !== undefined) this.#dirty.add(r);
      },
      ...(state === undefined ? {} : {
        sequences: {
          block: SEQUENCE_BLOCK,
          reserve: (spi: number, upTo: number, deactivation: number) => {
            if (this.#persisting) state.reserveSequence(spi, upTo, deactivation, state.clocks(ctx.clock.now()));
          },
          mark: (spi: number) => state.sequenceMark(spi),
        },
      }),
    });
    this.pushes = new PushHandler({
      registrations: this.registrations, send: (bytes, to) => ctx.send(bytes, to), log: ctx.log,
      junkLog: rateLimited(ctx.log, 'push-junk', 10, ctx.clock),
      onAccepted: (registration, outcome, now) => this.#onPush(registration, outcome, now),
    });
  }

  module(): RoleModule {
    const ctx = this.#ctx;
    return {
      preIke: (bytes, from, now) => this.pushes.handle(bytes, from, now),
      ikeEvents: {
        saUp: (sa) => this.#each((r, now) => r.onSaUp(sa, now)),
        negotiationFailed: (gateway, reason) => this.#each((r, now) => r.onNegotiationFailed(gateway.name, reason, now)),
        phase2: (sa, datagram, now) => this.#phase2(sa, datagram, now),
      },
      handlers: new MemberControl(this, ctx).handlers(),
      nextDeadline: () => this.nextDeadline(),
      poll: (now) => this.poll(now),
      start: async (now) => {
        await this.dataPlane.start();
        this.#started = true;
        this.#persisting = this.#state !== undefined;
        for (const r of this.registrations) if (!this.#restore(r, now)) r.start(now);
      },
      stop: async (now) => {
        this.#started = false;
        this.#persisting = false;
        this.#pending.clear();
        for (const r of this.registrations) r.stop(now);
        await this.dataPlane.stop();
        this.#state?.close();
      },
      settle: () => {
        for (const r of [...this.#dirty]) this.#persist(r);
      },
      applyConfig: (next, changes, now) => this.applyConfig(next, changes, now),
    };
  }

  /**
   * A commit (live-config.ts has what each change does): all of it, or a refusal before anything changed.
   * Registrations to start again wait for the next poll (`#pending`), after the host's IKE part.
   */
  applyConfig(next: DaemonConfig, changes: ConfigChange[], now: number): ApplyResult {
    if (next.role !== 'member') return { refused: 'not a member configuration' };
    const refusal = memberRefusal(changes);
    if (refusal !== undefined) return { refused: refusal };
    const applied: string[] = [];
    for (const plan of planVpns(this.config.member, next.member, changes)) {
      if (plan.kind === 'added') {
        const r = this.#registration(plan.vpn);
        this.registrations.push(r);
        this.#pending.set(r, 'vpn added by a commit');
        applied.push(`vpn ${r.name}: added, registering for group ${r.vpn.groupId}`);
        continue;
      }
      const name = plan.kind === 'removed' ? plan.name : plan.vpn.name;
      const r = this.registrations.find((candidate) => candidate.name === name);
      if (r === undefined) continue;
      switch (plan.kind) {
        case 'removed': {
          const teks = this.#forget(r, now, 'vpn removed by a commit');
          this.registrations.splice(this.registrations.indexOf(r), 1);
          applied.push(`vpn ${name}: removed, registration stopped, ${teks} TEKs and the KEK dropped`);
          break;
        }
        case 'renumbered': {
          const teks = this.#forget(r, now, 'group-id changed by a commit');
          r.reconfigure(plan.vpn);
          this.#pending.set(r, `group-id changed from ${plan.from}`);
          applied.push(`vpn ${name}: group ${plan.from} -> ${plan.vpn.groupId}, ${teks} TEKs and the KEK dropped, registering again`);
          break;
        }
        case 'gateway':
          applied.push(`vpn ${name}: ${this.#regateway(r, plan.vpn, plan.ike, now)}`);
          break;
        case 'same':
          r.reconfigure(plan.vpn);
          if (changes.some((c) => c.group === name)) applied.push(`vpn ${name}: new values used from the next registration attempt`);
          break;
      }
    }
    // The new file's order: `show` lists and statistics follow it.
    const order = next.member.vpns.map((v) => v.name);
    this.registrations.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
    this.config = next;
    return { applied };
  }

  /**
   * A vpn whose gateway changed (its IKE SAs are reset by the host right after): a new attempt over the new
   * settings when they are IKE settings, when the keys' server is gone, or when one was under way (its SA
   * goes); otherwise the keys stay and the next registration takes the new server list.
   */
  #regateway(r: GroupRegistration, vpn: MemberVpnConfig, ikeChanged: boolean, now: number): string {
    const serverKept = r.reconfigure(vpn);
    const servers = vpn.gateway.servers.map((s) => s.remote.address).join(', ');
    const attempting = r.attemptState !== undefined;
    if (attempting) r.stop(now);
    if (r.keys === undefined) {
      if (attempting) this.#pending.set(r, 'gateway changed by a commit');
      return `gateway ${vpn.gateway.name} [${servers}]${attempting ? ': registering again' : ''}`;
    }
    if (!serverKept) {
      this.#pending.set(r, `server ${r.keys.result.server.address} no longer configured`);
      return `gateway ${vpn.gateway.name} [${servers}]: server ${r.keys.result.server.address} gone, registering again (keys kept until then)`;
    }
    if (ikeChanged || attempting) {
      this.#pending.set(r, ikeChanged ? 'IKE settings changed by a commit' : 'gateway changed by a commit');
      return `gateway ${vpn.gateway.name} [${servers}]: registering again over the new settings (keys kept until then)`;
    }
    return `gateway ${vpn.gateway.name} [${servers}]: keys kept, the next registration uses the new list`;
  }

  /** Stops a registration and drops its keys from the data plane and the state store; returns the TEKs dropped. */
  #forget(r: GroupRegistration, now: number, reason: string): number {
    this.#pending.delete(r);
    r.drop(now, reason);
    const teks = this.dataPlane.removeGroup(r.name);
    this.#persist(r); // no keys: the stored registration is deleted
    this.#ctx.log.info({ group: r.name, groupId: r.vpn.groupId, teks, reason }, 'registration dropped');
    return teks;
  }

  #registration(vpn: MemberVpnConfig): GroupRegistration {
    const ctx = this.#ctx;
    const r: GroupRegistration = new GroupRegistration({
      vpn, ike: ctx.ike, random: ctx.random, send: (bytes, to) => ctx.send(bytes, to), log: ctx.log,
      onRegistered: (keys, previous, now) => this.#onRegistered(vpn.name, keys, previous, now),
      othersUse: (server) => this.registrations.some((o) => o !== r && (o.keys?.server.name === server || o.tryingServer?.name === server)),
    });
    return r;
  }

  nextDeadline(): number | undefined {
    if (!this.#started) return undefined;
    const all = [this.dataPlane.nextDeadline(), this.#pending.size > 0 ? this.#ctx.clock.now() : undefined, ...this.registrations.flatMap((r) => [r.nextDeadline(), this.#refreshAt(r)])];
    const defined = all.filter((d): d is number => d !== undefined);
    return defined.length === 0 ? undefined : Math.min(...defined);
  }

  poll(now: number): void {
    if (!this.#started) return;
    for (const [r, reason] of this.#pending) {
      if (r.keys === undefined) r.start(now, reason);
      else r.reRegister(now, reason);
    }
    this.#pending.clear();
    this.dataPlane.poll(now);
    for (const r of this.registrations) {
      r.poll(now);
      const refreshAt = this.#refreshAt(r);
      if (refreshAt !== undefined && now >= refreshAt) {
        // At most one refresh per MIN_REFRESH_MARGIN_MS, even if the server keeps handing out the same keys.
        this.#refreshNotBefore.set(r, now + MIN_REFRESH_MARGIN_MS);
        r.reRegister(now, 'keys near expiry without a rekey');
      }
    }
  }

  /** `clear security group-vpn member ipsec security-associations` */
  clearIpsec(now: number): { group: string; tekCount: number }[] {
    return this.registrations.map((r) => {
      const tekCount = this.dataPlane.removeGroup(r.name);
      if (r.keys !== undefined) for (const spi of [...r.keys.receiver.teks.values()].map((t) => t.spi)) r.keys.receiver.removeTek(spi);
      r.reRegister(now, 'clear security group-vpn member ipsec security-associations');
      this.#persist(r);
      this.#ctx.log.info({ group: r.name, teks: tekCount }, 'IPsec SAs cleared by operator; registering again');
      return { group: r.name, tekCount };
    });
  }

  /** `clear security group-vpn member group` */
  clearGroups(now: number): { group: string; tekCount: number }[] {
    // Every IKE SA before any new Main Mode: clearing a gateway two vpns share again would kill the first one's.
    for (const r of this.registrations) for (const server of r.vpn.gateway.servers) this.#ctx.ike.clearSas(now, server.name);
    return this.registrations.map((r) => {
      const tekCount = this.dataPlane.removeGroup(r.name);
      r.reset(now, 'clear security group-vpn member group');
      this.#persist(r);
      this.#ctx.log.info({ group: r.name, teks: tekCount }, 'group cleared by operator; registering again');
      return { group: r.name, tekCount };
    });
  }

  #each(fn: (r: GroupRegistration, now: number) => void): void {
    const now = this.#ctx.clock.now();
    for (const r of this.registrations) fn(r, now);
  }

  #phase2(sa: IkeSa, datagram: Uint8Array, now: number): void {
    const header = tryHeader(datagram);
    if (header === undefined) return;
    for (const r of this.registrations) if (r.onPhase2(sa, datagram, header, now)) return;
    this.#ctx.log.debug({ exchangeType: header.exchangeType, messageId: header.messageId }, 'phase-2 datagram for no exchange of ours dropped');
  }

  /** When the keys of a registration are close enough to their end to register again. */
  #refreshAt(r: GroupRegistration): number | undefined {
    const keys = r.keys;
    if (keys === undefined) return undefined;
    const ends: { end: number; lifetimeMs: number }[] = [];
    const kek = keys.receiver.kek;
    if (kek !== undefined) ends.push({ end: keys.kekInstalledAt + kek.lifetimeSeconds * 1000, lifetimeMs: kek.lifetimeSeconds * 1000 });
    const teks = this.dataPlane.teks(r.name).filter((t) => !t.retiring);
    if (teks.length > 0) {
      // Each SA of the group (one per ipsec-sa, told apart by its selectors) by the end of its newest TEK: with
      // two lifetimes, or one SA the server stopped rekeying, the first to end decides.
      const newest = new Map<string, InstalledTek>();
      for (const t of teks) {
        const p = t.gdoi.policy;
        const sa = `${p.source.prefix}|${p.source.port}|${p.destination.prefix}|${p.destination.port}|${p.protocol}`;
        const known = newest.get(sa);
        if (known === undefined || t.esp.deactivation > known.esp.deactivation) newest.set(sa, t);
      }
      for (const t of newest.values()) ends.push({ end: t.esp.deactivation, lifetimeMs: t.gdoi.policy.lifetimeSeconds * 1000 });
    } else {
      // Registered but holding no TEK we can use (all expired or deleted, or none we can run): pull again,
      // at most every NO_TEK_RETRY_MS.
      ends.push({ end: keys.registeredAt + NO_TEK_RETRY_MS + MIN_REFRESH_MARGIN_MS, lifetimeMs: 0 });
    }
    if (ends.length === 0) return undefined;
    if (r.attemptState !== undefined) return undefined; // already registering, or backing off between rounds
    // Enough margin, where the lifetime allows, to time out on the current server and reach the next (R-REG-4:
    // the one we hold keys from may be gone). At most 10 % of the lifetime: a server pushes new keys at least
    // 15 % before the end (key-server rekey.ts), so a member on time never pulls ahead of a rekey push.
    const failoverMs = r.vpn.registrationTimeoutSeconds * 1000 * Math.min(2, r.vpn.gateway.servers.length) + MIN_REFRESH_MARGIN_MS;
    const margin = (lifetimeMs: number): number =>
      Math.min(MAX_REFRESH_MARGIN_MS, Math.max(MIN_REFRESH_MARGIN_MS, lifetimeMs * REFRESH_FRACTION, Math.min(failoverMs, lifetimeMs * 0.1)));
    return Math.max(this.#refreshNotBefore.get(r) ?? -Infinity, Math.min(...ends.map(({ end, lifetimeMs }) => end - margin(lifetimeMs))));
  }

  #onRegistered(group: string, keys: RegistrationKeys, previous: RegistrationKeys | undefined, now: number): void {
    const listed = new Set(keys.result.teks.map((t) => spiNumber(t.spi)));
    for (const tek of keys.result.teks) {
      if (!this.dataPlane.install(group, tek, now, now)) continue;
      this.dataPlane.extend(spiNumber(tek.spi), now + tek.policy.lifetimeSeconds * 1000);
    }
    if (previous !== undefined) {
      const retireAt = now + (keys.result.deactivationDelaySeconds ?? 0) * 1000;
      for (const t of this.dataPlane.teks(group)) if (!listed.has(t.esp.spi)) this.dataPlane.retire(t.esp.spi, retireAt);
    }
    const r = this.registrations.find((candidate) => candidate.name === group);
    if (r !== undefined) this.#persist(r);
    this.#ctx.rearm();
  }

  #onPush(registration: GroupRegistration, outcome: PushAccepted, now: number): void {
    const keys = registration.keys;
    const group = registration.name;
    for (const spi of outcome.deletedTeks) this.dataPlane.remove(spiNumber(spi), group);
    if (outcome.newTeks.length > 0) {
      const atdMs = (keys?.result.activationDelaySeconds ?? 0) * 1000;
      // An old TEK must outlive the switch of every sender to the new one.
      const dtdMs = Math.max((keys?.result.deactivationDelaySeconds ?? 0) * 1000, atdMs + 1000);
      const fresh = new Set(outcome.newTeks.map((t) => spiNumber(t.spi)));
      for (const tek of outcome.newTeks) this.dataPlane.install(group, tek, now, now + atdMs);
      for (const old of this.dataPlane.teks(group)) {
        if (fresh.has(old.esp.spi) || old.retiring) continue;
        const replaced = outcome.newTeks.some((t) => t.policy.source.prefix === old.gdoi.policy.source.prefix &&
          t.policy.destination.prefix === old.gdoi.policy.destination.prefix && t.policy.protocol === old.gdoi.policy.protocol);
        if (replaced) this.dataPlane.retire(old.esp.spi, now + dtdMs);
      }
    }
    if (outcome.newKek !== undefined && keys !== undefined) keys.kekInstalledAt = now;
    if (outcome.kekDeleted && (keys?.receiver.teks.size ?? 0) > 0) {
      // The KEK alone (server-member-communication deleted, R-CHG-1.4c): the TEKs stay in use; with no push
      // channel the member registers again when they near their end, as in a group without a KEK.
      this.#ctx.log.info({ group }, 'KEK deleted by the key server; TEKs kept, no more pushes');
    } else if (outcome.kekDeleted) {
      this.#ctx.log.info({ group }, 'KEK deleted by the key server; registering again');
      this.dataPlane.removeGroup(group);
      registration.reset(now, 'KEK deleted by the key server');
    } else if (outcome.deletedTeks.length > 0 && this.dataPlane.teks(group).length === 0) {
      this.#ctx.log.info({ group }, 'every TEK deleted by the key server; registering again');
      registration.reRegister(now, 'every TEK deleted by the key server');
    }
    // Before the ACK (push-handler.ts) and before any packet under the new keys.
    this.#persist(registration);
    this.#ctx.rearm();
  }

  // ---- the state store ---------------------------------------------------------------------------------

  /** Writes the registration as it is now (or deletes it when it holds no KEK). */
  #persist(r: GroupRegistration): void {
    this.#dirty.delete(r);
    const state = this.#state;
    if (state === undefined || !this.#persisting) return;
    const clocks = state.clocks(this.#ctx.clock.now());
    const keys = r.keys;
    const kek = keys?.receiver.kek;
    if (keys === undefined || kek === undefined) state.deleteRegistration(r.name);
    else state.saveRegistration(r.name, this.#snapshot(r, keys, kek), clocks);
    state.pruneSequences(new Map(this.dataPlane.teks().map((t) => [t.esp.spi, t.esp.deactivation])), clocks);
  }

  #snapshot(r: GroupRegistration, keys: RegistrationKeys, kek: Kek): RegistrationState {
    const teks = new Map<number, TekState>();
    for (const tek of keys.receiver.teks.values()) teks.set(spiNumber(tek.spi), { tek, inReceiver: true, dataPlane: undefined });
    for (const t of this.dataPlane.teks(r.name)) {
      const dataPlane = { activation: t.esp.activation, deactivation: t.esp.deactivation, installedAt: t.installedAt, retiring: t.retiring };
      const known = teks.get(t.esp.spi);
      if (known !== undefined) known.dataPlane = dataPlane;
      else teks.set(t.esp.spi, { tek: t.gdoi, inReceiver: false, dataPlane });
    }
    return {
      groupId: keys.result.groupId, gateway: keys.server.name, server: keys.result.server, kek, seq: keys.receiver.lastSeq,
      activationDelaySeconds: keys.result.activationDelaySeconds, deactivationDelaySeconds: keys.result.deactivationDelaySeconds,
      registeredAt: keys.registeredAt, kekInstalledAt: keys.kekInstalledAt, teks: [...teks.values()], acceptedPushes: keys.acceptedPushes,
    };
  }

  /** Takes up the stored registration of `r` when it is still good; false: register as usual. */
  #restore(r: GroupRegistration, now: number): boolean {
    const state = this.#state;
    if (state === undefined) return false;
    const log = this.#ctx.log.child({ group: r.name, groupId: r.vpn.groupId });
    if (state.store.recovered !== undefined) {
      log.warn({ reason: state.store.recovered.reason, movedTo: state.store.recovered.movedTo }, 'state store was unusable and started empty: registering');
      return false;
    }
    const loaded = state.loadRegistration(r.name, state.clocks(this.#ctx.clock.now()));
    if (loaded.state === undefined) {
      log.info({ reason: loaded.reason }, 'no stored registration to take up: registering');
      return false;
    }
    const stored = loaded.state;
    const why = this.#unusable(r, stored, now);
    if (why !== undefined) {
      log.info({ reason: why }, 'stored registration not taken up: registering');
      state.deleteRegistration(r.name);
      return false;
    }
    const server = r.vpn.gateway.servers.find((g) => g.name === stored.gateway) as (typeof r.vpn.gateway.servers)[number];
    const live = stored.teks.filter((t) => t.dataPlane === undefined || t.dataPlane.deactivation > now);
    for (const t of live) if (t.dataPlane !== undefined) this.dataPlane.restore(r.name, t.tek, t.dataPlane);
    const result = pullResultOf({ ...stored, teks: live });
    const receiver = new PushReceiver({ pull: result, memberAddress: r.vpn.gateway.localAddress });
    r.restore({
      result, receiver, server, registeredAt: stored.registeredAt, kekInstalledAt: stored.kekInstalledAt,
      acceptedPushes: stored.acceptedPushes, restoredFromStore: true,
    });
    this.#persist(r);
    this.#ctx.rearm();
    return true;
  }

  /** Why a stored registration cannot be taken up, or undefined when it can. */
  #unusable(r: GroupRegistration, stored: RegistrationState, now: number): string | undefined {
    if (stored.groupId !== r.vpn.groupId) return `stored for group ${stored.groupId}, configured group ${r.vpn.groupId}`;
    const server = r.vpn.gateway.servers.find((g) => g.name === stored.gateway);
    if (server === undefined || server.remote.address !== stored.server.address) return `server ${stored.server.address} is no longer configured`;
    if (stored.kekInstalledAt + stored.kek.lifetimeSeconds * 1000 <= now) return 'the stored KEK has expired';
    if (!stored.teks.some((t) => t.dataPlane !== undefined && !t.dataPlane.retiring && t.dataPlane.deactivation > now)) return 'no stored TEK is still valid';
    return undefined;
  }
}

export function memberModule(ctx: RoleContext, state?: MemberStateStore): RoleModule {
  return new MemberAgent(ctx, state).module();
}
