// Fault behaviour of the real daemons, in real time on loopback (127.0.4.1 root, 127.0.4.2 sub):
// DPD (interval 2 s, threshold 2, always-send on both sides) declares a frozen root dead, the sub's
// initiate keeper brings the SA back after the root resumes, and a restarted sub's INITIAL-CONTACT leaves
// the root with exactly one UP SA towards it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { controlRequest } from '@gvpn/runtime';
import { Cleanup } from '../src/cleanup.js';
import { ManagedProcess, pidAlive, startDaemon, waitFor } from '../src/process.js';
import { writeDaemonConfig } from '../src/daemon-config.js';

const repo = resolve(import.meta.dirname, '../../../..');
const ROOT = { address: '127.0.4.1', port: 848 };
const SUB = { address: '127.0.4.2', port: 848 };
const INTERVAL = 2;
const THRESHOLD = 2;
const PSK = 'daemon-dpd-test-only';

interface SaRow { state: string; role: string; gateway: string; icookie: string; remote: { address: string; port: number } }

const cleanup = new Cleanup();
after(() => cleanup.run());

let dir = '';
let root: ManagedProcess;
let sub: ManagedProcess;

function startNode(name: 'root' | 'sub'): ManagedProcess {
  const entry = join(repo, 'packages', name === 'root' ? 'root-server' : 'sub-server', 'dist/src/main.js');
  const p = startDaemon(name, entry, join(dir, `${name}.yaml`), { logDir: dir });
  cleanup.defer(`${name} pid ${p.pid}`, async () => {
    if (pidAlive(p.pid)) process.kill(p.pid, 'SIGCONT');
    await p.stop('SIGTERM', 2000);
  });
  return p;
}

async function sas(name: 'root' | 'sub'): Promise<SaRow[]> {
  const data = await controlRequest(join(dir, name, 'control.sock'), ['show', 'security', 'group-vpn', 'server', 'ike', 'security-associations']);
  return (data as { sas: SaRow[] }).sas;
}

async function counters(name: 'root' | 'sub'): Promise<Record<string, number | undefined>> {
  const data = await controlRequest(join(dir, name, 'control.sock'), ['show', 'security', 'group-vpn', 'server', 'statistics']);
  const ike = (data as { ike: Record<string, number> }).ike;
  for (const k of ['peersDead', 'dpdAcksReceived', 'initialContactReceived']) assert.equal(typeof ike[k], 'number', `counter ${k}`);
  return ike;
}

/** The answer, or undefined while the daemon is not answering yet. */
async function quietly<T>(f: () => Promise<T>): Promise<T | undefined> {
  try {
    return await f();
  } catch {
    return undefined;
  }
}

const upTowards = (rows: SaRow[] | undefined, peer: { address: string }): SaRow[] =>
  (rows ?? []).filter((s) => s.state === 'UP' && s.remote.address === peer.address);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gvpn-daemon-dpd-'));
  cleanup.defer('temp dir', () => rm(dir, { recursive: true, force: true }));
  const dpd = { interval: INTERVAL, threshold: THRESHOLD };
  const options = { 'retransmit-initial-ms': 250, 'retransmit-tries': 3 };
  await writeDaemonConfig(join(dir, 'root.yaml'), {
    hostName: 'root', listen: ROOT, stateDirectory: 'root', psk: PSK, options,
    gateways: [{ name: 'Sub', address: SUB.address, port: SUB.port, dpd }],
  });
  await writeDaemonConfig(join(dir, 'sub.yaml'), {
    hostName: 'sub', listen: SUB, stateDirectory: 'sub', psk: PSK, options,
    gateways: [{ name: 'Root', address: ROOT.address, port: ROOT.port, initiate: true, dpd }],
  });
  root = startNode('root');
  sub = startNode('sub');
  await waitFor(async () => upTowards(await quietly(() => sas('sub')), ROOT).length === 1
    && upTowards(await quietly(() => sas('root')), SUB).length === 1, 15_000, 'the SA UP on both daemons');
});

