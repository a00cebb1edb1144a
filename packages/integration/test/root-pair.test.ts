/**
 * The root pair (RG0, issue 5, docs/root-pair.md; spec R-RG0, R-DPD-6) as real processes in a ClusterLab (a
 * network namespace of this test): root-node0 and root-node1 (shared address 127.0.3.1, control link
 * 127.0.3.2 <-> 127.0.3.3), sub1 and sub2, gm-0001 (on sub1) and gm-0002 (on sub2) probing each other.
 * The subs keep the lab's DPD towards the root, 5 s x 3: above the pair's failover time (~1 s), so a
 * failover must never mark the root inactive. Every server has a 900 s TEK and 1800 s KEK, so only the
 * test's own rekeys change keys during the file. One lab for the file; each test starts with the pair
 * whole (a node killed by the test before is started again, as secondary).
 *
 * 1. kill -9 of the primary in steady state: the secondary takes over; no sub marks the root inactive over
 *    the DPD window; probes lose nothing; statistics continue (R-RG0-1).
 * 2. kill -9 of the primary in the middle of a rekey (sub1 has the new TEK, sub2 — frozen — not yet): every
 *    server and member ends on the same TEK and KEK; the new primary completes sub2's update (R-RG0-2/3).
 * 3. Graceful failover and back, twice, under probe traffic: zero probe loss, the same keys everywhere.
 * 4. SIGSTOP of the primary past the heartbeat threshold, then SIGCONT (fencing): exactly one primary, both
 *    nodes agree; the other refuses key commands and sends nothing; members keep their traffic.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Cleanup, ClusterLab, ROOT_PAIR_NODES, otherPairNode, probeOnly, rootWithSubs, useServers, type ExampleNode, type NodeDocument, type Probe,
  type RootPairNode,
} from '@gvpn/integration';

const GROUP = 'GROUP_ID-0001';
const SUBS: ExampleNode[] = ['sub1', 'sub2'];
const MEMBERS: ExampleNode[] = ['gm-0001', 'gm-0002'];
const NODES: ExampleNode[] = [...ROOT_PAIR_NODES, ...SUBS, ...MEMBERS];
/** The subs' DPD towards the root in the lab (sub*.yaml RootSrv): interval 5 s, threshold 3. */
const SUB_DPD_MS = 5_000 * 3;
/** Probe interval of the lab's members (gm-*.yaml data-plane.probe.interval-ms). */
const PROBE_INTERVAL_MS = 500;

