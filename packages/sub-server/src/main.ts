#!/usr/bin/env node
// The sub-server daemon: `node packages/sub-server/dist/src/main.js --config FILE [--check]`.
import { runDaemonMain } from '@gvpn/runtime';

await runDaemonMain('sub-server');
