/**
 * The root pair (redundancy group 0, modelled on a Junos chassis cluster): two root-server processes,
 * node0 and node1, one of them primary. Only the primary holds the shared address (`system.listen`) and runs
 * the root role; the secondary keeps a copy of everything the root distributes. docs/root-pair.md has the
 * whole design; in short:
 *
 * - Heartbeats every `heartbeat-interval` over the control link (control-link.ts: TCP, AES-GCM), each
 *   carrying the sender's role, epoch (+1 per takeover), priority, state version and counters.
 * - Replication: the primary's role commits each changed state (root-role.ts) by writing it to its own
 *   store and sending it to the secondary, which writes it to its store and acknowledges; only then do the
 *   datagrams that depend on it leave. So a failover at any instant ends with the members on keys the new
 *   primary has. Without a live secondary the primary goes on alone, and without waiting while the secondary
 *   lets an ACK go overdue (it could not store a state). Member rows go as changes: after a gap in the
 *   versions the secondary asks for the whole state instead.
 * - Takeover: the secondary that hears nothing for `heartbeat-threshold` intervals becomes primary: it
 *   resumes the role from the last record, binds the shared address (SO_REUSEADDR: Linux then delivers to
 *   the socket bound last, so this works even while a frozen old primary still holds it), and negotiates an
 *   IKE SA with every sub-server at once (INITIAL-CONTACT makes each sub drop the old node's SA), on which
 *   the pending cluster-updates continue. Statistics continue from the old primary's counters as it last
 *   sent them: with each heartbeat, each state record (so every count behind a committed change) and the
 *   graceful hand-over.
 * - Graceful switch (`request chassis cluster failover redundancy-group 0 node N`): the primary commits,
 *   stops serving, closes its socket and tells the peer to take over.
 * - Fencing (no split brain): a node serves only while `serving(now)` holds. A primary whose own event loop
 *   stalled for longer than the threshold (SIGSTOP, a long pause) cannot know whether its peer took over, so
 *   it steps down before handling anything else — datagrams, timers (IKE's and its role's), control-link
 *   frames, key commands, commits or its own ticks — closes the shared socket, and comes back as
 *   secondary. A primary that hears a primary with a higher epoch (or the same epoch and a higher priority)
 *   steps down likewise.
 */
import { ControlCommandError, SOFTWARE_VERSION, type ControlHandler, type RoleContext, type RoleModule } from '@gvpn/runtime';
import type { ChassisClusterConfig } from '@gvpn/runtime';
import { decodeValue, encodeValue, type Store } from '@gvpn/store';
import { generateSigningKeyAsync } from '@gvpn/gdoi';
import { GCKS_COMMANDS, MEMBER_ROWS, RSA_BITS, applyMemberChanges, resumeOrDiscard, serverRefusal, type MemberChange } from '@gvpn/key-server';
import { SERVER_CLUSTER_COMMAND } from '../root-cluster.js';
import { createRootRole, initiateToSubs, type RootRole, type RootRoleOptions } from '../root-role.js';
import { ROOT_STATE, type RootRecord, type StoredRoot } from '../root-state.js';
import { ControlLink, SEALED_OVERHEAD, type ControlMessage } from './control-link.js';

type Role = 'secondary' | 'primary';
type Counters = Record<string, Record<string, number>>;

interface Heartbeat {
  type: 'hb';
  node: 0 | 1;
  role: Role;
  epoch: number;
  priority: number;
  version: number;
  /** Takeovers so far, cluster-wide (the larger of both nodes' counts). */
  failovers: number;
  counters: Counters;
  /** The sender's SOFTWARE_VERSION; absent from a version that did not send it. */
  software?: string;
}
/**
 * `record`: a RootRecord in the store's value encoding (its keys hold bytes); `members`: MemberChange[] so
 * encoded. Member rows that do not fit in the state's frame (a full table passes 4 MiB at ~10,000 members)
 * come before it in `members` messages numbered 0..memberParts-1, with `members` '[]'.
 */
type StateMessage = {
  type: 'state';
  version: number;
  epoch: number;
  record: string;
  counters: Counters;
  members: string;
  allMembers: boolean;
  memberParts: number;
};
type Message =
  | Heartbeat
  | StateMessage
  | { type: 'members'; version: number; part: number; members: string }
  | { type: 'ack'; version: number }
  | { type: 'sync' }
  | { type: 'takeover'; epoch: number; version: number; counters: Counters };


