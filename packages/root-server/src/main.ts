#!/usr/bin/env node
// The root-server daemon: `node packages/root-server/dist/src/main.js --config FILE [--check]`.
// A standalone key server (GCKS), or the root of a server cluster: the key server makes every key, and the
// cluster layer hands them to the sub-servers (root-cluster.ts).
import { createGcks, type Gcks } from '@gvpn/key-server';
import { composeRoles, runDaemonMain } from '@gvpn/runtime';
import { createRootCluster } from './root-cluster.js';

await runDaemonMain('root-server', (ctx) => {
  if (ctx.config.role !== 'server' || ctx.config.server.clusterRole !== 'root-server') return createGcks(ctx);
  const cluster = createRootCluster(ctx, () => gcks);
  const gcks: Gcks = createGcks(ctx, { onKeysChanged: (group, change, now) => cluster.keysChanged(group, change, now) });
  return composeRoles([cluster, gcks]);
});
