/**
 * The root-server's role: the key server (every key is made here) and, with `server-cluster`, the cluster
 * layer that hands the keys to the sub-servers; resumed from a `RootRecord` when there is one.
 *
 * "Written before acted on": the role's datagrams (pull answers, pushes, cluster messages) go to an outbox.
 * After each host callback, `settle` checks whether the distributed state changed (root-state.ts
 * fingerprint); if it did, `commit` gets the new record first — the durable store writes it, the root
 * pair's active node also waits for its standby — and only then does the outbox go out. A crash in between
 * loses only datagrams that nobody saw, so whatever a member or sub learnt is in the store (and on the
 * standby). IKE's own messages carry no group state and are not held.
 */
import type { SigningKey } from '@gvpn/gdoi';
import { allMemberRows, createGcks, memberChanges, type Gcks, type MemberChange, type Registration } from '@gvpn/key-server';
import { composeRoles, type Endpoint, type RoleContext, type RoleModule } from '@gvpn/runtime';
import { createRootCluster, type RootCluster } from './root-cluster.js';
import { resumeFrom, rootFingerprint, rootRecord, type Clocks, type RootRecord } from './root-state.js';

export interface RootRole extends RoleModule {
  record(c: Clocks): RootRecord;
  /** Every member as a row (the full state the other node of a pair needs). */
  members(c: Clocks): MemberChange[];
  /** Counters of the role's own sections, for the other node of a pair. */
  counters(): Record<string, Record<string, number>>;
  /**
   * Leaving the root role (R-CHG-2.2a on a sub, 2.2b root -> sub): every group's keys deleted at once, "delete
   * all" pushed to its members and sent to its active subs; `settle` then sends them.
   */
  deleteAllGroups(now: number): void;
  /** Taking the root role over from a sub (R-CHG-2.2b): a TEK rekey, then a KEK rekey, of every group. */
  rekeyAllGroups(now: number): void;
}

/**
 * After a restart or a failover, the subs still hold IKE SAs with the root's previous process, which knows
 * nothing of them: a new SA to each (INITIAL-CONTACT makes the sub drop the old one) lets pending updates
 * flow at once and keeps the subs' DPD from declaring the root dead.
 */
export function initiateToSubs(ctx: RoleContext): void {
  for (const g of ctx.config.server?.groups ?? []) {
    for (const p of g.serverCluster?.peers ?? []) ctx.ike.initiateGateway(p.name, ctx.clock.now());
  }
}

export interface RootRoleOptions {
  resume?: { record: RootRecord; members: ReadonlyMap<string, Registration[]>; clocks: Clocks };
  /** Signature keys made beforehand for groups that start fresh (GcksOptions.signingKeys). */
  signingKeys?: ReadonlyMap<string, SigningKey>;
  /**
   * Called in `settle` with the new record when the state changed; the outbox is sent when the returned
   * promise resolves (at once when it returns undefined).
   */
  commit(record: RootRecord, members: MemberChange[], clocks: Clocks, recordChanged: boolean): Promise<void> | undefined;
  wallClock?: () => number;
}

export function createRootRole(ctx: RoleContext, options: RootRoleOptions): RootRole {
  const config = ctx.config;
  if (config.role !== 'server') throw new Error('the root needs a server configuration');
  const wall = options.wallClock ?? Date.now;
  const resumed = options.resume === undefined ? undefined : resumeFrom(options.resume.record, options.resume.members, options.resume.clocks);
  let outbox: { bytes: Uint8Array; to: Endpoint }[] = [];
  /** Datagrams ever held and ever sent: a drain waiter waits for `sent` to reach `held` as it was. */
  let heldCount = 0;
  let sentCount = 0;
  let waiting = false;
  const held: RoleContext = {
    ...ctx,
    send: (bytes, to) => {
      outbox.push({ bytes, to });
      heldCount++;
    },
  };

  let cluster: RootCluster | undefined = undefined;
  const gcks: Gcks = createGcks(held, {
    ...(resumed === undefined ? {} : { resume: resumed.groups }),
    onKeysChanged: (group, change, now) => cluster?.keysChanged(group, change, now),
    ...(options.signingKeys === undefined ? {} : { signingKeys: options.signingKeys }),
  });
  // Also on a standalone server (it has no cluster group yet): adding `server-cluster` makes it a root live
  // (R-CHG-2.2a, the migration of R-OPS-3) without a new process.
  cluster = createRootCluster(held, () => gcks, resumed?.cluster);
  const inner = composeRoles([cluster, gcks]);
  const clusterState = () => cluster?.exportState() ?? [];
  let fingerprint = rootFingerprint(gcks, clusterState());

  let drainWaiters: { until: number; resolve: () => void }[] = [];
  /** Sends the first `count` held datagrams (those the committed state covers). */
  const flush = (count = outbox.length): void => {
    const out = outbox.splice(0, count);
    sentCount += out.length;
    for (const d of out) ctx.send(d.bytes, d.to);
    const ready = drainWaiters.filter((w) => w.until <= sentCount);
    drainWaiters = drainWaiters.filter((w) => w.until > sentCount);
    for (const w of ready) w.resolve();
  };

  /**
   * Commits a changed state, then sends what is held. What was held when a commit started goes once that
   * commit is done, even if the state changed again meanwhile (under steady load it always has); what came
   * later waits for the next commit.
   */
  function check(now: number): void {
    if (waiting) return;
    const fp = rootFingerprint(gcks, clusterState());
    if (fp === fingerprint && !gcks.registrations.changesPending) return flush();
    const recordChanged = fp !== fingerprint;
    fingerprint = fp;
    const clocks = { mono: now, wall: wall() };
    const covered = outbox.length;
    const done = options.commit(rootRecord(gcks, clusterState(), clocks), memberChanges(gcks, clocks), clocks, recordChanged);
    if (done === undefined) return flush();
    waiting = true;
    void done.then(() => {
      waiting = false;
      flush(covered);
      check(ctx.clock.now());
      ctx.rearm();
    });
  }

  return {
    ...inner,
    record: (c) => rootRecord(gcks, clusterState(), c),
    members: (c) => allMemberRows(gcks, c),
    counters: () => inner.statisticsSections?.() as Record<string, Record<string, number>>,
    drained: () => (sentCount < heldCount ? new Promise<void>((resolve) => drainWaiters.push({ until: heldCount, resolve })) : undefined),
    deleteAllGroups: (now) => {
      for (const g of gcks.groups()) gcks.rekeyOf(g).end(now, true);
    },
    rekeyAllGroups: (now) => {
      for (const g of gcks.groups()) {
        const rekey = gcks.rekeyOf(g);
        rekey.request('tek-rekey');
        if (g.hasKek) rekey.request('kek-rekey');
        rekey.poll(now);
      }
    },
    settle: (now) => {
      inner.settle?.(now);
      check(now);
    },
  };
}
