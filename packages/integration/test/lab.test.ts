// `scripts/lab up|show|cli|failover|fault|down` really start, query, break and stop the labs: the default
// lab, the spec's worked example (R-EX: a root pair, four sub-servers and four members on 127.0.3.x, the
// pair's control link on 127.0.3.2-3), the GDOI lab (a standalone key server and four members on
// 127.0.2.x) and the IKE demo (two servers on 127.0.1.1/127.0.1.2); no other test binds those addresses in
// this namespace. `scripts/lab up` first runs `scripts/setup` (pnpm install + build, slow); the test runs
// the same driver without it: `node scripts/lab.mjs up`.
//
// In the example-lab test, assertions marked [cluster] prove the server cluster itself (cluster-init,
// R-MSG-1; keys from the root only, R-TOPO-2; members on sub-servers only, R-REG-3), those marked [pair]
// the root pair (R-RG0, docs/root-pair.md: one primary; a graceful failover and a kill -9 of the primary
// keep the keys, the subs' root active and every probe); the others prove the driver. `lab up` of the
// example only returns once members hold TEKs, which needs the cluster daemons.
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { Cleanup, CommandError, pidAlive, runCommand, stopPid, waitFor } from '../src/index.js';

const root = resolve(import.meta.dirname, '../../../..');
const labJson = join(root, '.lab/lab.json');
// the runtime's YAML parser, as scripts/lab.mjs loads it (this package does not depend on yaml itself)
const YAML = createRequire(join(root, 'packages/runtime/package.json'))('yaml') as { parse(text: string): unknown };
const cleanup = new Cleanup();
after(() => cleanup.run());

function lab(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return runCommand(process.execPath, [join(root, 'scripts/lab.mjs'), ...args]);
}

/** `lab cli NODE --json WORDS...`, parsed. */
async function labJsonCli<T>(node: string, ...words: string[]): Promise<T> {
  return JSON.parse((await lab('cli', node, '--json', ...words)).stdout) as T;
}

let pids: number[] = [];
// A backstop for the processes of a lab this file started; `lab down` runs per test (claimLab), and only
// for a lab the test started: .lab/ is per checkout, and a lab someone else runs there is not ours to stop.
cleanup.defer('lab processes', async () => {
  for (const pid of pids) await stopPid(pid);
});

function assertNoLabRunning(): void {
  if (!existsSync(labJson)) return;
  const running = (JSON.parse(readFileSync(labJson, 'utf8')) as { nodes: { pid: number }[] }).nodes.filter((n) => pidAlive(n.pid));
  assert.equal(running.length, 0, `a lab is already running (pids ${running.map((n) => n.pid).join(', ')}); run ./scripts/lab down first`);
}

/**
 * Refuses to start over a lab this test did not start; the lab the test then starts is stopped when the
 * test ends, even when it fails, so the next test does not trip over it.
 */
function claimLab(t: TestContext): void {
  assertNoLabRunning();
  t.after(async () => {
    if (existsSync(labJson)) await lab('down');
  });
}

function labNodes(): { name: string; pid: number }[] {
  return (JSON.parse(readFileSync(labJson, 'utf8')) as { nodes: { name: string; pid: number }[] }).nodes;
}

function labPids(): number[] {
  return labNodes().map((n) => n.pid);
}

/**
 * The `lab up` summary, by node: node, daemon, pid, IKE SAs up, KEK SPI, TEK SPIs, members or probes
 * sent-received, cluster state or the server a member registered with. Cells never hold two spaces.
 */
function summaryRows(out: string, names: readonly string[]): Map<string, string[]> {
  return new Map(out.split('\n').map((l) => l.trim().split(/\s{2,}/)).filter((r) => names.includes(r[0] ?? '')).map((r) => [r[0]!, r]));
}

