/**
 * server-member-communication added (R-CHG-1.4a) and deleted (R-CHG-1.4c) by a commit on running daemons, in a
 * namespace of this test: a standalone key server with two members, then a root (with a member of its own)
 * and sub1 (with the other). Each lab runs 1.4a, then 1.4c on the KEK the first test made.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanup, ClusterLab, memberGateways, probeOnly, rootWithSubs, useServers, type ExampleNode, type NodeDocument } from '@gvpn/integration';

const GROUP = 'GROUP_ID-0001';
const MEMBERS = ['gm-0001', 'gm-0002'] as const;

const group = (doc: NodeDocument): NodeDocument => doc.security['group-vpn'].server.group[GROUP];

/** The example's server-member-communication block (configs/lab/example), removed at start and added back by 1.4a. */
let smc: unknown;

function withoutKek(doc: NodeDocument): void {
  smc = structuredClone(group(doc)['server-member-communication']);
  delete group(doc)['server-member-communication'];
}

function labHelpers(lab: () => ClusterLab) {
  return {
    async ikeSas(node: ExampleNode, gateway: string): Promise<string[]> {
      return (await lab().ikeSas(node)).filter((s) => s.gateway === gateway && s.state === 'UP').map((s) => s.icookie);
    },
    /** The member registers again at once (operator clear) and ends up holding `kek`. */
    async reRegister(member: ExampleNode, kek: string): Promise<void> {
      await lab().request(member, ['clear', 'security', 'group-vpn', 'member', 'group']);
      await lab().until(`${member} registered again, holding KEK ${kek}`, 20_000, async () => (await lab().kekSpi(member)) === kek && (await lab().tekSpis(member)).length > 0);
    },
    async pushesAccepted(member: ExampleNode): Promise<number> {
      return (await lab().show<{ push: { pushesAccepted: number } }>(member, 'ipsec statistics')).push.pushesAccepted;
    },
  };
}

const addKek = (doc: NodeDocument): void => { group(doc)['server-member-communication'] = structuredClone(smc); };
const deleteKek = (doc: NodeDocument): void => { delete group(doc)['server-member-communication']; };

describe('R-CHG-1.4a/1.4c on a standalone key server', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;
  const h = labHelpers(() => lab);

  before(async () => {
    lab = await ClusterLab.start(cleanup, {
      label: 'live-kek-standalone', nodes: ['root', ...MEMBERS],
      edit: (node, doc) => {
        if (node === 'root') {
          rootWithSubs(doc, ['sub1']);
          memberGateways(doc, ['GM-0001', 'GM-0002']);
          delete group(doc)['server-cluster'];
          withoutKek(doc);
        } else {
          useServers(doc, ['root']);
          probeOnly(doc, MEMBERS);
        }
      },
    });
    await lab.membersUp(40_000);
  });
  after(() => cleanup.run());

  it('R-CHG-1.4a standalone: registered members forgotten, a KEK made and shown; a member registering again holds it and gets the rekey push', async () => {
    assert.equal(await lab.kekSpi('root'), undefined, 'no KEK before');
    assert.deepEqual((await lab.registeredMembers('root')).length, 2);
    const teks = await lab.tekSpis('root');
    const r = await lab.commit('root', addKek);
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.deepEqual(r.changes.map((c) => c.cell), ['1.4a']);
    const kek = await lab.kekSpi('root');
    assert.ok(kek !== undefined, 'KEK shown in show ... server kek security-associations');
    assert.deepEqual(await lab.registeredMembers('root'), [], 'members registered without a KEK are forgotten');
    assert.deepEqual(await lab.tekSpis('root'), teks, 'the TEKs stay');
    for (const m of MEMBERS) assert.equal(await lab.kekSpi(m), undefined, `${m} was told nothing (it has no push channel)`);
    await lab.restart('root');
    assert.equal(await lab.kekSpi('root'), kek, 'the stored state holds the new KEK: a restart resumes it');
    assert.deepEqual(await lab.registeredMembers('root'), [], 'and no member');
    await h.reRegister('gm-0001', kek);
    const pushes = await h.pushesAccepted('gm-0001');
    const [spi] = await lab.rekey('root', GROUP);
    await lab.until('gm-0001 gets the new TEK by a push under the KEK', 15_000, async () =>
      (await lab.tekSpis('gm-0001')).includes(spi ?? '-') && (await h.pushesAccepted('gm-0001')) > pushes);
  });

  it('R-CHG-1.4c standalone: members are pushed a delete of the KEK and drop it, keeping their TEKs; the server shows no KEK', async () => {
    const kek = await lab.kekSpi('root');
    assert.ok(kek !== undefined);
    await h.reRegister('gm-0002', kek);
    const acks = (await lab.statistics('root')).gdoi?.acksReceived ?? 0;
    const teks = await Promise.all(MEMBERS.map((m) => lab.tekSpis(m)));
    const r = await lab.commit('root', deleteKek);
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.deepEqual(r.changes.map((c) => c.cell), ['1.4c']);
    assert.equal(await lab.kekSpi('root'), undefined, 'no KEK shown');
    for (const [i, m] of MEMBERS.entries()) {
      await lab.until(`${m} drops the KEK on the delete push`, 15_000, async () => (await lab.kekSpi(m)) === undefined);
      assert.deepEqual(await lab.tekSpis(m), teks[i], `${m} keeps its TEKs`);
    }
    await lab.until('both members acknowledged the KEK delete', 15_000, async () => ((await lab.statistics('root')).gdoi?.acksReceived ?? 0) >= acks + 2);
    assert.equal((await lab.registeredMembers('root')).length, 2, 'members stay registered');
    await lab.restart('root');
    assert.equal(await lab.kekSpi('root'), undefined, 'still no KEK after a restart');
    assert.equal((await lab.registeredMembers('root')).length, 2);
    const received = (await lab.probe('gm-0001')).received;
    await lab.until('probes still flow under the kept TEKs', 15_000, async () => (await lab.probe('gm-0001')).received > received + 4);
  });
});

