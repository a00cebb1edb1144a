/**
 * Live configuration changes that end a group's cluster on a root PAIR (R-CHG-2.2f server-cluster deleted,
 * R-CHG-1.3a group deleted; docs/root-pair.md, docs/config-changes.md), on real daemons in a ClusterLab of
 * this test: root-node0 and root-node1, sub1 and sub2, gm-0001 (on sub1) and gm-0002 (on sub2).
 *
 * The primary holds its datagrams until the standby acknowledged the new state (root-role.ts outbox), and
 * the host deletes the subs' IKE SAs only once they are sent (RoleModule.drained): the "delete all"
 * CLUSTER-UPDATE must reach the sub under the SA the same commit deletes. A sub that installed it has no
 * TEK left; one that got it after the SA was gone could not read it and would keep its keys.
 *
 * The root has three groups, each with its own sub, so that ending one group's cluster deletes that sub's IKE
 * SA (no other group uses its gateway) and a group with `server-cluster` stays (a pair must be a root):
 * GROUP_ID-0001 (id 1, SubSrv01: sub1), GROUP_ID-0002 (id 2, SubSrv02: sub2), GROUP_ID-0003 (id 3,
 * SubSrv03: never started). Each commit goes to the primary first, then to the secondary (which only checks
 * it, rg0.ts), as docs/root-pair.md says; the first two tests end with a graceful failover and check that the
 * new primary serves the keys the old one made; the last kills the primary between the two commits. Long
 * TEK/KEK lifetimes: only the commits change keys.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Cleanup, ClusterLab, ROOT_PAIR_NODES, memberGateways, otherPairNode, rootWithSubs, useServers, type ExampleNode, type NodeDocument, type RootPairNode,
} from '@gvpn/integration';

const G1 = 'GROUP_ID-0001';
const G2 = 'GROUP_ID-0002';
const G3 = 'GROUP_ID-0003';
const NODES: ExampleNode[] = [...ROOT_PAIR_NODES, 'sub1', 'sub2', 'gm-0001', 'gm-0002'];

const groupsOf = (doc: NodeDocument): Record<string, NodeDocument> => doc.security['group-vpn'].server.group;

function edit(node: ExampleNode, doc: NodeDocument): void {
  const server = doc.security['group-vpn'].server;
  if (server !== undefined) {
    server.ipsec.proposal['AES256-SHA256']['lifetime-seconds'] = 900;
    groupsOf(doc)[G1]['server-member-communication']['lifetime-seconds'] = 1800;
  }
  if (node.startsWith('root-node')) {
    rootWithSubs(doc, ['sub1', 'sub2', 'sub3']);
    const groups = groupsOf(doc);
    for (const [name, id] of [[G2, 2], [G3, 3]] as const) groups[name] = { ...structuredClone(groups[G1]), 'group-id': id };
    for (const [name, gateway] of [[G1, 'SubSrv01'], [G2, 'SubSrv02'], [G3, 'SubSrv03']] as const) groups[name]['server-cluster']['ike-gateway'] = [gateway];
    // A standalone group needs a member gateway: GROUP_ID-0001 has one from the start (gm-0003, never started).
    memberGateways(doc, ['GM-0003']);
  }
  if (node === 'sub2') {
    const groups = groupsOf(doc);
    groups[G2] = { ...groups[G1], 'group-id': 2 };
    delete groups[G1];
  }
  if (node.startsWith('gm-')) {
    const member = doc.security['group-vpn'].member;
    useServers(doc, [node === 'gm-0001' ? 'sub1' : 'sub2']);
    for (const vpn of Object.values(member.ipsec.vpn) as NodeDocument[]) vpn.group = node === 'gm-0001' ? 1 : 2;
    // The two members are in different groups: no probes between them.
    delete member['data-plane'].probe;
  }
}

/** The server's KEK SPI per group name. */
async function keks(lab: ClusterLab, node: ExampleNode): Promise<Record<string, string>> {
  return Object.fromEntries((await lab.keks(node)).map((k) => [k.group, k.spi]));
}

/** The cluster groups of a server, with their peers' states. */
async function clusterGroups(lab: ClusterLab, node: ExampleNode): Promise<Record<string, [string, string][]>> {
  return Object.fromEntries((await lab.cluster(node)).groups.map((g) => [g.name, g.peers.map((p) => [p.name, p.state] as [string, string])]));
}

