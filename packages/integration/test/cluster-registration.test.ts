/**
 * Registration across sub-servers, real processes in a namespace of this test: load balancing by
 * member-threshold (R-REG-4/5), and the duplicate member that appears when the last pull message is lost
 * (R-REG-8), reproduced by an nft rule dropping exactly that message.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Cleanup, ClusterLab, dropIsakmp, droppedCount, probeOnly, removeTable, rootWithSubs, useServers, type ExampleNode,
} from '@gvpn/integration';

const GROUP = 'GROUP_ID-0001';
const GROUPKEY_PULL = 32;

describe('R-REG-4/5: member-threshold spreads members over the sub-servers', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;
  const members: ExampleNode[] = ['gm-0001', 'gm-0002', 'gm-0003'];

  before(async () => {
    lab = await ClusterLab.start(cleanup, {
      label: 'cluster-threshold', nodes: ['root', 'sub1', 'sub2', ...members], start: false,
      edit: (node, doc) => {
        if (node === 'root') rootWithSubs(doc, ['sub1', 'sub2']);
        // The same threshold on every server (R-CONF-5).
        if (node === 'root' || node.startsWith('sub')) doc.security['group-vpn'].server.group[GROUP]['member-threshold'] = 2;
        if (node.startsWith('gm-')) {
          useServers(doc, ['sub1', 'sub2']);
          probeOnly(doc, members);
        }
      },
    });
    for (const node of ['root', 'sub1', 'sub2'] as const) await lab.startNode(node);
    await lab.clusterUp(30_000);
  });
  after(() => cleanup.run());

  it('the first two members fill sub1; the third gets no answer there and registers with sub2', async () => {
    for (const m of members) {
      await lab.startNode(m);
      await lab.until(`${m} registered`, 30_000, async () => (await lab.tekSpis(m)).length > 0);
    }
    assert.deepEqual(await lab.registeredMembers('sub1'), ['127.0.3.21', '127.0.3.22']);
    assert.deepEqual(await lab.registeredMembers('sub2'), ['127.0.3.23']);
    assert.ok(((await lab.statistics('sub1')).cluster?.registrationsRefusedThreshold ?? 0) >= 1, 'sub1 refused at its threshold');
    const { groups } = await lab.show<{ groups: { memberThreshold: number; memberCount: number }[] }>('sub1', 'registered-members');
    assert.deepEqual([groups[0]?.memberCount, groups[0]?.memberThreshold], [2, 2]);
  });

  it('members on different subs hold the same keys and hear each other', async () => {
    const teks = await lab.tekSpis('root');
    for (const m of members) assert.deepEqual(await lab.tekSpis(m), teks, m);
    await lab.membersUp(20_000);
  });
});

describe('R-REG-8: the last pull message lost — the member appears on two servers', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;
  let table = '';

  before(async () => {
    lab = await ClusterLab.start(cleanup, {
      label: 'cluster-duplicate', nodes: ['root', 'sub1', 'sub2', 'gm-0001'], start: false,
      edit: (node, doc) => {
        if (node === 'root') rootWithSubs(doc, ['sub1', 'sub2']);
        if (node === 'gm-0001') useServers(doc, ['sub1', 'sub2']); // its probes go nowhere here: no other member runs
      },
    });
    for (const node of ['root', 'sub1', 'sub2'] as const) await lab.startNode(node);
    await lab.clusterUp(30_000);
    // GROUPKEY-PULL message 4 (SEQ + KD with the KEK, its public key and the TEK) is the only pull message
    // from the server over 450 octets of UDP; message 2 (nonce + SA) is about 300.
    table = await dropIsakmp(lab.ns, { from: '127.0.3.11', to: '127.0.3.21', exchangeType: GROUPKEY_PULL, minUdpLength: 450 });
  });
  after(() => cleanup.run());

  it('sub1 counts the member at message 3; the member times out and registers with sub2; both show it', async () => {
    await lab.startNode('gm-0001');
    await lab.until('gm-0001 registered', 40_000, async () => (await lab.tekSpis('gm-0001')).length > 0);
    assert.ok((await droppedCount(lab.ns, table)) >= 1, 'message 4 was dropped');
    assert.deepEqual(await lab.registeredMembers('sub1'), ['127.0.3.21'], 'sub1 believes it registered');
    assert.deepEqual(await lab.registeredMembers('sub2'), ['127.0.3.21'], 'sub2 registered it');
    const { sas } = await lab.show<{ sas: { server?: string }[]; registrations?: { server: string | null }[] }>('gm-0001', 'kek security-associations');
    assert.ok(JSON.stringify(sas).includes('127.0.3.12'), 'the member holds its KEK from sub2');
    await removeTable(lab.ns, table);
  });

  it('the stale entry goes away by itself: sub1\'s pushes are not acknowledged (wrong source for the member), so sub1 drops it', async () => {
    await lab.request('root', ['request', 'security', 'group-vpn', 'server', 'rekey', 'group'], { group: GROUP });
    // sub1 pushes, retransmits number-of-retransmission (2) times every 2 s, then removes the member.
    await lab.until('sub1 forgetting gm-0001', 20_000, async () => (await lab.registeredMembers('sub1')).length === 0);
    assert.ok(((await lab.statistics('sub1')).gdoi?.membersRemovedUnacknowledged ?? 0) >= 1);
    assert.deepEqual(await lab.registeredMembers('sub2'), ['127.0.3.21']);
    assert.deepEqual(await lab.tekSpis('gm-0001'), await lab.tekSpis('root'), 'the member followed sub2\'s push');
  });
});
