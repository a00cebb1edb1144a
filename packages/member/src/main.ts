#!/usr/bin/env node
// The group member daemon: `node packages/member/dist/src/main.js --config FILE [--check]`.
import { runDaemonMain } from '@gvpn/runtime';
import { memberModule } from './agent.js';

await runDaemonMain('member', memberModule);
