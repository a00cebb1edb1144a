#!/usr/bin/env node
// The sub-server daemon: `node packages/sub-server/dist/src/main.js --config FILE [--check]`.
// A key server that answers its members with the root's keys (key source `root`) and a cluster layer
// that gets those keys from the root (sub-cluster.ts); its keys, SEQs and registered members survive a
// restart (sub-role.ts, `<state-directory>/state.db`). A commit may make it a standalone server or a root,
// or a sub again (server-role.ts), so it starts with any server configuration but a root pair's. A server
// without groups only keeps IKE SAs.
import { runDaemonMain } from '@gvpn/runtime';
import { openDaemonStore } from '@gvpn/store';
import { createServerRole } from './server-role.js';

await runDaemonMain('sub-server', (ctx) => {
  if (ctx.config.role !== 'server' || ctx.config.server.groups.length === 0) return {};
  const store = openDaemonStore(ctx.config.system, ctx.log);
  return createServerRole(ctx, store);
});
