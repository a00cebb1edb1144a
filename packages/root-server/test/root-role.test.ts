/**
 * The root's "written before acted on" outbox (root-role.ts) with a commit that takes time, as on a root
 * pair (the standby must acknowledge): what was held when a commit started leaves once that commit is done,
 * even though the state changed again meanwhile. Under steady registrations it always has; before, the
 * outbox then waited for a round trip with no change at all, and pull answers and pushes stalled.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '@gvpn/crypto';
import type { IkeEndpoint } from '@gvpn/ike';
import type { Registration } from '@gvpn/key-server';
import { ManualClock, createLogger, loadConfig, type Endpoint, type RoleContext, type ServerDaemonConfig } from '@gvpn/runtime';
import { createRootRole } from '../src/root-role.js';

const ROOT = fileURLToPath(new URL('../../../../configs/lab/gdoi/root.yaml', import.meta.url));
const loaded = (await loadConfig(ROOT)).config as ServerDaemonConfig;
const G1 = loaded.server.groups[0];
assert.ok(G1 !== undefined);
// A second group, with no members: its rekey changes the state and sends nothing.
const config: ServerDaemonConfig = { ...loaded, server: { ...loaded.server, groups: [G1, { ...G1, name: 'G2', groupId: 2 }] } };
const silent = createLogger({ level: 'fatal', name: 'root-role-test' });
const noIke = { establishedSas: () => [], status: () => [], initiateGateway: () => true } as unknown as IkeEndpoint;
const MEMBER = '127.0.9.31';
const REKEY = 'request security group-vpn server rekey group';

describe('root role outbox with a slow commit (root pair)', () => {
  it('sends what a finished commit covers while the next commit is still on its way; drain waiters follow', async () => {
    const clock = new ManualClock(10_000);
    const sent: { bytes: Uint8Array; to: Endpoint }[] = [];
    const ctx: RoleContext = {
      config, log: silent, clock, random: seededRandom('root-role'), ike: noIke,
      send: (bytes, to) => sent.push({ bytes, to }), rearm: () => {}, bind: async () => {}, unbind: async () => {},
    };
    const clocks = { mono: clock.now(), wall: Date.now() };
    const first = createRootRole(ctx, { commit: () => undefined });
    const member: Registration = {
      group: G1.name, groupId: G1.groupId, address: MEMBER, endpoint: { address: MEMBER, port: 848 }, gateway: 'GM-0001',
      icookie: '0102030405060708', rcookie: '1112131415161718', registeredAt: clocks.wall, registeredAtMono: clocks.mono,
      lastAckedSeq: null, pendingSeq: null, pushesSent: 0, retransmissions: 0,
    };
    const commits: (() => void)[] = [];
    const role = createRootRole(ctx, {
      resume: { record: first.record(clocks), members: new Map([[G1.name, [member]]]), clocks },
      commit: () => new Promise<void>((resolve) => commits.push(resolve)),
    });
    const rekey = role.handlers?.[REKEY];
    assert.ok(rekey !== undefined);

    await rekey({ group: G1.name }); // a push to the member, held
    role.settle?.(clock.now());
    assert.equal(commits.length, 1, 'commit 1 on its way');
    assert.equal(sent.length, 0, 'nothing leaves before it is done');
    const drained = role.drained?.();
    assert.ok(drained !== undefined, 'something is held');
    let drainedYet = false;
    void drained.then(() => { drainedYet = true; });

    await rekey({ group: 'G2' }); // the state changes again while commit 1 is on its way
    role.settle?.(clock.now());
    assert.equal(commits.length, 1, 'one commit at a time');

    commits[0]?.();
    await new Promise((r) => setImmediate(r));
    assert.equal(sent.length, 1, 'the push commit 1 covers has left');
    assert.equal(sent[0]?.to.address, MEMBER);
    assert.equal(drainedYet, true);
    assert.equal(commits.length, 2, 'commit 2 (G2 rekeyed) started');
    assert.equal(role.drained?.(), undefined, 'nothing held now');
    commits[1]?.();
    await new Promise((r) => setImmediate(r));
    assert.equal(sent.length, 1);
  });
});
