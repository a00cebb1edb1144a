/**
 * Sub-server faults, each in its own ClusterLab (a network namespace of this test): root, sub1, sub2,
 * gm-0001 (servers sub1, sub2) and gm-0002 (servers sub2, sub1); the root's cluster lists just the two subs.
 * Real time, lab timers: cluster retransmission-period 2 s, DPD 5 s x 3 on the cluster gateways.
 *
 * - sub2 frozen with SIGSTOP (process and sockets stay; only DPD can tell): the root retransmits its
 *   cluster-update every period until DPD reports sub2 down, then stops (R-MSG-5, R-DPD-3); thawed, sub2
 *   finds the root gone by its own DPD and comes back by cluster-init (R-MSG-2a).
 * - sub1 killed with SIGKILL: the root marks it inactive and sends it nothing more (R-DPD-3, R-MSG-5); its
 *   member keeps its SAs, then re-registers with its next server when its TEK nears expiry (R-REG-4).
 *
 * The two labs run side by side (separate namespaces) to keep the file near a minute; the tests inside
 * each run in order.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Cleanup, ClusterLab, exampleAddress, isServer, probeOnly, useServers, type ClusterPeer, type ExampleNode, type NodeDocument,
} from '@gvpn/integration';

const GROUP = 'GROUP_ID-0001';
const NODES: ExampleNode[] = ['root', 'sub1', 'sub2', 'gm-0001', 'gm-0002'];
/** server-cluster retransmission-period of the lab (root and subs). */
const PERIOD_S = 2;
/** dead-peer-detection on the lab's cluster gateways (both directions). */
const DPD_INTERVAL_S = 5;
const DPD_THRESHOLD = 3;
/** The peer is declared dead interval x (threshold + 1) after the last acknowledged probe (packages/ike/src/dpd.ts). */
const DPD_DEAD_S = DPD_INTERVAL_S * (DPD_THRESHOLD + 1);

/** The lab of both blocks; `tekLifetimeSeconds` goes to every server alike (R-CONF-4). */
function editFor(tekLifetimeSeconds: number) {
  return (node: ExampleNode, doc: NodeDocument): void => {
    if (node === 'gm-0001') useServers(doc, ['sub1', 'sub2']);
    if (node === 'gm-0002') useServers(doc, ['sub2', 'sub1']);
    if (!isServer(node)) probeOnly(doc, ['gm-0001', 'gm-0002']);
    if (isServer(node)) doc.security['group-vpn'].server.ipsec.proposal['AES256-SHA256']['lifetime-seconds'] = tekLifetimeSeconds;
    if (node === 'root') {
      // Only two subs exist here: the root's cluster lists just them, so every update counter is theirs.
      const server = doc.security['group-vpn'].server;
      server.group[GROUP]['server-cluster']['ike-gateway'] = ['SubSrv01', 'SubSrv02'];
      for (const gw of ['SubSrv03', 'SubSrv04']) delete server.ike.gateway[gw];
    }
  };
}

const seconds = (fromMs: number, toMs = Date.now()): number => Math.round((toMs - fromMs) / 100) / 10;

/**
 * Watching for something NOT to happen needs a stretch of time; this is that stretch, never a wait for an
 * event (those use `lab.until`).
 */
const observe = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function rootPeer(lab: ClusterLab, name: string): Promise<ClusterPeer> {
  const peer = (await lab.cluster('root')).groups[0]?.peers.find((p) => p.name === name);
  assert.ok(peer !== undefined, `the root lists ${name}`);
  return peer;
}

async function counter(lab: ClusterLab, node: ExampleNode, section: 'cluster' | 'ike' | 'gdoi', name: string): Promise<number> {
  const value = (await lab.statistics(node))[section]?.[name];
  assert.equal(typeof value, 'number', `${node} statistics ${section}.${name}`);
  return value as number;
}

async function rekey(lab: ClusterLab): Promise<string> {
  const r = (await lab.request('root', ['request', 'security', 'group-vpn', 'server', 'rekey', 'group'], { group: GROUP })) as { spis: string[] };
  const spi = r.spis[0];
  assert.ok(spi !== undefined && r.spis.length === 1, 'the root made one new TEK');
  return spi;
}

interface MemberStatistics {
  probe: { received: number; authFailures: number; noSa: number; sendFailures: number };
  registration: Record<string, number>;
  probePeers: { name: string; received: number }[];
}

const memberStatistics = (lab: ClusterLab, m: ExampleNode): Promise<MemberStatistics> => lab.show<MemberStatistics>(m, 'ipsec statistics');

