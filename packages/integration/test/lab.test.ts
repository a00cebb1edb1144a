// `scripts/lab up|show|down` really start, show and stop the labs: the default GDOI lab (a key server and
// four members on 127.0.2.x) and the IKE demo (two servers on 127.0.1.1/127.0.1.2); no other test uses
// those addresses. `scripts/lab up` first runs `scripts/setup` (pnpm install + build, slow); the test runs
// the same driver without it: `node scripts/lab.mjs up`.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Cleanup, pidAlive, runCommand, stopPid, waitFor } from '../src/index.js';

const root = resolve(import.meta.dirname, '../../../..');
const labJson = join(root, '.lab/lab.json');
const cleanup = new Cleanup();
after(() => cleanup.run());

function lab(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return runCommand(process.execPath, [join(root, 'scripts/lab.mjs'), ...args]);
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

function labPids(): number[] {
  return (JSON.parse(readFileSync(labJson, 'utf8')) as { nodes: { pid: number }[] }).nodes.map((n) => n.pid);
}

test('the default lab: a key server and four members share one KEK and TEK, probes flow, down stops it', async () => {
  assertNoLabRunning();
  const upOut = (await lab('up')).stdout;
  pids = labPids();
  assert.equal(pids.length, 5, 'root and four members');
  assert.match(upOut, /lab: every node is up/);
  // the summary: node, daemon, pid, IKE SAs up, KEK SPI, TEK SPIs, members or probes sent-received
  const rows = new Map(upOut.split('\n').map((l) => l.trim().split(/\s{2,}/)).filter((r) => /^(root|gm-000[1-4])$/.test(r[0] ?? '')).map((r) => [r[0]!, r]));
  assert.equal(rows.size, 5, `summary rows in:\n${upOut}`);
  const server = rows.get('root')!;
  assert.equal(server[3], '4', 'the server holds an IKE SA with each member');
  assert.match(server[4]!, /^[0-9a-f]{8}$/, 'a KEK');
  assert.match(server[5]!, /^[0-9a-f]{8}$/, 'one TEK');
  assert.equal(server[6], '4 registered');
  for (const name of ['gm-0001', 'gm-0002', 'gm-0003', 'gm-0004']) {
    const row = rows.get(name)!;
    assert.equal(row[3], '1', `${name}: one IKE SA, with the server`);
    assert.equal(row[4], server[4], `${name}: the server's KEK`);
    assert.equal(row[5], server[5], `${name}: the server's TEK`);
    const [sent, received] = row[6]!.split('-').map(Number);
    assert.ok(sent! > 0 && received! > 0, `${name}: probes sent and received (${row[6]})`);
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
