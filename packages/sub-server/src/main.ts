#!/usr/bin/env node
// The sub-server daemon: `node packages/sub-server/dist/src/main.js --config FILE [--check]`.
// A key server that answers its members with the root's keys (key source `root`) and a cluster layer
// that gets those keys from the root (sub-cluster.ts); its keys, SEQs and registered members survive a
// restart (sub-role.ts, `<state-directory>/state.db`). A server without groups only keeps IKE SAs.
import { join } from 'node:path';
import { runDaemonMain } from '@gvpn/runtime';
import { StoreError, openStore } from '@gvpn/store';
import { createDurableSub } from './sub-role.js';

await runDaemonMain('sub-server', (ctx) => {
  if (ctx.config.role !== 'server' || ctx.config.server.clusterRole !== 'sub-server') return {};
  let store;
  try {
    store = openStore({ path: join(ctx.config.system.stateDirectory, 'state.db'), log: ctx.log });
  } catch (error) {
    if (!(error instanceof StoreError)) throw error;
    ctx.log.error({ err: error.message }, 'cannot open the state store');
    console.error(`state store: ${error.message}`);
    process.exit(78);
  }
  return createDurableSub(ctx, store);
});