/** Probes `to` received from `fromName` (its probe peer entry). */
async function receivedFrom(lab: ClusterLab, to: ExampleNode, fromName: string): Promise<number> {
  const peer = (await memberStatistics(lab, to)).probePeers.find((p) => p.name === fromName);
  assert.ok(peer !== undefined, `${to} probes ${fromName}`);
  return peer.received;
}

describe('sub-server faults (R-MSG-5, R-DPD-3, R-REG-4)', { concurrency: true }, () => {
  describe('sub2 frozen (SIGSTOP): retransmitted until DPD, then dropped; back by itself (R-MSG-5, R-DPD-3)', { concurrency: false }, () => {
    const cleanup = new Cleanup();
    let lab: ClusterLab;
    let frozen = false;
    let frozenAt = 0;
    let publishedAt = 0;
    let newTek = '';
    /** sub2's counters before the freeze (it cannot answer while frozen). */
    let sub2Before = { initSucceeded: 0, peersDead: 0, peersMarkedInactive: 0, saEstablished: 0 };

    before(async () => {
      // A 300 s TEK on every server: no timed rekey can join the operator's one while sub2 is frozen.
      lab = await ClusterLab.start(cleanup, { label: 'cluster-sub-freeze', nodes: NODES, start: false, edit: editFor(300) });
      for (const node of NODES) await lab.startNode(node);
      await lab.clusterUp(30_000);
      await lab.membersUp(40_000);
    });
    after(async () => {
      if (frozen && lab.running('sub2')) lab.signal('sub2', 'SIGCONT');
      await cleanup.run();
    });

    it('R-MSG-5: the update to a frozen sub is retransmitted every retransmission-period until DPD reports it down; sub1 acknowledges at once', async (t) => {
      sub2Before = {
        initSucceeded: await counter(lab, 'sub2', 'cluster', 'clusterInitSucceeded'),
        peersMarkedInactive: await counter(lab, 'sub2', 'cluster', 'peersMarkedInactive'),
        peersDead: await counter(lab, 'sub2', 'ike', 'peersDead'),
        saEstablished: await counter(lab, 'sub2', 'ike', 'saEstablished'),
      };
      const acked = await counter(lab, 'root', 'cluster', 'clusterUpdatesAcked');
      const retransmitted = await counter(lab, 'root', 'cluster', 'clusterUpdatesRetransmitted');
      const rootPeersDead = await counter(lab, 'root', 'ike', 'peersDead');

      lab.signal('sub2', 'SIGSTOP');
      frozen = true;
      frozenAt = Date.now();
      publishedAt = Date.now();
      newTek = await rekey(lab);

      // sub1 answers at once: one ACK, well inside one retransmission-period, and it holds the new TEK.
      await lab.until('sub1 acknowledging the update', PERIOD_S * 1000, async () => (await counter(lab, 'root', 'cluster', 'clusterUpdatesAcked')) === acked + 1);
      assert.deepEqual(await lab.tekSpis('sub1'), [newTek]);
      assert.equal((await lab.cluster('sub1')).groups[0]?.updateSeq, (await lab.cluster('root')).groups[0]?.updateSeq, 'sub1 applied the root\'s last update');
      assert.equal((await rootPeer(lab, 'SubSrv01')).pendingUpdates, 0);

      // Until DPD: SubSrv02 active with its one update pending, retransmitted once per period.
      const samples: { elapsed: number; retransmissions: number }[] = [];
      await lab.until('the root marking SubSrv02 inactive', (DPD_DEAD_S + 10) * 1000, async () => {
        const peer = await rootPeer(lab, 'SubSrv02');
        if (peer.state === 'inactive') return true;
        const retransmissions = (await counter(lab, 'root', 'cluster', 'clusterUpdatesRetransmitted')) - retransmitted;
        const elapsed = (Date.now() - publishedAt) / 1000;
        assert.equal(peer.pendingUpdates, 1, `SubSrv02 pending updates at ${elapsed.toFixed(1)} s`);
        assert.ok(Math.abs(retransmissions - Math.floor(elapsed / PERIOD_S)) <= 1, `${retransmissions} retransmissions after ${elapsed.toFixed(1)} s (period ${PERIOD_S} s)`);
        samples.push({ elapsed, retransmissions });
        return false;
      });
      const detected = seconds(frozenAt);
      const total = (await counter(lab, 'root', 'cluster', 'clusterUpdatesRetransmitted')) - retransmitted;
      t.diagnostic(`SubSrv02 inactive at the root ${detected} s after SIGSTOP (DPD ${DPD_INTERVAL_S} s x ${DPD_THRESHOLD}; `
        + `dead ${DPD_DEAD_S} s after the last ACK); ${total} retransmissions in ${seconds(publishedAt)} s; ${samples.length} samples`);
      assert.ok(samples.length >= 10 && (samples.at(-1)?.retransmissions ?? 0) >= 5, 'retransmissions were watched over most of the DPD time');
      // The last ACK came at most one interval before the freeze; each unanswered probe gets one interval.
      assert.ok(detected >= DPD_DEAD_S - DPD_INTERVAL_S - 1, `SubSrv02 inactive after ${detected} s: too early`);
      assert.ok(detected <= DPD_DEAD_S + 3, `SubSrv02 inactive after ${detected} s: too late`);
      assert.ok(Math.abs(total - Math.floor(seconds(publishedAt) / PERIOD_S)) <= 1, `${total} retransmissions over ${seconds(publishedAt)} s`);
      assert.equal(await counter(lab, 'root', 'ike', 'peersDead'), rootPeersDead + 1, 'the root\'s DPD declared one peer dead');
    });

    it('R-DPD-3, R-MSG-5: once DPD reported it down, SubSrv02 is inactive with nothing pending and nothing more is retransmitted', async () => {
      const peer = await rootPeer(lab, 'SubSrv02');
      assert.deepEqual([peer.state, peer.pendingUpdates, peer.ikeSa], ['inactive', 0, 'DOWN']);
      const retransmitted = await counter(lab, 'root', 'cluster', 'clusterUpdatesRetransmitted');
      const sent = await counter(lab, 'root', 'cluster', 'clusterUpdatesSent');
      await observe(3.5 * PERIOD_S * 1000);
      assert.equal(await counter(lab, 'root', 'cluster', 'clusterUpdatesRetransmitted'), retransmitted, 'no retransmission after DPD');
      assert.equal(await counter(lab, 'root', 'cluster', 'clusterUpdatesSent'), sent, 'nothing sent to the dead sub');
      const after = await rootPeer(lab, 'SubSrv02');
      assert.deepEqual([after.state, after.pendingUpdates], ['inactive', 0]);
      assert.equal((await rootPeer(lab, 'SubSrv01')).state, 'active', 'sub1 is not affected');
      assert.ok((await counter(lab, 'root', 'cluster', 'peersMarkedInactive')) >= 1);
    });

    it('R-DPD-3, R-MSG-2a: thawed, sub2 finds the root gone by its own DPD, makes a new IKE SA, cluster-inits and holds the root\'s current TEK', async (t) => {
      lab.signal('sub2', 'SIGCONT');
      frozen = false;
      const thawedAt = Date.now();
      await lab.until('sub2\'s DPD declaring the root dead', (DPD_DEAD_S + 10) * 1000, async () => (await counter(lab, 'sub2', 'ike', 'peersDead')) > sub2Before.peersDead);
      const sub2Dead = seconds(thawedAt);
      await lab.until('sub2 active again on both sides after a new cluster-init', 30_000, async () => {
        const g = (await lab.cluster('sub2')).groups[0];
        return g?.root === 'active' && (await rootPeer(lab, 'SubSrv02')).state === 'active'
          && (await counter(lab, 'sub2', 'cluster', 'clusterInitSucceeded')) > sub2Before.initSucceeded;
      });
      t.diagnostic(`thawed sub2: its DPD declared the root dead ${sub2Dead} s after SIGCONT; active on both sides after ${seconds(thawedAt)} s`);
      assert.ok(sub2Dead <= DPD_DEAD_S + 3, `sub2 took ${sub2Dead} s to find the root gone`);
      assert.ok((await counter(lab, 'sub2', 'cluster', 'peersMarkedInactive')) > sub2Before.peersMarkedInactive, 'sub2 marked its root inactive');
      assert.ok((await counter(lab, 'sub2', 'ike', 'saEstablished')) > sub2Before.saEstablished, 'a new IKE SA with the root');
      const peer = await rootPeer(lab, 'SubSrv02');
      assert.deepEqual([peer.state, peer.ikeSa, peer.pendingUpdates], ['active', 'UP', 0]);
      const rootTeks = await lab.tekSpis('root');
      assert.deepEqual(rootTeks, [newTek]);
      assert.deepEqual(await lab.tekSpis('sub2'), rootTeks, 'sub2 holds the root\'s current TEK');
      assert.equal(await lab.kekSpi('sub2'), await lab.kekSpi('root'));
      assert.equal((await lab.cluster('sub2')).groups[0]?.updateSeq, (await lab.cluster('root')).groups[0]?.updateSeq);
      // Its member gets the TEK from it as well (R-REG-2).
      await lab.until('gm-0002 holding the root\'s current TEK', 15_000, async () => (await lab.tekSpis('gm-0002')).includes(newTek));
    });
  });

  describe('sub1 killed (SIGKILL): dropped by the root, its member moves to sub2 (R-DPD-3, R-REG-4)', { concurrency: false }, () => {
    // TEK lifetime on every server (R-CONF-4). The root rekeys 8 s before the end (ATD 2 s + push window
    // 2 s x 3), at 32 s; the member refreshes 2 s before the end, at 38 s. 40 s leaves room for DPD
    // (<= 20 s) before the root's timed rekey, and keeps the wait for gm-0001's refresh short.
    const TEK_LIFETIME_S = 40;
    const cleanup = new Cleanup();
    let lab: ClusterLab;
    let tekMadeAt = 0;
    let authFailures = 0;

    before(async () => {
      lab = await ClusterLab.start(cleanup, { label: 'cluster-sub-kill', nodes: NODES, start: false, edit: editFor(TEK_LIFETIME_S) });
      for (const node of NODES) await lab.startNode(node);
      await lab.clusterUp(30_000);
      await lab.membersUp(40_000);
    });
    after(() => cleanup.run());

    it('R-DPD-3: the root marks a killed sub inactive after DPD; meanwhile its member keeps exchanging probes', async (t) => {
      // A fresh TEK on both members first, so gm-0001's expiry (and the root's timed rekey) are known.
      const tek = await rekey(lab);
      tekMadeAt = Date.now();
      for (const m of ['gm-0001', 'gm-0002'] as const) await lab.until(`${m} holding the fresh TEK`, 5_000, async () => (await lab.tekSpis(m)).includes(tek));
      const { registrations } = await lab.show<{ registrations: { server: string }[] }>('gm-0001', 'kek security-associations');
      assert.equal(registrations[0]?.server, exampleAddress('sub1'), 'gm-0001 is registered with sub1');
      const rootPeersDead = await counter(lab, 'root', 'ike', 'peersDead');
      const before = (await memberStatistics(lab, 'gm-0001')).probe;
      const fromGm1 = await receivedFrom(lab, 'gm-0002', 'GM-0001');
      authFailures = before.authFailures;

      await lab.kill('sub1');
      const killedAt = Date.now();
      await lab.until('the root marking SubSrv01 inactive', (DPD_DEAD_S + 10) * 1000, async () => (await rootPeer(lab, 'SubSrv01')).state === 'inactive');
      const detected = seconds(killedAt);
      t.diagnostic(`SubSrv01 inactive at the root ${detected} s after SIGKILL (DPD ${DPD_INTERVAL_S} s x ${DPD_THRESHOLD}; dead ${DPD_DEAD_S} s after the last ACK)`);
      assert.ok(detected >= DPD_DEAD_S - DPD_INTERVAL_S - 1, `SubSrv01 inactive after ${detected} s: too early`);
      assert.ok(detected <= DPD_DEAD_S + 3, `SubSrv01 inactive after ${detected} s: too late`);
      const peer = await rootPeer(lab, 'SubSrv01');
      assert.deepEqual([peer.state, peer.pendingUpdates, peer.ikeSa], ['inactive', 0, 'DOWN']);
      assert.equal(await counter(lab, 'root', 'ike', 'peersDead'), rootPeersDead + 1);
      assert.equal((await rootPeer(lab, 'SubSrv02')).state, 'active');

      // gm-0001's SAs outlive its server: probes both ways all along (two a second each way).
      const now = (await memberStatistics(lab, 'gm-0001')).probe;
      const probesExpected = Math.floor(detected * 2 * 0.75);
      assert.ok(now.received - before.received >= probesExpected, `gm-0001 received ${now.received - before.received} probes in ${detected} s`);
      assert.ok((await receivedFrom(lab, 'gm-0002', 'GM-0001')) - fromGm1 >= probesExpected, 'gm-0002 kept receiving gm-0001\'s probes');
      assert.equal(now.authFailures, before.authFailures, 'no authentication failures');
      assert.equal(now.noSa, before.noSa, 'no packet without an SA');
      assert.deepEqual(await lab.tekSpis('gm-0001'), [tek], 'gm-0001 keeps its TEK');
    });

    it('R-DPD-3, R-MSG-5: a rekey after that reaches sub2 only; nothing is sent or retransmitted to the dead sub', async () => {
      const sent = await counter(lab, 'root', 'cluster', 'clusterUpdatesSent');
      const acked = await counter(lab, 'root', 'cluster', 'clusterUpdatesAcked');
      const retransmitted = await counter(lab, 'root', 'cluster', 'clusterUpdatesRetransmitted');
      const tek = await rekey(lab);
      await lab.until('sub2 acknowledging the update', PERIOD_S * 1000, async () => (await counter(lab, 'root', 'cluster', 'clusterUpdatesAcked')) === acked + 1);
      await observe(3.5 * PERIOD_S * 1000);
      assert.equal(await counter(lab, 'root', 'cluster', 'clusterUpdatesSent'), sent + 1, 'one update sent: to sub2');
      assert.equal(await counter(lab, 'root', 'cluster', 'clusterUpdatesRetransmitted'), retransmitted, 'no retransmission');
      assert.equal(await counter(lab, 'root', 'cluster', 'clusterUpdatesAcked'), acked + 1);
      const peer = await rootPeer(lab, 'SubSrv01');
      assert.deepEqual([peer.state, peer.pendingUpdates], ['inactive', 0]);
      assert.equal((await rootPeer(lab, 'SubSrv02')).pendingUpdates, 0);
      assert.deepEqual(await lab.tekSpis('sub2'), [tek]);
      await lab.until('gm-0002 holding the new TEK (pushed by sub2)', 5_000, async () => (await lab.tekSpis('gm-0002')).includes(tek));
    });

    it('R-REG-4: gm-0001, its TEK near expiry without a push from sub1, re-registers with sub2 and gets the root\'s current TEK; probes flow again', async (t) => {
      const { registration: before, probe: probeBefore } = await memberStatistics(lab, 'gm-0001');
      // gm-0001 refreshes 2 s before its TEK ends, tries sub1 for registration-timeout (5 s), then sub2.
      const withinMs = Math.max(0, tekMadeAt + (TEK_LIFETIME_S + 20) * 1000 - Date.now());
      await lab.until('sub2 listing gm-0001', withinMs, async () => {
        const { groups } = await lab.show<{ groups: { members: { address: string }[] }[] }>('sub2', 'registered-members');
        return groups[0]?.members.some((m) => m.address === exampleAddress('gm-0001'));
      });
      const lost = (await memberStatistics(lab, 'gm-0001')).probe.sendFailures - probeBefore.sendFailures;
      t.diagnostic(`gm-0001 registered with sub2 ${seconds(tekMadeAt)} s after its TEK was made (lifetime ${TEK_LIFETIME_S} s); `
        + `${lost} probes found no outbound TEK meanwhile`);
      const { groups } = await lab.show<{ groups: { members: { address: string }[] }[] }>('sub2', 'registered-members');
      assert.deepEqual(groups[0]?.members.map((m) => m.address).sort(), [exampleAddress('gm-0001'), exampleAddress('gm-0002')]);
      await lab.until('gm-0001 holding the root\'s current TEK', 5_000, async () => {
        const root = await lab.tekSpis('root');
        const mine = await lab.tekSpis('gm-0001');
        return root.length > 0 && root.every((spi) => mine.includes(spi));
      });
      assert.equal(await lab.kekSpi('gm-0001'), await lab.kekSpi('root'));
      const { registrations } = await lab.show<{ registrations: { server: string; registered: boolean }[] }>('gm-0001', 'kek security-associations');
      assert.deepEqual([registrations[0]?.registered, registrations[0]?.server], [true, exampleAddress('sub2')]);
      const after = (await memberStatistics(lab, 'gm-0001')).registration;
      assert.ok((after.failovers ?? 0) > (before.failovers ?? 0), 'gm-0001 moved on from sub1');
      assert.ok((after.registrations ?? 0) > (before.registrations ?? 0), 'gm-0001 completed a new registration');

      const probes = (await memberStatistics(lab, 'gm-0001')).probe;
      const fromGm1 = await receivedFrom(lab, 'gm-0002', 'GM-0001');
      await lab.until('probes both ways again', 10_000, async () =>
        (await lab.probe('gm-0001')).received >= probes.received + 6 && (await receivedFrom(lab, 'gm-0002', 'GM-0001')) >= fromGm1 + 6);
      assert.equal((await lab.probe('gm-0001')).authFailures, authFailures, 'no authentication failures at gm-0001');
    });
  });
});
