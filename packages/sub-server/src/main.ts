#!/usr/bin/env node
// The sub-server daemon: `node packages/sub-server/dist/src/main.js --config FILE [--check]`.
// A key server that answers its members with the root's keys (key source `root`) and a cluster layer
// that gets those keys from the root (sub-cluster.ts); its keys, SEQs and registered members survive a
// restart (sub-role.ts, `<state-directory>/state.db`). A server without groups only keeps IKE SAs.
import { runDaemonMain } from '@gvpn/runtime';
import { openDaemonStore } from '@gvpn/store';
import { createDurableSub } from './sub-role.js';

await runDaemonMain('sub-server', (ctx) => {
  if (ctx.config.role !== 'server' || ctx.config.server.clusterRole !== 'sub-server') return {};
  const store = openDaemonStore(ctx.config.system, ctx.log);
  return createDurableSub(ctx, store);
});
