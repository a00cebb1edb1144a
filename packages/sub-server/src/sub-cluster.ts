/**
 * The sub-server's cluster layer (R-MSG, R-DPD-3/4), beside the key server (`@gvpn/key-server` with key
 * source `root`), which answers member pulls and pushes to this server's members but never makes a key.
 *
 * Per group with `server-role sub-server`: a SubClusterState (the R-MSG state machine, pure) and a
 * ClusterInitClient (exchange 240, retried every 5 s, R-MSG-3) on the IKE SA this server keeps with the
 * root (the gateway has `initiate: true`). One ClusterUpdateReceiver takes CLUSTER-UPDATEs (241) and
 * acknowledges each only once it is installed (R-MSG-5).
 *
 * What each outcome does to the key server:
 * - cluster-init answer: the group holds the root's keys (each TEK named after this server's ipsec-sa with its
 *   traffic selectors, as the root's own are). If it already held keys under the same KEK and the
 *   TEKs changed meanwhile (the root rekeyed while this server could not hear it), the new TEKs are pushed
 *   to this server's members with the root's SEQ. Under a new KEK they cannot be: those members re-register
 *   when their SAs near expiry (the member agent does so without a push).
 * - update-keys: the root's TEKs or KEK, pushed with the root's SEQ, unless pushes are held (R-MSG-6).
 * - update-delete-sas: the deleted SAs are pushed as deletes (R-MSG-8) — the only way this server deletes
 *   anything on members (R-MSG-9); all deleted -> the group holds nothing and cluster-init starts (R-MSG-2c);
 *   the KEK alone (R-CHG-1.4c) -> its delete is pushed and the group has no KEK from then on.
 * - update-delete-members: those registrations (or all) are forgotten.
 * - soft expiry without an update: cluster-init, pushes held (R-MSG-6); hard expiry: root inactive, keys
 *   and registrations dropped, cluster-init goes on (R-MSG-7).
 * - DPD declares the root dead, or the root cannot be reached (no IKE SA with it and a negotiation failed):
 *   root inactive, no new registrations, member SAs and registrations kept, no deletes sent (R-DPD-3/4);
 *   cluster-init keeps trying.
 */
import {
  CLUSTER_INIT, CLUSTER_UPDATE, ClusterInitClient, ClusterUpdateReceiver, SubClusterState, hex, sameTraffic, tryHeader,
  type ClusterInitResult, type ClusterKeys, type ClusterUpdate, type SaLifetime, type SubAction, type SubClusterSnapshot, type Tek, type TekPolicy,
} from '@gvpn/gdoi';
import type { IkeSa } from '@gvpn/ike';
import {
  addedGroups, emptyClusterCounters, endedGroups, gatewaysToClear, groupPolicy, ikeSaState, messageDrops, newestSa, secondsAgo, serverRefusal, withRegistrations, type ClusterCounters, type Gcks, type GivenKeys,
} from '@gvpn/key-server';
import { policyMismatches } from './policy-check.js';
import type { IkeGatewayConfig, RoleContext, RoleModule, ServerGroupConfig } from '@gvpn/runtime';

interface SubGroup {
  config: ServerGroupConfig;
  root: IkeGatewayConfig;
  state: SubClusterState;
  init: ClusterInitClient;
  lastExchangeAt: number | undefined;
  /** Differences from the root's policy seen at the last cluster-init (R-CONF-4). */
  mismatches: string[];
  /**
   * Resumed from the durable store and no cluster-init answered since: cluster-updates are not taken yet
   * (the root retransmits them; once the init brought its keys they are duplicates). Taken now, one would be
   * installed with pushes held (root inactive), and the init would then find nothing left to push.
   */
  awaitingInit: boolean;
}

export interface SubCluster extends RoleModule {
  /** May members of this group register now? (the key server's `accepting`) */
  accepting(groupId: number): boolean;
  /** Per group name: update number and tracked SAs (sub-state.ts, the durable store). */
  exportState(): { group: string; state: SubClusterSnapshot }[];
}

