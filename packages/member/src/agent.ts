/**
 * The member agent: the RoleModule the daemon host runs for `security.group-vpn.member`. It owns one
 * `GroupRegistration` per vpn, the PUSH handler, the data plane, and the lifecycle that ties them:
 *
 *   PULL done     -> TEKs installed (active at once); TEKs the new PULL no longer lists retire after the
 *                    deactivation delay (a re-registration)
 *   PUSH accepted -> new TEKs installed, active after the activation delay; the TEKs they replace (same
 *                    selectors) retire after the deactivation delay; deletes applied at once; a new KEK
 *                    restarts the KEK clock; a KEK delete ends the registration: register again
 *   near expiry   -> KEK or newest TEK within 5 % of its lifetime (at least 2 s, at most 60 s) of its end
 *                    with no rekey: register again (R-OPS-1 drift) while the old keys keep working; no
 *                    usable TEK at all: register again 5 s after the last registration
 *   clear         -> `ipsec security-associations`: drop the TEKs, pull again; `group`: drop everything
 *                    (keys, IKE SAs with the servers) and register from the first server
 */
import type { PushAccepted } from '@gvpn/gdoi';
import { tryHeader } from '@gvpn/gdoi';
import type { IkeSa } from '@gvpn/ike';
import { rateLimited, type MemberDaemonConfig, type RoleContext, type RoleModule } from '@gvpn/runtime';
import { MemberControl } from './control.js';
import { DataPlane } from './data-plane.js';
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
  readonly config: MemberDaemonConfig;
  readonly #ctx: RoleContext;
  readonly #refreshNotBefore = new WeakMap<GroupRegistration, number>();
  #started = false;

  constructor(ctx: RoleContext) {
    if (ctx.config.role !== 'member') throw new Error('the member agent needs a member configuration');
    this.#ctx = ctx;
    this.config = ctx.config;
    const member = this.config.member;
    this.registrations = member.vpns.map((vpn) => new GroupRegistration({
      vpn, ike: ctx.ike, random: ctx.random, send: (bytes, to) => ctx.send(bytes, to), log: ctx.log,
      onRegistered: (keys, previous, now) => this.#onRegistered(vpn.name, keys, previous, now),
    }));
    this.dataPlane = new DataPlane({
      config: member.dataPlane, log: ctx.log.child({ component: 'data-plane' }), random: ctx.random,
      rearm: () => ctx.rearm(), now: () => ctx.clock.now(),
      onExpired: (tek) => this.registrations.find((r) => r.name === tek.group)?.keys?.receiver.removeTek(tek.gdoi.spi),
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
        for (const r of this.registrations) r.start(now);
      },
      stop: async (now) => {
        this.#started = false;
        for (const r of this.registrations) r.stop(now);
        await this.dataPlane.stop();
      },
    };
  }

  nextDeadline(): number | undefined {
    if (!this.#started) return undefined;
    const all = [this.dataPlane.nextDeadline(), ...this.registrations.flatMap((r) => [r.nextDeadline(), this.#refreshAt(r)])];
    const defined = all.filter((d): d is number => d !== undefined);
    return defined.length === 0 ? undefined : Math.min(...defined);
  }

  poll(now: number): void {
    if (!this.#started) return;
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
      this.#ctx.log.info({ group: r.name, teks: tekCount }, 'IPsec SAs cleared by operator; registering again');
      return { group: r.name, tekCount };
    });
  }

  /** `clear security group-vpn member group` */
  clearGroups(now: number): { group: string; tekCount: number }[] {
    return this.registrations.map((r) => {
      const tekCount = this.dataPlane.removeGroup(r.name);
      for (const server of r.vpn.gateway.servers) this.#ctx.ike.clearSas(now, server.name);
      r.reset(now, 'clear security group-vpn member group');
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
      const newest = teks.reduce((a, b) => (b.esp.deactivation > a.esp.deactivation ? b : a));
      ends.push({ end: newest.esp.deactivation, lifetimeMs: newest.gdoi.policy.lifetimeSeconds * 1000 });
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
    this.#ctx.rearm();
  }

  #onPush(registration: GroupRegistration, outcome: PushAccepted, now: number): void {
    const keys = registration.keys;
    const group = registration.name;
    for (const spi of outcome.deletedTeks) this.dataPlane.remove(spiNumber(spi));
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
    if (outcome.kekDeleted) {
      this.#ctx.log.info({ group }, 'KEK deleted by the key server; registering again');
      this.dataPlane.removeGroup(group);
      registration.reset(now, 'KEK deleted by the key server');
    } else if (outcome.deletedTeks.length > 0 && this.dataPlane.teks(group).length === 0) {
      this.#ctx.log.info({ group }, 'every TEK deleted by the key server; registering again');
      registration.reRegister(now, 'every TEK deleted by the key server');
    }
    this.#ctx.rearm();
  }
}

export function memberModule(ctx: RoleContext): RoleModule {
  return new MemberAgent(ctx).module();
}
