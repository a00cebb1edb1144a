/**
 * The root-server's cluster layer (R-MSG, R-DPD), beside the key server (`@gvpn/key-server`), which makes
 * every key:
 *
 * - CLUSTER-INIT (240) from a sub-server's IKE SA: answered with the group's KEK (with its signing key),
 *   TEKs, SEQ and the seconds each SA has left, if the SA's gateway is one of the group's cluster peers.
 *   Answering marks that sub active for the group (R-MSG-1/2).
 * - Every key change the key server makes (TEK rekey, KEK rekey, `clear ... group` delete-all) is published
 *   as a CLUSTER-UPDATE (241) to the group's active subs before any member is pushed, one update at a time
 *   per sub, retransmitted every `retransmission-period` until its ACK (242) (R-MSG-4/5/8).
 * - DPD declaring a sub dead marks it inactive in every group that lists its gateway: nothing more is sent
 *   or retransmitted to it until it completes a new cluster-init (R-DPD-2/3, R-MSG-5).
 *
 * One ClusterUpdateSender per group, so each group has its own update numbering and queue even when
 * several groups share a sub's gateway (R-DPD-2: DPD itself is per gateway).
 */
import {
  CLUSTER_INIT, CLUSTER_UPDATE_ACK, ClusterInitResponder, ClusterUpdateSender, hex, tryHeader,
  type ClusterUpdateInput, type SenderState,
} from '@gvpn/gdoi';
import type { IkeSa } from '@gvpn/ike';
import { addedGroups, endedGroups, gatewaysToClear, serverRefusal, type Gcks, type GroupState, type KeyChange } from '@gvpn/key-server';
import type { RoleContext, RoleModule, ServerGroupConfig } from '@gvpn/runtime';
import { emptyClusterCounters, ikeSaState, messageDrops, newestSa, secondsAgo, withRegistrations, type ClusterCounters } from '@gvpn/key-server';

interface RootGroup {
  config: ServerGroupConfig;
  sender: ClusterUpdateSender;
  /** The group's cluster peers (sub-server gateway names). */
  subs: Set<string>;
}

export const SERVER_CLUSTER_COMMAND = 'show security group-vpn server server-cluster';

export interface RootCluster extends RoleModule {
  /** Publishes a key change of `group` to its subs (the key server's `onKeysChanged`). */
  keysChanged(group: GroupState, change: KeyChange, now: number): void;
  /** Per group name: update numbers, sub states and pending updates (root-state.ts). */
  exportState(): { group: string; state: SenderState }[];
}

function senderCounts(sender: ClusterUpdateSender): { updatesPublished: number; updatesSent: number; updatesAcked: number; retransmissions: number; dropped: number } {
  const s = sender.counters;
  return {
    updatesPublished: s.updatesPublished, updatesSent: s.updatesSent, updatesAcked: s.updatesAcked, retransmissions: s.retransmissions,
    dropped: s.duplicateAcksDropped + messageDrops(s),
  };
}

