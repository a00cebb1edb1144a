/**
 * kill -9 and restart of a sub-server with its durable state (issue 5; packages/sub-server/src/sub-role.ts):
 * root, sub1 and gm-0001 (servers [sub1]) in a ClusterLab (a network namespace of this test). The sub keeps
 * its keys, SEQ, registered members, update number and SA expiries in `<state-directory>/state.db`.
 *
 * - Restart in steady state: sub1 comes back with gm-0001 registered and the same KEK, TEK and SEQ, holds
 *   them while its root is inactive, becomes active by cluster-init (R-MSG-2a); gm-0001 never registers
 *   again, and the root's next rekey reaches it through sub1 with a SEQ that continues its own (no replay).
 * - The root rekeys while sub1 is down: back up, sub1's cluster-init brings the new TEK under the same KEK
 *   and sub1 pushes it to gm-0001 with the root's SEQ — again without a new registration.
 * - A corrupt state file: moved aside, sub1 starts clean (its cluster-init brings the keys) and gm-0001,
 *   unknown to it now, misses the next push and registers again when its TEK nears expiry (a second lab,
 *   with a 30 s TEK, side by side so the file stays near a minute).
 *
 * gm-0001's own counters prove "no re-registration": sub1's restart resets sub1's counters.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Cleanup, ClusterLab, exampleAddress, isServer, rootWithSubs, useServers, type ExampleNode, type NodeDocument,
} from '@gvpn/integration';

const GROUP = 'GROUP_ID-0001';
const NODES: ExampleNode[] = ['root', 'sub1', 'gm-0001'];
const GM1 = exampleAddress('gm-0001');

function editFor(tekLifetimeSeconds: number, subs: readonly ExampleNode[] = ['sub1']) {
  return (node: ExampleNode, doc: NodeDocument): void => {
    if (node === 'gm-0001') useServers(doc, subs); // its probes go to members not started: unanswered, harmless
    if (node === 'gm-0002') useServers(doc, ['sub1']);
    if (node === 'root') rootWithSubs(doc, subs);
    if (isServer(node)) doc.security['group-vpn'].server.ipsec.proposal['AES256-SHA256']['lifetime-seconds'] = tekLifetimeSeconds;
  };
}

interface MemberStatistics {
  push: Record<string, number>;
  registration: Record<string, number>;
}

interface RegisteredMembers {
  groups: { members: { address: string; registeredAt: string; lastAckedSeq: number | null; icookie: string }[] }[];
}

const memberStatistics = (lab: ClusterLab): Promise<MemberStatistics> => lab.show<MemberStatistics>('gm-0001', 'ipsec statistics');
const members = async (lab: ClusterLab): Promise<RegisteredMembers['groups'][number]['members']> =>
  (await lab.show<RegisteredMembers>('sub1', 'registered-members')).groups[0]?.members ?? [];

async function kekSeq(lab: ClusterLab, node: ExampleNode): Promise<number> {
  const { sas } = await lab.show<{ sas: { seq: number }[] }>(node, 'kek security-associations');
  const seq = sas[0]?.seq;
  assert.equal(typeof seq, 'number', `${node} KEK SEQ`);
  return seq as number;
}

async function rekey(lab: ClusterLab): Promise<string> {
  const r = (await lab.request('root', ['request', 'security', 'group-vpn', 'server', 'rekey', 'group'], { group: GROUP })) as { spis: string[] };
  const spi = r.spis[0];
  assert.ok(spi !== undefined && r.spis.length === 1, 'the root made one new TEK');
  return spi;
}

async function subActive(lab: ClusterLab, withinMs: number): Promise<void> {
  await lab.until('sub1 active on both sides after its cluster-init', withinMs, async () => {
    if ((await lab.cluster('sub1')).groups[0]?.root !== 'active') return false;
    return (await lab.cluster('root')).groups[0]?.peers.find((p) => p.name === 'SubSrv01')?.state === 'active';
  });
}

const stateDir = (lab: ClusterLab): string => lab.configs.get('sub1').system['state-directory'] as string;

describe('sub-server kill -9 and restart with durable state (issue 5)', { concurrency: true }, () => {
  describe('restarts with the state file: no re-registration, no replay, same SPIs', { concurrency: false }, () => {
    const cleanup = new Cleanup();
    let lab: ClusterLab;
    let kek = '';
    let registrations = 0;
    let replays = 0;

    before(async () => {
      // A 300 s TEK: only the test's rekeys happen during it.
      lab = await ClusterLab.start(cleanup, { label: 'sub-restart', nodes: NODES, start: false, edit: editFor(300) });
      for (const node of NODES) await lab.startNode(node);
      await lab.clusterUp(30_000);
      await lab.membersUp(30_000);
      kek = (await lab.kekSpi('root')) ?? '';
      const s = await memberStatistics(lab);
      registrations = s.registration.registrations ?? 0;
      replays = s.push.replayDropped ?? 0;
      assert.equal(registrations, 1, 'gm-0001 registered once');
    });
    after(() => cleanup.run());

    it('the state file is 0600; after kill -9 sub1 resumes gm-0001\'s registration and the same KEK, TEK and SEQ, root inactive until its cluster-init (R-MSG-2a)', async (t) => {
      const file = join(stateDir(lab), 'state.db');
      assert.equal(statSync(file).mode & 0o777, 0o600, 'state.db mode');
      const teks = await lab.tekSpis('sub1');
      const seq = await kekSeq(lab, 'sub1');
      const [registered] = await members(lab);
      assert.equal(registered?.address, GM1);

      const startedAt = Date.now();
      const logFrom = lab.log('sub1').length; // one log file for every run of sub1
      await lab.restart('sub1');
      // Straight from the store, before any cluster-init could have completed.
      const resumed = await members(lab);
      assert.deepEqual(resumed.map((m) => [m.address, m.registeredAt, m.icookie]), [[GM1, registered?.registeredAt, registered?.icookie]], 'gm-0001 still registered');
      assert.equal(await lab.kekSpi('sub1'), kek, 'same KEK');
      assert.deepEqual(await lab.tekSpis('sub1'), teks, 'same TEK');
      assert.equal(await kekSeq(lab, 'sub1'), seq, 'same SEQ');
      assert.match(lab.log('sub1').slice(logFrom), /resumed from the stored state/);

      await subActive(lab, 20_000);
      t.diagnostic(`sub1 active again ${((Date.now() - startedAt) / 1000).toFixed(1)} s after the restart began`);
      assert.ok(((await lab.statistics('sub1')).cluster?.clusterInitSucceeded ?? 0) >= 1, 'by a cluster-init');
      assert.equal((await lab.cluster('sub1')).groups[0]?.updateSeq, (await lab.cluster('root')).groups[0]?.updateSeq);
      assert.equal(await lab.kekSpi('sub1'), kek);
      assert.deepEqual(await lab.tekSpis('sub1'), teks);
      assert.deepEqual((await members(lab)).map((m) => m.address), [GM1]);
      assert.equal((await memberStatistics(lab)).registration.registrations, registrations, 'gm-0001 did not register again');
      const log = lab.log('sub1').slice(logFrom);
      const resumedAt = log.indexOf('resumed from the stored state: root inactive until cluster-init');
      assert.ok(resumedAt >= 0 && resumedAt < log.indexOf('root active: cluster-init installed the group'), 'resumed inactive, then active by cluster-init');
      assert.doesNotMatch(log, /"msg":"member registered"/, 'the restarted sub1 answered no pull');
    });

    it('the root\'s next rekey reaches gm-0001 through the restarted sub1: SEQ continued (no replay), same KEK, acknowledged', async () => {
      const memberSeq = await kekSeq(lab, 'gm-0001');
      const accepted = (await memberStatistics(lab)).push.pushesAccepted ?? 0;
      const tek = await rekey(lab);
      await lab.until('gm-0001 holding the new TEK', 10_000, async () => (await lab.tekSpis('gm-0001')).includes(tek));
      const s = await memberStatistics(lab);
      assert.equal(s.push.replayDropped, replays, 'no push dropped as a replay');
      assert.ok((s.push.pushesAccepted ?? 0) > accepted, 'the push was accepted');
      assert.equal(s.registration.registrations, registrations, 'gm-0001 did not register again');
      const rootSeq = await kekSeq(lab, 'root');
      assert.ok(rootSeq > memberSeq);
      assert.equal(await kekSeq(lab, 'gm-0001'), rootSeq, 'gm-0001 on the root\'s SEQ');
      assert.equal(await lab.kekSpi('gm-0001'), kek, 'same KEK');
      await lab.until('sub1 seeing gm-0001\'s ACK', 5_000, async () => (await members(lab))[0]?.lastAckedSeq === rootSeq);
      assert.ok(((await lab.statistics('sub1')).gdoi?.acksReceived ?? 0) >= 1);
    });

    it('the root rekeys while sub1 is down: back up, sub1 pushes the new TEK to gm-0001 after its cluster-init (same KEK, root\'s SEQ)', async (t) => {
      await lab.kill('sub1');
      const tek = await rekey(lab);
      const rootSeq = await kekSeq(lab, 'root');
      const downAt = Date.now();
      const logFrom = lab.log('sub1').length;
      await lab.startNode('sub1');
      assert.match(lab.log('sub1').slice(logFrom), /resumed from the stored state/);
      await lab.until('gm-0001 holding the TEK made while sub1 was down', 20_000, async () => (await lab.tekSpis('gm-0001')).includes(tek));
      t.diagnostic(`gm-0001 got the new TEK ${((Date.now() - downAt) / 1000).toFixed(1)} s after sub1 restarted`);
      await subActive(lab, 10_000);
      const s = await memberStatistics(lab);
      assert.equal(s.push.replayDropped, replays, 'no push dropped as a replay');
      assert.equal(s.registration.registrations, registrations, 'gm-0001 did not register again');
      assert.equal(await kekSeq(lab, 'gm-0001'), rootSeq, 'pushed with the root\'s SEQ');
      assert.equal(await lab.kekSpi('gm-0001'), kek, 'same KEK');
      assert.deepEqual(await lab.tekSpis('sub1'), [tek]);
      const sub1 = await lab.statistics('sub1');
      assert.ok((sub1.gdoi?.pushesSent ?? 0) >= 1, 'sub1 pushed');
      assert.equal(sub1.gdoi?.registrations ?? 0, 0, 'sub1 answered no pull');
      await lab.until('the root\'s update to sub1 acknowledged', 10_000, async () =>
        (await lab.cluster('root')).groups[0]?.peers.find((p) => p.name === 'SubSrv01')?.pendingUpdates === 0);
      assert.equal((await lab.cluster('sub1')).groups[0]?.updateSeq, (await lab.cluster('root')).groups[0]?.updateSeq);
    });
  });

  describe('a corrupt state file: moved aside, sub1 starts clean, members register again', { concurrency: false }, () => {
    // Every server alike (R-CONF-4). The root rekeys 8 s before the end (ATD 2 s + push window 2 s x 3);
    // gm-0001, unknown to the recovered sub1, misses that push and refreshes 3 s before the end.
    const TEK_LIFETIME_S = 30;
    // gm-0001 lists sub1 then sub2: its IKE SA with sub1 died with sub1's process, but the member keeps an SA
    // it is registered over and pulls on it until the registration timeout, then moves on to sub2 (see the
    // report of issue 5: members do not yet notice a server's restart). gm-0002, started after the
    // recovery with sub1 only, shows that the recovered sub1 registers members.
    const nodes: ExampleNode[] = ['root', 'sub1', 'sub2', 'gm-0001', 'gm-0002'];
    const cleanup = new Cleanup();
    let lab: ClusterLab;

    before(async () => {
      lab = await ClusterLab.start(cleanup, {
        label: 'sub-restart-corrupt', nodes, start: false, edit: editFor(TEK_LIFETIME_S, ['sub1', 'sub2']),
      });
      for (const node of ['root', 'sub1', 'sub2', 'gm-0001'] as const) await lab.startNode(node);
      await lab.until('sub1 and sub2 active, gm-0001 registered with sub1', 30_000, async () =>
        (await lab.cluster('sub1')).groups[0]?.root === 'active' && (await lab.cluster('sub2')).groups[0]?.root === 'active'
          && (await members(lab)).some((m) => m.address === GM1));
    });
    after(() => cleanup.run());

    it('garbage in state.db and its WAL: sub1 logs it, moves it aside, cluster-inits from nothing and registers new members; no crash loop', async () => {
      await lab.kill('sub1');
      const logFrom = lab.log('sub1').length;
      const file = join(stateDir(lab), 'state.db');
      // The file and its WAL (after kill -9 the last commits are in the WAL, which SQLite would otherwise
      // recover the whole database from, header page included).
      const junk = Buffer.alloc(8192, 'this is not a SQLite database\n');
      writeFileSync(file, junk);
      if (existsSync(`${file}-wal`)) writeFileSync(`${file}-wal`, junk);
      await lab.startNode('sub1');
      assert.ok(readdirSync(stateDir(lab)).some((f) => f.startsWith('state.db.corrupt-')), 'the bad file was moved aside');
      assert.match(lab.log('sub1').slice(logFrom), /state store unusable: moved aside, starting empty/);
      assert.deepEqual(await members(lab), [], 'nothing resumed');
      assert.equal(statSync(file).mode & 0o777, 0o600, 'the fresh state.db is 0600');
      await subActive(lab, 20_000);
      assert.equal(await lab.kekSpi('sub1'), await lab.kekSpi('root'));
      await lab.startNode('gm-0002');
      await lab.until('sub1 registering gm-0002', 15_000, async () => (await members(lab)).some((m) => m.address === exampleAddress('gm-0002')));
      assert.ok(lab.running('sub1'));
    });

    it('gm-0001, no longer known to sub1, misses the next push and registers again when its TEK nears expiry', async (t) => {
      const registrations = (await memberStatistics(lab)).registration.registrations ?? 0;
      const from = Date.now();
      await lab.until('gm-0001 registered again', (TEK_LIFETIME_S + 20) * 1000,
        async () => ((await memberStatistics(lab)).registration.registrations ?? 0) > registrations);
      t.diagnostic(`gm-0001 registered again ${((Date.now() - from) / 1000).toFixed(1)} s later`);
      await lab.until('gm-0001 on the root\'s current TEK', 5_000, async () => {
        const root = await lab.tekSpis('root');
        const mine = await lab.tekSpis('gm-0001');
        return root.length > 0 && root.every((spi) => mine.includes(spi));
      });
      assert.equal(await lab.kekSpi('gm-0001'), await lab.kekSpi('root'));
    });
  });
});
