/**
 * A root without a pair partner (a standalone key server, or a cluster root that is a single device): its
 * state goes to the durable store before anything that depends on it leaves (root-role.ts), and a restart
 * resumes from it — the same KEK, TEKs, SEQ and timers, the same pending cluster-updates — so members and
 * sub-servers see no change of keys (issue: kill -9 and restart). A record that cannot be taken over is
 * logged and dropped, with the member rows, and the root starts with fresh keys (as sub-role.ts does)
 * rather than crash-loop on it.
 */
import type { RoleContext, RoleModule } from '@gvpn/runtime';
import { applyMemberChanges, resumeOrDiscard } from '@gvpn/key-server';
import type { Store } from '@gvpn/store';
import { createRootRole, initiateToSubs, type RootRole, type RootRoleOptions } from './root-role.js';
import { ROOT_STATE, type StoredRoot } from './root-state.js';

/** The root module with what a change of role needs (the sub-server daemon's server-role.ts). */
export type DurableRoot = RoleModule & Pick<RootRole, 'deleteAllGroups' | 'rekeyAllGroups'>;

export function createDurableRoot(ctx: RoleContext, store: Store): DurableRoot {
  let stored = store.get(ROOT_STATE.ns, ROOT_STATE.key) as StoredRoot | undefined;
  let version = typeof stored?.version === 'number' ? stored.version : 0;
  const now = ctx.clock.now();
  const clocks = { mono: now, wall: Date.now() };
  const options: RootRoleOptions = {
    // Only member rows when only members changed (most registrations): the record is the larger write.
    commit: (record, members, _clocks, recordChanged) => {
      store.transaction(() => {
        if (recordChanged) store.put(ROOT_STATE.ns, ROOT_STATE.key, { version: ++version, epoch: 0, record } satisfies StoredRoot);
        applyMemberChanges(store, members);
      });
      return undefined;
    },
  };
  const record = stored?.record;
  const resumed = record === undefined ? undefined
    : resumeOrDiscard(store, ROOT_STATE, ctx.log, 'root', clocks, (members) => createRootRole(ctx, { ...options, resume: { record, members, clocks } }));
  if (resumed === undefined) stored = undefined;
  const role = resumed ?? createRootRole(ctx, options);
  ctx.log.info({ resumed: stored !== undefined, version }, stored === undefined ? 'no stored state: fresh keys' : 'resumed from the stored state');
  return {
    ...role,
    start: async (at) => {
      await role.start?.(at);
      // The first run's keys are stored before any member or sub can see them.
      const c = { mono: at, wall: Date.now() };
      store.put(ROOT_STATE.ns, ROOT_STATE.key, { version: ++version, epoch: 0, record: role.record(c) } satisfies StoredRoot);
      if (stored !== undefined) initiateToSubs(ctx);
    },
  };
}
