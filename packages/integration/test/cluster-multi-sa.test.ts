/**
 * A group with two ipsec-sa of different lifetimes on the running example cluster — root, sub1, gm-0001,
 * gm-0002 registered through sub1, in a namespace of this test. The second ipsec-sa (LONG: 10.20.0.0/16,
 * twice the lifetime) is listed first. The sub holds the root's TEKs under its own ipsec-sa names, with the
 * root's expiries (not the first TEK's age counted against the shortest lifetime), also after a restart; a
 * commit on the sub deleting LONG (R-CHG-1.5c) ends that TEK there at once. A root restarted with an
 * ipsec-sa added to its file while it was down serves it at once: the sub and the members get its TEK.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanup, ClusterLab, probeOnly, rootWithSubs, useServers, type ExampleNode, type NodeDocument } from '@gvpn/integration';

const GROUP = 'GROUP_ID-0001';
const group = (doc: NodeDocument) => doc.security['group-vpn'].server.group[GROUP];

/** Adds ipsec-sa LONG (its own proposal, twice the lifetime) before the group's ipsec-sa. */
function addLong(doc: NodeDocument): void {
  const proposals = doc.security['group-vpn'].server.ipsec.proposal;
  proposals['LONG-P'] = { ...proposals['AES256-SHA256'], 'lifetime-seconds': 2 * proposals['AES256-SHA256']['lifetime-seconds'] };
  const g = group(doc);
  const first = g['ipsec-sa'][GROUP];
  const match = structuredClone(first['match-policy']);
  for (const p of Object.values(match) as { source: string; destination: string }[]) {
    p.source = '10.20.0.0/16';
    p.destination = '10.20.0.0/16';
  }
  g['ipsec-sa'] = { LONG: { proposal: 'LONG-P', 'match-policy': match }, [GROUP]: first };
}

interface TekRow { ipsecSa: string; spi: string; state: string; expiresInSeconds: number }

describe('a group with two ipsec-sa on a root and a sub-server', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;

  before(async () => {
    lab = await ClusterLab.start(cleanup, {
      label: 'cluster-multi-sa', nodes: ['root', 'sub1', 'gm-0001', 'gm-0002'],
      edit: (node, doc) => {
        if (node === 'root') rootWithSubs(doc, ['sub1']);
        if (node === 'root' || node === 'sub1') addLong(doc);
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

  const active = async (node: ExampleNode): Promise<TekRow[]> =>
    (await lab.show<{ sas: TekRow[] }>(node, 'ipsec security-associations')).sas.filter((s) => s.state === 'active');

  /** The sub shows the root's TEKs under the ipsec-sa names, each expiring when the root's does. */
  async function sameAsRoot(): Promise<void> {
    const [root, sub] = [await active('root'), await active('sub1')];
    assert.deepEqual(sub.map((s) => [s.ipsecSa, s.spi]), root.map((s) => [s.ipsecSa, s.spi]));
    assert.deepEqual(root.map((s) => s.ipsecSa), ['LONG', GROUP]);
    for (const s of sub) {
      const r = root.find((x) => x.spi === s.spi);
      assert.ok(r !== undefined && Math.abs(r.expiresInSeconds - s.expiresInSeconds) <= 2, `${s.ipsecSa}: root ${r?.expiresInSeconds} s, sub ${s.expiresInSeconds} s`);
    }
  }

  it('the sub holds both TEKs under their ipsec-sa names with the root\'s expiries, also after a restart', async () => {
    await lab.until('the root\'s TEKs on the sub', 15_000, async () => (await lab.tekSpis('sub1')).join() === (await lab.tekSpis('root')).join());
    await sameAsRoot();
    await lab.restart('sub1');
    await lab.clusterUp(30_000);
    await sameAsRoot();
  });

  it('R-CHG-1.5c on the sub: LONG deleted ends its TEK there at once; the other stays', async () => {
    const [long, kept] = (await active('sub1')).map((s) => s.spi);
    const r = await lab.commit('sub1', (doc) => { delete group(doc)['ipsec-sa'].LONG; });
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.deepEqual(r.changes.map((c) => c.cell), ['1.5c']);
    assert.ok(long !== undefined && r.applied.some((line) => line.includes(long)), JSON.stringify(r.applied));
    assert.deepEqual(await lab.tekSpis('sub1'), [kept]);
  });

  it('a root restarted with an ipsec-sa added to its file makes its TEK at once; the sub and the members get it, the other TEKs stay', async () => {
    const before = await lab.tekSpis('root');
    const doc = lab.configs.get('root');
    const sas = group(doc)['ipsec-sa'];
    const added = structuredClone(sas[GROUP]);
    for (const p of Object.values(added['match-policy']) as { source: string; destination: string }[]) {
      p.source = '10.40.0.0/16';
      p.destination = '10.40.0.0/16';
    }
    sas.ADDED = added;
    await lab.restart('root');
    const now = await lab.until('the root serving ADDED', 15_000, async () => {
      const rows = await active('root');
      return rows.some((r) => r.ipsecSa === 'ADDED') ? rows.map((r) => r.spi).sort() : undefined;
    });
    assert.ok(before.every((spi) => now.includes(spi)), 'the resumed TEKs stay');
    for (const n of ['sub1', 'gm-0001', 'gm-0002'] as const) {
      await lab.until(`${n} holding every TEK of the root`, 20_000, async () => {
        const held = await lab.tekSpis(n);
        return now.every((spi) => held.includes(spi));
      });
    }
  });
});
