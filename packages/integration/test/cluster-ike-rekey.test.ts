/**
 * R-DPD-5: the IKE SA between a sub and the root expires while both are alive and is negotiated again; with
 * both sides configured to initiate, both may negotiate at once and hold duplicate IKE SAs for a while.
 * None of that may break the cluster: the sub never marks the root inactive, the root never marks the sub
 * inactive, and every cluster-update of a steady stream of rekeys is acknowledged. Real processes, real
 * time: a 20 s IKE lifetime (re-negotiated at 90 %) over a 50 s run.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanup, ClusterLab, rootWithSubs } from '@gvpn/integration';

const IKE_LIFETIME_S = 20;
const RUN_MS = 50_000;
const GROUP = 'GROUP_ID-0001';

describe('R-DPD-5: cluster IKE SAs re-negotiated, from both sides at once, while updates flow', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;

  before(async () => {
    lab = await ClusterLab.start(cleanup, {
      label: 'cluster-ike-rekey', nodes: ['root', 'sub1'],
      edit: (node, doc) => {
        const server = doc.security['group-vpn'].server;
        for (const p of Object.values(server.ike.proposal) as { 'lifetime-seconds': number }[]) p['lifetime-seconds'] = IKE_LIFETIME_S;
        if (node === 'root') {
          rootWithSubs(doc, ['sub1']);
          server.ike.gateway.SubSrv01.initiate = true; // both ends negotiate: duplicates become possible
        }
      },
    });
    await lab.clusterUp(30_000);
  });
  after(() => cleanup.run());

  it('every update acknowledged across IKE re-negotiations; neither side ever inactive', async () => {
    const started = Date.now();
    const icookies = new Set<string>();
    let most = 0;
    let published = 0;
    while (Date.now() - started < RUN_MS) {
      await lab.request('root', ['request', 'security', 'group-vpn', 'server', 'rekey', 'group'], { group: GROUP });
      published++;
      for (let i = 0; i < 10; i++) {
        const { sas } = await lab.show<{ sas: { icookie: string; state: string }[] }>('root', 'ike security-associations');
        for (const sa of sas) icookies.add(sa.icookie);
        most = Math.max(most, sas.filter((s) => s.state === 'UP').length);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    assert.ok(icookies.size >= 3, `IKE SAs seen: ${icookies.size} (expected re-negotiations within ${RUN_MS / 1000} s)`);
    // Every update ends acknowledged (one possibly still in flight over an SA that just went).
    await lab.until('every update acknowledged', 15_000, async () => ((await lab.statistics('root')).cluster?.clusterUpdatesAcked ?? 0) >= published);
    const root = (await lab.statistics('root')).cluster;
    const sub = (await lab.statistics('sub1')).cluster;
    assert.equal(root?.peersMarkedInactive, 0, 'the root never marked the sub inactive');
    assert.equal(sub?.peersMarkedInactive, 0, 'the sub never marked the root inactive');
    assert.equal((await lab.cluster('sub1')).groups[0]?.root, 'active');
    assert.deepEqual(await lab.tekSpis('sub1'), await lab.tekSpis('root'));
    // Reported, not asserted: whether two SAs overlapped depends on timing.
    console.log(`IKE SAs seen ${icookies.size}, most UP at once ${most}, updates ${published}, retransmissions ${root?.clusterUpdatesRetransmitted}`);
  });
});