test('SIGSTOP root: the sub declares it dead after about interval x threshold; SIGCONT: the SA comes back', async () => {
  const before = await counters('sub');
  assert.equal(before.peersDead, 0, 'no dead peer yet');
  const acks = before.dpdAcksReceived as number;
  await waitFor(async () => ((await counters('sub')).dpdAcksReceived as number) > acks, INTERVAL * 1000 + 3000, 'a DPD ack from the live root');
  const oldCookie = upTowards(await sas('sub'), ROOT)[0]?.icookie;

  process.kill(root.pid, 'SIGSTOP');
  const stoppedAt = performance.now();
  await waitFor(async () => (await counters('sub')).peersDead === 1, (INTERVAL * THRESHOLD + INTERVAL + 5) * 1000, 'the sub to declare the root dead');
  const elapsed = (performance.now() - stoppedAt) / 1000;
  const lo = INTERVAL * THRESHOLD - 1;
  const hi = INTERVAL * THRESHOLD + INTERVAL + 3;
  console.log(`# peer declared dead ${elapsed.toFixed(2)} s after SIGSTOP (window [${lo}, ${hi}] s)`);
  assert.ok(elapsed >= lo && elapsed <= hi, `dead after ${elapsed.toFixed(2)} s, expected within [${lo}, ${hi}]`);
  assert.equal(upTowards(await sas('sub'), ROOT).length, 0, 'the sub holds no UP SA towards the dead root');

  process.kill(root.pid, 'SIGCONT');
  const rows = await waitFor(async () => {
    const up = upTowards(await sas('sub'), ROOT);
    return up.length === 1 && up[0]?.icookie !== oldCookie ? up : undefined;
  }, 20_000, 'the sub to re-establish an SA with the resumed root');
  assert.equal(rows[0]?.role, 'initiator');
  // the root drops its stale SA (INITIAL-CONTACT from the keeper, or its own DPD): one UP SA towards the sub
  await waitFor(async () => upTowards(await sas('root'), SUB).length === 1 && upTowards(await sas('root'), SUB)[0]?.icookie === rows[0]?.icookie,
    10_000, 'the root to hold only the new SA');
  assert.ok(pidAlive(root.pid) && pidAlive(sub.pid));
});

test('SIGKILL the sub and restart it: a new SA comes up and the root keeps exactly one towards it', async () => {
  const old = upTowards(await sas('root'), SUB);
  assert.equal(old.length, 1);
  process.kill(sub.pid, 'SIGKILL');
  await sub.exited;
  sub = startNode('sub');
  const fresh = await waitFor(async () => {
    const up = upTowards(await quietly(() => sas('sub')), ROOT);
    return up.length === 1 ? up[0] : undefined;
  }, 15_000, 'the restarted sub to bring an SA up');
  assert.notEqual(fresh.icookie, old[0]?.icookie);
  const rootBefore = await counters('root');
  assert.ok((rootBefore.initialContactReceived as number) >= 1, 'the root saw INITIAL-CONTACT');
  const rows = await waitFor(async () => {
    const up = upTowards(await sas('root'), SUB);
    return up.length === 1 && up[0]?.icookie === fresh.icookie ? up : undefined;
  }, 3000, 'exactly one UP SA (the new one) on the root towards the sub');
  // and it stays that way: no stale SA reappears, nothing extra is negotiated, for one DPD interval
  const settleUntil = performance.now() + INTERVAL * 1000;
  while (performance.now() < settleUntil) {
    const up = upTowards(await sas('root'), SUB);
    assert.deepEqual(up.map((s) => s.icookie), rows.map((s) => s.icookie));
    await new Promise((r) => setTimeout(r, 100));
  }
  const all = (await sas('root')).filter((s) => s.remote.address === SUB.address);
  assert.equal(all.length, 1, `root SAs towards the sub: ${JSON.stringify(all.map((s) => s.state))}`);
});
