/**
 * A damaged root record (root-state.ts resumeFrom, durable-root.ts): every part of `cluster` is checked
 * before anything is built, so damage is a GroupRecordError naming it, not a TypeError; and a single root
 * whose stored record is damaged logs it, drops it with the member rows and starts with fresh keys instead of
 * crash-looping on every start.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '@gvpn/crypto';
import type { IkeEndpoint } from '@gvpn/ike';
import { GroupRecordError, MEMBER_ROWS } from '@gvpn/key-server';
import { ManualClock, createLogger, loadConfig, type RoleContext, type ServerDaemonConfig } from '@gvpn/runtime';
import { openStore } from '@gvpn/store';
import { createDurableRoot } from '../src/durable-root.js';
import { createRootRole } from '../src/root-role.js';
import { ROOT_STATE, resumeFrom, type RootRecord, type StoredRoot } from '../src/root-state.js';

const ROOT = fileURLToPath(new URL('../../../../configs/lab/gdoi/root.yaml', import.meta.url));
const loaded = (await loadConfig(ROOT)).config as ServerDaemonConfig;
const G1 = loaded.server.groups[0];
assert.ok(G1 !== undefined);
const config: ServerDaemonConfig = { ...loaded, server: { ...loaded.server, groups: [G1] } };
const noIke = { establishedSas: () => [], status: () => [], initiateGateway: () => true } as unknown as IkeEndpoint;

const dir = mkdtempSync(join(tmpdir(), 'gvpn-root-state-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function context(destination?: { write(line: string): void }): RoleContext {
  return {
    config, log: createLogger({ level: 'info', name: 'root-state-test', ...(destination === undefined ? {} : { destination }) }),
    clock: new ManualClock(10_000), random: seededRandom('root-state'), ike: noIke,
    send: () => {}, rearm: () => {}, bind: async () => {}, unbind: async () => {},
  };
}

const clocks = { mono: 10_000, wall: Date.now() };
const good: RootRecord = createRootRole(context({ write: () => {} }), { commit: () => undefined }).record(clocks);
const sub = { name: 'sub1', state: 'active', queue: [], lastExchangeAt: null };
const withCluster = (cluster: unknown): RootRecord => ({ ...good, cluster } as unknown as RootRecord);

describe('root record', () => {
  it('a damaged cluster part is a GroupRecordError, whatever the damage', () => {
    const damaged: Array<[string, unknown]> = [
      ['not a list', 7],
      ['an entry not an object', [null]],
      ['no state', [{ group: 'G1' }]],
      ['a state not an object', [{ group: 'G1', state: 7 }]],
      ['seqs not pairs', [{ group: 'G1', state: { seqs: [[1]], subs: [] } }]],
      ['subs missing', [{ group: 'G1', state: { seqs: [] } }]],
      ['a sub without a name', [{ group: 'G1', state: { seqs: [], subs: [{ ...sub, name: 3 }] } }]],
      ['a queue not a list', [{ group: 'G1', state: { seqs: [], subs: [{ ...sub, queue: {} }] } }]],
      ['an update of no known kind', [{ group: 'G1', state: { seqs: [], subs: [{ ...sub, queue: [{ kind: 'x', groupId: 1, updateSeq: 1 }] }] } }]],
      ['an update-keys without keys', [{ group: 'G1', state: { seqs: [], subs: [{ ...sub, queue: [{ kind: 'update-keys', groupId: 1, updateSeq: 1 }] }] } }]],
      ['a bad last exchange', [{ group: 'G1', state: { seqs: [], subs: [{ ...sub, lastExchangeAt: 'x' }] } }]],
    ];
    for (const [what, cluster] of damaged) {
      assert.throws(() => resumeFrom(withCluster(cluster), new Map(), clocks), GroupRecordError, what);
    }
    assert.throws(() => resumeFrom(null as unknown as RootRecord, new Map(), clocks), GroupRecordError, 'no record at all');
    const fine = resumeFrom(withCluster([{ group: 'G1', state: { seqs: [[1, 2]], subs: [sub] } }]), new Map(), clocks);
    assert.equal(fine.cluster.get('G1')?.subs[0]?.name, 'sub1');
  });

  it('a single root with a damaged stored record logs it, drops it and its member rows, and starts with fresh keys', async () => {
    const store = openStore({ path: join(dir, 'durable', 'state.db'), log: { info: () => {}, error: () => {} }, env: {} });
    after(() => store.close());
    store.transaction(() => {
      store.put(ROOT_STATE.ns, ROOT_STATE.key, { version: 4, epoch: 0, record: withCluster([{ group: 'G1', state: 7 }]) } satisfies StoredRoot);
      store.put(MEMBER_ROWS, 'G1\u000010.0.0.1', { address: '10.0.0.1', endpoint: { address: '10.0.0.1', port: 848 }, gateway: 'GM-1', registeredAtWall: clocks.wall });
    });
    const lines: Array<Record<string, unknown>> = [];
    const ctx = context({ write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const root = createDurableRoot(ctx, store);
    const error = lines.find((l) => l['msg'] === 'stored root state unusable: starting clean (members register again)');
    assert.ok(error !== undefined, 'the damage is logged');
    assert.match(String(error['err']), /cluster/);
    assert.equal(store.list(MEMBER_ROWS).length, 0);
    await root.start?.(ctx.clock.now());
    const fresh = store.get(ROOT_STATE.ns, ROOT_STATE.key) as StoredRoot;
    assert.deepEqual(fresh.record.cluster, []);
    assert.notDeepEqual(fresh.record.groups[0]?.kek, good.groups[0]?.kek, 'fresh keys');
    await root.stop?.(ctx.clock.now());
  });
});