/** `resume`: sender states by group name, from the durable store or the other node of the root pair. */
export function createRootCluster(ctx: RoleContext, gcks: () => Gcks, resume?: ReadonlyMap<string, SenderState>): RootCluster {
  const { config, clock } = ctx;
  if (config.role !== 'server') throw new Error('the root cluster needs a server configuration');
  const log = ctx.log.child({ component: 'cluster' });
  const counters = emptyClusterCounters();
  const sa = (gateway: string): IkeSa | undefined => newestSa(ctx.ike.establishedSas(), gateway);

  const groups = new Map<number, RootGroup>();
  /** The counts of senders of groups that left the cluster layer (R-CHG-1.3a/b, 2.2f): they stay in the statistics. */
  const ended = { updatesPublished: 0, updatesSent: 0, updatesAcked: 0, retransmissions: 0, dropped: 0 };
  /** A group with `server-cluster` (at start, or added by a commit: R-CHG-2.2a, "nothing" more on a root). */
  function addGroup(g: ServerGroupConfig, resumed: SenderState | undefined): void {
    if (g.serverCluster === null) return;
    const periodMs = g.serverCluster.retransmissionPeriodSeconds * 1000;
    const sender = new ClusterUpdateSender({ sa, random: ctx.random, send: ctx.send, retransmissionPeriodMs: periodMs, log });
    const subs = new Set(g.serverCluster.peers.map((p) => p.name));
    for (const name of subs) sender.addSub(name);
    if (resumed !== undefined) sender.importState({ ...resumed, subs: resumed.subs.filter((s) => subs.has(s.name)) }, clock.now());
    groups.set(g.groupId, { config: g, sender, subs });
  }
  for (const g of config.server.groups) addGroup(g, resume?.get(g.name));

  const remaining = (group: GroupState, spi: Uint8Array, now: number): number | undefined => {
    const key = hex(spi);
    const seconds = (createdAt: number, lifetimeSeconds: number): number => Math.max(0, Math.floor((createdAt + lifetimeSeconds * 1000 - now) / 1000));
    if (hex(group.gcks.kek.spi) === key) {
      // The internal KEK of a group without server-member-communication (from the start, or deleted: R-CHG-1.4c)
      // is never rekeyed: it has its whole lifetime left, or the sub would take it for expired and drop the group.
      return group.hasKek ? seconds(group.kekCreatedAt, group.gcks.kek.lifetimeSeconds) : group.gcks.kek.lifetimeSeconds;
    }
    const tek = group.gcks.teks.find((t) => hex(t.spi) === key);
    return tek === undefined ? undefined : seconds(group.teksCreatedAt, tek.policy.lifetimeSeconds);
  };
  const keyed = (groupId: number): GroupState | undefined => {
    const name = groups.get(groupId)?.config.name;
    return name === undefined ? undefined : gcks().group(name);
  };

  const initResponder = new ClusterInitResponder({
    // The GcksGroup itself, not the pull snapshot: a group without server-member-communication still has
    // an internal KEK, and its subs need it to hold the group the same way.
    group: (groupId) => keyed(groupId)?.gcks,
    updateSeq: (groupId) => groups.get(groupId)?.sender.updateSeq(groupId) ?? 0,
    remainingSeconds: (groupId, spi, now) => {
      const g = keyed(groupId);
      return g === undefined ? undefined : remaining(g, spi, now);
    },
    authorize: (s, groupId) => groups.get(groupId)?.subs.has(s.gateway.name) === true,
    answered: (s, groupId, now) => {
      groups.get(groupId)?.sender.markActive(s.gateway.name, now);
      log.info({ sub: s.gateway.name, groupId }, 'sub-server active (cluster-init answered)');
    },
    send: ctx.send,
    log,
  });

  function publish(group: GroupState, input: ClusterUpdateInput, now: number): void {
    const rg = groups.get(group.groupId);
    if (rg === undefined) return;
    const updateSeq = rg.sender.publish(group.groupId, input, now);
    log.info({ group: group.name, kind: input.kind, updateSeq, subs: [...rg.sender.subs.values()].filter((s) => s.state === 'active').map((s) => s.name) }, 'cluster-update published');
    ctx.rearm();
  }

  function keysChanged(group: GroupState, change: KeyChange, now: number): void {
    const gap = { activationDelaySeconds: group.gcks.policy.activationDelaySeconds, deactivationDelaySeconds: group.gcks.policy.deactivationDelaySeconds };
    switch (change.kind) {
      case 'tek-rekey': {
        // What each TEK has left: new ones their whole lifetime, but with an IPsec SA added (R-CHG-1.5a) the
        // TEKs that stay are as old as before, and the sub must not take them for new.
        const lifetimes = change.teks.map((t) => ({ spi: t.spi, remainingSeconds: remaining(group, t.spi, now) ?? t.policy.lifetimeSeconds }));
        return publish(group, { kind: 'update-keys', groupId: group.groupId, keys: { teks: change.teks, seq: change.seq, ...gap }, lifetimes }, now);
      }
      case 'kek-rekey':
        return publish(group, { kind: 'update-keys', groupId: group.groupId, keys: { kek: change.kek, teks: [], seq: change.seq, ...gap }, lifetimes: [] }, now);
      case 'delete-teks':
        return publish(group, {
          kind: 'update-delete-sas', groupId: group.groupId, teks: change.teks, kek: false, all: false,
          ...(change.seq === undefined ? {} : { seq: change.seq }),
        }, now);
      case 'delete-kek':
        return publish(group, { kind: 'update-delete-sas', groupId: group.groupId, teks: [], kek: true, all: false, seq: change.seq }, now);
      case 'delete-all':
        return publish(group, {
          kind: 'update-delete-sas', groupId: group.groupId, teks: [], kek: true, all: true,
          ...(change.seq === undefined ? {} : { seq: change.seq }),
        }, now);
    }
  }

  function statistics(): ClusterCounters {
    const c = { ...counters };
    const i = initResponder.counters;
    c.clusterInitReceived = i.initRequests + i.duplicateRequests;
    c.clusterInitAnswered = i.initAnswered;
    c.clusterMessagesDropped += i.unknownGroupDropped + i.unauthorizedDropped + i.noKeysDropped + messageDrops(i);
    for (const s of [...[...groups.values()].map((g) => senderCounts(g.sender)), ended]) {
      c.clusterUpdatesPublished += s.updatesPublished;
      c.clusterUpdatesSent += s.updatesSent;
      c.clusterUpdatesAcked += s.updatesAcked;
      c.clusterUpdatesRetransmitted += s.retransmissions;
      c.clusterMessagesDropped += s.dropped;
    }
    return withRegistrations(c, gcks().statistics());
  }

  function clusterView(detail: boolean) {
    const now = clock.now();
    const status = ctx.ike.status(now);
    return {
      groups: [...groups.values()].map(({ config: g, sender }) => ({
        name: g.name,
        groupId: g.groupId,
        role: 'root-server',
        retransmissionPeriodSeconds: g.serverCluster?.retransmissionPeriodSeconds ?? null,
        root: null,
        updateSeq: sender.updateSeq(g.groupId),
        initInProgress: null,
        pushesHeld: null,
        configMismatches: [],
        peers: (g.serverCluster?.peers ?? []).map((p) => {
          const s = sender.subs.get(p.name);
          return {
            name: p.name, address: p.remote.address, port: p.remote.port, role: 'sub-server',
            state: s?.state ?? 'inactive',
            ikeSa: ikeSaState(status, p.name),
            lastExchangeSecondsAgo: secondsAgo(s?.lastExchangeAt, now),
            pendingUpdates: sender.pending(p.name),
          };
        }),
        ...(detail ? { sas: [] } : {}),
      })),
    };
  }

  /**
   * R-CHG-2.2f: the group's server-cluster is deleted (it becomes standalone). Its subs are sent "delete all"
   * (with the SEQ the key server's delete-all push to members takes next, so they pass it on to theirs)
   * before they are marked inactive and the group leaves the cluster layer; the host then resets their IKE
   * SAs. The key server deletes and remakes the keys after this (gcks.ts), and nothing of that reaches a sub.
   * The same for a group deleted or renumbered (R-CHG-1.3a/b); renumbered, it comes back under its new ID.
   */
  function leaveCluster(rg: RootGroup, now: number, cell: '2.2f' | '1.3a' | '1.3b' = '2.2f'): { applied: string; reset: string[] } {
    const group = gcks().group(rg.config.name);
    if (group !== undefined) {
      const seq = group.hasKek ? group.gcks.seq() + 1 : undefined;
      rg.sender.publish(group.groupId, { kind: 'update-delete-sas', groupId: group.groupId, teks: [], kek: true, all: true, ...(seq === undefined ? {} : { seq }) }, now);
    }
    for (const name of rg.subs) {
      if (rg.sender.subs.get(name)?.state === 'active') counters.peersMarkedInactive++;
      rg.sender.markInactive(name, now);
    }
    groups.delete(rg.config.groupId);
    const gone = senderCounts(rg.sender);
    for (const k of Object.keys(ended) as (keyof typeof ended)[]) ended[k] += gone[k];
    const subs = [...rg.subs];
    log.info({ group: rg.config.name, subs, cell: `R-CHG-${cell}` }, 'group left the cluster: sub-servers sent "delete all" and inactive');
    const why = { '2.2f': 'server-cluster deleted', '1.3a': 'group deleted', '1.3b': 'group-id changed' }[cell];
    return { applied: `group ${rg.config.name}: ${why}: "delete all" sent to sub-servers ${subs.join(', ') || '(none)'}, now inactive`, reset: subs };
  }

  /**
   * R-CHG-1.3a/1.3b (the group leaves the cluster layer, renumbered it comes back), a group added,
   * 2.2a/2.2c/2.2d/2.2e/2.2f and new values of the group: the key server refused anything else already.
   */
  const applyConfig: RoleModule['applyConfig'] = (next, changes, now) => {
    const refusal = serverRefusal(changes);
    if (refusal !== undefined) return { refused: refusal };
    const applied: string[] = [];
    const resetGateways: string[] = [];
    const ended = endedGroups(changes);
    const endedSubs: string[] = [];
    for (const { group, renumbered } of ended) {
      const rg = [...groups.values()].find((g) => g.config.name === group);
      if (rg === undefined) continue;
      const left = leaveCluster(rg, now, renumbered ? '1.3b' : '1.3a');
      applied.push(left.applied);
      endedSubs.push(...left.reset);
    }
    // A sub that still serves another group of this root keeps its IKE SA.
    resetGateways.push(...gatewaysToClear(endedSubs, next.server?.groups ?? [], new Set(ended.map((e) => e.group))));
    const fresh = new Set([...addedGroups(changes), ...ended.filter((e) => e.renumbered).map((e) => e.group)]);
    for (const rg of [...groups.values()]) {
      if (next.server?.groups.find((g) => g.name === rg.config.name)?.serverCluster !== null) continue;
      const left = leaveCluster(rg, now);
      applied.push(left.applied);
      resetGateways.push(...left.reset);
    }
    for (const g of next.server?.groups ?? []) {
      if (g.serverCluster !== null && !groups.has(g.groupId)) {
        addGroup(g, undefined);
        applied.push(fresh.has(g.name)
          ? `group ${g.name} (group-id ${g.groupId}): sub-servers inactive until their cluster-init brings them its keys`
          : `group ${g.name}: this server is now its root; the sub-servers get its keys by cluster-init (existing members keep theirs)`);
        continue;
      }
      const rg = groups.get(g.groupId);
      if (rg === undefined || g.serverCluster === null) continue;
      rg.config = g;
      // R-CHG-2.2d: a sub no longer configured is inactive from now on (its IKE SA is cleared by the host).
      for (const name of [...rg.subs]) {
        if (g.serverCluster.peers.some((p) => p.name === name)) continue;
        rg.subs.delete(name);
        rg.sender.markInactive(name, now);
        applied.push(`group ${g.name}: sub-server ${name} deleted: inactive, nothing more sent to it`);
      }
      for (const p of g.serverCluster.peers) {
        if (rg.subs.has(p.name)) continue;
        rg.subs.add(p.name);
        rg.sender.addSub(p.name);
        applied.push(`group ${g.name}: sub-server ${p.name} added (active after its cluster-init)`);
      }
      rg.sender.setRetransmissionPeriod(g.serverCluster.retransmissionPeriodSeconds * 1000);
    }
    return { applied, resetGateways };
  };

  return {
    applyConfig,
    keysChanged,
    exportState: () => [...groups.values()].map((g) => ({ group: g.config.name, state: g.sender.exportState() })),
    phase2Exchanges: [CLUSTER_INIT, CLUSTER_UPDATE_ACK],
    ikeEvents: {
      phase2: (s, datagram, now) => {
        const header = tryHeader(datagram);
        if (header === undefined) {
          counters.clusterMessagesDropped++;
          return;
        }
        if (header.exchangeType === CLUSTER_INIT) return initResponder.handle(s, datagram, header, now);
        const target = [...groups.values()].find((g) => g.sender.expects(s.gateway.name, header.messageId));
        if (target === undefined) {
          counters.clusterMessagesDropped++;
          log.debug({ peer: s.gateway.name, messageId: header.messageId }, 'CLUSTER-UPDATE-ACK for no update in flight dropped');
          return;
        }
        target.sender.handle(s, datagram, header, now);
      },
      saDown: (s) => initResponder.forgetSa(s),
      // A new IKE SA with a sub (after a restart or a failover of the root): pending updates go out on it now.
      saUp: (s) => {
        const now = clock.now();
        for (const g of groups.values()) if (g.subs.has(s.gateway.name)) g.sender.kick(s.gateway.name, now);
      },
      peerDead: (gateway) => {
        const now = clock.now();
        for (const g of groups.values()) {
          if (!g.subs.has(gateway.name)) continue;
          if (g.sender.subs.get(gateway.name)?.state === 'active') counters.peersMarkedInactive++;
          g.sender.markInactive(gateway.name, now);
          log.warn({ sub: gateway.name, group: g.config.name }, 'sub-server inactive: DPD declared it dead (R-DPD-3)');
        }
      },
    },
    handlers: {
      [SERVER_CLUSTER_COMMAND]: (opts) => clusterView(opts.detail === true),
    },
    statisticsSections: () => ({ cluster: statistics() }),
    nextDeadline: () => {
      let min: number | undefined;
      for (const { sender } of groups.values()) {
        const d = sender.nextDeadline();
        if (d !== undefined && (min === undefined || d < min)) min = d;
      }
      return min;
    },
    poll: (now) => {
      for (const { sender } of groups.values()) sender.poll(now);
    },
  };
}
