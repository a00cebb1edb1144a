/**
 * The worked example (R-EX) as nine real processes in a namespace of this test: root, sub1-sub4 and
 * gm-0001-gm-0004, configured from configs/lab/example. Proves bring-up through cluster-init (R-MSG-1/2a),
 * members served by sub-servers with the root's keys (R-REG-1/2/3, R-TOPO-2), a root rekey reaching every
 * member through cluster-updates without probe loss (R-MSG-4/5), a KEK rekey likewise, and a root `clear`
 * deleting member SAs through the cluster (R-MSG-8/9). A tshark capture of the whole run on the namespace's
 * loopback must pass the malformed gate.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Capture, Cleanup, ClusterLab, malformedGate, type ExampleNode } from '@gvpn/integration';

const SUBS: ExampleNode[] = ['sub1', 'sub2', 'sub3', 'sub4'];
const MEMBERS: ExampleNode[] = ['gm-0001', 'gm-0002', 'gm-0003', 'gm-0004'];
const SERVERS: ExampleNode[] = ['root', ...SUBS];
const GROUP = 'GROUP_ID-0001';

describe('the worked example: root, four sub-servers, four members (R-EX, R-TOPO-1)', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;
  let capture: Capture;
  let firstKek: string | undefined;
  let capturedFrom = 0;

  before(async () => {
    // A 60 s KEK (the same on every server, R-CONF-4) so that its timed rekey happens during the test.
    lab = await ClusterLab.start(cleanup, {
      label: 'cluster-example', nodes: [...SERVERS, ...MEMBERS], start: false,
      edit: (node, doc) => {
        const group = doc.security['group-vpn'].server?.group?.[GROUP];
        if (group !== undefined) group['server-member-communication']['lifetime-seconds'] = 60;
      },
    });
    capture = await Capture.start({
      namespace: lab.ns, iface: 'lo', pcapFile: join(lab.dir, 'cluster.pcap'), logDir: lab.dir, filter: 'udp port 848 or udp port 4500',
    });
    cleanup.defer('capture', () => capture.child.stop('SIGINT'));
    capturedFrom = Date.now();
    for (const node of lab.nodes()) await lab.startNode(node);
  });
  after(() => cleanup.run());

  it('R-MSG-1/2a: every sub reaches "root active" by cluster-init; the root sees all four active', async () => {
    await lab.clusterUp(30_000);
    const root = (await lab.cluster('root')).groups[0];
    assert.equal(root?.role, 'root-server');
    assert.deepEqual(root?.peers.map((p) => [p.name, p.state, p.ikeSa]), [
      ['SubSrv01', 'active', 'UP'], ['SubSrv02', 'active', 'UP'], ['SubSrv03', 'active', 'UP'], ['SubSrv04', 'active', 'UP'],
    ]);
    for (const sub of SUBS) {
      const g = (await lab.cluster(sub)).groups[0];
      assert.equal(g?.role, 'sub-server');
      assert.equal(g?.peers[0]?.role, 'root-server');
      assert.ok(((await lab.statistics(sub)).cluster?.clusterInitSucceeded ?? 0) >= 1, `${sub} completed a cluster-init`);
    }
  });

  it('R-REG-1/3, R-TOPO-2: members register with the sub their list names first; every node holds the root\'s KEK and TEK', async () => {
    await lab.membersUp(60_000);
    const kek = await lab.kekSpi('root');
    const teks = await lab.tekSpis('root');
    assert.ok(kek !== undefined && teks.length === 1);
    firstKek = kek;
    for (const node of [...SUBS, ...MEMBERS]) {
      assert.equal(await lab.kekSpi(node), kek, `${node} KEK`);
      assert.deepEqual(await lab.tekSpis(node), teks, `${node} TEKs`);
    }
    // gm-0001 lists sub1 first, gm-0002 sub2 first, ...: each sub has exactly its member.
    for (const [i, sub] of SUBS.entries()) {
      const { groups } = await lab.show<{ groups: { members: { address: string }[] }[] }>(sub, 'registered-members');
      assert.deepEqual(groups[0]?.members.map((m) => m.address), [`127.0.3.2${i + 1}`], `${sub} members`);
    }
    const { groups } = await lab.show<{ groups: { members: unknown[] }[] }>('root', 'registered-members');
    assert.equal(groups[0]?.members.length, 0, 'members use sub-servers only (R-REG-3)');
  });

  it('R-MSG-4/5, R-REG-2: a root TEK rekey reaches every sub (acknowledged) and every member by its sub\'s push, probes lose nothing', async () => {
    const before = await Promise.all(MEMBERS.map((m) => lab.probe(m)));
    const oldTeks = await lab.tekSpis('root');
    const acked = (await lab.statistics('root')).cluster?.clusterUpdatesAcked ?? 0;
    const r = (await lab.request('root', ['request', 'security', 'group-vpn', 'server', 'rekey', 'group'], { group: GROUP })) as { spis: string[] };
    const newTek = r.spis[0];
    assert.ok(newTek !== undefined && !oldTeks.includes(newTek));
    await lab.until('four cluster-update ACKs at the root', 10_000, async () => ((await lab.statistics('root')).cluster?.clusterUpdatesAcked ?? 0) >= acked + 4);
    for (const node of [...SUBS, ...MEMBERS]) {
      await lab.until(`${node} holding the new TEK`, 15_000, async () => (await lab.tekSpis(node)).includes(newTek));
    }
    for (const sub of SUBS) {
      const s = (await lab.statistics(sub)).gdoi;
      assert.ok((s?.pushesSent ?? 0) >= 1, `${sub} pushed to its member`);
      assert.ok((s?.acksReceived ?? 0) >= 1, `${sub} got its member's ACK`);
    }
    // Probes keep flowing across the switch: each member hears from all three others, with no failure.
    await lab.until('probes after the rekey', 15_000, async () => {
      const now = await Promise.all(MEMBERS.map((m) => lab.probe(m)));
      return now.every((p, i) => p.received >= (before[i]?.received ?? 0) + 3 * 4);
    });
    for (const [i, m] of MEMBERS.entries()) {
      const p = await lab.probe(m);
      assert.equal(p.authFailures, before[i]?.authFailures, `${m} auth failures`);
      assert.equal(p.noSa, before[i]?.noSa, `${m} packets without an SA`);
    }
  });

  it('R-MSG-4: the root\'s timed KEK rekey reaches every member through its sub; the next TEK push decrypts under it', async () => {
    await lab.until('the root\'s KEK rekey', 70_000, async () => (await lab.kekSpi('root')) !== firstKek);
    const kek = await lab.kekSpi('root');
    for (const node of [...SUBS, ...MEMBERS]) {
      await lab.until(`${node} holding the new KEK`, 15_000, async () => (await lab.kekSpi(node)) === kek);
    }
    const r = (await lab.request('root', ['request', 'security', 'group-vpn', 'server', 'rekey', 'group'], { group: GROUP })) as { spis: string[] };
    for (const m of MEMBERS) await lab.until(`${m} holding the TEK pushed under the new KEK`, 15_000, async () => (await lab.tekSpis(m)).includes(r.spis[0] ?? '-'));
  });

  it('R-MSG-8/9: `clear security group-vpn server group` on the root deletes every member SA through the subs; members re-register', async () => {
    const oldTeks = await lab.tekSpis('root');
    await lab.request('root', ['clear', 'security', 'group-vpn', 'server', 'group'], { group: GROUP });
    const newTeks = await lab.tekSpis('root');
    assert.notDeepEqual(newTeks, oldTeks);
    for (const sub of SUBS) {
      await lab.until(`${sub} pushing the delete`, 10_000, async () => ((await lab.statistics(sub)).gdoi?.deleteAllPushes ?? 0) >= 1);
    }
    // Members drop everything and pull again; their subs cluster-init for the fresh keys (R-MSG-2c).
    for (const m of MEMBERS) {
      await lab.until(`${m} on the root's fresh TEK`, 40_000, async () => {
        const t = await lab.tekSpis(m);
        return t.length > 0 && t.every((spi) => newTeks.includes(spi));
      });
    }
    await lab.clusterUp(20_000);
  });

  it('a capture of two minutes of the lab (pulls, pushes, cluster exchanges, DPD, ESP) passes tshark\'s malformed gate', async () => {
    await new Promise((r) => setTimeout(r, Math.max(0, capturedFrom + 120_000 - Date.now())));
    await capture.stop();
    assert.deepEqual(await malformedGate(capture.pcapFile, { groupEsp: true }), []);
  });
});
