/**
 * Live configuration changes of whole groups (R-CHG-1.3a group deleted, R-CHG-1.3b group ID changed, a group
 * added) on real daemons in a namespace of this test: a standalone key server with two members, then the
 * example cluster (root, sub1, two members through sub1). Each test names its cell and role column.
 *
 * A member keeps trying to register for a group its server no longer has, so an IKE SA "deleted" may be
 * negotiated anew at once: the tests tell SAs apart by their initiator cookie. A member is moved to another
 * group by editing its file and restarting it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanup, ClusterLab, memberGateways, probeOnly, rootWithSubs, useServers, type ExampleNode } from '@gvpn/integration';

const GROUP = 'GROUP_ID-0001';
const OTHER = 'OTHER';

const groupsOf = (doc: any): Record<string, any> => doc.security['group-vpn'].server.group;

/** The member's vpn now asks for `groupId`; restarted with that file. */
async function joinGroup(lab: ClusterLab, member: ExampleNode, groupId: number): Promise<void> {
  for (const vpn of Object.values(lab.configs.get(member).security['group-vpn'].member.ipsec.vpn) as any[]) vpn.group = groupId;
  await lab.restart(member);
}

/** Waits for an established SA through the gateway (one the peer negotiates anew after a reset); its cookie. */
async function awaitSa(lab: ClusterLab, node: ExampleNode, gateway: string): Promise<string> {
  return lab.until(`${node}: an IKE SA through ${gateway}`, 15_000, async () => (await lab.ikeSas(node)).find((s) => s.gateway === gateway && s.state === 'UP')?.icookie);
}

async function registered(lab: ClusterLab, node: ExampleNode): Promise<Map<string, string[]>> {
  const { groups } = await lab.show<{ groups: { name: string; members: { address: string }[] }[] }>(node, 'registered-members');
  return new Map(groups.map((g) => [g.name, g.members.map((m) => m.address)]));
}

