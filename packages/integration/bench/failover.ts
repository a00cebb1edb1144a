/**
 * Failover of the root pair (RG0, issue 5, R-RG0-4, docs/root-pair.md): root-node0 and root-node1 with the default
 * heartbeats (250 ms x 4), sub1 and sub2, gm-0001 (on sub1) and gm-0002 (on sub2) probing each other every
 * 500 ms, as real processes in a ClusterLab (a network namespace of this bench).
 *   ./scripts/bench failover [--kills N]      (default 20)
 *
 * Each round: the pair settled (one primary, one healthy secondary, both statuses agreeing), the subs'
 * IKE SAs with the primary up; kill -9 of the primary; wait until the other node says it is primary and
 * has an IKE SA up with every sub; start the killed node again and wait until it is a healthy secondary.
 *
 * Figures, per kill, from a tshark capture on the namespace's loopback (TCP 849 and UDP 848; pcap time
 * stamps and Date.now() are the same host clock):
 * - failover_ms: the last heartbeat of the old primary (its last control-link frame carrying data: the
 *   last TCP segment with payload from its control address to the peer's port 849 before the kill) to the
 *   first datagram from the new primary (the first UDP packet from 127.0.3.1:848 after the kill: its
 *   IKE Main Mode to a sub, which carries the cluster exchanges). Detection is bounded by the
 *   heartbeat threshold (4 x 250 ms) after the last heartbeat, then takeover (bind, resume, initiate).
 * - kill_to_first_ms: the kill to that first datagram (the outage as an observer sees it);
 *   log_primary_ms: the last heartbeat to the new primary's log line 'RG0: this node is primary'.
 * - probes lost per failover: the members' probe losses over the round (sequence gaps, probes unsent for
 *   want of a TEK, authentication failures, probes without an SA), summed over both members.
 * Also: whether any sub marked the root inactive (its DPD, 5 s x 3, must not see a failover).
 * Ends with `RESULT kills=N failover_ms_min=... failover_ms_median=... failover_ms_max=... probes_lost_per_failover=...`.
 */
import { join } from 'node:path';
import {
  Capture, Cleanup, ClusterLab, ROOT_PAIR_NODES, controlLinkAddress, fields, probeOnly, rootWithSubs, useServers,
  type ExampleNode, type NodeDocument, type Probe, type RootPairNode,
} from '../src/index.js';

const GROUP = 'GROUP_ID-0001';
const SUBS: ExampleNode[] = ['sub1', 'sub2'];
const MEMBERS: ExampleNode[] = ['gm-0001', 'gm-0002'];
const NODES: ExampleNode[] = [...ROOT_PAIR_NODES, ...SUBS, ...MEMBERS];
const SHARED = '127.0.3.1';