describe('R-CHG on a root pair: a group\'s cluster ended by a commit; the "delete all" reaches the sub before its IKE SA goes', { concurrency: false }, () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;

  /** Graceful switch to the other node; the new primary has an IKE SA with each sub still in its cluster. */
  async function failover(from: RootPairNode, subs: string[]): Promise<RootPairNode> {
    const to = otherPairNode(from);
    const r = await lab.failover(from);
    assert.deepEqual(r, { done: true, primary: to === 'root-node0' ? 'node0' : 'node1' });
    assert.equal(await lab.pairSettled(10_000), to);
    await lab.until(`${to} with an IKE SA to ${subs.join(', ')}`, 15_000, async () => {
      const sas = await lab.ikeSas(to);
      return subs.every((g) => sas.some((s) => s.gateway === g && s.state === 'UP'));
    });
    return to;
  }

  before(async () => {
    lab = await ClusterLab.start(cleanup, { label: 'live-pair', nodes: NODES, start: false, edit });
    for (const node of NODES) await lab.startNode(node);
    await lab.pairSettled(20_000);
    await lab.until('sub1 and sub2 active with the primary, their members registered', 40_000, async () => {
      // Asked each time: on a loaded machine the first primary may stall past the heartbeat threshold and
      // hand over while the subs come up (fencing, docs/root-pair.md); the tests then start from either node.
      const primary = await lab.primary();
      if (primary === undefined) return false;
      const view = await clusterGroups(lab, primary).catch(() => undefined); // it may have just handed over
      if (view === undefined) return false;
      if (view[G1]?.[0]?.[1] !== 'active' || view[G2]?.[0]?.[1] !== 'active') return false;
      for (const sub of ['sub1', 'sub2'] as const) if ((await lab.cluster(sub)).groups[0]?.root !== 'active') return false;
      return (await lab.tekSpis('gm-0001')).length > 0 && (await lab.tekSpis('gm-0002')).length > 0;
    });
  });
  after(() => cleanup.run());

  it('R-CHG-2.2f root pair: sub1 installs "delete all" (and passes it on), then its IKE SA goes; inactive; the primary makes new keys; the standby serves them after a failover', async (t) => {
    const primary = await lab.pairSettled(5_000);
    const secondary = otherPairNode(primary);
    const oldTeks = await lab.groupTeks(primary, G1);
    const oldKeks = await keks(lab, primary);
    const g2Teks = await lab.groupTeks(primary, G2);
    assert.deepEqual(await lab.tekSpis('sub1'), oldTeks, 'sub1 holds the group\'s TEK');
    assert.deepEqual(await lab.tekSpis('gm-0001'), oldTeks, 'gm-0001 holds it');
    const sub1Sa = await lab.upSa(primary, 'SubSrv01');
    const sub2Sa = await lab.upSa(primary, 'SubSrv02');
    const inactive = await lab.counter(primary, 'cluster', 'peersMarkedInactive');
    const sent = await lab.counter(primary, 'cluster', 'clusterUpdatesSent');
    const installed = await lab.counter('sub1', 'cluster', 'clusterUpdatesInstalled');
    const initsReceived = await lab.counter(primary, 'cluster', 'clusterInitReceived');
    const initsAnswered = await lab.counter(primary, 'cluster', 'clusterInitAnswered');

    const startedAt = Date.now();
    const r = await lab.commit(primary, (doc) => { delete groupsOf(doc)[G1]['server-cluster']; });
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.deepEqual(r.changes.map((c) => c.cell), ['2.2f']);
    assert.ok(r.applied.includes('IKE SAs of gateway SubSrv01 deleted'), JSON.stringify(r.applied));
    const s = await lab.commit(secondary, (doc) => { delete groupsOf(doc)[G1]['server-cluster']; });
    assert.equal(s.result, 'applied', s.error ?? '');
    assert.deepEqual(s.applied, ['secondary node: in effect when it becomes primary']);

    // The primary: new KEK and TEK for the group at once, the group out of its cluster layer, sub1 inactive.
    const newTeks = await lab.groupTeks(primary, G1);
    const newKeks = await keks(lab, primary);
    assert.equal(newTeks.length, 1);
    assert.ok(!oldTeks.includes(newTeks[0] ?? ''), 'a new TEK');
    assert.ok(newKeks[G1] !== undefined && newKeks[G1] !== oldKeks[G1], 'a new KEK');
    assert.equal(newKeks[G2], oldKeks[G2], 'the other groups keep their KEKs');
    assert.deepEqual(await lab.groupTeks(primary, G2), g2Teks);
    assert.deepEqual(Object.keys(await clusterGroups(lab, primary)), [G2, G3], 'the group left the cluster layer');
    assert.equal(await lab.counter(primary, 'cluster', 'peersMarkedInactive'), inactive + 1, 'sub1 marked inactive');
    assert.equal(await lab.counter(primary, 'cluster', 'clusterUpdatesSent'), sent + 1, 'one cluster-update ("delete all") sent');

    // sub1 read and installed the update (under the SA the commit deletes), and passed it on to gm-0001.
    await lab.until('sub1 installed "delete all": no TEK left', 10_000, async () => (await lab.tekSpis('sub1')).length === 0);
    assert.equal(await lab.counter('sub1', 'cluster', 'clusterUpdatesInstalled'), installed + 1, 'sub1 installed the update');
    t.diagnostic(`sub1 without keys ${Date.now() - startedAt} ms after the commit`);
    await lab.until('gm-0001 told to delete the old TEK (through sub1)', 15_000, async () => !(await lab.tekSpis('gm-0001')).some((spi) => oldTeks.includes(spi)));

    // Then the IKE SA with sub1 went, on both ends; sub2's stays (its group is untouched).
    await lab.until('the IKE SA with sub1 deleted', 10_000, async () => !(await lab.hasSa(primary, sub1Sa)) && !(await lab.hasSa('sub1', sub1Sa)));
    assert.equal(await lab.hasSa(primary, sub2Sa), true, 'the IKE SA with sub2 stays');

    // sub1 asks for keys again (its file still names the root) and is refused: the group is standalone now.
    await lab.until('sub1\'s cluster-init refused by the primary', 20_000, async () => {
      const c = (await lab.statistics(primary)).cluster ?? {};
      return (c.clusterInitReceived ?? 0) > initsReceived && c.clusterInitAnswered === initsAnswered;
    });
    assert.deepEqual(await lab.tekSpis('sub1'), [], 'sub1 got no key since');

    // The standby had the new state before anything left: after a switch it serves the same keys.
    const next = await failover(primary, ['SubSrv02']);
    assert.deepEqual(await lab.groupTeks(next, G1), newTeks, 'the new primary serves the TEK the old one made');
    assert.deepEqual(await keks(lab, next), newKeks, 'and the same KEKs');
    assert.deepEqual(await lab.groupTeks(next, G2), g2Teks);
    assert.deepEqual(Object.keys(await clusterGroups(lab, next)), [G2, G3]);
    await lab.until('sub2 active with the new primary', 15_000, async () => (await clusterGroups(lab, next))[G2]?.[0]?.[1] === 'active');
    assert.deepEqual(await lab.tekSpis('sub2'), g2Teks, 'sub2 untouched');
  });

  it('R-CHG-1.3a root pair: sub2 installs "delete all" (and passes it on), then its IKE SA goes; inactive; the group\'s keys gone, on the standby too', async (t) => {
    const primary = await lab.pairSettled(5_000);
    const secondary = otherPairNode(primary);
    const oldTeks = await lab.groupTeks(primary, G2);
    const oldKeks = await keks(lab, primary);
    const g1Teks = await lab.groupTeks(primary, G1);
    assert.deepEqual(await lab.tekSpis('sub2'), oldTeks, 'sub2 holds the group\'s TEK');
    await lab.until('gm-0002 holds it', 10_000, async () => (await lab.tekSpis('gm-0002')).join() === oldTeks.join());
    const sub2Sa = await lab.upSa(primary, 'SubSrv02');
    const inactive = await lab.counter(primary, 'cluster', 'peersMarkedInactive');
    const sent = await lab.counter(primary, 'cluster', 'clusterUpdatesSent');
    const installed = await lab.counter('sub2', 'cluster', 'clusterUpdatesInstalled');

    const startedAt = Date.now();
    const r = await lab.commit(primary, (doc) => { delete groupsOf(doc)[G2]; });
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.deepEqual(r.changes.map((c) => c.cell), ['1.3a']);
    assert.ok(r.applied.includes('IKE SAs of gateway SubSrv02 deleted'), JSON.stringify(r.applied));
    const s = await lab.commit(secondary, (doc) => { delete groupsOf(doc)[G2]; });
    assert.equal(s.result, 'applied', s.error ?? '');
    assert.deepEqual(s.applied, ['secondary node: in effect when it becomes primary']);

    // The primary: the group's keys and cluster state gone, sub2 counted inactive; the other groups untouched.
    const { [G2]: deleted, ...kept } = oldKeks;
    assert.ok(deleted !== undefined);
    assert.deepEqual(await keks(lab, primary), kept, 'the group\'s KEK deleted, the others kept');
    assert.deepEqual(await lab.groupTeks(primary, G2), []);
    assert.deepEqual(await lab.groupTeks(primary, G1), g1Teks);
    assert.deepEqual(Object.keys(await clusterGroups(lab, primary)), [G3]);
    assert.equal(await lab.counter(primary, 'cluster', 'peersMarkedInactive'), inactive + 1, 'sub2 marked inactive');
    assert.equal(await lab.counter(primary, 'cluster', 'clusterUpdatesSent'), sent + 1, 'one cluster-update ("delete all") sent');

    await lab.until('sub2 installed "delete all": no TEK left', 10_000, async () => (await lab.tekSpis('sub2')).length === 0);
    assert.equal(await lab.counter('sub2', 'cluster', 'clusterUpdatesInstalled'), installed + 1, 'sub2 installed the update');
    t.diagnostic(`sub2 without keys ${Date.now() - startedAt} ms after the commit`);
    await lab.until('gm-0002 told to delete all (through sub2)', 15_000, async () => (await lab.tekSpis('gm-0002')).length === 0);
    await lab.until('the IKE SA with sub2 deleted', 10_000, async () => !(await lab.hasSa(primary, sub2Sa)) && !(await lab.hasSa('sub2', sub2Sa)));

    // After a switch the new primary has neither the group nor its keys, and the rest as before.
    const next = await failover(primary, []);
    assert.deepEqual(await keks(lab, next), kept, 'the standby\'s state holds the deleted group no more');
    assert.deepEqual(await lab.groupTeks(next, G1), g1Teks);
    assert.deepEqual(await lab.groupTeks(next, G2), []);
    assert.deepEqual(Object.keys(await clusterGroups(lab, next)), [G3]);
    assert.deepEqual(await lab.tekSpis('sub2'), [], 'sub2 got no key since');
  });

  it('R-CHG-1.3a root pair, the primary killed between the two commits: the new primary runs its old file on the replicated state, and its own commit applies the change live', async (t) => {
    const primary = await lab.pairSettled(5_000);
    const secondary = otherPairNode(primary);
    const before = await keks(lab, primary);
    const g3Teks = await lab.groupTeks(primary, G3);
    assert.ok(before[G1] !== undefined, 'the group to delete (standalone since the first test) has a KEK');

    const r = await lab.commit(primary, (doc) => { delete groupsOf(doc)[G1]; });
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.deepEqual(r.changes.map((c) => c.cell), ['1.3a']);
    const { [G1]: deleted, ...kept } = before;
    assert.ok(deleted !== undefined);
    assert.deepEqual(await keks(lab, primary), kept);
    // The commit's state reached the standby before the commit answered (the outbox waits for it): kill now.
    await lab.kill(primary);
    await lab.until(`${secondary} primary alone`, 10_000, async () => (await lab.primary()) === secondary);

    // On its old file the new primary still configures the group: it serves it again (keys of its own: the
    // old ones were deleted with the group and are not in the state it took over); the cluster group keeps
    // the keys the old primary made.
    const between = await keks(lab, secondary);
    t.diagnostic(`between the commits ${secondary} serves ${JSON.stringify(between)}`);
    assert.equal(between[G3], before[G3], 'the replicated KEK of an untouched group');
    assert.deepEqual(await lab.groupTeks(secondary, G3), g3Teks, 'and its TEK');
    assert.ok(between[G1] !== undefined && between[G1] !== before[G1], 'the group of its old file, with new keys');

    const s = await lab.commit(secondary, (doc) => { delete groupsOf(doc)[G1]; });
    assert.equal(s.result, 'applied', s.error ?? '');
    assert.deepEqual(s.changes.map((c) => c.cell), ['1.3a']);
    assert.deepEqual(await keks(lab, secondary), kept, 'the second commit deleted the group live');
    assert.deepEqual(await lab.groupTeks(secondary, G3), g3Teks);
    assert.deepEqual(Object.keys(await clusterGroups(lab, secondary)), [G3]);
  });
});
