/**
 * The root frozen with SIGSTOP (its process stays, its sockets stay bound: only DPD can tell) in a
 * namespace of this test: root, sub1, sub2, gm-0001 (servers sub1, sub2) and, while the root is frozen,
 * gm-0002 (servers sub2, sub1). Real time, lab DPD of 5 s x 3.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanup, ClusterLab, probeOnly, rootWithSubs, useServers } from '@gvpn/integration';

const DPD_INTERVAL_S = 5;
const DPD_THRESHOLD = 3;

describe('root frozen: sub-servers mark it inactive, refuse registrations, keep member SAs (R-DPD-3/4, R-MSG-2a)', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;
  let frozenAt = 0;
  let tek: string[] = [];

  before(async () => {
    lab = await ClusterLab.start(cleanup, {
      label: 'cluster-root-freeze', nodes: ['root', 'sub1', 'sub2', 'gm-0001', 'gm-0002'], start: false,
      edit: (node, doc) => {
        if (node === 'gm-0001') useServers(doc, ['sub1', 'sub2']);
        if (node === 'gm-0002') useServers(doc, ['sub2', 'sub1']);
        if (node.startsWith('gm-')) probeOnly(doc, ['gm-0001', 'gm-0002']);
        if (node === 'root') rootWithSubs(doc, ['sub1', 'sub2']);
      },
    });
    for (const node of ['root', 'sub1', 'sub2', 'gm-0001'] as const) await lab.startNode(node);
    await lab.clusterUp(30_000);
    await lab.until('gm-0001 registered', 30_000, async () => (await lab.tekSpis('gm-0001')).length > 0);
    tek = await lab.tekSpis('gm-0001');
  });
  after(async () => {
    if (lab !== undefined && lab.running('root')) lab.signal('root', 'SIGCONT');
    await cleanup.run();
  });

  it('R-DPD-3: both subs mark the root inactive after DPD interval x threshold of silence', async () => {
    lab.signal('root', 'SIGSTOP');
    frozenAt = Date.now();
    for (const sub of ['sub1', 'sub2'] as const) {
      await lab.until(`${sub} marking the root inactive`, 40_000, async () => (await lab.cluster(sub)).groups[0]?.root === 'inactive');
    }
    const seconds = (Date.now() - frozenAt) / 1000;
    // The last ACK came at most one interval before the freeze; each unanswered probe gets one interval.
    assert.ok(seconds >= DPD_INTERVAL_S * DPD_THRESHOLD - DPD_INTERVAL_S, `inactive after ${seconds} s: too early`);
    assert.ok(seconds <= DPD_INTERVAL_S * (DPD_THRESHOLD + 1) + 3, `inactive after ${seconds} s: too late`);
    for (const sub of ['sub1', 'sub2'] as const) {
      const g = (await lab.cluster(sub)).groups[0];
      assert.equal(g?.peers[0]?.state, 'inactive');
      assert.equal(g?.initInProgress, true, 'cluster-init keeps trying (R-MSG-2a)');
      assert.ok(((await lab.statistics(sub)).cluster?.peersMarkedInactive ?? 0) >= 1);
    }
  });

  it('R-DPD-4: a new member is refused by every sub (no pull response) and keeps moving on', async () => {
    await lab.startNode('gm-0002');
    await lab.until('gm-0002 refused by both subs', 30_000, async () => {
      const refused = await Promise.all(['sub1', 'sub2'].map(async (s) => (await lab.statistics(s as 'sub1')).cluster?.registrationsRefusedRootInactive ?? 0));
      return refused.every((n) => n > 0);
    });
    assert.deepEqual(await lab.tekSpis('gm-0002'), [], 'gm-0002 got no keys');
    for (const sub of ['sub1', 'sub2'] as const) {
      const { groups } = await lab.show<{ groups: { members: { address: string }[] }[] }>(sub, 'registered-members');
      assert.ok(!groups[0]?.members.some((m) => m.address === '127.0.3.22'), `${sub} did not register gm-0002`);
    }
  });

  it('R-DPD-4: the existing member keeps its SAs; the subs send no deletes', async () => {
    assert.deepEqual(await lab.tekSpis('gm-0001'), tek);
    const { groups } = await lab.show<{ groups: { members: { address: string }[] }[] }>('sub1', 'registered-members');
    assert.deepEqual(groups[0]?.members.map((m) => m.address), ['127.0.3.21'], 'sub1 keeps its registration');
    for (const sub of ['sub1', 'sub2'] as const) {
      const g = (await lab.statistics(sub)).gdoi;
      assert.equal(g?.deleteAllPushes, 0, `${sub} pushed no delete-all`);
      assert.equal(g?.pushesSent, 0, `${sub} pushed nothing`);
    }
  });

  it('R-MSG-2a: the root resumed, each sub cluster-inits back to active and registrations resume', async () => {
    lab.signal('root', 'SIGCONT');
    await lab.clusterUp(40_000);
    await lab.until('gm-0002 registered', 40_000, async () => (await lab.tekSpis('gm-0002')).length > 0);
    assert.deepEqual(await lab.tekSpis('gm-0002'), await lab.tekSpis('root'));
    await lab.until('probes between gm-0001 and gm-0002', 20_000, async () => (await lab.probe('gm-0002')).received > 0 && (await lab.probe('gm-0001')).received > 0);
    assert.equal((await lab.probe('gm-0002')).authFailures, 0);
  });
});
