import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { CLUSTER_ROOT, CLUSTER_SUB, SAS } from './sample-data.js';

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
const SHOW_SAS = ['show', 'security', 'group-vpn', 'server', 'ike', 'security-associations'];
const SHOW_CLUSTER = ['show', 'security', 'group-vpn', 'server', 'server-cluster'];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function gvpn(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 10_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr });
    });
  });
}

/** What the stand-in daemon answers, by command words; the cluster view merges a root's and a sub's groups. */
const CLUSTER = { groups: [...CLUSTER_ROOT.groups, ...CLUSTER_SUB.groups] };
const DAEMON_DATA = new Map<string, unknown>([
  [SHOW_SAS.join(' '), { sas: SAS }],
  [SHOW_CLUSTER.join(' '), CLUSTER],
]);

/**
 * A stand-in daemon speaking the control protocol by hand (docs/control-protocol.md), so this test
 * checks the CLI against the documented bytes rather than against our own server code.
 */
function fakeDaemon(socketPath: string, requests: unknown[]): Promise<Server> {
  const server = createServer((socket) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (!text.includes('\n')) return;
      const request = JSON.parse(text.slice(0, text.indexOf('\n'))) as { id: number; command: string[] };
      requests.push(request);
      const key = request.command.join(' ');
      const data = DAEMON_DATA.get(key);
      const response = data !== undefined
        ? { id: request.id, ok: true, data }
        : { id: request.id, ok: false, error: { code: 'UNKNOWN_COMMAND', message: `unknown command: ${key}` } };
      socket.end(`${JSON.stringify(response)}\n`);
    });
  });
  return new Promise((resolve) => server.listen(socketPath, () => resolve(server)));
}

