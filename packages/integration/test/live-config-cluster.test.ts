/**
 * Live configuration changes of a server's place in the cluster (R-CHG Table 2, issue 6), on real daemons in
 * a namespace of this test: R-CHG-2.2f on a root (its server-cluster deleted: it becomes a standalone
 * server, in-module) and the role switches of the sub-server daemon (packages/sub-server/src/server-role.ts):
 * 2.2f on a sub (sub -> standalone), 2.2a on a sub (standalone -> sub), 2.2b sub -> root and root -> sub.
 * Each test names its cell and role column.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanup, ClusterLab, memberGateways, probeOnly, rootWithSubs, useServers, type NodeDocument } from '@gvpn/integration';

const GROUP = 'GROUP_ID-0001';

/** The root also serves gm-0002 itself (its own member gateway), beside sub1, which serves gm-0001. */
function rootWithOwnMember(doc: any): void {
  rootWithSubs(doc, ['sub1']);
  memberGateways(doc, ['GM-0002']);
}

describe('R-CHG-2.2f root: server-cluster deleted on a running root, which becomes standalone', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;

  before(async () => {
    lab = await ClusterLab.start(cleanup, {
      label: 'live-cluster-f', nodes: ['root', 'sub1', 'gm-0001', 'gm-0002'],
      edit: (node, doc) => {
        if (node === 'root') rootWithOwnMember(doc);
        if (node === 'gm-0001') useServers(doc, ['sub1']);
        if (node === 'gm-0002') useServers(doc, ['root']);
        if (node.startsWith('gm-')) probeOnly(doc, ['gm-0001', 'gm-0002']);
      },
    });
    await lab.clusterUp(30_000);
    await lab.membersUp(40_000);
  });
  after(() => cleanup.run());

  it('R-CHG-2.2b root (root-server daemon): a sub configuration is refused as invalid, naming the daemon to run; nothing changes', async () => {
    const teks = await lab.tekSpis('root');
    const r = await lab.commit('root', (doc) => {
      doc.security['group-vpn'].server.group[GROUP]['server-cluster']['server-role'] = 'sub-server';
      doc.security['group-vpn'].server.ike.gateway.SubSrv01.initiate = true; // a sub starts the IKE SA with its root
    });
    assert.equal(r.result, 'invalid');
    assert.match(r.error ?? '', /server-role sub-server runs as the sub-server daemon, not the root-server daemon/);
    assert.deepEqual(await lab.tekSpis('root'), teks);
    assert.equal((await lab.cluster('root')).groups[0]?.role, 'root-server');
  });

  it('R-CHG-2.2f root: the sub gets "delete all", is inactive and loses its IKE SA; every key is made anew; the root\'s own member re-registers for them', async () => {
    const oldTeks = await lab.tekSpis('root');
    const oldKek = await lab.kekSpi('root');
    assert.deepEqual(await lab.tekSpis('sub1'), oldTeks);
    const subSa = (await lab.ikeSas('root')).find((s) => s.gateway === 'SubSrv01' && s.state === 'UP');
    assert.ok(subSa !== undefined, 'sub1 has an IKE SA with the root');
    const statsBefore = (await lab.statistics('root')).cluster ?? {};

    const r = await lab.commit('root', (doc) => { delete doc.security['group-vpn'].server.group[GROUP]['server-cluster']; });
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.deepEqual(r.changes.map((c) => c.cell), ['2.2f']);

    // The root: new KEK and TEKs at once; the group left the cluster layer; sub1 counted inactive.
    const newTeks = await lab.tekSpis('root');
    const newKek = await lab.kekSpi('root');
    assert.equal(newTeks.length, oldTeks.length);
    assert.ok(!newTeks.some((spi) => oldTeks.includes(spi)), 'new TEKs');
    assert.ok(newKek !== undefined && newKek !== oldKek, 'new KEK');
    assert.deepEqual((await lab.cluster('root')).groups, [], 'no group of this server is in a cluster any more');
    const statsAfter = (await lab.statistics('root')).cluster ?? {};
    assert.equal(statsAfter.peersMarkedInactive, (statsBefore.peersMarkedInactive ?? 0) + 1);

    // sub1: "delete all" installed (no TEK left), pushed on to its member; it asks for keys again and is refused.
    await lab.until('sub1 holds no TEK', 15_000, async () => (await lab.tekSpis('sub1')).length === 0);
    assert.equal((await lab.cluster('sub1')).groups[0]?.initInProgress, true, 'sub1 wants a cluster-init');
    await lab.until('gm-0001 told to delete the old TEK (through sub1)', 15_000, async () => !(await lab.tekSpis('gm-0001')).some((spi) => oldTeks.includes(spi)));
    await lab.until('sub1\'s cluster-init refused by the standalone server', 20_000, async () => {
      const c = (await lab.statistics('root')).cluster ?? {};
      return (c.clusterInitReceived ?? 0) > (statsAfter.clusterInitReceived ?? 0) && c.clusterInitAnswered === statsAfter.clusterInitAnswered;
    });
    assert.deepEqual(await lab.tekSpis('sub1'), [], 'sub1 got no key since');

    // sub1's IKE SA from before the commit is gone (sub1 may have made a new one: its gateway is still configured).
    const sas = await lab.ikeSas('root');
    assert.ok(!sas.some((s) => s.icookie === subSa.icookie), 'the IKE SA with sub1 was deleted');

    // gm-0002 (the root's own member): "delete all", then registered again and holding the new TEKs.
    await lab.until('gm-0002 on the new TEKs', 20_000, async () => (await lab.tekSpis('gm-0002')).join() === newTeks.join());
    assert.deepEqual(await lab.registeredMembers('root'), ['127.0.3.22']);
  });
});