const count = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
const counters = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v)
  && Object.values(v).every((s) => typeof s === 'object' && s !== null && !Array.isArray(s) && Object.values(s).every(Number.isFinite));
/** Per message type, a check of each field it must have: the peer is authenticated, not necessarily right. */
const FIELDS: Record<Message['type'], Record<string, (v: unknown) => boolean>> = {
  hb: {
    node: (v) => v === 0 || v === 1, role: (v) => v === 'primary' || v === 'secondary', epoch: count, priority: count, version: count,
    failovers: count, counters, software: (v) => v === undefined || typeof v === 'string',
  },
  state: {
    version: count, epoch: count, record: (v) => typeof v === 'string', counters, members: (v) => typeof v === 'string',
    allMembers: (v) => typeof v === 'boolean', memberParts: (v) => v === undefined || count(v),
  },
  members: { version: count, part: count, members: (v) => typeof v === 'string' },
  ack: { version: count },
  sync: {},
  takeover: { epoch: count, version: count, counters },
};

/** The first field of `m` that is missing or mistyped (`type` for an unknown type), or undefined when none is. */
function badField(m: { type: string; [key: string]: unknown }): string | undefined {
  const fields = Object.hasOwn(FIELDS, m.type) ? FIELDS[m.type as Message['type']] : undefined;
  if (fields === undefined) return 'type';
  return Object.entries(fields).find(([name, ok]) => !ok(m[name]))?.[0];
}

/** The longest wait between two takeover attempts that failed. */
const MAX_TAKEOVER_RETRY_MS = 60_000;

/** Bytes of a `members` message besides its rows (type, version, part, quotes). */
const MEMBERS_ENVELOPE = 128;

export interface RootPairOptions {
  /** The control link's frame limit (ControlLinkOptions.maxFrame); lower in tests. */
  maxFrame?: number;
}

