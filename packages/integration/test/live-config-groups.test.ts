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
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Cleanup, ClusterLab, probeOnly, rootWithSubs, useServers, type ExampleNode } from '@gvpn/integration';

const GROUP = 'GROUP_ID-0001';
const OTHER = 'OTHER';

interface CommitReply {
  result: 'applied' | 'refused' | 'invalid' | 'no-change';
  changes: { cell: string; detail: string }[];
  applied: string[];
  error: string | null;
}

interface IkeSa { gateway: string; state: string; icookie: string }
interface ServerTek { group: string; groupId: number; spi: string; state: string }

/** Edits the node's configuration (the lab's copy, so a restart keeps the edit), writes it and commits it. */
async function commit(lab: ClusterLab, node: ExampleNode, edit: (doc: any) => void): Promise<CommitReply> {
  const doc = lab.configs.get(node);
  edit(doc);
  const file = join(lab.dir, `${node}.yaml`);
  await writeFile(file, stringify(doc));
  return (await lab.request(node, ['commit'], { file })) as CommitReply;
}

const groupsOf = (doc: any): Record<string, any> => doc.security['group-vpn'].server.group;

/** The member's vpn now asks for `groupId`; restarted with that file. */
async function joinGroup(lab: ClusterLab, member: ExampleNode, groupId: number): Promise<void> {
  for (const vpn of Object.values(lab.configs.get(member).security['group-vpn'].member.ipsec.vpn) as any[]) vpn.group = groupId;
  await lab.restart(member);
}

async function ikeSas(lab: ClusterLab, node: ExampleNode): Promise<IkeSa[]> {
  return (await lab.show<{ sas: IkeSa[] }>(node, 'ike security-associations')).sas;
}

/** The initiator cookie of the gateway's established SA (one is expected). */
async function upSa(lab: ClusterLab, node: ExampleNode, gateway: string): Promise<string> {
  const sa = (await ikeSas(lab, node)).find((s) => s.gateway === gateway && s.state === 'UP');
  assert.ok(sa !== undefined, `${node} has an IKE SA through ${gateway}`);
  return sa.icookie;
}

/** Waits for an established SA through the gateway (one the peer negotiates anew after a reset); its cookie. */
async function awaitSa(lab: ClusterLab, node: ExampleNode, gateway: string): Promise<string> {
  return lab.until(`${node}: an IKE SA through ${gateway}`, 15_000, async () => (await ikeSas(lab, node)).find((s) => s.gateway === gateway && s.state === 'UP')?.icookie);
}

const hasSa = async (lab: ClusterLab, node: ExampleNode, icookie: string): Promise<boolean> => (await ikeSas(lab, node)).some((s) => s.icookie === icookie);

/** Active TEK SPIs of one group on a server. */
async function groupTeks(lab: ClusterLab, node: ExampleNode, group: string): Promise<string[]> {
  const { sas } = await lab.show<{ sas: ServerTek[] }>(node, 'ipsec security-associations');
  return sas.filter((s) => s.group === group && s.state === 'active').map((s) => s.spi).sort();
}

async function keks(lab: ClusterLab, node: ExampleNode): Promise<{ group: string; groupId: number; spi: string }[]> {
  return (await lab.show<{ sas: { group: string; groupId: number; spi: string }[] }>(node, 'kek security-associations')).sas;
}

async function registered(lab: ClusterLab, node: ExampleNode): Promise<Map<string, string[]>> {
  const { groups } = await lab.show<{ groups: { name: string; members: { address: string }[] }[] }>(node, 'registered-members');
  return new Map(groups.map((g) => [g.name, g.members.map((m) => m.address)]));
}

async function clusterGroup(lab: ClusterLab, node: ExampleNode, name: string) {
  return (await lab.cluster(node)).groups.find((g) => g.name === name);
}

const counter = async (lab: ClusterLab, node: ExampleNode, section: string, name: string): Promise<number> => (await lab.statistics(node))[section]?.[name] ?? 0;