describe('gvpn end to end', () => {
  let directory: string;
  let socketPath: string;
  let daemon: Server;
  const requests: unknown[] = [];

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'gvpn-cli-'));
    socketPath = join(directory, 'control.sock');
    daemon = await fakeDaemon(socketPath, requests);
  });

  after(async () => {
    await new Promise((resolve) => daemon.close(resolve));
    await rm(directory, { recursive: true, force: true });
  });

  it('prints the raw data with --json and sends the documented request', async () => {
    requests.length = 0;
    const run = await gvpn(['--socket', socketPath, ...SHOW_SAS, 'detail', '--json']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { sas: SAS });
    assert.deepEqual(requests, [{ id: 1, command: SHOW_SAS, options: { detail: true } }]);
  });

  it('renders text and finds the socket from --state-dir', async () => {
    requests.length = 0;
    const run = await gvpn(['--state-dir', directory, ...SHOW_SAS]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^ {2}Index +State +Initiator cookie/);
    assert.match(run.stdout, /738936 +UP +a1b2c3d4e5f60708 +0102030405060708 +Main +127\.0\.1\.2/);
    assert.deepEqual(requests, [{ id: 1, command: SHOW_SAS, options: { detail: false } }]);
  });

  it('passes server-cluster data through unchanged with --json, and renders it without', async () => {
    requests.length = 0;
    const json = await gvpn(['--socket', socketPath, ...SHOW_CLUSTER, 'detail', '--json']);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), CLUSTER);
    const text = await gvpn(['--socket', socketPath, ...SHOW_CLUSTER]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^Group: GROUP_ID-0001, Group ID: 1, Role: root-server\n/);
    assert.match(text.stdout, /SubSrv04 +127\.0\.1\.5:848 +sub-server +inactive +DOWN +never +0\n/);
    assert.match(text.stdout, /Role: sub-server\n {2}Root server: active, Last update applied: 3\n/);
    assert.doesNotMatch(text.stdout, /Tracked SAs/);
    assert.deepEqual(requests, [
      { id: 1, command: SHOW_CLUSTER, options: { detail: true } },
      { id: 1, command: SHOW_CLUSTER, options: { detail: false } },
    ]);
  });

  it('exits 1 with the daemon message when the daemon refuses', async () => {
    const run = await gvpn(['--socket', socketPath, 'show', 'version']);
    assert.equal(run.code, 1);
    assert.equal(run.stderr, 'gvpn: unknown command: show version\n');
    assert.equal(run.stdout, '');
  });

  it('says which kind of daemon has a command this daemon does not know', async () => {
    const run = await gvpn(['--socket', socketPath, 'show', 'security', 'group-vpn', 'member', 'policy']);
    assert.equal(run.code, 1);
    assert.equal(run.stderr, 'gvpn: unknown command: show security group-vpn member policy (only a member has it: is this a key server?)\n');
    const chassis = await gvpn(['--socket', socketPath, 'show', 'chassis', 'cluster', 'status']);
    assert.equal(chassis.code, 1);
    assert.equal(chassis.stderr, 'gvpn: unknown command: show chassis cluster status (only a root-server node of a root pair has it)\n');
  });

  it('exits 2 naming the socket when no daemon runs', async () => {
    const missing = join(directory, 'absent.sock');
    const run = await gvpn(['--socket', missing, 'request', 'system', 'ping']);
    assert.equal(run.code, 2);
    assert.equal(run.stderr, `gvpn: daemon not running: nothing listens on ${missing}\n`);
  });

  it('ends quietly with the command\'s exit code when the reader of its output has gone (gvpn ... | grep -q)', async () => {
    const child = spawn(process.execPath, [MAIN, '--socket', socketPath, ...SHOW_SAS, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Closed before the CLI has even connected, so its one write meets a pipe without a reader (EPIPE).
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(stderr, '');
    assert.equal(code, 0);
  });

  it('exits 2 naming the mistake when the path is a directory or a file, not a socket', async () => {
    const dir = await gvpn(['--socket', directory, 'request', 'system', 'ping']);
    assert.equal(dir.code, 2);
    assert.equal(dir.stderr, `gvpn: ${directory} is a directory, not a socket (give it as --state-dir)\n`);
    const file = join(directory, 'daemon.pid');
    await writeFile(file, '4242\n');
    const regular = await gvpn(['--socket', file, 'request', 'system', 'ping']);
    assert.equal(regular.code, 2);
    assert.equal(regular.stderr, `gvpn: ${file} is not a socket\n`);
  });

  it('exits 2, not 1 (the daemon refused), when what listens closes without an answer or answers garbage', async () => {
    for (const [name, reply] of [['closes.sock', ''], ['garbage.sock', 'SSH-2.0-OpenSSH_9.6\n']] as const) {
      const path = join(directory, name);
      // resume: the request is read and dropped, so the socket can end and `close` below returns
      const server = createServer((socket) => socket.resume().end(reply));
      await new Promise<void>((resolve) => server.listen(path, resolve));
      try {
        const run = await gvpn(['--socket', path, 'request', 'system', 'ping']);
        assert.equal(run.code, 2, name);
        assert.match(run.stderr, new RegExp(`^gvpn: [^\\n]*${path.replaceAll('.', '\\.')}[^\\n]*\\n$`), name);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    }
  });

  it('exits 64 with one line for an empty path, and for both --socket and --state-dir', async () => {
    for (const args of [
      ['--socket', '', 'request', 'system', 'ping'],
      ['--state-dir', '', 'request', 'system', 'ping'],
      ['--socket', socketPath, 'commit', 'check', '--file', ''],
      ['--socket', socketPath, '--state-dir', directory, 'request', 'system', 'ping'],
    ]) {
      const run = await gvpn(args);
      assert.equal(run.code, 64, JSON.stringify(args));
      assert.match(run.stderr, /^error: option '--[a-z-]+ <[a-z]+>' [^\n]+\n$/, JSON.stringify(args));
    }
  });

  it('exits 64 on a bad command line', async () => {
    assert.equal((await gvpn(['--socket', socketPath, ...SHOW_SAS, 'verbose'])).code, 64);
    assert.equal((await gvpn(['show', 'version'])).code, 64);
    assert.equal((await gvpn(['--socket', socketPath, 'show', 'nonsense'])).code, 64);
    // the root pair has nodes 0 and 1 only
    const failover = await gvpn(['--socket', socketPath, 'request', 'chassis', 'cluster', 'failover', 'redundancy-group', '0', 'node', '2']);
    assert.equal(failover.code, 64);
    assert.match(failover.stderr, /^error: command-argument value '2' is invalid for argument 'N'\. Allowed choices are 0, 1\.\n$/);
  });
});