describe('R-CHG group changes on a standalone key server', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;

  before(async () => {
    lab = await ClusterLab.start(cleanup, {
      label: 'live-groups-standalone', nodes: ['root', 'gm-0001', 'gm-0002'],
      edit: (node, doc) => {
        if (node === 'root') {
          // Standalone: no server-cluster; members register with it through their own gateways.
          rootWithSubs(doc, []);
          memberGateways(doc, ['GM-0001', 'GM-0002']);
          delete groupsOf(doc)[GROUP]['server-cluster'];
        }
        if (node.startsWith('gm-')) {
          useServers(doc, ['root']);
          probeOnly(doc, ['gm-0001', 'gm-0002']);
        }
      },
    });
    await lab.membersUp(40_000);
  });
  after(() => cleanup.run());

  it('R-CHG group-added standalone: the new group has its keys at once; the running group keeps its keys and members; a member configured for it registers', async () => {
    const teks = await lab.groupTeks('root', GROUP);
    const r = await lab.commit('root', (doc) => {
      groupsOf(doc)[OTHER] = { ...structuredClone(groupsOf(doc)[GROUP]), 'group-id': 2, 'ike-gateway': ['GM-0001'] };
    });
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.deepEqual(r.changes.map((c) => c.cell), ['group-added']);
    assert.deepEqual((await lab.keks('root')).map((k) => [k.group, k.groupId]), [[GROUP, 1], [OTHER, 2]]);
    const other = await lab.groupTeks('root', OTHER);
    assert.equal(other.length, 1, 'the new group\'s TEK is made by the commit');
    assert.deepEqual(await lab.groupTeks('root', GROUP), teks);
    assert.deepEqual((await registered(lab, 'root')).get(GROUP)?.sort(), ['127.0.3.21', '127.0.3.22']);
    await joinGroup(lab, 'gm-0001', 2);
    await lab.until('gm-0001 registered in the new group', 20_000, async () => (await lab.tekSpis('gm-0001')).join() === other.join());
    assert.deepEqual((await registered(lab, 'root')).get(OTHER), ['127.0.3.21']);
  });

  it('R-CHG-1.3b standalone: "delete all" pushed, keys and members deleted, the group\'s IKE SAs gone (not one another group uses), new keys under the new ID', async () => {
    const oldKek = (await lab.keks('root')).find((k) => k.group === GROUP)?.spi;
    const oldTeks = await lab.groupTeks('root', GROUP);
    assert.deepEqual(await lab.tekSpis('gm-0002'), oldTeks);
    const gm2 = await lab.upSa('root', 'GM-0002');
    const gm1 = await lab.upSa('root', 'GM-0001');
    const otherTeks = await lab.tekSpis('gm-0001');
    const pushes = await lab.counter('root', 'gdoi', 'deleteAllPushes');
    const acks = await lab.counter('root', 'gdoi', 'acksReceived');

    const r = await lab.commit('root', (doc) => { groupsOf(doc)[GROUP]['group-id'] = 5; });
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.deepEqual(r.changes.map((c) => c.cell), ['1.3b']);
    assert.equal(await lab.counter('root', 'gdoi', 'deleteAllPushes'), pushes + 1);
    const kek = (await lab.keks('root')).find((k) => k.group === GROUP);
    assert.equal(kek?.groupId, 5);
    assert.notEqual(kek?.spi, oldKek, 'a new KEK');
    const newTeks = await lab.groupTeks('root', GROUP);
    assert.equal(newTeks.length, 1);
    assert.ok(!oldTeks.includes(newTeks[0] ?? ''), 'a new TEK');
    assert.deepEqual((await registered(lab, 'root')).get(GROUP), [], 'its registered members deleted');
    await lab.until('gm-0002 told to delete all', 10_000, async () => (await lab.tekSpis('gm-0002')).length === 0);
    await lab.until('its ACK taken under the ended group\'s KEK', 10_000, async () => (await lab.counter('root', 'gdoi', 'acksReceived')) > acks);
    assert.equal(await lab.hasSa('root', gm2), false, 'the IKE SA through GM-0002 deleted');
    assert.equal(await lab.hasSa('root', gm1), true, 'GM-0001 serves the other group too: its IKE SA stays');
    assert.deepEqual(await lab.tekSpis('gm-0001'), otherTeks, 'the other group untouched');

    await joinGroup(lab, 'gm-0002', 5);
    await lab.until('gm-0002 registered under the new ID with the new keys', 20_000, async () => (await lab.tekSpis('gm-0002')).join() === newTeks.join());
  });

  it('R-CHG-1.3a standalone: "delete all" pushed to its members, its keys, members and IKE SAs gone; a restart does not bring it back', async () => {
    const gm2 = await lab.upSa('root', 'GM-0002');
    const gm1 = await lab.upSa('root', 'GM-0001');
    const otherKek = (await lab.keks('root')).find((k) => k.group === OTHER)?.spi;
    const otherTeks = await lab.groupTeks('root', OTHER);

    const r = await lab.commit('root', (doc) => { delete groupsOf(doc)[GROUP]; });
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.deepEqual(r.changes.map((c) => c.cell), ['1.3a']);
    assert.deepEqual((await lab.keks('root')).map((k) => k.group), [OTHER]);
    assert.deepEqual(await lab.groupTeks('root', GROUP), []);
    assert.deepEqual([...(await registered(lab, 'root')).keys()], [OTHER]);
    await lab.until('gm-0002 told to delete all', 10_000, async () => (await lab.tekSpis('gm-0002')).length === 0);
    assert.equal(await lab.hasSa('root', gm2), false, 'the IKE SA through GM-0002 deleted');
    assert.equal(await lab.hasSa('root', gm1), true);
    assert.deepEqual(await lab.tekSpis('gm-0001'), otherTeks, 'the other group untouched');

    await lab.restart('root');
    assert.deepEqual((await lab.keks('root')).map((k) => [k.group, k.spi]), [[OTHER, otherKek]], 'the stored state holds the deleted group no more');
    assert.deepEqual(await lab.groupTeks('root', OTHER), otherTeks);
  });
});

