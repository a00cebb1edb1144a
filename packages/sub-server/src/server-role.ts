/**
 * The sub-server daemon's role: a sub (sub-role.ts), or — after a commit that changes the server's place
 * in the cluster — a standalone server or a root (`@gvpn/root-server`'s durable root), switched in-process
 * (R-CHG-2.2a on a sub, 2.2b, 2.2f on a sub). The module in use is picked from the configuration at start
 * and on each commit that moves the server to or from `server-role sub-server`:
 *
 * - sub -> standalone (2.2f): the IKE SAs of the group's members and of the root are deleted, every key and
 *   registered member is dropped (nothing is pushed: a sub deletes nothing on its members by itself,
 *   R-MSG-9), the root is no longer asked; the new module makes fresh keys from the configuration.
 * - sub -> root (2.2b): the keys (KEK with its signing key, TEKs, SEQ) and registered members are carried
 *   over as the root's stored record; then a TEK rekey and a KEK rekey are pushed to those members, and
 *   the sub-servers get the new keys by cluster-init.
 * - standalone or root -> sub (2.2a, 2.2b): "delete all" is pushed to the members and sent to the active
 *   subs (then sent, before the host deletes the IKE SAs of the group's members and cluster peers), every
 *   key and member is dropped, and cluster-init with the new root starts.
 *
 * The leaving module's outbox goes out before it is dropped; the stored records of the old role are
 * deleted (or converted), so a restart with the new file resumes the new role only. Why here and not in
 * the root-server daemon: the dependency goes sub-server -> root-server only (no cycle); so this daemon
 * plays every server role and the root-server daemon refuses a sub configuration (runtime's
 * `checkDaemonKind`). A root pair (chassis-cluster) runs only as the root-server daemon and never changes
 * role: both nodes would have to switch together, which RG0 does not coordinate.
 */
import { GCKS_COMMANDS, MEMBER_ROWS } from '@gvpn/key-server';
import { createDurableRoot, ROOT_STATE, type DurableRoot, type StoredRoot } from '@gvpn/root-server';
import { ControlCommandError, type ApplyResult, type ConfigChange, type ControlHandler, type DaemonConfig, type RoleContext, type RoleModule } from '@gvpn/runtime';
import type { Store } from '@gvpn/store';
import { createDurableSub } from './sub-role.js';
import { SUB_STATE, type StoredSub } from './sub-state.js';

const CLUSTER_COMMAND = 'show security group-vpn server server-cluster';

type Played = { kind: 'sub'; module: RoleModule } | { kind: 'root'; module: DurableRoot };

const isSub = (config: DaemonConfig): boolean => config.role === 'server' && config.server.clusterRole === 'sub-server';

/** Gateways whose IKE SAs the old role's group work used: its members' and its cluster peers'. */
function groupGateways(config: DaemonConfig): string[] {
  const groups = config.server?.groups ?? [];
  return [...new Set(groups.flatMap((g) => [...g.memberGateways.map((m) => m.name), ...(g.serverCluster?.peers.map((p) => p.name) ?? [])]))];
}