describe('R-CHG-1.4a/1.4c on a root and a sub-server', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;
  const h = labHelpers(() => lab);

  before(async () => {
    lab = await ClusterLab.start(cleanup, {
      label: 'live-kek-cluster', nodes: ['root', 'sub1', ...MEMBERS],
      edit: (node, doc) => {
        if (node === 'root') {
          rootWithSubs(doc, ['sub1']);
          memberGateways(doc, ['GM-0001']);
        }
        if (node === 'root' || node === 'sub1') withoutKek(doc);
        if (node === 'gm-0001') useServers(doc, ['root']);
        if (node === 'gm-0002') useServers(doc, ['sub1']);
        if (node.startsWith('gm-')) probeOnly(doc, MEMBERS);
      },
    });
    await lab.clusterUp(30_000);
    await lab.membersUp(40_000);
  });
  after(() => cleanup.run());

  it('R-CHG-1.4a root and sub: the root makes a KEK and sends it to the sub; the root\'s member IKE SAs go; the sub\'s members are forgotten', async () => {
    const [rootSa] = await h.ikeSas('root', 'GM-0001');
    assert.ok(rootSa !== undefined, 'gm-0001 registered through the root');
    assert.deepEqual(await lab.registeredMembers('sub1'), ['127.0.3.22']);
    const root = await lab.commit('root', addKek);
    assert.equal(root.result, 'applied', root.error ?? '');
    assert.deepEqual(root.changes.map((c) => c.cell), ['1.4a']);
    const kek = await lab.kekSpi('root');
    assert.ok(kek !== undefined);
    await lab.until('the root\'s member IKE SA deleted', 10_000, async () => !(await h.ikeSas('root', 'GM-0001')).includes(rootSa));
    assert.deepEqual(await lab.registeredMembers('root'), []);
    await lab.until('sub1 gets the KEK by cluster-update', 15_000, async () =>
      (await lab.cluster('sub1')).groups[0]?.sas?.some((s) => s.kind === 'kek' && s.spi === kek) === true);
    const sub = await lab.commit('sub1', addKek);
    assert.equal(sub.result, 'applied', sub.error ?? '');
    assert.deepEqual(sub.changes.map((c) => c.cell), ['1.4a']);
    assert.deepEqual(await lab.registeredMembers('sub1'), [], 'the sub forgets its members');
    assert.equal(await lab.kekSpi('sub1'), kek, 'the sub shows the root\'s KEK (R-TOPO-2)');
    for (const m of MEMBERS) await h.reRegister(m, kek);
    const pushes = await h.pushesAccepted('gm-0002');
    const [spi] = await lab.rekey('root', GROUP);
    await lab.until('gm-0002 gets the root\'s new TEK by the sub\'s push under the KEK', 15_000, async () =>
      (await lab.tekSpis('gm-0002')).includes(spi ?? '-') && (await h.pushesAccepted('gm-0002')) > pushes);
  });

  it('R-CHG-1.4c root and sub: the delete goes through the sub to its members; the root\'s member IKE SAs go; no KEK on either server', async () => {
    const kek = await lab.kekSpi('root');
    assert.ok(kek !== undefined);
    const rootSas = await h.ikeSas('root', 'GM-0001');
    assert.ok(rootSas.length > 0);
    const teks = await Promise.all(MEMBERS.map((m) => lab.tekSpis(m)));
    const root = await lab.commit('root', deleteKek);
    assert.equal(root.result, 'applied', root.error ?? '');
    assert.deepEqual(root.changes.map((c) => c.cell), ['1.4c']);
    assert.equal(await lab.kekSpi('root'), undefined);
    await lab.until('the root\'s member IKE SA deleted', 10_000, async () => !(await h.ikeSas('root', 'GM-0001')).some((c) => rootSas.includes(c)));
    for (const [i, m] of MEMBERS.entries()) {
      await lab.until(`${m} drops the KEK on the delete push`, 15_000, async () => (await lab.kekSpi(m)) === undefined);
      assert.deepEqual(await lab.tekSpis(m), teks[i], `${m} keeps its TEKs`);
    }
    assert.equal(await lab.kekSpi('sub1'), undefined, 'the sub holds no KEK for members once the root deleted it');
    const sub = await lab.commit('sub1', deleteKek);
    assert.equal(sub.result, 'applied', sub.error ?? '');
    assert.deepEqual(sub.changes.map((c) => c.cell), ['1.4c']);
    assert.equal(await lab.kekSpi('sub1'), undefined);
    assert.deepEqual(await lab.registeredMembers('sub1'), ['127.0.3.22'], 'the sub\'s member stays registered');
    assert.equal((await lab.cluster('sub1')).groups[0]?.root, 'active');
  });
});