function edit(node: ExampleNode, doc: NodeDocument): void {
  const server = doc.security['group-vpn'].server;
  if (server !== undefined) {
    server.ipsec.proposal['AES256-SHA256']['lifetime-seconds'] = 900;
    server.group[GROUP]['server-member-communication']['lifetime-seconds'] = 1800;
  }
  if (node.startsWith('root-node')) rootWithSubs(doc, SUBS);
  if (node === 'gm-0001') useServers(doc, ['sub1']);
  if (node === 'gm-0002') useServers(doc, ['sub2']);
  if (node.startsWith('gm-')) probeOnly(doc, MEMBERS);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Counters = Record<string, Record<string, number>>;

/** Sums of the members' probe counters. */
async function probes(lab: ClusterLab): Promise<Probe> {
  const all = await Promise.all(MEMBERS.map((m) => lab.probe(m)));
  const sum = (k: keyof Probe): number => all.reduce((a, p) => a + (p[k] ?? 0), 0);
  return { sent: sum('sent'), received: sum('received'), authFailures: sum('authFailures'), noSa: sum('noSa'), sendFailures: sum('sendFailures'), gaps: sum('gaps') };
}

/**
 * Nothing lost between two snapshots: no authentication failure, no probe without an SA, none unsent, no
 * sequence gap; and what was received kept up with what was sent (one probe per direction may be in
 * flight at either snapshot) and with the time that passed.
 */
function assertNoProbeLoss(before: Probe, after: Probe, elapsedMs: number, what: string): void {
  for (const k of ['authFailures', 'noSa', 'sendFailures', 'gaps'] as const) assert.equal(after[k], before[k], `${what}: probe ${k}`);
  const sent = after.sent - before.sent;
  const received = after.received - before.received;
  assert.ok(received >= sent - 2 * MEMBERS.length, `${what}: ${received} probes received of ${sent} sent`);
  const expected = MEMBERS.length * Math.floor(elapsedMs / PROBE_INTERVAL_MS) - 2 * MEMBERS.length;
  assert.ok(received >= expected, `${what}: ${received} probes received in ${elapsedMs} ms, expected >= ${expected}`);
}

describe('the root pair (RG0): failover keeps keys, exchanges and statistics (issue 5, R-RG0)', { concurrency: false }, () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;

  /** Starts a pair node the previous test killed; waits for the pair, the cluster and the members. */
  async function wholePair(): Promise<RootPairNode> {
    for (const node of ROOT_PAIR_NODES) if (!lab.running(node)) await lab.startNode(node);
    const primary = await lab.pairSettled(15_000);
    await lab.clusterUp(30_000);
    await lab.membersUp(30_000);
    return primary;
  }

  /** The primary's KEK and TEKs; every sub and member holds the same (waits for pushes in flight). */
  async function sameKeysEverywhere(primary: RootPairNode, withinMs: number): Promise<{ kek: string; teks: string[] }> {
    const kek = await lab.kekSpi(primary);
    const teks = await lab.tekSpis(primary);
    assert.ok(kek !== undefined && teks.length === 1, `${primary} has a KEK and one TEK`);
    for (const node of [...SUBS, ...MEMBERS]) {
      await lab.until(`${node} on the primary's KEK and TEK`, withinMs, async () =>
        (await lab.kekSpi(node)) === kek && (await lab.tekSpis(node)).includes(teks[0] ?? '-'));
      if (node.startsWith('sub')) assert.deepEqual(await lab.tekSpis(node), teks, `${node} holds only the primary's TEK`);
    }
    return { kek, teks };
  }

  /** No sub ever marked its root inactive, and each sees it active now (R-DPD-6: failover < DPD). */
  async function rootNeverInactive(): Promise<void> {
    for (const sub of SUBS) {
      assert.equal((await lab.statistics(sub)).cluster?.peersMarkedInactive, 0, `${sub} never marked the root inactive`);
      assert.equal((await lab.cluster(sub)).groups[0]?.root, 'active', `${sub} sees the root active`);
    }
  }

  const rekey = async (node: RootPairNode): Promise<string> => {
    const spis = await lab.rekey(node, GROUP);
    assert.ok(spis.length === 1 && spis[0] !== undefined, `${node} made one new TEK`);
    return spis[0];
  };

  before(async () => {
    lab = await ClusterLab.start(cleanup, { label: 'root-pair', nodes: NODES, start: false, edit });
    for (const node of NODES) await lab.startNode(node);
    await wholePair();
  });
  after(() => cleanup.run());

  it('R-RG0-1, R-DPD-6: kill -9 of the primary in steady state: the secondary takes over, no sub marks the root inactive, probes lose nothing, statistics continue', async (t) => {
    const old = await wholePair();
    const next = otherPairNode(old);
    const keys = await sameKeysEverywhere(old, 5_000);
    const subDpdAcks = await Promise.all(SUBS.map(async (s) => (await lab.statistics(s)).ike?.dpdAcksReceived ?? 0));
    const p0 = await probes(lab);
    const stats: Counters = await lab.statistics(old);
    const killedAt = Date.now();
    await lab.kill(old);

    await lab.until(`${next} primary`, 5_000, async () => (await lab.chassis(next)).nodes.find((n) => n.self)?.role === 'primary');
    t.diagnostic(`${next} primary ${Date.now() - killedAt} ms after the kill`);
    assert.match(lab.log(next), /RG0: this node is primary/);

    // Ride out a whole DPD period of the subs after the kill (the old node's SA would have been declared
    // dead by now): the subs' DPD is answered by the new primary, the root never inactive.
    await lab.until('each sub\'s DPD answered again (by the new primary)', SUB_DPD_MS, async () => {
      const now = await Promise.all(SUBS.map(async (s) => (await lab.statistics(s)).ike?.dpdAcksReceived ?? 0));
      return now.every((n, i) => n > (subDpdAcks[i] ?? 0));
    });
    await sleep(Math.max(0, killedAt + SUB_DPD_MS + 5_000 - Date.now()));
    await rootNeverInactive();
    const peers = (await lab.cluster(next)).groups[0]?.peers ?? [];
    assert.deepEqual(peers.map((p) => [p.name, p.state, p.ikeSa, p.pendingUpdates]), [['SubSrv01', 'active', 'UP', 0], ['SubSrv02', 'active', 'UP', 0]]);
    for (const sub of SUBS) {
      const { sas } = await lab.show<{ sas: { gateway: string; state: string }[] }>(sub, 'ike security-associations');
      const toRoot = sas.filter((s) => s.gateway === 'RootSrv');
      assert.equal(toRoot.length, 1, `${sub}: one IKE SA with the root (INITIAL-CONTACT replaced the old node's): ${JSON.stringify(sas)}`);
    }

    assertNoProbeLoss(p0, await probes(lab), Date.now() - killedAt, 'across the failover');
    assert.deepEqual(await sameKeysEverywhere(next, 1_000), keys, 'the same KEK and TEK after the failover');

    // Statistics continue from the old primary's (R-RG0-1): nothing counted before the kill is lost.
    const now: Counters = await lab.statistics(next);
    for (const section of ['gdoi', 'cluster']) {
      for (const [k, v] of Object.entries(stats[section] ?? {})) assert.ok((now[section]?.[k] ?? 0) >= v, `${section}.${k}: ${now[section]?.[k]} on ${next} >= ${v} on ${old}`);
    }
    assert.ok((now.cluster?.clusterInitAnswered ?? 0) >= SUBS.length, 'the cluster-inits answered by the old primary are counted');
    assert.equal((await lab.chassis(next)).failovers, 1);
  });

  it('R-RG0-2/3: kill -9 of the primary mid-rekey (sub1 has the new TEK, sub2 not): everyone ends on the same TEK and KEK', async (t) => {
    const old = await wholePair();
    const next = otherPairNode(old);
    const { kek } = await sameKeysEverywhere(old, 5_000);
    const acked = (await lab.statistics(old)).cluster?.clusterUpdatesAcked ?? 0;
    lab.signal('sub2', 'SIGSTOP');
    let frozen = true;
    try {
      const tek = await rekey(old);
      await lab.until('sub1 holding the new TEK', 5_000, async () => (await lab.tekSpis('sub1')).includes(tek));
      const pending = (await lab.cluster(old)).groups[0]?.peers.map((p) => [p.name, p.pendingUpdates]);
      assert.deepEqual(pending, [['SubSrv01', 0], ['SubSrv02', 1]], 'the update reached sub1, not sub2');
      const killedAt = Date.now();
      await lab.kill(old);
      await lab.until(`${next} primary`, 5_000, async () => (await lab.chassis(next)).nodes.find((n) => n.self)?.role === 'primary');
      assert.deepEqual((await lab.cluster(next)).groups[0]?.peers.map((p) => [p.name, p.pendingUpdates]), [['SubSrv01', 0], ['SubSrv02', 1]],
        'the new primary has the update pending for sub2');
      lab.signal('sub2', 'SIGCONT');
      frozen = false;
      await lab.until(`${next}'s update to sub2 acknowledged`, 15_000, async () =>
        (await lab.cluster(next)).groups[0]?.peers.find((p) => p.name === 'SubSrv02')?.pendingUpdates === 0);
      t.diagnostic(`sub2's update acknowledged to ${next} ${Date.now() - killedAt} ms after the kill`);
      assert.ok(((await lab.statistics(next)).cluster?.clusterUpdatesAcked ?? 0) >= acked + 2, 'both subs\' ACKs counted');

      assert.deepEqual(await lab.tekSpis(next), [tek], 'the new primary holds the TEK the old one made');
      assert.equal(await lab.kekSpi(next), kek);
      for (const node of [...SUBS, ...MEMBERS]) {
        await lab.until(`${node} on the new TEK`, 15_000, async () => (await lab.tekSpis(node)).includes(tek));
        assert.equal(await lab.kekSpi(node), kek, `${node} KEK`);
      }
      for (const sub of SUBS) {
        assert.deepEqual(await lab.tekSpis(sub), [tek], `${sub}: only the new TEK active`);
        assert.equal((await lab.cluster(sub)).groups[0]?.updateSeq, (await lab.cluster(next)).groups[0]?.updateSeq, `${sub} update number`);
      }
      await rootNeverInactive();
    } finally {
      if (frozen) lab.signal('sub2', 'SIGCONT');
    }
  });

  it('R-RG0: graceful failover and back, twice, under probe traffic: zero loss, the same keys', async (t) => {
    const first = await wholePair();
    const keys = await sameKeysEverywhere(first, 5_000);
    const stats: Counters = await lab.statistics(first);
    const startedAt = Date.now();
    const p0 = await probes(lab);
    let from = first;
    for (let i = 0; i < 4; i++) {
      const to = otherPairNode(from);
      const r = (await lab.failover(from)) as { done: boolean; primary: string };
      assert.deepEqual(r, { done: true, primary: to === 'root-node0' ? 'node0' : 'node1' });
      assert.equal(await lab.pairSettled(10_000), to, `switch ${i + 1}: ${to} primary`);
      await lab.clusterUp(10_000);
      // The new primary serves: the subs' DPD goes to it, and it has the subs' SAs up.
      await lab.until(`${to} with an IKE SA to every sub`, 10_000, async () =>
        (await lab.cluster(to)).groups[0]?.peers.every((p) => p.ikeSa === 'UP' && p.state === 'active') === true);
      from = to;
    }
    assert.equal(from, first, 'back on the first primary');
    // Let the probes run a little past the last switch.
    await sleep(2_000);
    const p1 = await probes(lab);
    const elapsed = Date.now() - startedAt;
    t.diagnostic(`four switches in ${elapsed} ms; ${p1.received - p0.received} probes received, ${p1.sent - p0.sent} sent`);
    assertNoProbeLoss(p0, p1, elapsed, 'four graceful switches');
    assert.deepEqual(await sameKeysEverywhere(first, 1_000), keys, 'the same KEK and TEK');
    await rootNeverInactive();
    const now: Counters = await lab.statistics(first);
    for (const section of ['gdoi', 'cluster', 'ike']) {
      for (const [k, v] of Object.entries(stats[section] ?? {})) assert.ok((now[section]?.[k] ?? 0) >= v, `${section}.${k}: ${now[section]?.[k]} >= ${v} before the switches`);
    }
    assert.ok((now.ike?.saEstablished ?? 0) >= (stats.ike?.saEstablished ?? 0) + 4 * SUBS.length, 'the SAs each new primary made with the subs are counted');
    // The primary after all that still rekeys, and the TEK reaches every member without loss.
    const p2 = await probes(lab);
    const rekeyedAt = Date.now();
    const tek = await rekey(first);
    for (const node of [...SUBS, ...MEMBERS]) await lab.until(`${node} on the new TEK`, 15_000, async () => (await lab.tekSpis(node)).includes(tek));
    await sleep(3_000); // past the activation delay (2 s): the members send under the new TEK
    assertNoProbeLoss(p2, await probes(lab), Date.now() - rekeyedAt, 'the rekey after the switches');
  });

  it('R-RG0 fencing, R-TOPO-6: SIGSTOP of the primary past the heartbeat threshold, then SIGCONT: exactly one primary, the other refuses and stays silent', async (t) => {
    const old = await wholePair();
    const next = otherPairNode(old);
    const keys = await sameKeysEverywhere(old, 5_000);
    const p0 = await probes(lab);
    const startedAt = Date.now();
    lab.signal(old, 'SIGSTOP');
    try {
      await lab.until(`${next} primary while ${old} is frozen`, 5_000, async () => (await lab.chassis(next)).nodes.find((n) => n.self)?.role === 'primary');
      t.diagnostic(`${next} took over ${Date.now() - startedAt} ms after the freeze`);
      await sleep(2_000); // well past the threshold (4 x 250 ms)
    } finally {
      lab.signal(old, 'SIGCONT');
    }
    const primary = await lab.pairSettled(10_000);
    assert.equal(primary, next, 'the node that took over stays primary (higher epoch); the frozen one stepped down');
    assert.match(lab.log(old), /stepping down/);
    const [a, b] = await Promise.all([lab.chassis(old), lab.chassis(next)]);
    assert.equal(a.nodes.find((n) => n.self)?.role, 'secondary');
    assert.equal(b.nodes.find((n) => n.self)?.role, 'primary');
    assert.equal(a.epoch, b.epoch, 'both on the same epoch');

    await assert.rejects(rekey(old), /secondary of the root pair/, `${old} refuses key commands`);
    await assert.rejects(lab.show(old, 'server-cluster', { detail: true }), /secondary of the root pair/);
    const silentFrom = (await lab.statistics(old)).transport?.datagramsSent ?? 0;
    // Members keep their traffic; the subs keep the root active; the old node sends nothing meanwhile.
    await lab.clusterUp(10_000);
    await sleep(3_000);
    assertNoProbeLoss(p0, await probes(lab), Date.now() - startedAt, 'the freeze and the step-down');
    assert.deepEqual(await sameKeysEverywhere(next, 1_000), keys, 'the same KEK and TEK');
    await rootNeverInactive();
    assert.equal((await lab.statistics(old)).transport?.datagramsSent ?? 0, silentFrom, `${old} sent no datagram as secondary`);
    // The one primary answers and its rekey reaches everyone.
    const tek = await rekey(next);
    for (const node of [...SUBS, ...MEMBERS]) await lab.until(`${node} on the new TEK`, 15_000, async () => (await lab.tekSpis(node)).includes(tek));
  });
});
