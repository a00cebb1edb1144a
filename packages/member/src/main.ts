#!/usr/bin/env node
// The group member daemon: `node packages/member/dist/src/main.js --config FILE [--check]`.
// Its registrations survive a restart in `<state-directory>/state.db` (durable.ts).
import { join } from 'node:path';
import { runDaemonMain } from '@gvpn/runtime';
import { StoreError, openStore } from '@gvpn/store';
import { memberModule } from './agent.js';
import { MemberStateStore } from './durable.js';

/** sysexits(3) EX_CONFIG: a key problem (no key, wrong key, bad key file) that a restart will not cure. */
const EXIT_CONFIG = 78;

await runDaemonMain('member', (ctx) => {
  let store;
  try {
    // Sealed with GVPN_STATE_KEY when it is set (packages/store, state-key.ts); an unusable file is moved
    // aside and the member starts empty (store.recovered) and registers.
    store = openStore({ path: join(ctx.config.system.stateDirectory, 'state.db'), log: ctx.log });
  } catch (error) {
    if (!(error instanceof StoreError)) throw error;
    ctx.log.error({ err: error.message, code: error.code }, 'cannot open the state store');
    console.error(`state store: ${error.message}`);
    process.exit(EXIT_CONFIG);
  }
  return memberModule(ctx, new MemberStateStore(store, ctx.log));
});
