#!/usr/bin/env node
// The root-server daemon: `node packages/root-server/dist/src/main.js --config FILE [--check]`.
// Today a standalone GDOI key server (GCKS) on top of the shared daemon host; see gcks.ts.
import { runDaemonMain } from '@gvpn/runtime';
import { createGcks } from './gcks.js';

await runDaemonMain('root-server', createGcks);