/** An edit that puts the security configuration of `saved` back (the other sections are not changed by these tests). */
const backTo = (saved: NodeDocument) => (doc: NodeDocument): void => { doc.security = structuredClone(saved.security); };

describe('R-CHG-2.2f sub, then 2.2a sub: a running sub-server becomes standalone, then a sub again', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;
  let subDoc: NodeDocument;

  before(async () => {
    lab = await ClusterLab.startRootSubMembers(cleanup, 'live-cluster-sub');
    subDoc = structuredClone(lab.configs.get('sub1'));
  });
  after(() => cleanup.run());

  it('R-CHG-2.2f sub: member and root IKE SAs deleted, keys and members dropped, root no longer asked; new keys made here, served to members', async () => {
    const rootTeks = await lab.tekSpis('root');
    const rootKek = await lab.kekSpi('root');
    assert.deepEqual(await lab.tekSpis('sub1'), rootTeks);
    assert.deepEqual(await lab.registeredMembers('sub1'), ['127.0.3.21', '127.0.3.22']);
    const before = (await lab.ikeSas('sub1')).filter((s) => s.state === 'UP');
    assert.ok(before.some((s) => s.gateway === 'RootSrv') && before.some((s) => s.gateway === 'GM-0001'));

    const r = await lab.commit('sub1', (doc) => { delete doc.security['group-vpn'].server.group[GROUP]['server-cluster']; });
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.deepEqual(r.changes.map((c) => c.cell), ['2.2f']);
    assert.equal(((await lab.request('sub1', ['request', 'system', 'ping'])) as { role: string }).role, 'standalone', 'ping names the role now played');

    const teks = await lab.tekSpis('sub1');
    const kek = await lab.kekSpi('sub1');
    assert.equal(teks.length, rootTeks.length, 'new TEKs from the configuration');
    assert.ok(!teks.some((spi) => rootTeks.includes(spi)), 'not the root\'s TEKs');
    assert.ok(kek !== undefined && kek !== rootKek, 'a KEK of its own');
    assert.deepEqual(await lab.registeredMembers('sub1'), [], 'registered members dropped');
    assert.deepEqual((await lab.cluster('sub1')).groups, [], 'no cluster group: standalone');
    const after = await lab.ikeSas('sub1');
    for (const old of before) assert.ok(!after.some((s) => s.icookie === old.icookie), `IKE SA with ${old.gateway} deleted`);

    // Standalone now (key source local): a member that registers again gets this server's keys.
    await lab.request('gm-0001', ['clear', 'security', 'group-vpn', 'member', 'ipsec', 'security-associations']);
    await lab.until('gm-0001 on sub1\'s own TEKs', 20_000, async () => (await lab.tekSpis('gm-0001')).join() === teks.join());
    assert.deepEqual(await lab.registeredMembers('sub1'), ['127.0.3.21']);
  });

  it('R-CHG-2.2a sub: "delete all" pushed to the members, their IKE SAs deleted, keys and members dropped; cluster-init brings the root\'s keys', async () => {
    const ownTeks = await lab.tekSpis('sub1');
    const rootTeks = await lab.tekSpis('root');
    const before = (await lab.ikeSas('sub1')).filter((s) => s.gateway.startsWith('GM-') && s.state === 'UP');
    assert.ok(before.some((s) => s.gateway === 'GM-0001'));
    const r = await lab.commit('sub1', backTo(subDoc));
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.deepEqual(r.changes.map((c) => c.cell), ['2.2a']);
    const after = await lab.ikeSas('sub1');
    for (const old of before) assert.ok(!after.some((s) => s.icookie === old.icookie), `IKE SA with ${old.gateway} deleted`);
    await lab.until('gm-0001 told "delete all" (no TEK of sub1\'s own left)', 15_000, async () => !(await lab.tekSpis('gm-0001')).some((spi) => ownTeks.includes(spi)));
    await lab.until('sub1 is the root\'s sub again, holding its keys', 20_000, async () => {
      const c = (await lab.cluster('sub1')).groups[0];
      return c?.role === 'sub-server' && c.root === 'active' && (await lab.tekSpis('sub1')).join() === rootTeks.join();
    });
    assert.equal((await lab.cluster('root')).groups[0]?.peers[0]?.state, 'active', 'the root answered its cluster-init');
    for (const m of ['gm-0001', 'gm-0002'] as const) await lab.until(`${m} registered again, on the root's TEKs`, 30_000, async () => (await lab.tekSpis(m)).join() === rootTeks.join());
  });
});

