/**
 * A root's cluster-update for an ipsec-sa added to a running group (R-CHG-1.5a): the sub gets the whole TEK
 * set, and each TEK says what it has left on the root. The TEK that stays is as old as before; a sub that
 * took it for new would hand it out with a lifetime the root never gave it (root-cluster.ts keysChanged).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '@gvpn/crypto';
import { hex } from '@gvpn/gdoi';
import type { IkeEndpoint } from '@gvpn/ike';
import { createGcks, groupPolicy, type Gcks } from '@gvpn/key-server';
import { ManualClock, createLogger, loadConfig, type RoleContext, type ServerDaemonConfig } from '@gvpn/runtime';
import { createRootCluster, type RootCluster } from '../src/root-cluster.js';

const ROOT = fileURLToPath(new URL('../../../../configs/lab/example/root.yaml', import.meta.url));
const config = (await loadConfig(ROOT)).config as ServerDaemonConfig;
const G = config.server.groups[0];
assert.ok(G !== undefined);
const first = G.ipsecSas[0];
assert.ok(first !== undefined);
const noIke = { establishedSas: () => [], status: () => [], initiateGateway: () => true } as unknown as IkeEndpoint;
const AGE_MS = 30_000;

describe('root cluster-update of an ipsec-sa added (R-CHG-1.5a)', () => {
  it('carries every TEK with what it has left: the kept one its age, not a new lifetime', () => {
    const clock = new ManualClock(10_000);
    const ctx: RoleContext = {
      config, log: createLogger({ level: 'fatal', name: 'root-cluster-multi-sa-test' }), clock, random: seededRandom('root-multi-sa'),
      ike: noIke, send: () => {}, rearm: () => {}, bind: async () => {}, unbind: async () => {},
    };
    // SubSrv01 active (as after its cluster-init): updates queue up for it (no IKE SA here, so none leaves).
    const sub = { name: 'SubSrv01', state: 'active' as const, queue: [], lastExchangeAt: undefined };
    let cluster: RootCluster | undefined;
    const gcks: Gcks = createGcks(ctx, { onKeysChanged: (g, change, now) => cluster?.keysChanged(g, change, now) });
    cluster = createRootCluster(ctx, () => gcks, new Map([[G.name, { seqs: [], subs: [sub] }]]));
    const group = gcks.group(G.name);
    assert.ok(group !== undefined);

    clock.advance(AGE_MS);
    const extra = { ...first, name: 'EXTRA', matchPolicy: { ...first.matchPolicy, source: '10.20.0.0/16', destination: '10.20.0.0/16' } };
    const added = groupPolicy({ ...G, ipsecSas: [first, extra] }, config.system.listen).teks.filter((t) => t.name === 'EXTRA');
    gcks.rekeyOf(group).addTeks(added, clock.now());

    const update = cluster.exportState().find((s) => s.group === G.name)?.state.subs.find((s) => s.name === sub.name)?.queue[0];
    assert.ok(update !== undefined && update.kind === 'update-keys', 'an update-keys queued for the sub');
    assert.equal(update.keys.teks.length, 2);
    const left = (Math.floor((group.teksCreatedAt + first.proposal.lifetimeSeconds * 1000 - clock.now()) / 1000));
    assert.equal(left, first.proposal.lifetimeSeconds - AGE_MS / 1000);
    assert.deepEqual(update.lifetimes.map((l) => [hex(l.spi), l.remainingSeconds]), update.keys.teks.map((t) => [hex(t.spi), left]),
      'each TEK with the seconds it has left on the root (they are rekeyed together)');
  });
});
