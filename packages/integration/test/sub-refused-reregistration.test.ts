/**
 * A member registered with a sub-server pulls again (`clear security group-vpn member group`) while the sub
 * holds its root inactive (R-DPD-4): the pull is refused, and the sub forgets the old registration — the
 * member dropped the keys it got there and moves on to its next server (R-REG-4). Before, the sub went on
 * listing it in `registered-members` (holding its place under member-threshold) until a push went unanswered.
 * Real processes in a namespace of this test: root, sub1, gm-0001 (servers: sub1 only); the root frozen with
 * SIGSTOP, sub1's DPD towards it lowered to 2 s x 3 so the freeze shows within ~6 s.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanup, ClusterLab, rootWithSubs, useServers } from '@gvpn/integration';

const GM = '127.0.3.21';

describe('sub-server with its root inactive: a registered member pulling again is refused and forgotten', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab | undefined;
  after(async () => {
    if (lab?.running('root') === true) lab.signal('root', 'SIGCONT');
    await cleanup.run();
  });

  it('R-TOPO-4, R-DPD-4, R-REG-4: refused, and no longer listed', async () => {
    const l = lab = await ClusterLab.start(cleanup, {
      label: 'sub-refused-reregistration', nodes: ['root', 'sub1', 'gm-0001'],
      edit: (node, doc) => {
        if (node === 'root') rootWithSubs(doc, ['sub1']);
        if (node === 'sub1') doc.security['group-vpn'].server.ike.gateway.RootSrv['dead-peer-detection'] = { 'always-send': true, interval: 2, threshold: 3 };
        if (node === 'gm-0001') useServers(doc, ['sub1']);
      },
    });
    await l.clusterUp(30_000);
    await l.until('gm-0001 registered with sub1', 30_000, async () => (await l.tekSpis('gm-0001')).length > 0);
    const listed = async (): Promise<string[]> =>
      (await l.show<{ groups: { members: { address: string }[] }[] }>('sub1', 'registered-members')).groups[0]?.members.map((m) => m.address) ?? [];
    assert.deepEqual(await listed(), [GM]);

    l.signal('root', 'SIGSTOP');
    await l.until('sub1 marking the root inactive', 30_000, async () => (await l.cluster('sub1')).groups[0]?.root === 'inactive');
    await l.request('gm-0001', ['clear', 'security', 'group-vpn', 'member', 'group']);
    await l.until('the pull refused', 30_000, async () => ((await l.statistics('sub1')).cluster?.registrationsRefusedRootInactive ?? 0) > 0);
    assert.deepEqual(await l.tekSpis('gm-0001'), [], 'the member holds no keys');
    assert.deepEqual(await listed(), [], 'sub1 forgot the registration');
    assert.equal((await l.statistics('sub1')).gdoi?.refusedUnknownGroup, 0, 'counted as root inactive, not as an unknown group');
  });
});
