#!/usr/bin/env node
// The root-server daemon: `node packages/root-server/dist/src/main.js --config FILE [--check]`.
import { runDaemonMain } from '@gvpn/runtime';

await runDaemonMain('root-server');