/** R-MSG-3: a failed (or still insufficient) cluster-init is retried every 5 s. */
const INIT_RETRY_MS = 5000;

/** When an SA with `remaining` of `total` seconds left was made, on the local monotonic clock. */
function createdAt(now: number, total: number, remaining: number | undefined): number {
  return now - (total - (remaining ?? total)) * 1000;
}

function remainingOf(lifetimes: readonly SaLifetime[], spi: Uint8Array): number | undefined {
  const key = hex(spi);
  return lifetimes.find((l) => hex(l.spi) === key)?.remainingSeconds;
}

/**
 * When the root made its TEKs. It makes (and rekeys) them together, so one TEK tells: the first, measured
 * against its own lifetime — not the group's shortest, which another TEK may have.
 */
function teksCreatedAt(now: number, teks: readonly Tek[], lifetimes: readonly SaLifetime[]): number {
  const first = teks[0];
  return first === undefined ? now : createdAt(now, first.policy.lifetimeSeconds, remainingOf(lifetimes, first.spi));
}

/**
 * The root's TEKs under this server's ipsec-sa names. A TEK off the wire is named after its SPI, but the
 * sub's own commits (R-CHG-1.5b/c) and `show` find a TEK by its ipsec-sa: the one with its traffic selectors
 * and protocol (what tells an ipsec-sa's TEK apart, as for 1.5b). None (the configurations differ, R-CONF-4):
 * the SPI name stays. Each ipsec-sa names one TEK: two of the same selectors name the root's two TEKs in order.
 */
function ownNames(teks: readonly Tek[], own: readonly TekPolicy[]): Tek[] {
  const free = [...own];
  return teks.map((t) => {
    const i = free.findIndex((p) => sameTraffic(p, t.policy));
    const mine = i < 0 ? undefined : free.splice(i, 1)[0];
    return mine === undefined ? t : { ...t, policy: { ...t.policy, name: mine.name } };
  });
}

/**
 * `resume`: per group name, the state a previous run stored (times on this process's monotonic clock);
 * such a group starts with the root inactive and cluster-init wanted (R-MSG-2a).
 */