describe('R-CHG-2.2b sub to root, then root to sub: sub1 takes the root role for sub2, then gives it back', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;
  let subDoc: NodeDocument;

  before(async () => {
    lab = await ClusterLab.start(cleanup, {
      label: 'live-cluster-role', nodes: ['root', 'sub1', 'sub2', 'gm-0001', 'gm-0002'], start: false,
      edit: (node, doc) => {
        if (node === 'root') rootWithSubs(doc, ['sub1']);
        // sub2's root is sub1 (once sub1 is a root): it starts only then.
        if (node === 'sub2') doc.security['group-vpn'].server.ike.gateway.RootSrv.address = '127.0.3.11';
        if (node.startsWith('gm-')) {
          useServers(doc, ['sub1']);
          probeOnly(doc, ['gm-0001', 'gm-0002']);
        }
      },
    });
    for (const node of ['root', 'sub1', 'gm-0001', 'gm-0002'] as const) await lab.startNode(node);
    await lab.until('sub1 active with the root', 30_000, async () => (await lab.cluster('sub1')).groups[0]?.root === 'active');
    await lab.until('members registered', 40_000, async () => (await lab.tekSpis('gm-0001')).length > 0 && (await lab.tekSpis('gm-0002')).length > 0);
    subDoc = structuredClone(lab.configs.get('sub1'));
  });
  after(() => cleanup.run());

  it('R-CHG-2.2b sub to root: TEK rekey and KEK rekey pushed to its members, which stay registered; its sub-server gets the new keys', async () => {
    const oldTeks = await lab.tekSpis('sub1');
    const oldKek = await lab.kekSpi('sub1');
    const registration = async () => (await lab.show<{ groups: { members: { address: string; icookie: string }[] }[] }>('sub1', 'registered-members')).groups[0]?.members.find((m) => m.address === '127.0.3.21');
    const before = await registration();
    assert.equal(before?.address, '127.0.3.21');

    const toRoot = (doc: any): void => {
      const server = doc.security['group-vpn'].server;
      const root = server.ike.gateway.RootSrv;
      server.ike.gateway.SubSrv02 = { 'ike-policy': 'RootSrv', address: '127.0.3.12', 'local-address': '127.0.3.11', 'dead-peer-detection': root['dead-peer-detection'] };
      delete server.ike.gateway.RootSrv;
      server.group[GROUP]['server-cluster'] = { 'server-role': 'root-server', 'ike-gateway': ['SubSrv02'], 'retransmission-period': 2 };
    };
    const r = await lab.commit('sub1', toRoot);
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.ok(r.changes.some((c) => c.cell === '2.2b'), JSON.stringify(r.changes));
    assert.equal(((await lab.request('sub1', ['request', 'system', 'ping'])) as { role: string }).role, 'root-server', 'ping names the role now played');

    let teks: string[] = [];
    await lab.until('sub1 made a new TEK and a new KEK', 20_000, async () => {
      teks = await lab.tekSpis('sub1');
      const kek = await lab.kekSpi('sub1');
      return teks.length > 0 && !teks.some((spi) => oldTeks.includes(spi)) && kek !== undefined && kek !== oldKek;
    });
    const c = (await lab.cluster('sub1')).groups[0];
    assert.equal(c?.role, 'root-server');
    assert.deepEqual(c?.peers.map((p) => p.name), ['SubSrv02']);
    await lab.until('gm-0001 pushed the new TEK', 15_000, async () => (await lab.tekSpis('gm-0001')).join() === teks.join());
    const after = await registration();
    assert.deepEqual([after?.address, after?.icookie], [before?.address, before?.icookie], 'the same registration: pushed, not registered again');

    await lab.startNode('sub2');
    await lab.until('sub2 holds sub1\'s keys by cluster-init', 30_000, async () => {
      const g = (await lab.cluster('sub2')).groups[0];
      return g?.root === 'active' && (await lab.tekSpis('sub2')).join() === teks.join();
    });
    assert.equal((await lab.cluster('sub1')).groups[0]?.peers[0]?.state, 'active');

    // A restart with the committed file resumes the new role from the store: same keys, sub2 back.
    const kek = await lab.kekSpi('sub1');
    await lab.restart('sub1');
    assert.deepEqual(await lab.tekSpis('sub1'), teks);
    assert.equal(await lab.kekSpi('sub1'), kek);
    await lab.until('sub2 active again after the restart', 30_000, async () => (await lab.cluster('sub1')).groups[0]?.peers[0]?.state === 'active');
    await lab.until('sub2\'s IKE SA up', 15_000, async () => (await lab.ikeSas('sub1')).some((s) => s.gateway === 'SubSrv02' && s.state === 'UP'));
  });

  it('R-CHG-2.2b root to sub: its sub gets "delete all" and loses its IKE SA, its members "delete all"; cluster-init with the root brings its keys', async () => {
    const ownTeks = await lab.tekSpis('sub1');
    const rootTeks = await lab.tekSpis('root');
    const subSa = (await lab.ikeSas('sub1')).find((s) => s.gateway === 'SubSrv02' && s.state === 'UP');
    assert.ok(subSa !== undefined, 'sub2 has an IKE SA with sub1');
    const r = await lab.commit('sub1', backTo(subDoc));
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.ok(r.changes.some((c) => c.cell === '2.2b'), JSON.stringify(r.changes));

    await lab.until('sub2 told "delete all"', 15_000, async () => (await lab.tekSpis('sub2')).length === 0);
    assert.ok(!(await lab.ikeSas('sub1')).some((s) => s.icookie === subSa.icookie), 'the IKE SA with sub2 deleted');
    await lab.until('gm-0001 told "delete all"', 15_000, async () => !(await lab.tekSpis('gm-0001')).some((spi) => ownTeks.includes(spi)));
    await lab.until('sub1 a sub of the root again, with its keys', 30_000, async () => {
      const g = (await lab.cluster('sub1')).groups[0];
      return g?.role === 'sub-server' && g.root === 'active' && (await lab.tekSpis('sub1')).join() === rootTeks.join();
    });
    await lab.until('gm-0001 registered again, on the root\'s TEKs', 30_000, async () => (await lab.tekSpis('gm-0001')).join() === rootTeks.join());
  });
});
