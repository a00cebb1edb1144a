// `scripts/lab up|show|down` really start, show and stop the demo lab (two real daemons on
// 127.0.1.1/127.0.1.2:848; no other test uses those addresses). `scripts/lab up` first runs
// `scripts/setup` (pnpm install + build, slow); the test runs the same driver without it:
// `node scripts/lab.mjs up`.
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

test('lab up shows UP SAs, lab show answers, lab down stops every process it started', async () => {
  if (existsSync(labJson)) {
    const running = (JSON.parse(readFileSync(labJson, 'utf8')) as { nodes: { pid: number }[] }).nodes.filter((n) => pidAlive(n.pid));
    assert.equal(running.length, 0, `a lab is already running (pids ${running.map((n) => n.pid).join(', ')}); run ./scripts/lab down first`);
  }
  let pids: number[] = [];
  cleanup.defer('lab processes', async () => {
    for (const pid of pids) await stopPid(pid);
  });
  cleanup.defer('lab down', async () => {
    if (existsSync(labJson)) await lab('down');
  });

  const upOut = (await lab('up')).stdout;
  pids = (JSON.parse(readFileSync(labJson, 'utf8')) as { nodes: { pid: number }[] }).nodes.map((n) => n.pid);
  assert.equal(pids.length, 2, 'demo topology has two nodes');
  for (const pid of pids) assert.ok(pidAlive(pid), `lab node pid ${pid} alive after up`);
  assert.match(upOut, /lab: every node is up/);
  // the status tables printed by `up`: one per node, each with an UP SA
  assert.match(upOut, /root> show security group-vpn server ike security-associations/);
  assert.match(upOut, /sub1> show security group-vpn server ike security-associations/);
  // an UP row in each node's SA table: index, state, both cookies, mode, the other node's address
  const upRow = (remote: string): RegExp => new RegExp(`^\\s+\\d+\\s+UP\\s+[0-9a-f]{16}\\s+[0-9a-f]{16}\\s+Main\\s+${remote.replaceAll('.', '\\.')}\\s*$`, 'm');
  const section = (out: string, node: string): string => out.split(/\n(?=\w+> )/).find((p) => p.startsWith(`${node}> show security group-vpn server ike security-associations`)) ?? '';
  assert.match(section(upOut, 'root'), upRow('127.0.1.2'), `root shows an UP SA towards sub1 in:\n${upOut}`);
  assert.match(section(upOut, 'sub1'), upRow('127.0.1.1'), `sub1 shows an UP SA towards root in:\n${upOut}`);

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