function option(name: string): string | undefined {
  const argv = process.argv.slice(2);
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

const KILLS = Number(option('kills') ?? 20);
if (!Number.isInteger(KILLS) || KILLS < 1) throw new Error('--kills: a positive integer');

function edit(node: ExampleNode, doc: NodeDocument): void {
  const server = doc.security['group-vpn'].server;
  if (server !== undefined) {
    // No timed rekey during the run (every server alike, R-CONF-4): the figures are the failover's alone.
    server.ipsec.proposal['AES256-SHA256']['lifetime-seconds'] = 3600;
    server.group[GROUP]['server-member-communication']['lifetime-seconds'] = 7200;
  }
  if (node.startsWith('root-node')) rootWithSubs(doc, SUBS);
  if (node === 'gm-0001') useServers(doc, ['sub1']);
  if (node === 'gm-0002') useServers(doc, ['sub2']);
  if (node.startsWith('gm-')) probeOnly(doc, MEMBERS);
}

const other = (node: RootPairNode): RootPairNode => (node === 'root-node0' ? 'root-node1' : 'root-node0');
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const fmt = (x: number): string => x.toFixed(1);

/** Probes lost so far, summed over the members. */
async function probeLosses(lab: ClusterLab): Promise<number> {
  const all: Probe[] = await Promise.all(MEMBERS.map((m) => lab.probe(m)));
  return all.reduce((n, p) => n + p.gaps + p.sendFailures + p.authFailures + p.noSa, 0);
}

/** The wall time (ms) of the last log line of `node` with this message. */
function logTime(lab: ClusterLab, node: ExampleNode, message: string): number | undefined {
  let time: number | undefined;
  for (const line of lab.log(node).split('\n')) {
    if (!line.includes(message)) continue;
    try {
      time = (JSON.parse(line) as { time: number }).time;
    } catch {
      // a line cut by the kill
    }
  }
  return time;
}

interface Round {
  old: RootPairNode;
  killedAt: number;
  primaryLogAt: number;
  lost: number;
}

const cleanup = new Cleanup();
try {
  const lab = await ClusterLab.start(cleanup, { label: 'bench-failover', nodes: NODES, start: false, edit });
  const capture = await Capture.start({
    namespace: lab.ns, iface: 'lo', pcapFile: join(lab.dir, 'failover.pcap'), logDir: lab.dir, filter: 'tcp port 849 or udp port 848',
  });
  cleanup.defer('capture', () => capture.child.stop('SIGINT'));
  for (const node of NODES) await lab.startNode(node);

  /** One primary and one healthy secondary by both statuses; the primary with an IKE SA up to every sub. */
  const settled = async (withinMs: number): Promise<RootPairNode> => {
    const primary = await lab.until('the pair settled', withinMs, async () => {
      const [a, b] = await Promise.all([lab.chassis('root-node0'), lab.chassis('root-node1')]);
      const view = (s: typeof a): string => s.nodes.map((n) => `${n.name}:${n.role}:${n.healthy}`).join(' ');
      if (view(a) !== view(b) || a.controlLink !== 'up' || b.controlLink !== 'up' || !a.nodes.every((n) => n.healthy)) return undefined;
      const p = a.nodes.filter((n) => n.role === 'primary');
      return p.length === 1 ? (p[0]?.name === 'node0' ? 'root-node0' : 'root-node1') : undefined;
    });
    await lab.until('the primary with an IKE SA up to every sub', withinMs, async () =>
      (await lab.cluster(primary)).groups[0]?.peers.every((p) => p.ikeSa === 'UP' && p.state === 'active') === true);
    return primary;
  };

  await settled(30_000);
  await lab.clusterUp(30_000);
  await lab.membersUp(30_000);
  const inactiveBefore = await Promise.all(SUBS.map(async (s) => (await lab.statistics(s)).cluster?.peersMarkedInactive ?? 0));
  const rounds: Round[] = [];
  for (let i = 0; i < KILLS; i++) {
    const old = await settled(30_000);
    const next = other(old);
    const lost0 = await probeLosses(lab);
    const killedAt = Date.now();
    await lab.kill(old);
    await lab.until(`${next} primary`, 10_000, async () => (await lab.chassis(next)).nodes.find((n) => n.self)?.role === 'primary');
    await lab.until(`${next} with an IKE SA up to every sub`, 15_000, async () =>
      (await lab.cluster(next)).groups[0]?.peers.every((p) => p.ikeSa === 'UP' && p.state === 'active') === true);
    const primaryLogAt = logTime(lab, next, 'RG0: this node is primary') ?? Number.NaN;
    await lab.startNode(old);
    await settled(30_000);
    await new Promise((r) => setTimeout(r, 1_000)); // a probe round past the settling: a gap shows at the next probe
    const lost = (await probeLosses(lab)) - lost0;
    rounds.push({ old, killedAt, primaryLogAt, lost });
    console.log(`kill ${i + 1}/${KILLS}: ${old} killed, ${next} primary (log ${primaryLogAt - killedAt} ms after the kill), probes lost ${lost}`);
  }
  const inactiveAfter = await Promise.all(SUBS.map(async (s) => (await lab.statistics(s)).cluster?.peersMarkedInactive ?? 0));
  // dumpcap hands packets over in blocks: let the last ones reach the file before stopping.
  await new Promise((r) => setTimeout(r, 1_000));
  await capture.stop();

  const frames = (await fields(capture.pcapFile, ['frame.time_epoch', 'ip.src', 'ip.dst', 'tcp.dstport', 'tcp.len', 'udp.srcport'])).map((f) => ({
    t: Number(f['frame.time_epoch']) * 1000, src: f['ip.src'], dst: f['ip.dst'], tcpDst: f['tcp.dstport'], tcpLen: Number(f['tcp.len'] || 0), udpSrc: f['udp.srcport'],
  }));
  const failover: number[] = [];
  const killToFirst: number[] = [];
  const logPrimary: number[] = [];
  for (const r of rounds) {
    const from = controlLinkAddress(r.old);
    const heartbeats = frames.filter((f) => f.src === from && f.tcpDst === '849' && f.tcpLen > 0 && f.t <= r.killedAt + 5);
    const lastHeartbeat = heartbeats.at(-1)?.t;
    const first = frames.find((f) => f.src === SHARED && f.udpSrc === '848' && f.t > r.killedAt)?.t;
    if (lastHeartbeat === undefined || first === undefined) throw new Error(`kill at ${r.killedAt}: no heartbeat or no datagram from the new primary in the capture`);
    failover.push(first - lastHeartbeat);
    killToFirst.push(first - r.killedAt);
    logPrimary.push(r.primaryLogAt - lastHeartbeat);
  }
  const lostTotal = rounds.reduce((n, r) => n + r.lost, 0);
  const line = (name: string, xs: number[]): string => `${name}: min ${fmt(Math.min(...xs))} ms, median ${fmt(median(xs))} ms, max ${fmt(Math.max(...xs))} ms`;
  console.log(`${KILLS} kills of the primary (heartbeat 250 ms x 4):`);
  console.log(`  ${line('last heartbeat -> first datagram of the new primary', failover)}`);
  console.log(`  ${line('kill -> first datagram of the new primary', killToFirst)}`);
  console.log(`  ${line('last heartbeat -> "RG0: this node is primary" logged', logPrimary)}`);
  console.log(`  probes lost: ${lostTotal} in all (${rounds.map((r) => r.lost).join(' ')}); subs marking the root inactive: ${inactiveAfter.map((n, i) => n - (inactiveBefore[i] ?? 0)).join(', ')}`);
  console.log(`RESULT kills=${KILLS} failover_ms_min=${fmt(Math.min(...failover))} failover_ms_median=${fmt(median(failover))} failover_ms_max=${fmt(Math.max(...failover))} `
    + `probes_lost_per_failover=${(lostTotal / KILLS).toFixed(2)} kill_to_first_ms_median=${fmt(median(killToFirst))} `
    + `root_marked_inactive=${inactiveAfter.reduce((a, b) => a + b, 0) - inactiveBefore.reduce((a, b) => a + b, 0)}`);
} finally {
  await cleanup.run();
}