export function createServerRole(ctx: RoleContext, store: Store): RoleModule {
  const log = ctx.log.child({ component: 'server-role' });
  /** The configuration the module in use was made for (ctx.config turns into it only after `applied`). */
  let latest: DaemonConfig | undefined;
  const roleCtx: RoleContext = {
    get config() {
      return latest ?? ctx.config;
    },
    log: ctx.log, clock: ctx.clock, random: ctx.random, ike: ctx.ike,
    send: (bytes, to) => ctx.send(bytes, to),
    rearm: () => ctx.rearm(),
    bind: () => ctx.bind(),
    unbind: () => ctx.unbind(),
  };
  const make = (): Played => (isSub(roleCtx.config)
    ? { kind: 'sub', module: createDurableSub(roleCtx, store) }
    : { kind: 'root', module: createDurableRoot(roleCtx, store) });
  let played = make();

  /** The stored records of the old role go; with `keep`, the sub's groups become the root's record. */
  function replaceRecords(keep: boolean): void {
    store.transaction(() => {
      const sub = keep ? store.get<StoredSub>(SUB_STATE.ns, SUB_STATE.key) : undefined;
      store.delete(SUB_STATE.ns, SUB_STATE.key);
      store.delete(ROOT_STATE.ns, ROOT_STATE.key);
      if (sub !== undefined) {
        store.put(ROOT_STATE.ns, ROOT_STATE.key, { version: 1, epoch: 0, record: { groups: sub.record.groups, cluster: [] } } satisfies StoredRoot);
      } else {
        store.clear(MEMBER_ROWS);
      }
    });
  }

  function start(p: Played, now: number): void {
    void Promise.resolve(p.module.start?.(now)).catch((e: unknown) => log.error({ err: (e as Error).message }, 'the new role did not start'));
  }

  /** A commit that moves the server to or from the sub role: the old module leaves, the new one starts. */
  function switchRole(next: DaemonConfig, changes: readonly ConfigChange[], now: number): ApplyResult {
    const old = played;
    const from = ctx.config.server?.clusterRole;
    const to = next.server?.clusterRole;
    const carry = old.kind === 'sub' && to === 'root-server';
    // Sub -> root keeps its members (pushes need no IKE SA); every other switch ends the group's IKE SAs.
    const reset = carry ? [] : groupGateways(ctx.config);
    const applied: string[] = [];
    if (old.kind === 'root') {
      old.module.deleteAllGroups(now);
      applied.push('"delete all" pushed to the members and sent to the active sub-servers; every key deleted');
    } else {
      applied.push('every key and registered member dropped; the root is no longer asked');
    }
    // Its last datagrams leave on the IKE SAs the host deletes next. It is then dropped, not stopped: its
    // timers are the host's (nextDeadline), and a stop would store its record again after replaceRecords.
    old.module.settle?.(now);
    replaceRecords(carry);
    latest = next;
    played = make();
    start(played, now);
    if (played.kind === 'root' && carry) {
      played.module.rekeyAllGroups(now);
      applied.push('keys and registered members kept: TEK rekey and KEK rekey pushed to the members; sub-servers get the new keys by cluster-init');
    } else if (played.kind === 'root') {
      applied.push('new KEK and TEKs made from the configuration');
    } else {
      applied.push('cluster-init with the root started');
    }
    log.info({ from, to, cells: changes.map((c) => c.cell), reset }, 'server role changed by a commit');
    return { applied: [`server role ${from} -> ${to}: ${applied.join('; ')}`], resetGateways: reset };
  }

  const handler = (words: string): ControlHandler => (opts) => {
    const h = played.module.handlers?.[words];
    if (h === undefined) throw new ControlCommandError('NOT_SUPPORTED', `not available in this server's role (${roleCtx.config.server?.clusterRole ?? 'none'})`);
    return h(opts);
  };
  const words = new Set([...GCKS_COMMANDS, CLUSTER_COMMAND, ...Object.keys(played.module.handlers ?? {})]);

  return {
    preIke: (bytes, from, now) => played.module.preIke?.(bytes, from, now) ?? false,
    ikeEvents: {
      saUp: (sa) => played.module.ikeEvents?.saUp?.(sa),
      saDown: (sa, reason) => played.module.ikeEvents?.saDown?.(sa, reason),
      peerDead: (g) => played.module.ikeEvents?.peerDead?.(g),
      negotiationFailed: (g, r) => played.module.ikeEvents?.negotiationFailed?.(g, r),
      phase2: (sa, d, now) => played.module.ikeEvents?.phase2?.(sa, d, now),
    },
    handlers: Object.fromEntries([...words].map((w) => [w, handler(w)])),
    statisticsSections: () => played.module.statisticsSections?.() ?? {},
    nextDeadline: () => played.module.nextDeadline?.(),
    poll: (now) => played.module.poll?.(now),
    settle: (now) => played.module.settle?.(now),
    drained: () => played.module.drained?.(),
    start: (now) => played.module.start?.(now),
    stop: (now) => played.module.stop?.(now),
    applyConfig: (next, changes, now) => {
      const result = isSub(next) !== (played.kind === 'sub')
        ? switchRole(next, changes, now)
        : played.module.applyConfig?.(next, changes, now) ?? { refused: 'this server applies no change live' };
      if ('applied' in result) latest = next;
      return result;
    },
  };
}
