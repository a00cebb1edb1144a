/**
 * The sub-server's role: the key server (key source `root`) and the cluster layer (sub-cluster.ts), with
 * their state in the durable store, resumed from it after a restart.
 *
 * "Written before acted on", as root-role.ts does for the root: the role's datagrams (pull answers, pushes,
 * cluster-init requests, CLUSTER-UPDATE ACKs) go to an outbox. After each host callback `settle` compares
 * the state's fingerprint (sub-state.ts); if it changed, the record is written (synchronously: `put`
 * returns once SQLite has fsync'd it) and only then does the outbox go out. A crash in between loses only
 * datagrams that nobody saw: a member that got a push or a pull answer, or a root that got an ACK, finds
 * the keys, SEQ, registration and update number it learnt in the store after a restart. IKE's own messages
 * carry no group state and are not held.
 *
 * On start, a stored record resumes every group: the same KEK (with its signing key), TEKs and SEQ, the
 * registered members (so pushes keep reaching them without a new registration), the update number and the
 * SAs' expiry times. The root starts 'inactive': no pull is answered before a cluster-init confirmed or
 * replaced the keys (R-MSG-2a). Same keys: nothing to do. The root rekeyed meanwhile (same KEK, new TEKs):
 * sub-cluster.ts pushes the new TEKs to the resumed members with the root's SEQ, which continues theirs.
 * A record that cannot be taken over is logged and dropped: the server starts clean and its members
 * re-register (the store itself moves an unreadable file aside the same way).
 */
import { applyMemberChanges, createGcks, memberChanges, resumeOrDiscard, type Gcks } from '@gvpn/key-server';
import { composeRoles, type Endpoint, type RoleContext, type RoleModule } from '@gvpn/runtime';
import type { Store } from '@gvpn/store';
import { createSubCluster, type SubCluster } from './sub-cluster.js';
import { SUB_STATE, resumeSub, subFingerprint, subRecord, type ResumedSub, type StoredSub } from './sub-state.js';

export interface SubRoleOptions {
  /** Wall clock for the record's times; default Date.now. */
  wallClock?: () => number;
}

export function createDurableSub(ctx: RoleContext, store: Store, options: SubRoleOptions = {}): RoleModule {
  const { config, clock } = ctx;
  if (config.role !== 'server') throw new Error('the sub-server needs a server configuration');
  const wall = options.wallClock ?? Date.now;
  const log = ctx.log.child({ component: 'state' });

  const stored = store.get<StoredSub>(SUB_STATE.ns, SUB_STATE.key);
  let version = typeof stored?.version === 'number' ? stored.version : 0;
  const clocks = { mono: clock.now(), wall: wall() };
  const resumed: ResumedSub | undefined = stored === undefined ? undefined
    : resumeOrDiscard(store, SUB_STATE, log, 'sub-server', clocks, (members) => resumeSub(stored.record, members, clocks));

  let outbox: { bytes: Uint8Array; to: Endpoint }[] = [];
  const held: RoleContext = { ...ctx, send: (bytes, to) => outbox.push({ bytes, to }) };
  const cluster: SubCluster = createSubCluster(held, () => gcks, resumed?.cluster);
  const gcks: Gcks = createGcks(held, { keySource: 'root', accepting: (groupId) => cluster.accepting(groupId) });

  const now0 = clock.now();
  const configured = new Set(config.server.groups.map((g) => g.name));
  for (const [name, g] of resumed?.groups ?? []) {
    if (!configured.has(name)) {
      log.warn({ group: name }, 'stored group no longer configured: not resumed');
      continue;
    }
    const group = gcks.adopt(name, g, now0);
    if (g.previousKek !== undefined) group.gcks.previousKek = g.previousKek;
    group.retired = [...g.retired];
    for (const r of g.registrations) gcks.registrations.upsert(r);
  }
  if (resumed !== undefined) {
    log.info({
      version,
      groups: gcks.groups().map((g) => ({ name: g.name, seq: g.gcks.seq(), members: gcks.registrations.count(g.name) })),
    }, 'resumed from the stored state: root inactive until cluster-init');
  } else {
    log.info({ recovered: store.recovered?.reason ?? null }, 'no stored state: keys come from the root\'s cluster-init');
  }

  const inner = composeRoles([cluster, gcks]);
  /** The record when it changed, and the member rows that changed, in one transaction. */
  const commit = (now: number, recordChanged: boolean): void => {
    const clocks = { mono: now, wall: wall() };
    store.transaction(() => {
      if (recordChanged) store.put(SUB_STATE.ns, SUB_STATE.key, { version: ++version, record: subRecord(gcks, cluster.exportState(), clocks) } satisfies StoredSub);
      applyMemberChanges(store, memberChanges(gcks, clocks));
    });
  };
  let fingerprint = subFingerprint(gcks, cluster.exportState());

  const flush = (): void => {
    const out = outbox;
    outbox = [];
    for (const d of out) ctx.send(d.bytes, d.to);
  };

  /** Writes a changed state, then sends what is held. */
  function check(now: number): void {
    const fp = subFingerprint(gcks, cluster.exportState());
    if (fp !== fingerprint || gcks.registrations.changesPending) {
      commit(now, fp !== fingerprint);
      fingerprint = fp;
    }
    flush();
  }

  return {
    ...inner,
    start: async (now) => {
      await inner.start?.(now);
      check(now);
    },
    settle: (now) => {
      inner.settle?.(now);
      check(now);
    },
    // The store stays open until the process exits: a datagram may still be handled while the host stops.
    stop: async (now) => {
      await inner.stop?.(now);
      check(now);
    },
  };
}