export function createRootPair(ctx: RoleContext, pair: ChassisClusterConfig, store: Store, options: RootPairOptions = {}): RoleModule {
  const { clock } = ctx;
  const log = ctx.log.child({ component: 'rg0' });
  const me = pair.node;
  const peerNode = (1 - me) as 0 | 1;
  const intervalMs = pair.heartbeatIntervalMs;
  const limitMs = pair.heartbeatIntervalMs * pair.heartbeatThreshold;
  const priority = pair.priorities[me];
  const link = new ControlLink({
    node: me, localAddress: pair.controlLink.localAddress, peerAddress: pair.controlLink.peerAddress,
    port: pair.controlLink.port, key: pair.controlLink.preSharedKey.reveal(), log,
    ...(options.maxFrame === undefined ? {} : { maxFrame: options.maxFrame }),
  });

  let role: Role = 'secondary';
  let stored = store.get(ROOT_STATE.ns, ROOT_STATE.key) as StoredRoot | undefined;
  let epoch = typeof stored?.epoch === 'number' ? stored.epoch : 0;
  let version = typeof stored?.version === 'number' ? stored.version : 0;
  let rootRole: RootRole | undefined;
  let baseline: Counters = {};
  /**
   * The primary peer's counters as it last reported them: in heartbeats, and with every state record and the
   * hand-over, so that a takeover continues from the counts of everything the peer had committed.
   */
  let peerCounters: Counters = {};
  let lastTick = clock.now();
  const startedAt = clock.now();
  /** Since when this node is secondary, and since when the peer says it is (undefined: it says primary). */
  let secondarySince = startedAt;
  let peerSecondarySince: number | undefined;
  let failovers = 0;
  /** After a failed takeover: when the next may be tried, and the delay that led there. */
  const takeover = { retryAt: 0, delayMs: 0 };
  /** The other version of the peer's last logged (once per version it says, null: it says none). */
  let softwareWarned: string | null | undefined;
  /** Malformed messages from the peer dropped, and the kinds (type.field) already logged. */
  let dropped = 0;
  const droppedLogged = new Set<string>();
  let peer: { lastHeard: number; hb: Heartbeat } | undefined;
  /** Commits waiting for the secondary's ACK, by version, with when each was sent. */
  const acks = new Map<number, { resolve: () => void; sentAt: number }>();
  /**
   * The secondary let an ACK go overdue while its heartbeats came (it could not store a state): commits stop
   * waiting for it until it acknowledges one again, rather than the role's datagrams waiting for ever.
   */
  let lagging = false;
  /** Secondary: the member rows of the state message to come, as its parts arrive. */
  let incoming: { version: number; parts: number; rows: MemberChange[] } | undefined;
  let ticker: NodeJS.Timeout | undefined;
  const roleCommands: string[] = [...GCKS_COMMANDS, SERVER_CLUSTER_COMMAND];

  const peerAlive = (now: number): boolean => peer !== undefined && now - peer.lastHeard <= limitMs;

  /** The record and the member rows that changed (all of them, replacing the stored ones, with `allMembers`). */
  function persist(s: StoredRoot, members: readonly MemberChange[], allMembers = false): void {
    store.transaction(() => {
      store.put(ROOT_STATE.ns, ROOT_STATE.key, s);
      if (allMembers) store.clear(MEMBER_ROWS);
      applyMemberChanges(store, members);
    });
    stored = s;
  }

  /** root-role.ts commit: store, then the secondary's ACK when there is a live one. */
  function commit(record: RootRecord, members: MemberChange[], allMembers = false): Promise<void> | undefined {
    version++;
    persist({ version, epoch, record }, members, allMembers);
    const now = clock.now();
    if (!peerAlive(now) || peer?.hb.role !== 'secondary') return undefined;
    // With the link down (a connection lost, maybe between member parts) the datagrams wait all the same: the
    // secondary asks for the whole state once the link is back and the primary's heartbeats say a newer version.
    if (sendState(record, members, allMembers) === 'failed' || lagging) return undefined;
    const v = version;
    return new Promise((resolve) => acks.set(v, { resolve, sentAt: now }));
  }

  /**
   * The state of `version` to the secondary, its member rows in parts of their own when the whole does not
   * fit in one frame. 'down' when it did not all go for the link; 'failed' on an error (logged): no
   * secondary will have it.
   */
  function sendState(record: RootRecord, members: readonly MemberChange[], allMembers: boolean): 'sent' | 'down' | 'failed' {
    try {
      const state: StateMessage = {
        type: 'state', version, epoch, record: encodeValue(record), counters: allCounters(), members: encodeValue(members), allMembers, memberParts: 0,
      };
      if (SEALED_OVERHEAD + Buffer.byteLength(JSON.stringify(state)) <= link.maxFrame) return link.send(state) ? 'sent' : 'down';
      const parts = memberParts(members);
      for (const [part, rows] of parts.entries()) {
        if (!link.send({ type: 'members', version, part, members: rows })) return 'down';
      }
      return link.send({ ...state, members: '[]', memberParts: parts.length }) ? 'sent' : 'down';
    } catch (err) {
      log.error({ err: (err as Error).message, version, members: members.length }, 'RG0: state not sent to the secondary: going on without it');
      return 'failed';
    }
  }

  /** Member rows encoded as `encodeValue` would the whole list, cut so that each `members` message fits a frame. */
  function memberParts(members: readonly MemberChange[]): string[] {
    const budget = link.maxFrame - SEALED_OVERHEAD - MEMBERS_ENVELOPE;
    const parts: string[] = [];
    let rows: string[] = [];
    let size = 2;
    for (const m of members) {
      const row = encodeValue(m);
      // As it travels: a JSON string inside the message, quotes escaped; plus its comma.
      const cost = Buffer.byteLength(JSON.stringify(row)) - 1;
      if (rows.length > 0 && size + cost > budget) {
        parts.push(`[${rows.join(',')}]`);
        rows = [];
        size = 2;
      }
      rows.push(row);
      size += cost;
    }
    if (rows.length > 0) parts.push(`[${rows.join(',')}]`);
    return parts;
  }

  function releaseAcks(): void {
    for (const { resolve } of acks.values()) resolve();
    acks.clear();
  }

  function allCounters(): Counters {
    const now: Counters = { ike: ctx.ike.statistics() as Record<string, number>, ...(rootRole?.counters() ?? {}) };
    const out: Counters = {};
    for (const [section, counters] of Object.entries(now)) {
      const base = baseline[section] ?? {};
      out[section] = Object.fromEntries(Object.entries(counters).map(([k, v]) => [k, v + (base[k] ?? 0)]));
    }
    return out;
  }

  /**
   * A takeover that fails (the shared address cannot be bound: missing on this host, or in use) leaves this
   * node secondary, logged, and tried again after a delay that doubles up to a minute; it used to be an
   * unhandled rejection that ended the process, a crash loop while the peer is away.
   */
  async function becomePrimary(reason: string): Promise<void> {
    if (role === 'primary' || clock.now() < takeover.retryAt) return;
    try {
      await takeOver(reason);
      takeover.delayMs = 0;
    } catch (err) {
      takeover.delayMs = Math.min(MAX_TAKEOVER_RETRY_MS, Math.max(limitMs, takeover.delayMs * 2));
      takeover.retryAt = clock.now() + takeover.delayMs;
      log.error({ node: me, reason, err: (err as Error).message, retryInMs: takeover.delayMs }, 'RG0: this node could not become primary: it stays secondary and tries again');
      await becomeSecondary('could not become primary');
    }
  }

  async function takeOver(reason: string): Promise<void> {
    const now = clock.now();
    role = 'primary';
    epoch = Math.max(epoch, peer?.hb.epoch ?? 0) + 1;
    // The first election is not a failover; a takeover from a primary (lost or handing over) is.
    if (reason !== 'elected' && reason !== 'no peer at start') failovers = Math.max(failovers, peer?.hb.failovers ?? 0) + 1;
    if (peer !== undefined) {
      // This process's IKE counters already count what it did as primary before: only its new counts add.
      const ownIke = ctx.ike.statistics() as Record<string, number>;
      baseline = { ...peerCounters, ike: Object.fromEntries(Object.entries(peerCounters['ike'] ?? {}).map(([k, v]) => [k, v - (ownIke[k] ?? 0)])) };
    }
    const roleOptions: RootRoleOptions = { commit: (record, members) => commit(record, members) };
    const resumed = resumeStored(roleOptions, { mono: now, wall: Date.now() });
    // Fresh groups need RSA keys: made off the event loop, so heartbeats go on meanwhile (made inline, a
    // 2048-bit key stalled this node long enough for its peer to take over at the very first election).
    const signingKeys = resumed !== undefined ? undefined : new Map(await Promise.all((ctx.config.server?.groups ?? [])
      .map(async (g) => [g.name, await generateSigningKeyAsync(RSA_BITS)] as const)));
    if (role !== 'primary') return; // stepped down while the keys were being made
    rootRole = resumed ?? createRootRole(ctx, { ...roleOptions, ...(signingKeys === undefined ? {} : { signingKeys }) });
    await ctx.bind();
    await rootRole.start?.(now);
    // The secondary has the state from now on (first start: the keys just made).
    const c = { mono: clock.now(), wall: Date.now() };
    void commit(rootRole.record(c), rootRole.members(c), true);
    // Only when resuming (as durable-root.ts): on a first start no sub holds an SA with either node, and
    // initiating to subs that start meanwhile crosses their own Main Mode; with INITIAL-CONTACT on both
    // sides each end then keeps a different SA until DPD clears it (seen in the lab: ~20 s, sub inactive).
    if (resumed !== undefined) initiateToSubs(ctx);
    log.warn({ node: me, epoch, reason, version }, 'RG0: this node is primary');
    sendHeartbeat();
    ctx.rearm();
  }

  /**
   * The role resumed from the stored record, or undefined without one. A record that cannot be taken over
   * is logged and dropped with the member rows (as sub-role.ts does): this node starts with fresh keys
   * rather than crash on every takeover.
   */
  function resumeStored(roleOptions: RootRoleOptions, clocks: { mono: number; wall: number }): RootRole | undefined {
    const record = stored?.record;
    if (record === undefined) return undefined;
    const resumed = resumeOrDiscard(store, ROOT_STATE, log, 'root', clocks, (members) => createRootRole(ctx, { ...roleOptions, resume: { record, members, clocks } }));
    if (resumed === undefined) stored = undefined;
    return resumed;
  }

  async function becomeSecondary(reason: string): Promise<void> {
    if (role === 'secondary') return;
    role = 'secondary';
    const now = clock.now();
    secondarySince = now;
    // Close the shared socket first: nothing this node still does can reach a peer any more.
    await ctx.unbind();
    await rootRole?.stop?.(now);
    rootRole = undefined;
    ctx.ike.stop(now);
    ctx.ike.start(now);
    releaseAcks();
    lagging = false;
    log.warn({ node: me, epoch, reason }, 'RG0: this node is secondary');
    link.send({ type: 'sync' });
    sendHeartbeat();
  }

  function sendHeartbeat(): void {
    link.send({ type: 'hb', node: me, role, epoch, priority, version, failovers, counters: role === 'primary' ? allCounters() : {}, software: SOFTWARE_VERSION } satisfies Heartbeat);
  }

  /** A primary that did not run for longer than the threshold steps down (fencing). */
  function stalled(now: number): boolean {
    const gap = now - lastTick;
    lastTick = now;
    if (gap <= limitMs) return false;
    if (role === 'primary') {
      log.warn({ node: me, stalledMs: gap }, 'RG0: this node did not run for longer than the heartbeat threshold: stepping down');
      void becomeSecondary('stalled');
    }
    // Whatever the peer said before the stall is old news: give it a fresh window before judging it.
    if (peer !== undefined) peer.lastHeard = now;
    return true;
  }

  function tick(): void {
    const now = clock.now();
    if (stalled(now)) return;
    sendHeartbeat();
    if (role === 'secondary') {
      const alone = peer === undefined ? now - startedAt > limitMs : !peerAlive(now);
      if (alone) void becomePrimary(peer === undefined ? 'no peer at start' : 'peer heartbeats lost');
    } else if (acks.size > 0 && !peerAlive(now)) {
      log.warn({ node: me }, 'RG0: secondary lost: going on alone');
      releaseAcks();
    } else if ([...acks.values()].some((a) => now - a.sentAt > limitMs)) {
      log.warn({ node: me, versions: [...acks.keys()] }, 'RG0: the secondary did not acknowledge the state in time: going on without it until it does');
      lagging = true;
      releaseAcks();
    }
  }

  function onMessage(received: ControlMessage): void {
    const now = clock.now();
    // After a freeze, a peer's frame can be read before the next tick: the stall decides first, so a
    // frozen primary steps down as fenced whatever woke it.
    stalled(now);
    // A mistyped field would otherwise spread: a missing `failovers` made ours NaN, and the next heartbeat
    // then threw in the timer and killed the process.
    const bad = badField(received);
    if (bad !== undefined) {
      dropped++;
      if (!droppedLogged.has(`${received.type}.${bad}`)) {
        droppedLogged.add(`${received.type}.${bad}`);
        log.warn({ node: me, type: received.type, field: bad, dropped }, 'RG0: malformed message from the peer dropped');
      }
      return;
    }
    const m = received as Message;
    switch (m.type) {
      case 'hb': {
        const peerSoftware = m.software ?? null;
        if (peerSoftware !== SOFTWARE_VERSION && peerSoftware !== softwareWarned) {
          softwareWarned = peerSoftware;
          log.warn({ node: me, peerSoftware, software: SOFTWARE_VERSION },
            'RG0: the peer runs another software version: run the same on both nodes (no in-service upgrade; docs/root-pair.md)');
        }
        peer = { lastHeard: now, hb: m };
        failovers = Math.max(failovers, m.failovers);
        if (m.role === 'primary') peerCounters = m.counters;
        peerSecondarySince = m.role === 'secondary' ? peerSecondarySince ?? now : undefined;
        if (role === 'primary' && m.role === 'primary') {
          // Equal priorities (each node's file names its own: two files that disagree) fall to node 0, as on
          // the vendor's cluster; without that, two primaries at one epoch both stayed.
          const theyWin = m.epoch > epoch || (m.epoch === epoch && (m.priority > priority || (m.priority === priority && m.node < me)));
          if (theyWin) void becomeSecondary(`peer is primary with epoch ${m.epoch}`);
        } else if (role === 'secondary' && m.role === 'secondary' && now - secondarySince > intervalMs * 2 && now - peerSecondarySince! > intervalMs * 2) {
          // Both secondary for a while (starting, or a hand-over that got lost): the node with the newer
          // state, then the higher priority, serves. Not sooner: heartbeats that waited in the socket while
          // this node was frozen, or that crossed a hand-over, say "secondary" of a peer that is primary now.
          // On equal priorities (see above) node 0: without it, neither node became primary.
          const mine = [version, priority, -me];
          const theirs = [m.version, m.priority, -m.node];
          const i = mine.findIndex((x, k) => x !== theirs[k]);
          if (i >= 0 && mine[i]! > theirs[i]!) void becomePrimary('elected');
        }
        // Any other version, not only a newer one: a node that was primary alone (a split link, a restart) can
        // hold a higher version of its own, which is not the primary's state.
        if (role === 'secondary' && m.role === 'primary' && m.version !== version) link.send({ type: 'sync' });
        return;
      }
      case 'members':
        if (role !== 'secondary') return;
        if (m.part === 0) incoming = { version: m.version, parts: 0, rows: [] };
        if (incoming === undefined || incoming.version !== m.version || incoming.parts !== m.part) {
          incoming = undefined;
          return;
        }
        try {
          incoming.rows = incoming.rows.concat(decodeValue(m.members) as MemberChange[]);
          incoming.parts += 1;
        } catch (err) {
          // The state that follows finds a part missing and asks for the whole again.
          log.error({ node: me, version: m.version, part: m.part, err: (err as Error).message }, 'RG0: member rows from the primary cannot be decoded');
          incoming = undefined;
        }
        return;
      case 'state': {
        if (role !== 'secondary') return;
        let parts: MemberChange[] = [];
        if ((m.memberParts ?? 0) > 0) {
          const collected = incoming;
          incoming = undefined;
          if (collected?.version !== m.version || collected.parts !== m.memberParts) {
            // A part went with a lost connection: no ACK, the whole state again.
            link.send({ type: 'sync' });
            return;
          }
          parts = collected.rows;
        }
        if (!m.allMembers && m.version !== version + 1) {
          // Member rows come as changes since the version before: after a gap (states the primary sent while it
          // did not hear this node, or one not stored) they would leave rows out. The whole state instead.
          link.send({ type: 'sync' });
          return;
        }
        // Whatever the primary sends is the state, even when this node's own stored version is higher: the
        // (epoch, version) of a node that was primary alone can equal or pass the current primary's (a node
        // restarted alone takes its stored epoch + 1), and an ACK must mean "stored". Within one primary's
        // reign the versions only grow, and a frame never arrives twice.
        try {
          const record = decodeValue(m.record) as RootRecord;
          persist({ version: m.version, epoch: Math.max(epoch, m.epoch), record }, parts.concat(decodeValue(m.members) as MemberChange[]), m.allMembers);
        } catch (err) {
          // Not stored (a value this version cannot decode, a store error): no ACK, and heartbeats keep saying
          // the stored version. The primary goes on without this node once the ACK is overdue.
          log.error({ node: me, version: m.version, err: (err as Error).message }, 'RG0: state from the primary not stored: not acknowledged');
          return;
        }
        version = m.version;
        epoch = Math.max(epoch, m.epoch);
        peerCounters = m.counters;
        link.send({ type: 'ack', version: m.version });
        return;
      }
      case 'ack':
        lagging = false;
        for (const [v, { resolve }] of acks) {
          if (v > m.version) continue;
          resolve();
          acks.delete(v);
        }
        return;
      case 'sync':
        if (role === 'primary' && stored !== undefined && rootRole !== undefined) {
          const c = { mono: clock.now(), wall: Date.now() };
          sendState(stored.record, rootRole.members(c), true);
        }
        return;
      case 'takeover':
        if (role === 'secondary' && m.version > version) {
          // Taking over from an older state would lose what the peer committed (a state this node could not
          // store, or one lost with a connection): stay secondary; the peer, newer, is elected again.
          log.warn({ node: me, version, peerVersion: m.version }, 'RG0: hand-over refused: this node does not have the peer\'s state');
        } else if (role === 'secondary') {
          epoch = Math.max(epoch, m.epoch);
          peerCounters = m.counters;
          void becomePrimary('graceful failover');
        }
        return;
    }
  }

  const status: ControlHandler = () => {
    const now = clock.now();
    const peerRole: Role | null = peerAlive(now) ? peer?.hb.role ?? null : null;
    const node = (n: 0 | 1) => n === me
      ? { name: `node${n}`, role, priority, healthy: true, self: true, software: SOFTWARE_VERSION }
      : {
        // The priority the peer says it has: its own file's, which need not be the same as this one's.
        name: `node${n}`, role: peerRole ?? (role === 'primary' ? 'secondary' : 'primary'), priority: peer?.hb.priority ?? pair.priorities[n], healthy: peerRole !== null, self: false,
        software: peer?.hb.software ?? null,
      };
    return {
      // An open connection that carries no heartbeats (the peer stopped, or its loop is stuck) is not a link:
      // 'up' needs the peer's heartbeats too, as the takeover decision does.
      redundancyGroup: 0, epoch, failovers, stateVersion: version, controlLink: link.connected && peerRole !== null ? 'up' : 'down',
      nodes: [node(0), node(1)],
    };
  };

  const failover: ControlHandler = async (opts) => {
    const target = Number(opts.node);
    if (target !== 0 && target !== 1) throw new ControlCommandError('BAD_REQUEST', 'give node 0 or 1');
    if (target === me) {
      if (role === 'primary') return { done: false, reason: `node${me} is already primary` };
      throw new ControlCommandError('NOT_SUPPORTED', `run this on the primary node: node${peerNode}`);
    }
    if (role !== 'primary') return { done: false, reason: `node${target} is already primary` };
    if (!peerAlive(clock.now())) throw new ControlCommandError('UNAVAILABLE', `node${target} is not healthy: no failover`);
    if (lagging) throw new ControlCommandError('UNAVAILABLE', `node${target} does not acknowledge the state: no failover`);
    // Heartbeats heard within the threshold can predate a connection lost just now: the hand-over would not go.
    if (!link.connected) throw new ControlCommandError('UNAVAILABLE', `the control link to node${target} is down: no failover`);
    const handed = { epoch, version, counters: allCounters() };
    await becomeSecondary('manual failover');
    link.send({ type: 'takeover', ...handed });
    return { done: true, primary: `node${target}` };
  };

  /** Fencing for every way in (datagrams, timers, commands, commits): a stalled primary steps down first. */
  const serving = (now: number): boolean => role === 'primary' && !stalled(now);

  return {
    deferBind: true,
    serving,
    preIke: (bytes, from, now) => rootRole?.preIke?.(bytes, from, now) ?? false,
    ikeEvents: {
      saUp: (sa) => rootRole?.ikeEvents?.saUp?.(sa),
      saDown: (sa, reason) => rootRole?.ikeEvents?.saDown?.(sa, reason),
      peerDead: (g) => rootRole?.ikeEvents?.peerDead?.(g),
      negotiationFailed: (g, r) => rootRole?.ikeEvents?.negotiationFailed?.(g, r),
      phase2: (sa, d, now) => rootRole?.ikeEvents?.phase2?.(sa, d, now),
    },
    handlers: {
      'show chassis cluster status': status,
      'request chassis cluster failover redundancy-group 0 node': failover,
      ...Object.fromEntries(roleCommands.map((words) => [words, (opts: Record<string, unknown>) => {
        const h = serving(clock.now()) ? rootRole?.handlers?.[words] : undefined;
        if (h === undefined) throw new ControlCommandError('NOT_SUPPORTED', `node${me} is the secondary of the root pair: ask the primary`);
        return h(opts);
      }])),
    },
    // Both nodes take the same commits: the primary applies them; the secondary's next takeover starts from
    // the new configuration (`ctx.config`) anyway, so it only checks that it could.
    applyConfig: (next, changes, now) => {
      if (serving(now) && rootRole?.applyConfig !== undefined) return rootRole.applyConfig(next, changes, now);
      const refusal = serverRefusal(changes);
      return refusal === undefined ? { applied: ['secondary node: in effect when it becomes primary'] } : { refused: refusal };
    },
    statisticsSections: () => rootRole?.statisticsSections?.() ?? {},
    statisticsBaseline: () => baseline,
    nextDeadline: () => rootRole?.nextDeadline?.(),
    poll: (now) => (serving(now) ? rootRole?.poll?.(now) : undefined),
    settle: (now) => (serving(now) ? rootRole?.settle?.(now) : undefined),
    drained: () => rootRole?.drained?.(),
    start: async () => {
      link.onMessage(onMessage);
      await link.start();
      ticker = setInterval(tick, intervalMs);
      log.info({ node: me, priority, intervalMs, threshold: pair.heartbeatThreshold, storedVersion: version }, 'RG0: started as secondary; waiting for the peer');
    },
    stop: async (now) => {
      if (ticker !== undefined) clearInterval(ticker);
      await rootRole?.stop?.(now);
      await link.stop();
      releaseAcks();
    },
  };
}