describe('R-CHG group changes on a root and its sub-server', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;

  before(async () => {
    lab = await ClusterLab.startRootSubMembers(cleanup, 'live-groups-cluster');
  });
  after(() => cleanup.run());

  it('R-CHG group-added root and sub: the root makes its keys, the sub cluster-inits for it and serves a member of it', async () => {
    const teks = await lab.tekSpis('gm-0001');
    const root = await lab.commit('root', (doc) => { groupsOf(doc)[OTHER] = { ...structuredClone(groupsOf(doc)[GROUP]), 'group-id': 2 }; });
    assert.equal(root.result, 'applied', root.error ?? '');
    assert.deepEqual(root.changes.map((c) => c.cell), ['group-added']);
    const other = await lab.groupTeks('root', OTHER);
    assert.equal(other.length, 1);
    assert.deepEqual((await lab.clusterGroup('root', OTHER))?.peers.map((p) => [p.name, p.state]), [['SubSrv01', 'inactive']]);

    // On the sub the new group takes member gateway GM-0002 from the first one (R-CHG-1.3c in the same commit).
    const sub = await lab.commit('sub1', (doc) => {
      const groups = groupsOf(doc);
      groups[OTHER] = { ...structuredClone(groups[GROUP]), 'group-id': 2, 'ike-gateway': ['GM-0002'] };
      groups[GROUP]['ike-gateway'] = ['GM-0001', 'GM-0003', 'GM-0004'];
    });
    assert.equal(sub.result, 'applied', sub.error ?? '');
    assert.deepEqual(sub.changes.map((c) => c.cell), ['1.3c', 'group-added']);
    await lab.until('sub1 holding the new group\'s keys from the root', 20_000, async () =>
      (await lab.clusterGroup('sub1', OTHER))?.root === 'active' && (await lab.groupTeks('sub1', OTHER)).join() === other.join());
    assert.equal((await lab.clusterGroup('root', OTHER))?.peers[0]?.state, 'active');
    await joinGroup(lab, 'gm-0002', 2);
    await lab.until('gm-0002 registered with sub1 in the new group', 20_000, async () => (await lab.tekSpis('gm-0002')).join() === other.join());
    assert.deepEqual(await lab.tekSpis('gm-0001'), teks, 'the first group untouched');
  });

  it('R-CHG-1.3a root and sub: the sub gets "delete all" and pushes it to its members, the root drops the group (sub inactive); on the sub its keys, members and member IKE SAs go', async () => {
    const teks = await lab.tekSpis('gm-0001');
    const rootToSub = await lab.upSa('root', 'SubSrv01');
    const subToRoot = await lab.upSa('sub1', 'RootSrv');
    const gm2 = await lab.upSa('sub1', 'GM-0002');
    const inactive = await lab.counter('root', 'cluster', 'peersMarkedInactive');

    const root = await lab.commit('root', (doc) => { delete groupsOf(doc)[OTHER]; });
    assert.equal(root.result, 'applied', root.error ?? '');
    assert.deepEqual(root.changes.map((c) => c.cell), ['1.3a']);
    assert.deepEqual((await lab.cluster('root')).groups.map((g) => g.name), [GROUP]);
    assert.deepEqual((await lab.keks('root')).map((k) => k.group), [GROUP]);
    assert.equal(await lab.counter('root', 'cluster', 'peersMarkedInactive'), inactive + 1, 'the sub marked inactive for the group');
    await lab.until('sub1 told to delete all (its TEK of the group gone)', 10_000, async () => (await lab.groupTeks('sub1', OTHER)).length === 0);
    await lab.until('gm-0002 told to delete all by sub1', 10_000, async () => (await lab.tekSpis('gm-0002')).length === 0);
    assert.equal(await lab.hasSa('root', rootToSub), true, 'the sub serves the first group too: its IKE SA stays');

    const subInactive = await lab.counter('sub1', 'cluster', 'peersMarkedInactive');
    const sub = await lab.commit('sub1', (doc) => { delete groupsOf(doc)[OTHER]; });
    assert.equal(sub.result, 'applied', sub.error ?? '');
    assert.deepEqual(sub.changes.map((c) => c.cell), ['1.3a']);
    assert.deepEqual((await lab.cluster('sub1')).groups.map((g) => g.name), [GROUP]);
    assert.equal(await lab.counter('sub1', 'cluster', 'peersMarkedInactive'), subInactive + 1, 'the root marked inactive for the group');
    assert.deepEqual([...(await registered(lab, 'sub1')).keys()], [GROUP]);
    assert.equal(await lab.hasSa('sub1', gm2), false, 'the member IKE SA through GM-0002 deleted');
    assert.equal(await lab.hasSa('sub1', subToRoot), true, 'the root serves the first group too: its IKE SA stays');
    assert.deepEqual(await lab.tekSpis('gm-0001'), teks, 'the first group untouched');

    await lab.restart('sub1');
    await lab.until('sub1 back with its root', 20_000, async () => (await lab.clusterGroup('sub1', GROUP))?.root === 'active');
    assert.deepEqual((await lab.keks('sub1')).map((k) => k.group), [GROUP], 'the stored state holds the deleted group no more');
  });

  it('R-CHG-1.3b root and sub: "delete all" to the sub and its members, new keys under the new ID, IKE SAs root<->sub renewed; the sub cluster-inits with the new ID', async () => {
    const oldTeks = await lab.groupTeks('root', GROUP);
    const oldKek = (await lab.keks('root'))[0]?.spi;
    assert.deepEqual(await lab.tekSpis('gm-0001'), oldTeks);
    const rootToSub = await lab.upSa('root', 'SubSrv01');
    const inactive = await lab.counter('root', 'cluster', 'peersMarkedInactive');

    const root = await lab.commit('root', (doc) => { groupsOf(doc)[GROUP]['group-id'] = 7; });
    assert.equal(root.result, 'applied', root.error ?? '');
    assert.deepEqual(root.changes.map((c) => c.cell), ['1.3b']);
    const kek = (await lab.keks('root'))[0];
    assert.equal(kek?.groupId, 7);
    assert.notEqual(kek?.spi, oldKek, 'a new KEK');
    const newTeks = await lab.groupTeks('root', GROUP);
    assert.equal(newTeks.length, 1);
    assert.ok(!oldTeks.includes(newTeks[0] ?? ''), 'a new TEK');
    const view = await lab.clusterGroup('root', GROUP);
    assert.equal(view?.groupId, 7);
    assert.deepEqual(view?.peers.map((p) => [p.name, p.state]), [['SubSrv01', 'inactive']]);
    assert.equal(await lab.counter('root', 'cluster', 'peersMarkedInactive'), inactive + 1);
    assert.equal(await lab.hasSa('root', rootToSub), false, 'the IKE SA with the sub deleted');
    await lab.until('gm-0001 told to delete all by sub1', 10_000, async () => (await lab.tekSpis('gm-0001')).length === 0);

    // The sub negotiates a new SA with the root at once; gm-0001 one with the sub, to register again.
    const subToRoot = await awaitSa(lab, 'sub1', 'RootSrv');
    const gm1 = await awaitSa(lab, 'sub1', 'GM-0001');
    const sub = await lab.commit('sub1', (doc) => { groupsOf(doc)[GROUP]['group-id'] = 7; });
    assert.equal(sub.result, 'applied', sub.error ?? '');
    assert.deepEqual(sub.changes.map((c) => c.cell), ['1.3b']);
    assert.equal(await lab.hasSa('sub1', subToRoot), false, 'the IKE SA with the root deleted');
    assert.equal(await lab.hasSa('sub1', gm1), false, 'the member IKE SA deleted');
    assert.deepEqual((await registered(lab, 'sub1')).get(GROUP), []);
    await lab.until('sub1 cluster-init under the new ID', 20_000, async () => {
      const g = await lab.clusterGroup('sub1', GROUP);
      return g?.groupId === 7 && g.root === 'active' && (await lab.groupTeks('sub1', GROUP)).join() === newTeks.join();
    });
    assert.equal((await lab.clusterGroup('root', GROUP))?.peers[0]?.state, 'active');
    await joinGroup(lab, 'gm-0001', 7);
    await lab.until('gm-0001 registered under the new ID', 20_000, async () => (await lab.tekSpis('gm-0001')).join() === newTeks.join());
  });
});