export function createSubCluster(ctx: RoleContext, gcks: () => Gcks, resume?: ReadonlyMap<string, SubClusterSnapshot>): SubCluster {
  const { config, clock } = ctx;
  if (config.role !== 'server') throw new Error('the sub-server cluster needs a server configuration');
  const log = ctx.log.child({ component: 'cluster' });
  const counters = emptyClusterCounters();
  const sa = (gateway: string): IkeSa | undefined => newestSa(ctx.ike.establishedSas(), gateway);

  const groups = new Map<number, SubGroup>();
  /** A group with `server-cluster` (at start, or new or renumbered by a commit: R-CHG-1.3b, 'group-added'). */
  function addGroup(g: ServerGroupConfig): SubGroup | undefined {
    const root = g.serverCluster?.peers[0];
    if (root === undefined) return undefined;
    const sub: SubGroup = {
      config: g, root, state: new SubClusterState(g.groupId), lastExchangeAt: undefined, mismatches: [], awaitingInit: false,
      init: new ClusterInitClient({
        groupId: g.groupId, sa: () => sa(root.name), random: ctx.random, send: ctx.send, log, retryMs: INIT_RETRY_MS,
        onResult: (result, now) => initDone(sub, result, now),
      }),
    };
    groups.set(g.groupId, sub);
    return sub;
  }
  for (const g of config.server.groups) {
    const sub = addGroup(g);
    const resumed = resume?.get(g.name);
    if (sub === undefined || resumed === undefined) continue;
    sub.state.importState(resumed);
    sub.awaitingInit = true;
  }

  function given(keys: ClusterKeys & { kek: NonNullable<ClusterKeys['kek']> }, lifetimes: readonly SaLifetime[], now: number): GivenKeys {
    return {
      kek: keys.kek, teks: keys.teks, seq: keys.seq ?? 0,
      kekCreatedAt: createdAt(now, keys.kek.lifetimeSeconds, remainingOf(lifetimes, keys.kek.spi)),
      teksCreatedAt: teksCreatedAt(now, keys.teks, lifetimes),
    };
  }

  const ownTeks = (sub: SubGroup, teks: readonly Tek[]): Tek[] => ownNames(teks, groupPolicy(sub.config, config.system.listen).teks);

  function initDone(sub: SubGroup, result: ClusterInitResult, now: number): void {
    const { lifetimes } = result;
    const keys = { ...result.keys, teks: ownTeks(sub, result.keys.teks) };
    const name = sub.config.name;
    if (keys.kek === undefined) {
      // The client went idle on this answer: without a new start nothing would ever ask again (R-MSG-3).
      counters.clusterMessagesDropped++;
      log.warn({ group: name }, 'cluster-init answer without a KEK: ignored (the root always sends one); asking again');
      sub.init.start(now, INIT_RETRY_MS);
      return;
    }
    const held = gcks().group(name);
    const sameKek = held !== undefined && hex(held.gcks.kek.spi) === hex(keys.kek.spi);
    const teksChanged = held !== undefined && keys.teks.map((t) => hex(t.spi)).join() !== held.gcks.teks.map((t) => hex(t.spi)).join();
    const g = given({ ...keys, kek: keys.kek }, lifetimes, now);
    if (sameKek && teksChanged && g.seq > held.gcks.seq() && keys.teks.length > 0) {
      gcks().rekeyOf(held).installTeks(keys.teks, g.seq, g.teksCreatedAt, now, false);
    } else if (!sameKek || teksChanged) {
      gcks().adopt(name, g, now);
    }
    sub.lastExchangeAt = now;
    sub.awaitingInit = false;
    counters.clusterInitSucceeded++;
    const mine = groupPolicy(sub.config, config.system.listen);
    sub.mismatches = policyMismatches(mine, keys);
    if (sub.mismatches.length > 0) {
      log.warn({ group: name, differences: sub.mismatches }, 'this group\'s configuration differs from the root\'s (R-CONF-4): serving the root\'s policy; fix the configuration');
    }
    log.info({ group: name, updateSeq: result.updateSeq, kek: hex(keys.kek.spi), teks: keys.teks.map((t) => hex(t.spi)) }, 'root active: cluster-init installed the group');
    act(sub, sub.state.initSucceeded({ updateSeq: result.updateSeq, keys, lifetimes }, now), now);
    // The client went idle on this answer; an SA still past its soft lifetime means keep asking (R-MSG-6).
    if (sub.state.initWanted) sub.init.start(now, INIT_RETRY_MS);
  }

  /** Installs one update into the key server; false = not installed (no ACK, the root retransmits). */
  function install(update: ClusterUpdate, now: number): boolean {
    const sub = groups.get(update.groupId);
    if (sub === undefined) return false;
    const name = sub.config.name;
    const held = gcks().group(name);
    if (update.kind === 'update-keys' && held === undefined) return false; // nothing to add them to: cluster-init first
    // A root SEQ below this server's is a stale root's (members would refuse it as a replay). Refused before
    // anything moves: the key server drops deleted TEKs before it checks the SEQ, so a throw would lose them.
    const rootSeq = update.kind === 'update-keys' ? update.keys.seq : update.kind === 'update-delete-sas' ? update.seq : undefined;
    if (held !== undefined && rootSeq !== undefined && rootSeq < held.gcks.seq()) {
      log.warn({ group: name, kind: update.kind, updateSeq: update.updateSeq, seq: rootSeq, ownSeq: held.gcks.seq() }, 'cluster-update refused: its SEQ is below this server\'s (not acknowledged)');
      return false;
    }
    // The state moves first (it decides whether pushes are allowed) and moves back if the key server refuses
    // the update (e.g. a SEQ not above its own): the root's retransmission must not find the update number
    // applied and be acknowledged for keys this server never installed (R-MSG-5).
    const before = { snapshot: sub.state.exportState(), root: sub.state.root, initWanted: sub.state.initWanted };
    const actions = sub.state.updateInstalled(update, now);
    const push = actions.some((a) => a.type === 'push-rekey');
    try {
      if (update.kind === 'update-keys' && held !== undefined) {
        const { keys, lifetimes } = update;
        const rekey = gcks().rekeyOf(held);
        const seq = keys.seq ?? held.gcks.seq() + 1;
        if (keys.kek !== undefined) rekey.installKek(keys.kek, seq, createdAt(now, keys.kek.lifetimeSeconds, remainingOf(lifetimes, keys.kek.spi)), now, !push);
        if (keys.teks.length > 0) rekey.installTeks(ownTeks(sub, keys.teks), seq, teksCreatedAt(now, keys.teks, lifetimes), now, !push);
      } else if (update.kind === 'update-delete-sas' && held !== undefined) {
        // Members hear of it only through a push-delete action: never from a sub whose root is inactive (R-MSG-9).
        const seq = actions.some((a) => a.type === 'push-delete') ? update.seq : undefined;
        const rekey = gcks().rekeyOf(held);
        if (update.all) rekey.deleteAll(seq, now);
        else if (update.kek) rekey.dropKek(seq, now); // server-member-communication deleted on the root (R-CHG-1.4c)
        else rekey.deleteTeks(update.teks, seq, now);
      }
    } catch (e) {
      // importState (made for a restart) restores update number and SAs; root and initWanted are put back too.
      sub.state.importState(before.snapshot);
      sub.state.root = before.root;
      sub.state.initWanted = before.initWanted;
      throw e;
    }
    sub.lastExchangeAt = now;
    log.info({ group: name, kind: update.kind, updateSeq: update.updateSeq, pushed: push }, 'cluster-update installed');
    // The answer to a cluster-init asked before this update may be overtaken by it on the way, and would then
    // put the older keys back: a fresh attempt (new M-ID) leaves that answer unmatched; its own answer holds the update.
    if (sub.init.messageId !== undefined && sub.state.initWanted) {
      sub.init.stop();
      sub.init.start(now);
    }
    act(sub, actions, now);
    return true;
  }

  const receiver = new ClusterUpdateReceiver({
    authorize: (s, groupId) => groups.get(groupId)?.root.name === s.gateway.name,
    lastApplied: (groupId) => {
      const sub = groups.get(groupId);
      return sub === undefined || sub.awaitingInit ? undefined : sub.state.updateSeq;
    },
    install,
    gap: (groupId, now) => {
      const sub = groups.get(groupId);
      if (sub !== undefined) act(sub, sub.state.updateGap(now), now);
    },
    send: ctx.send,
    log,
  });

  function act(sub: SubGroup, actions: readonly SubAction[], now: number): void {
    const name = sub.config.name;
    for (const a of actions) {
      switch (a.type) {
        case 'start-cluster-init':
          sub.init.start(now);
          break;
        case 'stop-cluster-init':
          sub.init.stop();
          break;
        case 'push-rekey':
        case 'push-delete':
          break; // done by install(), which has the keys and the root's SEQ
        case 'delete-local-members': {
          const registrations = gcks().registrations;
          if (a.all) registrations.clearGroup(name);
          else for (const m of a.members) registrations.remove(name, m);
          log.info({ group: name, all: a.all, members: a.members }, 'registered members deleted as the root asked');
          break;
        }
        case 'root-inactive':
          counters.peersMarkedInactive++;
          log.warn({ group: name, root: sub.root.name, reason: a.reason }, 'root inactive: new registrations refused, member SAs kept (R-DPD-4, R-MSG-7)');
          if (a.reason === 'hard-expiry') gcks().forget(name);
          break;
      }
    }
    ctx.rearm();
  }

  function statistics(): ClusterCounters {
    const c = { ...counters };
    for (const { init } of groups.values()) {
      const i = init.counters;
      c.clusterInitSent += i.initSent;
      c.clusterInitFailed += i.initFailed;
      c.clusterMessagesDropped += messageDrops(i);
    }
    const r = receiver.counters;
    c.clusterUpdatesReceived = r.updatesReceived;
    c.clusterUpdatesInstalled = r.updatesInstalled;
    c.clusterUpdateAcksSent = r.acksSent;
    c.clusterMessagesDropped += r.installFailed + r.gapDropped + r.notReadyDropped + r.unauthorizedDropped + messageDrops(r);
    return withRegistrations(c, gcks().statistics());
  }

  function clusterView(detail: boolean) {
    const now = clock.now();
    const status = ctx.ike.status(now);
    return {
      groups: [...groups.values()].map((sub) => {
        const { config: g, state, root } = sub;
        return {
          name: g.name,
          groupId: g.groupId,
          role: 'sub-server',
          retransmissionPeriodSeconds: g.serverCluster?.retransmissionPeriodSeconds ?? null,
          root: state.root,
          updateSeq: state.updateSeq ?? null,
          initInProgress: state.initWanted,
          pushesHeld: state.pushesHeld,
          configMismatches: sub.mismatches,
          peers: [{
            name: root.name, address: root.remote.address, port: root.remote.port, role: 'root-server',
            state: state.root, ikeSa: ikeSaState(status, root.name),
            lastExchangeSecondsAgo: secondsAgo(sub.lastExchangeAt, now), pendingUpdates: null,
          }],
          ...(detail ? {
            sas: [...state.sas.values()].map((t) => ({
              kind: t.kind, spi: hex(t.spi),
              softInSeconds: Math.floor((t.softAt - now) / 1000), hardInSeconds: Math.floor((t.hardAt - now) / 1000),
            })),
          } : {}),
        };
      }),
    };
  }

  const byRootGateway = (gateway: string): SubGroup[] => [...groups.values()].filter((g) => g.root.name === gateway);

  /**
   * R-CHG on a sub: new values of its groups and root gateway; the key server refused anything else already.
   * A group deleted or renumbered (1.3a/b) leaves: its root is inactive for it and the root's IKE SA is
   * deleted (by the host, unless another group still uses that gateway); the key server drops its keys and
   * members. Renumbered or new, the group starts over: root inactive, cluster-init with its (new) ID — after
   * the reset, the new IKE SA with the root starts it (`saUp`), else the 5 s retry.
   */
  const applyConfig: RoleModule['applyConfig'] = (next, changes, now) => {
    const refusal = serverRefusal(changes, 'sub');
    if (refusal !== undefined) return { refused: refusal };
    const applied: string[] = [];
    const ended = endedGroups(changes);
    const roots: string[] = [];
    for (const { group } of ended) {
      const sub = [...groups.values()].find((g) => g.config.name === group);
      if (sub === undefined) continue;
      sub.init.stop();
      if (sub.state.root === 'active') counters.peersMarkedInactive++;
      groups.delete(sub.config.groupId);
      roots.push(sub.root.name);
      log.info({ group, root: sub.root.name }, 'group ended by a commit: root inactive for it (R-CHG-1.3a/b)');
      applied.push(`group ${group}: root ${sub.root.name} inactive for it`);
    }
    const nextGroups = next.server?.groups ?? [];
    const resetGateways = gatewaysToClear(roots, nextGroups, new Set(ended.map((e) => e.group)));
    const fresh = new Set([...addedGroups(changes), ...ended.filter((e) => e.renumbered).map((e) => e.group)]);
    for (const g of nextGroups) {
      const existing = groups.get(g.groupId);
      const root = g.serverCluster?.peers[0];
      if (existing !== undefined && root !== undefined) {
        existing.config = g;
        existing.root = root;
        continue;
      }
      if (!fresh.has(g.name)) continue;
      const sub = addGroup(g);
      if (sub === undefined) continue;
      sub.init.start(now, resetGateways.includes(sub.root.name) ? INIT_RETRY_MS : 0);
      applied.push(`group ${g.name} (group-id ${g.groupId}): cluster-init with root ${sub.root.name} started`);
    }
    return { applied, resetGateways };
  };

  return {
    applyConfig,
    accepting: (groupId) => groups.get(groupId)?.state.answersRegistrations() === true,
    exportState: () => [...groups.values()].map((sub) => ({ group: sub.config.name, state: sub.state.exportState() })),
    phase2Exchanges: [CLUSTER_INIT, CLUSTER_UPDATE],
    ikeEvents: {
      phase2: (s, datagram, now) => {
        const header = tryHeader(datagram);
        if (header === undefined) {
          counters.clusterMessagesDropped++;
          return;
        }
        if (header.exchangeType === CLUSTER_UPDATE) {
          receiver.handle(s, datagram, header, now);
        } else {
          const sub = byRootGateway(s.gateway.name).find((g) => g.init.messageId === header.messageId);
          if (sub === undefined) counters.clusterMessagesDropped++;
          else sub.init.handle(s, datagram, header, now);
        }
        ctx.rearm();
      },
      // A new IKE SA with the root: a wanted cluster-init need not wait for its next 5 s retry.
      saUp: (s) => {
        const now = clock.now();
        for (const sub of byRootGateway(s.gateway.name)) {
          if (!sub.state.initWanted) continue;
          sub.init.stop();
          sub.init.start(now);
        }
        ctx.rearm();
      },
      saDown: (s, reason) => {
        if (reason !== 'deleted-by-peer' || sa(s.gateway.name) !== undefined) return;
        const now = clock.now();
        for (const sub of byRootGateway(s.gateway.name)) act(sub, sub.state.rootSaDeleted(now), now);
      },
      peerDead: (gateway) => {
        const now = clock.now();
        for (const sub of byRootGateway(gateway.name)) act(sub, sub.state.rootDead(now), now);
      },
      // The root deleted its IKE SA (a daemon stop sends Delete notifications) and no new one can be made: DPD
      // has no SA left to probe, so without this the root would stay active while unreachable (R-TOPO-4, R-DPD-4).
      negotiationFailed: (gateway) => {
        if (sa(gateway.name) !== undefined) return; // a failed re-key beside a working SA
        const now = clock.now();
        for (const sub of byRootGateway(gateway.name)) act(sub, sub.state.rootDead(now, 'unreachable'), now);
      },
    },
    handlers: {
      'show security group-vpn server server-cluster': (opts) => clusterView(opts.detail === true),
    },
    statisticsSections: () => ({ cluster: statistics() }),
    nextDeadline: () => {
      let min: number | undefined;
      for (const { state, init } of groups.values()) {
        for (const d of [state.nextDeadline(), init.nextDeadline()]) if (d !== undefined && (min === undefined || d < min)) min = d;
      }
      return min;
    },
    poll: (now) => {
      for (const sub of groups.values()) {
        act(sub, sub.state.poll(now), now);
        sub.init.poll(now);
      }
    },
    start: (now) => {
      for (const sub of groups.values()) sub.init.start(now);
      log.info({
        groups: [...groups.values()].map((g) => ({ name: g.config.name, root: g.root.name, resumed: g.awaitingInit, updateSeq: g.state.updateSeq ?? null })),
      }, 'sub-server cluster started: cluster-init with the root');
    },
  };
}
