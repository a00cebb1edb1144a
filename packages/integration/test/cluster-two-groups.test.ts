/**
 * Two groups on a root and a sub-server (the example cluster: root, sub1, gm-0001 and gm-0002 registered
 * through sub1 in group 1, in a namespace of this test): the sub holds both groups' keys; a TEK rekey of one
 * group changes neither the other's SEQ nor its KEK or TEKs, on the root or the sub; a restarted sub resumes
 * both (same SPIs) and is active for both again.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanup, ClusterLab, probeOnly, rootWithSubs, useServers, type ExampleNode, type NodeDocument } from '@gvpn/integration';

const GROUP = 'GROUP_ID-0001';
const OTHER = 'GROUP_ID-0002';

function addOther(doc: NodeDocument): void {
  const groups = doc.security['group-vpn'].server.group;
  const other = structuredClone(groups[GROUP]);
  other['group-id'] = 2;
  const sa = other['ipsec-sa'][GROUP];
  for (const p of Object.values(sa['match-policy']) as { source: string; destination: string }[]) {
    p.source = '10.30.0.0/16';
    p.destination = '10.30.0.0/16';
  }
  other['ipsec-sa'] = { [OTHER]: sa };
  groups[OTHER] = other;
}

interface KekRow { group: string; spi: string; seq: number }
interface TekRow { group: string; spi: string; state: string }

describe('two groups on a root and a sub-server', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;

  before(async () => {
    lab = await ClusterLab.start(cleanup, {
      label: 'cluster-two-groups', nodes: ['root', 'sub1', 'gm-0001', 'gm-0002'],
      edit: (node, doc) => {
        if (node === 'root') rootWithSubs(doc, ['sub1']);
        if (node === 'root' || node === 'sub1') addOther(doc);
        if (node.startsWith('gm-')) {
          useServers(doc, ['sub1']);
          probeOnly(doc, ['gm-0001', 'gm-0002']);
        }
      },
    });
    await lab.until('sub1 active for both groups', 30_000, async () => (await lab.cluster('sub1')).groups.every((g) => g.root === 'active')
      && (await lab.cluster('sub1')).groups.length === 2);
    await lab.membersUp(40_000);
  });
  after(() => cleanup.run());

  /** Per group: KEK SPI, SEQ and active TEK SPIs. */
  async function keys(node: ExampleNode): Promise<Record<string, { kek: string; seq: number; teks: string[] }>> {
    const keks = (await lab.show<{ sas: KekRow[] }>(node, 'kek security-associations')).sas;
    const teks = (await lab.show<{ sas: TekRow[] }>(node, 'ipsec security-associations')).sas.filter((t) => t.state === 'active');
    return Object.fromEntries(keks.map((k) => [k.group, { kek: k.spi, seq: k.seq, teks: teks.filter((t) => t.group === k.group).map((t) => t.spi) }]));
  }

  it('a TEK rekey of one group leaves the other\'s SEQ, KEK and TEKs alone, on the root and the sub', async () => {
    await lab.until('the sub holds the root\'s keys of both groups', 15_000, async () => JSON.stringify(await keys('sub1')) === JSON.stringify(await keys('root')));
    const before = await keys('root');
    assert.deepEqual(Object.keys(before).sort(), [GROUP, OTHER]);
    await lab.request('root', ['request', 'security', 'group-vpn', 'server', 'rekey', 'group'], { group: GROUP });
    const after = await keys('root');
    assert.deepEqual(after[OTHER], before[OTHER], 'the other group unchanged on the root');
    assert.equal(after[GROUP]?.seq, (before[GROUP]?.seq ?? 0) + 1);
    await lab.until('the sub on the rekeyed TEKs', 15_000, async () => JSON.stringify(await keys('sub1')) === JSON.stringify(await keys('root')));
  });

  it('a restarted sub resumes both groups with the same keys and is active for both again', async () => {
    const before = await keys('sub1');
    await lab.restart('sub1');
    await lab.until('sub1 active for both groups again', 30_000, async () => (await lab.cluster('sub1')).groups.every((g) => g.root === 'active'));
    assert.deepEqual(await keys('sub1'), before);
  });
});
