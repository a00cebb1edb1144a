// `scripts/lab up|show|cli|fault|down` really start, query, break and stop the labs: the default lab, the
// spec's worked example (R-EX: a root, four sub-servers and four members on 127.0.3.x), the GDOI lab (a
// standalone key server and four members on 127.0.2.x) and the IKE demo (two servers on
// 127.0.1.1/127.0.1.2); no other test binds those addresses. `scripts/lab up` first runs `scripts/setup`
// (pnpm install + build, slow); the test runs the same driver without it: `node scripts/lab.mjs up`.
//
// In the example-lab test, assertions marked [cluster] prove the server cluster itself (cluster-init,
// R-MSG-1; keys from the root only, R-TOPO-2; members on sub-servers only, R-REG-3); the others prove the
// driver. `lab up` of the example only returns once members hold TEKs, which needs the cluster daemons.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { Cleanup, pidAlive, runCommand, stopPid, waitFor } from '../src/index.js';

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
cleanup.defer('lab processes', async () => {
  for (const pid of pids) await stopPid(pid);
});
cleanup.defer('lab down', async () => {
  if (existsSync(labJson)) await lab('down');
});

function assertNoLabRunning(): void {
  if (!existsSync(labJson)) return;
  const running = (JSON.parse(readFileSync(labJson, 'utf8')) as { nodes: { pid: number }[] }).nodes.filter((n) => pidAlive(n.pid));
  assert.equal(running.length, 0, `a lab is already running (pids ${running.map((n) => n.pid).join(', ')}); run ./scripts/lab down first`);
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
});

const SUBS = ['sub1', 'sub2', 'sub3', 'sub4'] as const;
const MEMBERS = ['gm-0001', 'gm-0002', 'gm-0003', 'gm-0004'] as const;

interface ServerCluster {
  groups: {
    name: string; groupId: number; role: string; root: string | null;
    peers: { name: string; address: string; role: string; state: string; ikeSa: string }[];
  }[];
}
interface MemberStatistics { probePeers: { name: string; received: number }[] }

async function probesReceived(node: string): Promise<Map<string, number>> {
  const stats = await labJsonCli<MemberStatistics>(node, 'show', 'security', 'group-vpn', 'member', 'ipsec', 'statistics');
  return new Map(stats.probePeers.map((p) => [p.name, p.received]));
}

test('the default lab (R-EX): a root, four sub-servers, four members; show, cli, a member killed, down', async () => {
  assertNoLabRunning();
  const upOut = (await lab('up')).stdout;
  pids = labPids();
  assert.equal(pids.length, 9, 'root, four sub-servers, four members');
  assert.deepEqual(labNodes().map((n) => n.name), ['root', ...SUBS, ...MEMBERS], 'lab.json in topology order');
  assert.match(upOut, /lab: every node is up/);
  // servers first, members once the servers are ready (configure the root, then the subs: R-CONF-7)
  assert.match(upOut, /^lab: started root \(pid \d+\), sub1 \(pid \d+\), sub2 \(pid \d+\), sub3 \(pid \d+\), sub4 \(pid \d+\)\nlab: started gm-0001 \(pid \d+\), gm-0002/m);

  const rows = summaryRows(upOut, ['root', ...SUBS, ...MEMBERS]);
  assert.equal(rows.size, 9, `summary rows in:\n${upOut}`);
  const rootRow = rows.get('root')!;
  assert.equal(rootRow[1], 'root-server');
  assert.equal(rootRow[3], '4', `[cluster] the root holds an IKE SA with each sub-server:\n${upOut}`);
  assert.match(rootRow[4]!, /^[0-9a-f]{8}$/, '[cluster] the root made a KEK');
  assert.match(rootRow[5]!, /^[0-9a-f]{8}$/, '[cluster] the root made one TEK');
  assert.equal(rootRow[6], '0 registered', '[cluster] members register with sub-servers only (R-REG-3)');
  assert.equal(rootRow[7], '4/4 subs active', '[cluster] the root sees every sub active');
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

  // lab show: R-EX's verification commands per role, `member policy` on SRX/vSRX members only
  const showOut = (await lab('show')).stdout;
  for (const node of ['root', ...SUBS]) {
    for (const words of ['server-cluster', 'statistics', 'kek security-associations', 'ike security-associations', 'ipsec security-associations', 'registered-members']) {
      assert.match(showOut, new RegExp(`^${node}> show security group-vpn server ${words}$`, 'm'), `${node}: ${words}`);
    }
  }
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

  // lab cli: the cluster as the contract's JSON shows it
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
  const kek = await labJsonCli<{ registrations: { registered: boolean; server: string }[] }>('gm-0002', 'show', 'security', 'group-vpn', 'member', 'kek', 'security-associations');
  assert.deepEqual(kek.registrations.map((r) => [r.registered, r.server]), [[true, '127.0.3.12']], '[cluster] gm-0002 registered with sub2');
  const members = await labJsonCli<{ groups: { members: { address: string }[] }[] }>('sub2', 'show', 'security', 'group-vpn', 'server', 'registered-members');
  assert.deepEqual(members.groups.flatMap((g) => g.members.map((m) => m.address)), ['127.0.3.22'], '[cluster] sub2 shows only its own member (R-REG-7)');

  // lab fault kill: the member is gone, the other three still reach each other under the group's TEK
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

  const downOut = (await lab('down')).stdout;
  assert.match(downOut, /lab: stopped root, sub1, sub2, sub3, sub4, gm-0001, gm-0002, gm-0003, gm-0004/);
  await waitFor(() => pids.every((pid) => !pidAlive(pid)), 5000, 'every lab pid to be gone');
  assert.equal(existsSync(labJson), false, 'lab.json removed by down');
});

test('the GDOI lab: a standalone key server and four members share one KEK and TEK, probes flow, down stops it', async () => {
  assertNoLabRunning();
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

test('the IKE demo lab: UP SAs both ways, lab show answers, lab down stops every process it started', async () => {
  assertNoLabRunning();
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
