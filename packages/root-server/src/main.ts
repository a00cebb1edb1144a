#!/usr/bin/env node
// The root-server daemon: `node packages/root-server/dist/src/main.js --config FILE [--check]`.
// A standalone key server (GCKS), or the root of a server cluster: the key server makes every key, and the
// cluster layer hands them to the sub-servers (root-role.ts). Its state survives a restart (durable-root.ts);
// with `chassis-cluster` it is one node of the root pair (pair/rg0.ts, docs/root-pair.md).
import { runDaemonMain } from '@gvpn/runtime';
import { openDaemonStore } from '@gvpn/store';
import { createDurableRoot } from './durable-root.js';
import { createRootPair } from './pair/rg0.js';

await runDaemonMain('root-server', (ctx) => {
  const store = openDaemonStore(ctx.config.system, ctx.log);
  const pair = ctx.config.chassisCluster;
  return pair === null ? createDurableRoot(ctx, store) : createRootPair(ctx, pair, store);
});