describe('R-CHG group changes on a standalone key server', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;

  before(async () => {
    lab = await ClusterLab.start(cleanup, {
      label: 'live-groups-standalone', nodes: ['root', 'gm-0001', 'gm-0002'],
      edit: (node, doc) => {
        if (node === 'root') {
          // Standalone: no server-cluster; members register with it through their own gateways.
          const server = doc.security['group-vpn'].server;
          rootWithSubs(doc, []);
          server.ike.policy.GMs = { mode: 'main', proposals: Object.keys(server.ike.proposal), 'pre-shared-key': { 'ascii-text': 'lab-only-member-secret' } };
          server.ike.gateway['GM-0001'] = { 'ike-policy': 'GMs', address: '127.0.3.21', 'local-address': '127.0.3.1' };
          server.ike.gateway['GM-0002'] = { 'ike-policy': 'GMs', address: '127.0.3.22', 'local-address': '127.0.3.1' };
          const g = server.group[GROUP];
          g['ike-gateway'] = ['GM-0001', 'GM-0002'];
          delete g['server-cluster'];
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
    const teks = await groupTeks(lab, 'root', GROUP);
    const r = await commit(lab, 'root', (doc) => {
      groupsOf(doc)[OTHER] = { ...structuredClone(groupsOf(doc)[GROUP]), 'group-id': 2, 'ike-gateway': ['GM-0001'] };
    });
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.deepEqual(r.changes.map((c) => c.cell), ['group-added']);
    assert.deepEqual((await keks(lab, 'root')).map((k) => [k.group, k.groupId]), [[GROUP, 1], [OTHER, 2]]);
    const other = await groupTeks(lab, 'root', OTHER);
    assert.equal(other.length, 1, 'the new group\'s TEK is made by the commit');
    assert.deepEqual(await groupTeks(lab, 'root', GROUP), teks);
    assert.deepEqual((await registered(lab, 'root')).get(GROUP)?.sort(), ['127.0.3.21', '127.0.3.22']);
    await joinGroup(lab, 'gm-0001', 2);
    await lab.until('gm-0001 registered in the new group', 20_000, async () => (await lab.tekSpis('gm-0001')).join() === other.join());
    assert.deepEqual((await registered(lab, 'root')).get(OTHER), ['127.0.3.21']);
  });

  it('R-CHG-1.3b standalone: "delete all" pushed, keys and members deleted, the group\'s IKE SAs gone (not one another group uses), new keys under the new ID', async () => {
    const oldKek = (await keks(lab, 'root')).find((k) => k.group === GROUP)?.spi;
    const oldTeks = await groupTeks(lab, 'root', GROUP);
    assert.deepEqual(await lab.tekSpis('gm-0002'), oldTeks);
    const gm2 = await upSa(lab, 'root', 'GM-0002');
    const gm1 = await upSa(lab, 'root', 'GM-0001');
    const otherTeks = await lab.tekSpis('gm-0001');
    const pushes = await counter(lab, 'root', 'gdoi', 'deleteAllPushes');
    const acks = await counter(lab, 'root', 'gdoi', 'acksReceived');

    const r = await commit(lab, 'root', (doc) => { groupsOf(doc)[GROUP]['group-id'] = 5; });
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.deepEqual(r.changes.map((c) => c.cell), ['1.3b']);
    assert.equal(await counter(lab, 'root', 'gdoi', 'deleteAllPushes'), pushes + 1);
    const kek = (await keks(lab, 'root')).find((k) => k.group === GROUP);
    assert.equal(kek?.groupId, 5);
    assert.notEqual(kek?.spi, oldKek, 'a new KEK');
    const newTeks = await groupTeks(lab, 'root', GROUP);
    assert.equal(newTeks.length, 1);
    assert.ok(!oldTeks.includes(newTeks[0] ?? ''), 'a new TEK');
    assert.deepEqual((await registered(lab, 'root')).get(GROUP), [], 'its registered members deleted');
    await lab.until('gm-0002 told to delete all', 10_000, async () => (await lab.tekSpis('gm-0002')).length === 0);
    await lab.until('its ACK taken under the ended group\'s KEK', 10_000, async () => (await counter(lab, 'root', 'gdoi', 'acksReceived')) > acks);
    assert.equal(await hasSa(lab, 'root', gm2), false, 'the IKE SA through GM-0002 deleted');
    assert.equal(await hasSa(lab, 'root', gm1), true, 'GM-0001 serves the other group too: its IKE SA stays');
    assert.deepEqual(await lab.tekSpis('gm-0001'), otherTeks, 'the other group untouched');

    await joinGroup(lab, 'gm-0002', 5);
    await lab.until('gm-0002 registered under the new ID with the new keys', 20_000, async () => (await lab.tekSpis('gm-0002')).join() === newTeks.join());
  });

  it('R-CHG-1.3a standalone: "delete all" pushed to its members, its keys, members and IKE SAs gone; a restart does not bring it back', async () => {
    const gm2 = await upSa(lab, 'root', 'GM-0002');
    const gm1 = await upSa(lab, 'root', 'GM-0001');
    const otherKek = (await keks(lab, 'root')).find((k) => k.group === OTHER)?.spi;
    const otherTeks = await groupTeks(lab, 'root', OTHER);

    const r = await commit(lab, 'root', (doc) => { delete groupsOf(doc)[GROUP]; });
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.deepEqual(r.changes.map((c) => c.cell), ['1.3a']);
    assert.deepEqual((await keks(lab, 'root')).map((k) => k.group), [OTHER]);
    assert.deepEqual(await groupTeks(lab, 'root', GROUP), []);
    assert.deepEqual([...(await registered(lab, 'root')).keys()], [OTHER]);
    await lab.until('gm-0002 told to delete all', 10_000, async () => (await lab.tekSpis('gm-0002')).length === 0);
    assert.equal(await hasSa(lab, 'root', gm2), false, 'the IKE SA through GM-0002 deleted');
    assert.equal(await hasSa(lab, 'root', gm1), true);
    assert.deepEqual(await lab.tekSpis('gm-0001'), otherTeks, 'the other group untouched');

    await lab.restart('root');
    assert.deepEqual((await keks(lab, 'root')).map((k) => [k.group, k.spi]), [[OTHER, otherKek]], 'the stored state holds the deleted group no more');
    assert.deepEqual(await groupTeks(lab, 'root', OTHER), otherTeks);
  });
});

describe('R-CHG group changes on a root and its sub-server', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;

  before(async () => {
    lab = await ClusterLab.start(cleanup, {
      label: 'live-groups-cluster', nodes: ['root', 'sub1', 'gm-0001', 'gm-0002'],
      edit: (node, doc) => {
        if (node === 'root') rootWithSubs(doc, ['sub1']);
        if (node.startsWith('gm-')) {
          useServers(doc, ['sub1']);
          probeOnly(doc, ['gm-0001', 'gm-0002']);
        }
      },
    });
    await lab.clusterUp(30_000);
    await lab.membersUp(40_000);
  });
  after(() => cleanup.run());

  it('R-CHG group-added root and sub: the root makes its keys, the sub cluster-inits for it and serves a member of it', async () => {
    const teks = await lab.tekSpis('gm-0001');
    const root = await commit(lab, 'root', (doc) => { groupsOf(doc)[OTHER] = { ...structuredClone(groupsOf(doc)[GROUP]), 'group-id': 2 }; });
    assert.equal(root.result, 'applied', root.error ?? '');
    assert.deepEqual(root.changes.map((c) => c.cell), ['group-added']);
    const other = await groupTeks(lab, 'root', OTHER);
    assert.equal(other.length, 1);
    assert.deepEqual((await clusterGroup(lab, 'root', OTHER))?.peers.map((p) => [p.name, p.state]), [['SubSrv01', 'inactive']]);

    // On the sub the new group takes member gateway GM-0002 from the first one (R-CHG-1.3c in the same commit).
    const sub = await commit(lab, 'sub1', (doc) => {
      const groups = groupsOf(doc);
      groups[OTHER] = { ...structuredClone(groups[GROUP]), 'group-id': 2, 'ike-gateway': ['GM-0002'] };
      groups[GROUP]['ike-gateway'] = ['GM-0001', 'GM-0003', 'GM-0004'];
    });
    assert.equal(sub.result, 'applied', sub.error ?? '');
    assert.deepEqual(sub.changes.map((c) => c.cell), ['1.3c', 'group-added']);
    await lab.until('sub1 holding the new group\'s keys from the root', 20_000, async () =>
      (await clusterGroup(lab, 'sub1', OTHER))?.root === 'active' && (await groupTeks(lab, 'sub1', OTHER)).join() === other.join());
    assert.equal((await clusterGroup(lab, 'root', OTHER))?.peers[0]?.state, 'active');
    await joinGroup(lab, 'gm-0002', 2);
    await lab.until('gm-0002 registered with sub1 in the new group', 20_000, async () => (await lab.tekSpis('gm-0002')).join() === other.join());
    assert.deepEqual(await lab.tekSpis('gm-0001'), teks, 'the first group untouched');
  });

  it('R-CHG-1.3a root and sub: the sub gets "delete all" and pushes it to its members, the root drops the group (sub inactive); on the sub its keys, members and member IKE SAs go', async () => {
    const teks = await lab.tekSpis('gm-0001');
    const rootToSub = await upSa(lab, 'root', 'SubSrv01');
    const subToRoot = await upSa(lab, 'sub1', 'RootSrv');
    const gm2 = await upSa(lab, 'sub1', 'GM-0002');
    const inactive = await counter(lab, 'root', 'cluster', 'peersMarkedInactive');

    const root = await commit(lab, 'root', (doc) => { delete groupsOf(doc)[OTHER]; });
    assert.equal(root.result, 'applied', root.error ?? '');
    assert.deepEqual(root.changes.map((c) => c.cell), ['1.3a']);
    assert.deepEqual((await lab.cluster('root')).groups.map((g) => g.name), [GROUP]);
    assert.deepEqual((await keks(lab, 'root')).map((k) => k.group), [GROUP]);
    assert.equal(await counter(lab, 'root', 'cluster', 'peersMarkedInactive'), inactive + 1, 'the sub marked inactive for the group');
    await lab.until('sub1 told to delete all (its TEK of the group gone)', 10_000, async () => (await groupTeks(lab, 'sub1', OTHER)).length === 0);
    await lab.until('gm-0002 told to delete all by sub1', 10_000, async () => (await lab.tekSpis('gm-0002')).length === 0);
    assert.equal(await hasSa(lab, 'root', rootToSub), true, 'the sub serves the first group too: its IKE SA stays');

    const subInactive = await counter(lab, 'sub1', 'cluster', 'peersMarkedInactive');
    const sub = await commit(lab, 'sub1', (doc) => { delete groupsOf(doc)[OTHER]; });
    assert.equal(sub.result, 'applied', sub.error ?? '');
    assert.deepEqual(sub.changes.map((c) => c.cell), ['1.3a']);
    assert.deepEqual((await lab.cluster('sub1')).groups.map((g) => g.name), [GROUP]);
    assert.equal(await counter(lab, 'sub1', 'cluster', 'peersMarkedInactive'), subInactive + 1, 'the root marked inactive for the group');
    assert.deepEqual([...(await registered(lab, 'sub1')).keys()], [GROUP]);
    assert.equal(await hasSa(lab, 'sub1', gm2), false, 'the member IKE SA through GM-0002 deleted');
    assert.equal(await hasSa(lab, 'sub1', subToRoot), true, 'the root serves the first group too: its IKE SA stays');
    assert.deepEqual(await lab.tekSpis('gm-0001'), teks, 'the first group untouched');

    await lab.restart('sub1');
    await lab.until('sub1 back with its root', 20_000, async () => (await clusterGroup(lab, 'sub1', GROUP))?.root === 'active');
    assert.deepEqual((await keks(lab, 'sub1')).map((k) => k.group), [GROUP], 'the stored state holds the deleted group no more');
  });

  it('R-CHG-1.3b root and sub: "delete all" to the sub and its members, new keys under the new ID, IKE SAs root<->sub renewed; the sub cluster-inits with the new ID', async () => {
    const oldTeks = await groupTeks(lab, 'root', GROUP);
    const oldKek = (await keks(lab, 'root'))[0]?.spi;
    assert.deepEqual(await lab.tekSpis('gm-0001'), oldTeks);
    const rootToSub = await upSa(lab, 'root', 'SubSrv01');
    const inactive = await counter(lab, 'root', 'cluster', 'peersMarkedInactive');

    const root = await commit(lab, 'root', (doc) => { groupsOf(doc)[GROUP]['group-id'] = 7; });
    assert.equal(root.result, 'applied', root.error ?? '');
    assert.deepEqual(root.changes.map((c) => c.cell), ['1.3b']);
    const kek = (await keks(lab, 'root'))[0];
    assert.equal(kek?.groupId, 7);
    assert.notEqual(kek?.spi, oldKek, 'a new KEK');
    const newTeks = await groupTeks(lab, 'root', GROUP);
    assert.equal(newTeks.length, 1);
    assert.ok(!oldTeks.includes(newTeks[0] ?? ''), 'a new TEK');
    const view = await clusterGroup(lab, 'root', GROUP);
    assert.equal(view?.groupId, 7);
    assert.deepEqual(view?.peers.map((p) => [p.name, p.state]), [['SubSrv01', 'inactive']]);
    assert.equal(await counter(lab, 'root', 'cluster', 'peersMarkedInactive'), inactive + 1);
    assert.equal(await hasSa(lab, 'root', rootToSub), false, 'the IKE SA with the sub deleted');
    await lab.until('gm-0001 told to delete all by sub1', 10_000, async () => (await lab.tekSpis('gm-0001')).length === 0);

    // The sub negotiates a new SA with the root at once; gm-0001 one with the sub, to register again.
    const subToRoot = await awaitSa(lab, 'sub1', 'RootSrv');
    const gm1 = await awaitSa(lab, 'sub1', 'GM-0001');
    const sub = await commit(lab, 'sub1', (doc) => { groupsOf(doc)[GROUP]['group-id'] = 7; });
    assert.equal(sub.result, 'applied', sub.error ?? '');
    assert.deepEqual(sub.changes.map((c) => c.cell), ['1.3b']);
    assert.equal(await hasSa(lab, 'sub1', subToRoot), false, 'the IKE SA with the root deleted');
    assert.equal(await hasSa(lab, 'sub1', gm1), false, 'the member IKE SA deleted');
    assert.deepEqual((await registered(lab, 'sub1')).get(GROUP), []);
    await lab.until('sub1 cluster-init under the new ID', 20_000, async () => {
      const g = await clusterGroup(lab, 'sub1', GROUP);
      return g?.groupId === 7 && g.root === 'active' && (await groupTeks(lab, 'sub1', GROUP)).join() === newTeks.join();
    });
    assert.equal((await clusterGroup(lab, 'root', GROUP))?.peers[0]?.state, 'active');
    await joinGroup(lab, 'gm-0001', 7);
    await lab.until('gm-0001 registered under the new ID', 20_000, async () => (await lab.tekSpis('gm-0001')).join() === newTeks.join());
  });
});
