// Namespaces and veth links on the real kernel: a host link carries a datagram, destroy() removes the
// link, and the sweeper removes what a dead test run left (and only that).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Cleanup, HOST, ManagedProcess, NetworkNamespace, assertIntegrationRequirements, connect, runCommand,
  sweepStaleNamespaces, waitFor,
} from '../src/index.js';

const cleanup = new Cleanup();
let workDir = '';

before(async () => {
  assertIntegrationRequirements();
  workDir = await mkdtemp(join(tmpdir(), 'gvpn-netns-'));
  cleanup.defer('work directory', () => rm(workDir, { recursive: true, force: true }));
});

after(() => cleanup.run());

test('a host veth link gets a /30 in 198.18.0.0/15, carries UDP, and goes with destroy()', async () => {
  const ns = await NetworkNamespace.create();
  cleanup.defer('namespace', () => ns.destroy());
  const link = await connect(HOST, ns);

  const [hostAddress, nsAddress] = [link.a.address, link.b.address].map((a) => a.split('.').map(Number));
  assert.equal(hostAddress?.[0], 198);
  assert.ok(hostAddress?.[1] === 18 || hostAddress?.[1] === 19);
  assert.deepEqual(nsAddress?.slice(0, 3), hostAddress?.slice(0, 3));
  assert.equal((nsAddress?.[3] ?? 0) >> 2, (hostAddress?.[3] ?? 0) >> 2, 'same /30');

  const socket = createSocket('udp4');
  cleanup.defer('socket', () => socket.close());
  socket.bind(0, link.a.address);
  await once(socket, 'listening');
  const send = `require('node:dgram').createSocket('udp4').send('over veth', ${socket.address().port}, '${link.a.address}', (e) => process.exit(e ? 1 : 0))`;
  const received = once(socket, 'message');
  await ns.run(process.execPath, ['-e', send]);
  const [message, from] = (await received) as [Buffer, { address: string }];
  assert.equal(message.toString(), 'over veth');
  assert.equal(from.address, link.b.address);

  await ns.destroy();
  await assert.rejects(runCommand('ip', ['link', 'show', link.a.ifname]), /does not exist|Cannot find device/);
  assert.ok(!(await runCommand('ip', ['netns', 'list'])).stdout.includes(ns.name));
});

test('sweepStaleNamespaces kills and removes namespaces of dead creators, and keeps live ones', async () => {
  const finished = ManagedProcess.start('true', 'true', [], { logDir: workDir });
  await finished.exited;
  const stale = `gvpn-t${finished.pid}-5eeb`;
  await runCommand('ip', ['netns', 'add', stale]);
  cleanup.defer('stale namespace', async () => {
    if ((await runCommand('ip', ['netns', 'list'])).stdout.includes(stale)) await runCommand('ip', ['netns', 'del', stale]);
  });
  const leftover = ManagedProcess.start('leftover', 'ip', ['netns', 'exec', stale, 'sleep', '300'], { logDir: workDir });
  cleanup.defer('leftover process', () => leftover.stop('SIGKILL'));
  await waitFor(
    async () => (await runCommand('ip', ['netns', 'pids', stale])).stdout.split('\n').includes(String(leftover.pid)),
    5000,
    'the leftover process to enter the stale namespace',
  );
  const live = await NetworkNamespace.create();
  cleanup.defer('live namespace', () => live.destroy());

  // Another test file's sweeper may run concurrently and remove `stale` first, so judge by the outcome.
  const removed = await sweepStaleNamespaces();

  assert.ok(!removed.includes(live.name), 'a namespace of a running process stays');
  await waitFor(() => !leftover.running, 5000, 'the leftover process to be killed');
  assert.equal((await leftover.exited).signal, 'SIGKILL');
  const { stdout } = await runCommand('ip', ['netns', 'list']);
  assert.ok(!stdout.includes(stale));
  assert.ok(stdout.includes(live.name));
});
