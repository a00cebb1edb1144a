#!/usr/bin/env node
// The sub-server daemon: `node packages/sub-server/dist/src/main.js --config FILE [--check]`.
// A key server that answers its members with the root's keys (key source `root`) and a cluster layer
// that gets those keys from the root (sub-cluster.ts). A server without groups only keeps IKE SAs.
import { createGcks, type Gcks } from '@gvpn/key-server';
import { composeRoles, runDaemonMain } from '@gvpn/runtime';
import { createSubCluster } from './sub-cluster.js';

await runDaemonMain('sub-server', (ctx) => {
  if (ctx.config.role !== 'server' || ctx.config.server.clusterRole !== 'sub-server') return {};
  const cluster = createSubCluster(ctx, () => gcks);
  const gcks: Gcks = createGcks(ctx, { keySource: 'root', accepting: (groupId) => cluster.accepting(groupId) });
  return composeRoles([cluster, gcks]);
});
