/**
 * kill -9 and restart of a single root (no pair) with its durable state (issue 5, docs/root-pair.md
 * "Durable state", packages/root-server/src/durable-root.ts): the root keeps its record — KEK with its
 * signing key, TEKs, SEQ, key ages, the cluster's update numbers and pending updates — in
 * `<state-directory>/state.db`, written before anything that depends on it leaves.
 *
 * Two labs side by side (each in its own network namespace), so the file stays near a minute:
 * - root, sub1, sub2, gm-0001 (on sub1) and gm-0002 (on sub2), probing each other; 900 s TEK, 1800 s KEK:
 *   after kill -9 and restart the root has the same KEK and TEK SPIs and SEQ; no member registers again;
 *   the subs stay (or come back) active; the root's next rekey reaches both members with the next SEQ,
 *   accepted (no replay drop), and their probes lose nothing.
 * - root, sub1, gm-0001; 30 s TEK: garbage written over the root's state.db (and WAL) while it is down ->
 *   the store moves it aside and logs the recovery, the root starts with fresh keys (no crash loop); sub1
 *   takes them by cluster-init once its DPD finds the old root gone, and gm-0001 ends on them (it
 *   registers again when the TEK it holds nears its end).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Cleanup, ClusterLab, probeOnly, rootWithSubs, useServers, type ExampleNode, type NodeDocument, type Probe,
} from '@gvpn/integration';

const GROUP = 'GROUP_ID-0001';

interface MemberStatistics {
  push: Record<string, number>;
  registration: Record<string, number>;
  probe: Probe;
}

const memberStatistics = (lab: ClusterLab, node: ExampleNode): Promise<MemberStatistics> => lab.show<MemberStatistics>(node, 'ipsec statistics');
const stateFile = (lab: ClusterLab): string => join(lab.configs.get('root').system['state-directory'] as string, 'state.db');

async function kekSeq(lab: ClusterLab, node: ExampleNode): Promise<number> {
  const { sas } = await lab.show<{ sas: { seq: number }[] }>(node, 'kek security-associations');
  const seq = sas[0]?.seq;
  assert.equal(typeof seq, 'number', `${node} KEK SEQ`);
  return seq as number;
}

function editFor(subs: ExampleNode[], members: ExampleNode[], tekLifetimeSeconds: number, kekLifetimeSeconds: number) {
  return (node: ExampleNode, doc: NodeDocument): void => {
    const server = doc.security['group-vpn'].server;
    if (server !== undefined) {
      // Every server alike (R-CONF-4).
      server.ipsec.proposal['AES256-SHA256']['lifetime-seconds'] = tekLifetimeSeconds;
      server.group[GROUP]['server-member-communication']['lifetime-seconds'] = kekLifetimeSeconds;
    }
    if (node === 'root') rootWithSubs(doc, subs);
    const i = members.indexOf(node);
    if (i >= 0) {
      useServers(doc, [subs[i % subs.length] as ExampleNode]);
      if (members.length > 1) probeOnly(doc, members); // a lone member probes members not started: unanswered, harmless
    }
  };
}

describe('single root kill -9 and restart with durable state (issue 5)', { concurrency: true }, () => {
  describe('restart with the state file: same SPIs and SEQ, no re-registration, the next rekey accepted', { concurrency: false }, () => {
    const SUBS: ExampleNode[] = ['sub1', 'sub2'];
    const MEMBERS: ExampleNode[] = ['gm-0001', 'gm-0002'];
    const NODES: ExampleNode[] = ['root', ...SUBS, ...MEMBERS];
    const cleanup = new Cleanup();
    let lab: ClusterLab;

    const probes = async (): Promise<Probe[]> => Promise.all(MEMBERS.map((m) => lab.probe(m)));

    before(async () => {
      lab = await ClusterLab.start(cleanup, { label: 'root-restart', nodes: NODES, start: false, edit: editFor(SUBS, MEMBERS, 900, 1800) });
      for (const node of NODES) await lab.startNode(node);
      await lab.clusterUp(30_000);
      await lab.membersUp(30_000);
    });
    after(() => cleanup.run());

    it('kill -9 and restart: same KEK, TEK and SEQ from the store; the subs keep or regain the root; no member registers again', async (t) => {
      assert.equal(statSync(stateFile(lab)).mode & 0o777, 0o600, 'state.db mode');
      const kek = await lab.kekSpi('root');
      const teks = await lab.tekSpis('root');
      const seq = await kekSeq(lab, 'root');
      const registrations = await Promise.all(MEMBERS.map(async (m) => (await memberStatistics(lab, m)).registration.registrations));
      assert.deepEqual(registrations, MEMBERS.map(() => 1), 'each member registered once');
      const p0 = await probes();

      const restartedAt = Date.now();
      await lab.restart('root');
      assert.match(lab.log('root'), /resumed from the stored state/);
      assert.equal(await lab.kekSpi('root'), kek, 'same KEK SPI');
      assert.deepEqual(await lab.tekSpis('root'), teks, 'same TEK SPIs');
      assert.equal(await kekSeq(lab, 'root'), seq, 'same SEQ');

      await lab.clusterUp(30_000);
      t.diagnostic(`both subs active on both sides ${Date.now() - restartedAt} ms after the restart began`);
      for (const sub of SUBS) {
        assert.equal(await lab.kekSpi(sub), kek, `${sub} KEK`);
        assert.deepEqual(await lab.tekSpis(sub), teks, `${sub} TEK`);
      }
      for (const [i, m] of MEMBERS.entries()) {
        assert.equal((await memberStatistics(lab, m)).registration.registrations, registrations[i], `${m} did not register again`);
        assert.equal(await lab.kekSpi(m), kek, `${m} KEK`);
      }
      await lab.until('both members receiving probes after the restart', 5_000, async () =>
        (await probes()).every((p, i) => p.received >= (p0[i]?.received ?? 0) + 4));
      const p1 = await probes();
      for (const [i, m] of MEMBERS.entries()) {
        for (const k of ['authFailures', 'noSa', 'gaps', 'sendFailures'] as const) assert.equal(p1[i]?.[k], p0[i]?.[k], `${m} probe ${k}`);
      }
    });

    it('the restarted root\'s next rekey reaches the members with the next SEQ: accepted, no replay drop, same KEK, no probe lost', async () => {
      const kek = await lab.kekSpi('root');
      const seq = await kekSeq(lab, 'root');
      const before = await Promise.all(MEMBERS.map((m) => memberStatistics(lab, m)));
      const p0 = await probes();
      const r = (await lab.request('root', ['request', 'security', 'group-vpn', 'server', 'rekey', 'group'], { group: GROUP })) as { spis: string[] };
      const tek = r.spis[0];
      assert.ok(tek !== undefined && r.spis.length === 1);
      const rootSeq = await kekSeq(lab, 'root');
      assert.equal(rootSeq, seq + 1, 'the root\'s SEQ continues from the stored one');
      for (const m of MEMBERS) await lab.until(`${m} holding the new TEK`, 15_000, async () => (await lab.tekSpis(m)).includes(tek));
      for (const [i, m] of MEMBERS.entries()) {
        const s = await memberStatistics(lab, m);
        assert.equal(s.push.replayDropped, before[i]?.push.replayDropped, `${m}: no push dropped as a replay`);
        assert.ok((s.push.pushesAccepted ?? 0) > (before[i]?.push.pushesAccepted ?? 0), `${m} accepted the push`);
        assert.equal(s.registration.registrations, before[i]?.registration.registrations, `${m} did not register again`);
        assert.equal(await kekSeq(lab, m), rootSeq, `${m} on the root's SEQ`);
        assert.equal(await lab.kekSpi(m), kek, `${m} same KEK`);
      }
      // Past the activation delay (2 s) both send under the new TEK.
      await new Promise((r) => setTimeout(r, 3_000));
      const p1 = await probes();
      for (const [i, m] of MEMBERS.entries()) {
        for (const k of ['authFailures', 'noSa', 'gaps', 'sendFailures'] as const) assert.equal(p1[i]?.[k], p0[i]?.[k], `${m} probe ${k}`);
      }
    });
  });

  describe('a corrupt state file: moved aside, fresh keys, members end on them', { concurrency: false }, () => {
    // The root rekeys 8 s before a TEK's end (ATD 2 s + push window 2 s x 3); a member whose push cannot
    // reach it refreshes 3 s before the end.
    const TEK_LIFETIME_S = 30;
    const NODES: ExampleNode[] = ['root', 'sub1', 'gm-0001'];
    const cleanup = new Cleanup();
    let lab: ClusterLab;

    before(async () => {
      lab = await ClusterLab.start(cleanup, { label: 'root-restart-corrupt', nodes: NODES, start: false, edit: editFor(['sub1'], ['gm-0001'], TEK_LIFETIME_S, 1800) });
      for (const node of NODES) await lab.startNode(node);
      await lab.clusterUp(30_000);
      await lab.membersUp(30_000);
    });
    after(() => cleanup.run());

    it('garbage in state.db: the root logs it, moves it aside, starts with fresh keys, keeps running; sub1 and gm-0001 end on its new keys', async (t) => {
      const oldKek = await lab.kekSpi('root');
      await lab.kill('root');
      const file = stateFile(lab);
      // The file and its WAL (after kill -9 the last commits are in the WAL, from which SQLite would
      // otherwise rebuild the whole database, header page included).
      const junk = Buffer.alloc(8192, 'this is not a SQLite database\n');
      writeFileSync(file, junk);
      if (existsSync(`${file}-wal`)) writeFileSync(`${file}-wal`, junk);
      const restartedAt = Date.now();
      await lab.startNode('root');
      const dir = lab.configs.get('root').system['state-directory'] as string;
      assert.ok(readdirSync(dir).some((f) => f.startsWith('state.db.corrupt-')), 'the bad file was moved aside');
      assert.match(lab.log('root'), /state store unusable: moved aside, starting empty/);
      assert.match(lab.log('root'), /no stored state: fresh keys/);
      assert.equal(statSync(file).mode & 0o777, 0o600, 'the fresh state.db is 0600');
      const kek = await lab.kekSpi('root');
      assert.ok(kek !== undefined && kek !== oldKek, 'a fresh KEK');

      await lab.until('sub1 on the root\'s new KEK', 40_000, async () => (await lab.kekSpi('sub1')) === (await lab.kekSpi('root')));
      t.diagnostic(`sub1 on the new KEK ${Date.now() - restartedAt} ms after the restart`);
      await lab.until('gm-0001 on the root\'s new KEK and current TEK', (TEK_LIFETIME_S + 30) * 1000, async () => {
        const root = await lab.tekSpis('root');
        const mine = await lab.tekSpis('gm-0001');
        return (await lab.kekSpi('gm-0001')) === (await lab.kekSpi('root')) && root.length > 0 && root.every((spi) => mine.includes(spi));
      });
      t.diagnostic(`gm-0001 on the new keys ${Date.now() - restartedAt} ms after the restart`);
      assert.ok(lab.running('root'), 'no crash loop');
      await lab.clusterUp(10_000);
    });
  });
});
