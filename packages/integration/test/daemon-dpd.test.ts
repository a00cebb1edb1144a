// Fault behaviour of the real daemons, in real time on loopback (P.1 root, P.2 sub, P a random 127.X.Y):
// DPD (interval 2 s, threshold 2, always-send on both sides) declares a frozen root dead, the sub's
// initiate keeper brings the SA back after the root resumes, and a restarted sub's INITIAL-CONTACT leaves
// the root with exactly one UP SA towards it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Cleanup, OurDaemon, pidAlive, randomLoopbackPrefix, waitFor, workDirectory, type OurDaemonConfig, type OurSa,
} from '../src/index.js';

const LOOPBACK = randomLoopbackPrefix();
const ROOT = { address: `${LOOPBACK}.1`, port: 848 };
const SUB = { address: `${LOOPBACK}.2`, port: 848 };
const INTERVAL = 2;
const THRESHOLD = 2;
const PSK = 'daemon-dpd-test-only';

const cleanup = new Cleanup();
after(() => cleanup.run());

let dir = '';
let root: OurDaemon;
let sub: OurDaemon;

const dpd = { alwaysSend: true, interval: INTERVAL, threshold: THRESHOLD };
const CONFIG: Record<'root' | 'sub', OurDaemonConfig> = {
  root: { name: 'root', listen: ROOT, psk: PSK, logLevel: 'info', retransmitInitialMs: 250, retransmitTries: 3,
    gateways: [{ name: 'Sub', address: SUB.address, port: SUB.port, dpd }] },
  sub: { name: 'sub', listen: SUB, psk: PSK, logLevel: 'info', retransmitInitialMs: 250, retransmitTries: 3,
    gateways: [{ name: 'Root', address: ROOT.address, port: ROOT.port, initiate: true, dpd }] },
};

/** The root-server or sub-server daemon, stopped by the cleanup (continued first if a test froze it). */
async function startNode(name: 'root' | 'sub'): Promise<OurDaemon> {
  const daemon = await OurDaemon.start({ ...CONFIG[name], workDir: dir, program: name === 'root' ? 'root-server' : 'sub-server' });
  cleanup.defer(`${name} pid ${daemon.pid}`, () => daemon.stop(2000));
  return daemon;
}

async function counters(daemon: OurDaemon): Promise<Record<string, number | undefined>> {
  const ike = await daemon.statistics();
  for (const k of ['peersDead', 'dpdAcksReceived', 'initialContactReceived']) assert.equal(typeof ike[k], 'number', `counter ${k}`);
  return ike;
}

const upTowards = (rows: OurSa[], peer: { address: string }): OurSa[] =>
  rows.filter((s) => s.state === 'UP' && s.remote.address === peer.address);

before(async () => {
  dir = await workDirectory(cleanup, 'daemon-dpd');
  root = await startNode('root');
  sub = await startNode('sub');
  await waitFor(async () => upTowards(await sub.sas(), ROOT).length === 1
    && upTowards(await root.sas(), SUB).length === 1, 15_000, 'the SA UP on both daemons');
});

test('R-DPD-1, R-DPD-3: both probe with no traffic; SIGSTOP root: the sub declares it dead after about interval x threshold; SIGCONT: the SA comes back', async () => {
  const before = await counters(sub);
  assert.equal(before.peersDead, 0, 'no dead peer yet');
  const acks = before.dpdAcksReceived as number;
  const rootAcks = (await counters(root)).dpdAcksReceived as number;
  // No traffic flows between these two: each side's probes are answered (R-DPD-1, always-send both ways).
  await waitFor(async () => ((await counters(sub)).dpdAcksReceived as number) > acks, INTERVAL * 1000 + 3000, 'a DPD ack from the live root');
  await waitFor(async () => ((await counters(root)).dpdAcksReceived as number) > rootAcks, INTERVAL * 1000 + 3000, 'a DPD ack from the live sub');
  const oldCookie = upTowards(await sub.sas(), ROOT)[0]?.icookie;

  process.kill(root.pid, 'SIGSTOP');
  const stoppedAt = performance.now();
  await waitFor(async () => (await counters(sub)).peersDead === 1, (INTERVAL * THRESHOLD + INTERVAL + 5) * 1000, 'the sub to declare the root dead');
  const elapsed = (performance.now() - stoppedAt) / 1000;
  const lo = INTERVAL * THRESHOLD - 1;
  const hi = INTERVAL * THRESHOLD + INTERVAL + 3;
  console.log(`# peer declared dead ${elapsed.toFixed(2)} s after SIGSTOP (window [${lo}, ${hi}] s)`);
  assert.ok(elapsed >= lo && elapsed <= hi, `dead after ${elapsed.toFixed(2)} s, expected within [${lo}, ${hi}]`);
  assert.equal(upTowards(await sub.sas(), ROOT).length, 0, 'the sub holds no UP SA towards the dead root');

  process.kill(root.pid, 'SIGCONT');
  const rows = await waitFor(async () => {
    const up = upTowards(await sub.sas(), ROOT);
    return up.length === 1 && up[0]?.icookie !== oldCookie ? up : undefined;
  }, 20_000, 'the sub to re-establish an SA with the resumed root');
  assert.equal(rows[0]?.role, 'initiator');
  // the root drops its stale SA (INITIAL-CONTACT from the keeper, or its own DPD): one UP SA towards the sub
  await waitFor(async () => upTowards(await root.sas(), SUB).length === 1 && upTowards(await root.sas(), SUB)[0]?.icookie === rows[0]?.icookie,
    10_000, 'the root to hold only the new SA');
  assert.ok(pidAlive(root.pid) && pidAlive(sub.pid));
});

test('SIGKILL the sub and restart it: a new SA comes up and the root keeps exactly one towards it', async () => {
  const old = upTowards(await root.sas(), SUB);
  assert.equal(old.length, 1);
  process.kill(sub.pid, 'SIGKILL');
  await sub.child.exited;
  sub = await startNode('sub');
  const fresh = await waitFor(async () => {
    const up = upTowards(await sub.sas(), ROOT);
    return up.length === 1 ? up[0] : undefined;
  }, 15_000, 'the restarted sub to bring an SA up');
  assert.notEqual(fresh.icookie, old[0]?.icookie);
  const rootBefore = await counters(root);
  assert.ok((rootBefore.initialContactReceived as number) >= 1, 'the root saw INITIAL-CONTACT');
  const rows = await waitFor(async () => {
    const up = upTowards(await root.sas(), SUB);
    return up.length === 1 && up[0]?.icookie === fresh.icookie ? up : undefined;
  }, 3000, 'exactly one UP SA (the new one) on the root towards the sub');
  // and it stays that way: no stale SA reappears, nothing extra is negotiated, for one DPD interval
  const settleUntil = performance.now() + INTERVAL * 1000;
  while (performance.now() < settleUntil) {
    const up = upTowards(await root.sas(), SUB);
    assert.deepEqual(up.map((s) => s.icookie), rows.map((s) => s.icookie));
    await new Promise((r) => setTimeout(r, 100));
  }
  const all = (await root.sas()).filter((s) => s.remote.address === SUB.address);
  assert.equal(all.length, 1, `root SAs towards the sub: ${JSON.stringify(all.map((s) => s.state))}`);
});