test('every lab configuration passes --check with the daemon its topology names', () => {
  const labs = join(root, 'configs/lab');
  for (const topology of readdirSync(labs)) {
    const nodes = (YAML.parse(readFileSync(join(labs, topology, 'topology.yaml'), 'utf8')) as { nodes: { name: string; daemon: string; config: string }[] }).nodes;
    for (const node of nodes) {
      const file = join(labs, topology, node.config);
      const r = spawnSync(process.execPath, [join(root, 'packages', node.daemon, 'dist/src/main.js'), '--config', file, '--check'], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${topology}/${node.config} on ${node.daemon}: ${r.stderr}`);
    }
  }
  // not in a topology: the single-process root of the example, which the cluster tests (ClusterLab) start
  const single = spawnSync(process.execPath, [join(root, 'packages/root-server/dist/src/main.js'), '--config', join(labs, 'example/root.yaml'), '--check'], { encoding: 'utf8' });
  assert.equal(single.status, 0, `example/root.yaml on root-server: ${single.stderr}`);
});

const PAIR = ['root-node0', 'root-node1'] as const;
const SUBS = ['sub1', 'sub2', 'sub3', 'sub4'] as const;
const MEMBERS = ['gm-0001', 'gm-0002', 'gm-0003', 'gm-0004'] as const;

interface ServerCluster {
  groups: {
    name: string; groupId: number; role: string; root: string | null;
    peers: { name: string; address: string; role: string; state: string; ikeSa: string }[];
  }[];
}
interface MemberStatistics {
  probe: { gaps: number; sendFailures: number; noSa: number; authFailures: number };
  probePeers: { name: string; received: number }[];
}
interface IkeSas { sas: { state: string; remote: { address: string } }[] }
/** `show chassis cluster status --json` (packages/cli/src/render/chassis-cluster.ts). */
interface ChassisStatus {
  epoch: number; failovers: number; controlLink: 'up' | 'down';
  nodes: { name: string; role: 'primary' | 'secondary'; priority: number; healthy: boolean; self: boolean }[];
}

async function probesReceived(node: string): Promise<Map<string, number>> {
  const stats = await labJsonCli<MemberStatistics>(node, 'show', 'security', 'group-vpn', 'member', 'ipsec', 'statistics');
  return new Map(stats.probePeers.map((p) => [p.name, p.received]));
}

/** Per member, the counters whose change means probes were lost (docs/control-protocol.md: zero loss). */
async function probeLoss(): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const node of MEMBERS) {
    const { probe } = await labJsonCli<MemberStatistics>(node, 'show', 'security', 'group-vpn', 'member', 'ipsec', 'statistics');
    out[node] = [probe.gaps, probe.sendFailures, probe.noSa, probe.authFailures];
  }
  return out;
}

/** Every member receives at least two more probes from each of its three peers. */
async function probesFlow(when: string): Promise<void> {
  const before = await Promise.all(MEMBERS.map((m) => probesReceived(m)));
  await waitFor(async () => {
    const now = await Promise.all(MEMBERS.map((m) => probesReceived(m)));
    return now.every((peers, i) => [...peers].every(([peer, n]) => n >= before[i]!.get(peer)! + 2));
  }, 10_000, `probes between every pair of members ${when}`);
}

/**
 * [pair] The primary still holds the group's TEK from before (replicated, not made anew) and every member
 * holds exactly that one. The lab's TEK lives 120 s and is replaced at about 95 s, after these checks.
 */
async function sameTekEverywhere(primary: string, tek: string, when: string): Promise<void> {
  const rootTeks = await labJsonCli<{ sas: { spi: string }[] }>(primary, 'show', 'security', 'group-vpn', 'server', 'ipsec', 'security-associations');
  assert.deepEqual(rootTeks.sas.map((sa) => sa.spi), [tek], `[pair] ${primary} serves the TEK the pair made at the start, ${when}`);
  for (const node of MEMBERS) {
    const teks = await labJsonCli<{ sas: { spi: string }[] }>(node, 'show', 'security', 'group-vpn', 'member', 'ipsec', 'security-associations');
    assert.deepEqual(teks.sas.map((sa) => sa.spi), [tek], `[pair] ${node} holds the same TEK ${when}`);
  }
}

/** Each pair node's role as it states it in `show chassis cluster status` (sorted by node name). */
async function pairRoles(): Promise<Map<string, string>> {
  const roles = new Map<string, string>();
  for (const node of PAIR) {
    const status = await labJsonCli<ChassisStatus>(node, 'show', 'chassis', 'cluster', 'status');
    assert.equal(status.nodes.find((n) => !n.self)?.healthy, true, `[pair] ${node} hears its peer`);
    roles.set(node, status.nodes.find((n) => n.self)!.role);
  }
  return roles;
}

test('the default lab (R-EX): the root pair, four sub-servers, four members; show, cli, failover, the primary killed, a member killed, down', async (t) => {
  claimLab(t);
  const upOut = (await lab('up')).stdout;
  pids = labPids();
  assert.equal(pids.length, 10, 'the root pair, four sub-servers, four members');
  assert.deepEqual(labNodes().map((n) => n.name), [...PAIR, ...SUBS, ...MEMBERS], 'lab.json in topology order');
  assert.match(upOut, /lab: every node is up/);
  // the pair first, the subs once it has a primary, members once the servers are ready (root, then subs: R-CONF-7)
  assert.match(upOut, /^lab: started root-node0 \(pid \d+\), root-node1 \(pid \d+\)\nlab: started sub1 \(pid \d+\), sub2 \(pid \d+\), sub3 \(pid \d+\), sub4 \(pid \d+\)\nlab: started gm-0001 \(pid \d+\), gm-0002/m);

  const rows = summaryRows(upOut, [...PAIR, ...SUBS, ...MEMBERS]);
  assert.equal(rows.size, 10, `summary rows in:\n${upOut}`);
  // [pair] one node primary and serving, the other its healthy secondary, in the summary and in each node's own status
  // p0: the first primary, s0: the first secondary (the pair elects node0, the higher priority; either will do)
  const first = await pairRoles();
  const p0 = PAIR.find((n) => first.get(n) === 'primary')!;
  const s0 = PAIR.find((n) => n !== p0)!;
  assert.deepEqual([first.get(p0), first.get(s0)], ['primary', 'secondary'], `[pair] one primary, one secondary: ${[...first]}`);
  assert.match(upOut, new RegExp(`^root pair: root-node0 ${first.get('root-node0')}, root-node1 ${first.get('root-node1')}$`, 'm'), 'the summary names the active node');
  const rootRow = rows.get(p0)!;
  assert.equal(rootRow[1], 'root-server');
  assert.equal(rootRow[3], '4', `[cluster] the primary holds an IKE SA with each sub-server:\n${upOut}`);
  assert.match(rootRow[4]!, /^[0-9a-f]{8}$/, '[cluster] the root made a KEK');
  assert.match(rootRow[5]!, /^[0-9a-f]{8}$/, '[cluster] the root made one TEK');
  assert.equal(rootRow[6], '0 registered', '[cluster] members register with sub-servers only (R-REG-3)');
  assert.equal(rootRow[7], 'primary, 4/4 subs active', '[cluster] the primary sees every sub active');
  assert.deepEqual(rows.get(s0)!.slice(3), ['0', '-', '-', '-', 'secondary'], `[pair] the secondary serves nothing:\n${upOut}`);
  for (const [i, sub] of SUBS.entries()) {
    const row = rows.get(sub)!;
    assert.equal(row[1], 'sub-server');
    assert.equal(row[3], '2', `[cluster] ${sub}: IKE SAs with the root and with its one member:\n${upOut}`);
    assert.equal(row[4], rootRow[4], `[cluster] ${sub}: the root's KEK (R-TOPO-2)`);
    assert.equal(row[5], rootRow[5], `[cluster] ${sub}: the root's TEK (R-TOPO-2)`);
    assert.equal(row[6], '1 registered', `[cluster] ${sub}: the member whose list starts with it (${MEMBERS[i]})`);
    assert.equal(row[7], 'root active', `[cluster] ${sub}: root active after cluster-init (R-MSG-1)`);
  }
  for (const [i, name] of MEMBERS.entries()) {
    const row = rows.get(name)!;
    assert.equal(row[1], 'member');
    assert.equal(row[3], '1', `${name}: one IKE SA, with its sub-server`);
    assert.equal(row[4], rootRow[4], `[cluster] ${name}: the root's KEK, handed out by a sub`);
    assert.equal(row[5], rootRow[5], `[cluster] ${name}: the root's TEK, handed out by a sub`);
    const [sent, received] = row[6]!.split('-').map(Number);
    assert.ok(sent! > 0 && received! > 0, `${name}: probes sent and received (${row[6]})`);
    assert.equal(row[7], `sub${i + 1} (127.0.3.1${i + 1})`, `[cluster] ${name}: registered with the first server of its list (R-REG-4)`);
  }

  // lab show: chassis status on both pair nodes, the server commands on the primary and on each sub only,
  // `member policy` on SRX/vSRX members only
  const showOut = (await lab('show')).stdout;
  for (const node of PAIR) assert.match(showOut, new RegExp(`^${node}> show chassis cluster status$`, 'm'), `${node}: chassis cluster status`);
  const serverCommands = ['server-cluster', 'statistics', 'kek security-associations', 'ike security-associations', 'ipsec security-associations', 'registered-members'];
  for (const node of [p0, ...SUBS]) {
    for (const words of serverCommands) {
      assert.match(showOut, new RegExp(`^${node}> show security group-vpn server ${words}$`, 'm'), `${node}: ${words}`);
    }
  }
  assert.doesNotMatch(showOut, new RegExp(`^${s0}> show security group-vpn server \\w`, 'm'), 'no server command on the secondary');
  assert.match(showOut, new RegExp(`^${s0}> show security group-vpn server \\.\\.\\.: skipped, not the primary of the root pair \\(the primary, ${p0}, answers them\\)$`, 'm'));
  for (const node of MEMBERS) {
    for (const words of ['kek security-associations', 'ipsec security-associations', 'ipsec statistics']) {
      assert.match(showOut, new RegExp(`^${node}> show security group-vpn member ${words}$`, 'm'), `${node}: ${words}`);
    }
  }
  for (const node of ['gm-0001', 'gm-0002']) assert.match(showOut, new RegExp(`^${node}> show security group-vpn member policy$`, 'm'));
  for (const node of ['gm-0003', 'gm-0004']) {
    assert.match(showOut, new RegExp(`^${node}> show security group-vpn member policy: skipped, not available on MX$`, 'm'));
    assert.doesNotMatch(showOut, new RegExp(`^${node}> show security group-vpn member policy$`, 'm'));
  }
  assert.doesNotMatch(showOut, /^gvpn: /m, `no command failed in:\n${showOut}`);
  assert.match((await lab('show', 'detail')).stdout, /^sub1> show security group-vpn server ike security-associations detail$/m);

  // lab cli: the cluster as the contract's JSON shows it; `root` names the primary, node0/node1 the pair's nodes
  const subView = await labJsonCli<ServerCluster>('sub1', 'show', 'security', 'group-vpn', 'server', 'server-cluster');
  assert.equal(subView.groups.length, 1);
  assert.equal(subView.groups[0]!.name, 'GROUP_ID-0001');
  assert.equal(subView.groups[0]!.role, 'sub-server');
  assert.equal(subView.groups[0]!.root, 'active', '[cluster] sub1 sees its root active');
  assert.deepEqual(subView.groups[0]!.peers.map((p) => [p.name, p.address, p.role, p.state, p.ikeSa]), [['RootSrv', '127.0.3.1', 'root-server', 'active', 'UP']], '[cluster]');
  const rootView = await labJsonCli<ServerCluster>('root', 'show', 'security', 'group-vpn', 'server', 'server-cluster');
  assert.equal(rootView.groups[0]!.role, 'root-server');
  assert.deepEqual(rootView.groups[0]!.peers.map((p) => [p.name, p.address, p.state]),
    SUBS.map((_, i) => [`SubSrv0${i + 1}`, `127.0.3.1${i + 1}`, 'active']), '[cluster] the root sees its four subs active');
  const node0 = await labJsonCli<ChassisStatus>('node0', 'show', 'chassis', 'cluster', 'status');
  assert.deepEqual(node0.nodes.map((n) => [n.name, n.self, n.healthy]), [['node0', true, true], ['node1', false, true]], '`node0` is root-node0; both nodes healthy');
  const refused = await lab('cli', s0, 'show', 'security', 'group-vpn', 'server', 'kek', 'security-associations').then(() => undefined, (e: unknown) => e);
  assert.ok(refused instanceof CommandError && /ask the primary/.test(refused.stderr), `[pair] the secondary sends operators to the primary: ${String(refused)}`);
  const kek = await labJsonCli<{ registrations: { registered: boolean; server: string }[] }>('gm-0002', 'show', 'security', 'group-vpn', 'member', 'kek', 'security-associations');
  assert.deepEqual(kek.registrations.map((r) => [r.registered, r.server]), [[true, '127.0.3.12']], '[cluster] gm-0002 registered with sub2');
  const members = await labJsonCli<{ groups: { members: { address: string }[] }[] }>('sub2', 'show', 'security', 'group-vpn', 'server', 'registered-members');
  assert.deepEqual(members.groups.flatMap((g) => g.members.map((m) => m.address)), ['127.0.3.22'], '[cluster] sub2 shows only its own member (R-REG-7)');

  // lab failover: RG0 moves to the other node; members keep the TEK and the probes flow with nothing lost
  const tek = rootRow[5]!;
  // 0 unless the first election went wrong (counted as a takeover); the checks below count from here
  const { failovers } = await labJsonCli<ChassisStatus>(p0, 'show', 'chassis', 'cluster', 'status');
  const lossBefore = await probeLoss();
  const failoverOut = (await lab('failover')).stdout;
  assert.match(failoverOut, new RegExp(`^lab: ${p0} hands redundancy group 0 over to ${s0} \\(node${s0.at(-1)}\\)$`, 'm'));
  assert.match(failoverOut, new RegExp(`^root pair: root-node0 ${p0 === 'root-node0' ? 'secondary' : 'primary'}, root-node1 ${p0 === 'root-node0' ? 'primary' : 'secondary'}$`, 'm'), failoverOut);
  assert.match(failoverOut, new RegExp(`^${s0}: primary, 4/4 subs active; IKE SAs up: 4$`, 'm'), `[pair] the new primary holds an IKE SA with each sub:\n${failoverOut}`);
  assert.match(failoverOut, new RegExp(`^Redundancy group: 0 , Failover count: ${failovers + 1}$`, 'm'), failoverOut);
  const swapped = await pairRoles();
  assert.deepEqual([swapped.get(p0), swapped.get(s0)], ['secondary', 'primary'], '[pair] roles swapped, each node hears the other');
  await sameTekEverywhere(s0, tek, 'after the graceful failover');
  await probesFlow('after the graceful failover');
  assert.deepEqual(await probeLoss(), lossBefore, '[pair] no probe lost across the graceful failover');

  // lab fault kill: the primary (now the node that took over) dies; the other takes over within a few seconds
  const victim = labNodes().find((n) => n.name === s0)!;
  const subStatsBefore = await Promise.all(SUBS.map((sub) => labJsonCli<{ cluster: { peersMarkedInactive: number } }>(sub, 'show', 'security', 'group-vpn', 'server', 'statistics')));
  const killedAt = performance.now();
  assert.match((await lab('fault', 'kill', `node${s0.at(-1)}`)).stdout, new RegExp(`^lab: kill ${s0}$`, 'm'), 'node0/node1 name the pair nodes');
  await waitFor(() => !pidAlive(victim.pid), 5000, `${s0} to be gone`);
  const takeover = await waitFor(async () => {
    const s = await labJsonCli<ChassisStatus>(p0, 'show', 'chassis', 'cluster', 'status');
    return s.nodes.find((n) => n.self)?.role === 'primary' ? s : false;
  }, 5000, `${p0} to take over`, 100);
  const takeoverMs = performance.now() - killedAt;
  assert.equal(takeover.nodes.find((n) => !n.self)?.healthy, false, '[pair] the killed node shows lost');
  assert.equal(takeover.failovers, failovers + 2, '[pair] the graceful failover and the takeover, counted');
  assert.equal(takeover.controlLink, 'down');
  await waitFor(async () => {
    const ike = await labJsonCli<IkeSas>('root', 'show', 'security', 'group-vpn', 'server', 'ike', 'security-associations');
    return ike.sas.filter((sa) => sa.state === 'UP').length === 4;
  }, 10_000, `${p0}: IKE SAs with the four subs again`);
  for (const [i, sub] of SUBS.entries()) {
    const view = await labJsonCli<ServerCluster>(sub, 'show', 'security', 'group-vpn', 'server', 'server-cluster');
    assert.equal(view.groups[0]!.root, 'active', `[pair] ${sub} keeps its root active through the takeover`);
    const ike = await labJsonCli<IkeSas>(sub, 'show', 'security', 'group-vpn', 'server', 'ike', 'security-associations');
    assert.equal(ike.sas.filter((sa) => sa.state === 'UP' && sa.remote.address === '127.0.3.1').length, 1,
      `[pair] ${sub}: one IKE SA with the root, the new primary's (INITIAL-CONTACT removed the dead node's)`);
    const stats = await labJsonCli<{ cluster: { peersMarkedInactive: number } }>(sub, 'show', 'security', 'group-vpn', 'server', 'statistics');
    assert.equal(stats.cluster.peersMarkedInactive, subStatsBefore[i]!.cluster.peersMarkedInactive, `[pair] ${sub} never marked the root inactive (R-DPD-6)`);
  }
  await sameTekEverywhere(p0, tek, 'after the primary was killed');
  await probesFlow('after the primary was killed');
  assert.deepEqual(await probeLoss(), lossBefore, '[pair] no probe lost across the takeover');
  const afterPairKill = (await lab('show')).stdout;
  assert.match(afterPairKill, new RegExp(`^root pair: root-node0 ${p0 === 'root-node0' ? 'primary' : 'not answering'}, root-node1 ${p0 === 'root-node1' ? 'primary' : 'not answering'} \\(peer lost\\)$`, 'm'), afterPairKill);
  assert.match(afterPairKill, new RegExp(`^${s0}> show chassis cluster status\\ngvpn: daemon not running`, 'm'), 'lab show reports the dead node and goes on');
  assert.match(afterPairKill, new RegExp(`^${p0}> show security group-vpn server registered-members$`, 'm'), 'the server commands go to the new primary');
  console.log(`# takeover after kill -9 of ${s0}: ${(takeoverMs / 1000).toFixed(1)} s (as seen through lab cli)`);

  // lab fault kill of a member: it is gone, the other three still reach each other under the group's TEK
  const killed = labNodes().find((n) => n.name === 'gm-0004')!;
  assert.match((await lab('fault', 'kill', 'gm-0004')).stdout, /^lab: kill gm-0004$/m);
  await waitFor(() => !pidAlive(killed.pid), 5000, 'gm-0004 to be gone');
  // first probes that arrived after the kill, so nothing from gm-0004 is still queued at gm-0001
  const atKill = await probesReceived('gm-0001');
  const base = await waitFor(async () => {
    const now = await probesReceived('gm-0001');
    return now.get('GM-0002')! > atKill.get('GM-0002')! ? now : false;
  }, 10_000, 'a probe from gm-0002 after the kill');
  const later = await waitFor(async () => {
    const now = await probesReceived('gm-0001');
    return now.get('GM-0002')! >= base.get('GM-0002')! + 2 && now.get('GM-0003')! >= base.get('GM-0003')! + 2 ? now : false;
  }, 10_000, 'gm-0001 to keep receiving probes from gm-0002 and gm-0003');
  assert.equal(later.get('GM-0004'), base.get('GM-0004'), 'no probe from the killed member');
  const afterKill = (await lab('show')).stdout;
  assert.match(afterKill, /^gm-0004> show security group-vpn member kek security-associations\ngvpn: daemon not running/m, 'lab show reports the dead node and goes on');
  assert.match(afterKill, /^sub4> show security group-vpn server registered-members$/m);

  // lab down: everything that is left, by PID
  const downOut = (await lab('down')).stdout;
  assert.match(downOut, /lab: stopped root-node0, root-node1, sub1, sub2, sub3, sub4, gm-0001, gm-0002, gm-0003, gm-0004/);
  await waitFor(() => pids.every((pid) => !pidAlive(pid)), 5000, 'every lab pid to be gone');
  assert.equal(existsSync(labJson), false, 'lab.json removed by down');
});

test('the GDOI lab: a standalone key server and four members share one KEK and TEK, probes flow, down stops it', async (t) => {
  claimLab(t);
  const upOut = (await lab('up', 'gdoi')).stdout;
  pids = labPids();
  assert.equal(pids.length, 5, 'root and four members');
  assert.match(upOut, /lab: every node is up/);
  const rows = summaryRows(upOut, ['root', ...MEMBERS]);
  assert.equal(rows.size, 5, `summary rows in:\n${upOut}`);
  const server = rows.get('root')!;
  assert.equal(server[3], '4', 'the server holds an IKE SA with each member');
  assert.match(server[4]!, /^[0-9a-f]{8}$/, 'a KEK');
  assert.match(server[5]!, /^[0-9a-f]{8}$/, 'one TEK');
  assert.equal(server[6], '4 registered');
  assert.equal(server[7], 'standalone', 'no server-cluster: the driver falls back to the IKE rule');
  for (const name of MEMBERS) {
    const row = rows.get(name)!;
    assert.equal(row[3], '1', `${name}: one IKE SA, with the server`);
    assert.equal(row[4], server[4], `${name}: the server's KEK`);
    assert.equal(row[5], server[5], `${name}: the server's TEK`);
    const [sent, received] = row[6]!.split('-').map(Number);
    assert.ok(sent! > 0 && received! > 0, `${name}: probes sent and received (${row[6]})`);
    assert.equal(row[7], 'root (127.0.2.1)', `${name}: registered with the key server`);
  }

  const showOut = (await lab('show')).stdout;
  assert.match(showOut, /root> show security group-vpn server registered-members/);
  assert.match(showOut, /gm-0001> show security group-vpn member ipsec statistics/);

  const downOut = (await lab('down')).stdout;
  assert.match(downOut, /lab: stopped root, gm-0001, gm-0002, gm-0003, gm-0004/);
  await waitFor(() => pids.every((pid) => !pidAlive(pid)), 5000, 'every lab pid to be gone');
  assert.equal(existsSync(labJson), false, 'lab.json removed by down');
});

test('the IKE demo lab: UP SAs both ways, lab show answers, lab down stops every process it started', async (t) => {
  claimLab(t);
  const upOut = (await lab('up', 'demo')).stdout;
  pids = labPids();
  assert.equal(pids.length, 2, 'demo topology has two nodes');
  for (const pid of pids) assert.ok(pidAlive(pid), `lab node pid ${pid} alive after up`);
  assert.match(upOut, /lab: every node is up/);
  assert.match(upOut, /^root\s+root-server\s+\d+\s+1\s/m, 'the summary: root with one IKE SA up');
  assert.match(upOut, /^sub1\s+sub-server\s+\d+\s+1\s/m, 'the summary: sub1 with one IKE SA up');
  // an UP row in each node's SA table: index, state, both cookies, mode, the other node's address
  const upRow = (remote: string): RegExp => new RegExp(`^\\s+\\d+\\s+UP\\s+[0-9a-f]{16}\\s+[0-9a-f]{16}\\s+Main\\s+${remote.replaceAll('.', '\\.')}\\s*$`, 'm');
  const section = (out: string, node: string): string => out.split(/\n(?=\w+> )/).find((p) => p.startsWith(`${node}> show security group-vpn server ike security-associations`)) ?? '';

  const showOut = (await lab('show')).stdout;
  assert.match(showOut, /root> show security group-vpn server statistics/);
  assert.match(showOut, /sub1> show security group-vpn server statistics/);
  assert.match(section(showOut, 'root'), upRow('127.0.1.2'), `lab show: root's UP SA in:\n${showOut}`);
  assert.match(section(showOut, 'sub1'), upRow('127.0.1.1'), `lab show: sub1's UP SA in:\n${showOut}`);

  const downOut = (await lab('down')).stdout;
  assert.match(downOut, /lab: stopped root, sub1/);
  await waitFor(() => pids.every((pid) => !pidAlive(pid)), 5000, 'every lab pid to be gone');
  assert.equal(existsSync(labJson), false, 'lab.json removed by down');
});
