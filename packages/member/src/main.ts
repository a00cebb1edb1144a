#!/usr/bin/env node
// The group member daemon: `node packages/member/dist/src/main.js --config FILE [--check]`.
// Its registrations survive a restart in `<state-directory>/state.db` (durable.ts).
import { runDaemonMain } from '@gvpn/runtime';
import { openDaemonStore } from '@gvpn/store';
import { memberModule } from './agent.js';
import { MemberStateStore } from './durable.js';

await runDaemonMain('member', (ctx) => {
  const store = openDaemonStore(ctx.config.system, ctx.log);
  return memberModule(ctx, new MemberStateStore(store, ctx.log));
});
