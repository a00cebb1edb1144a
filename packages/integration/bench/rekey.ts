/**
 * Time from a TEK rekey on the real root-server daemon (standalone GCKS, core 0) until the LAST of N members
 * has installed the new TEK, and the daemon's RSS with N members registered.
 *   ./scripts/bench rekey [--members N] [--concurrency C]      (without --members: N = 1000, then 10000)
 * bench/gdoi-loadgen.ts (its own process, core 1) registers N members with group 19 (Main Mode + GROUPKEY-PULL,
 * at most C = 128 at a time; group 14 would only make the setup slower: the rekey itself involves no DH),
 * they keep listening; then the generator itself sends `request security group-vpn server rekey group BENCH`
 * over the control socket and times, on its own clock, from just before that request until each member's
 * PushReceiver has accepted the GROUPKEY-PUSH (decrypted under the KEK, RSA signature verified, SEQ fresh)
 * carrying a TEK it did not have; each member ACKs (RFC 8263) from its own socket. `acks` is the daemon's
 * count of verified ACKs for this rekey (acksReceived), read once it reaches N or after 15 s (the daemon
 * retransmits an unACKed push after 10 s, so an ACK lost once is counted after its retransmission).
 * `rekey_all_ms` is measured in one generator process, which verifies every member's push on one core; with
 * 10,000 members that, not the server, sets it. `rekey_arrival_ms` is when the last push reached its member,
 * `rekey_own_cpu_ms` adds that member's own work on the push (each real member has a CPU of its own).
 * Ends with one `RESULT ...` line (further sizes' keys prefixed `members_N_`).
 */
import { Cleanup, waitFor, workDirectory } from '../src/index.js';
import { GROUP, PSK, hasTaskset, option, rssKb, startGcks, startLoadgen, udpRcvbufErrors } from './gcks-loadgen-host.js';

const CONCURRENCY = Number(option('concurrency') ?? 128);
const sizes = option('members') === undefined ? [1000, 10_000] : [Number(option('members'))];
for (const n of sizes) if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new Error('--members: 1..10000 (the daemon\'s platform maximum without a published figure)');

async function run(n: number): Promise<Record<string, string>> {
  const cleanup = new Cleanup();
  try {
    const dir = await workDirectory(cleanup, `bench-rekey-${n}`);
    const server = { address: '127.0.61.1', port: 848 };
    const gcks = await startGcks(cleanup, dir, server.address, 19);
    const gen = startLoadgen(cleanup, dir, 'loadgen', {
      server, psk: PSK, groupId: GROUP.id, dhGroup: 19, members: n, concurrency: CONCURRENCY, rekey: { socket: gcks.socket, group: GROUP.name },
    }, gcks);
    const reg = await gen.line('registered', 150_000);
    const rssMb = rssKb(gcks.pid) / 1024; // all N registered, just before the rekey
    const drops0 = udpRcvbufErrors();
    const done = await gen.line('rekeyed', 40_000);
    const expectSeq = (done['answer'] as { seq: number }).seq;
    const counters = await waitFor(async () => {
      const c = await gcks.gdoi();
      return (c['acksReceived'] ?? 0) >= n && c;
    }, 15_000, 'all ACKs at the daemon').catch(async () => gcks.gdoi());
    gcks.assertRunning();
    const drops = udpRcvbufErrors() - drops0;
    // No push before this rekey, so every verified ACK the daemon counted is for it.
    const acks = counters['acksReceived'] ?? 0;
    console.log(`N=${n}: registered in ${(Number(reg['wallMs']) / 1000).toFixed(1)} s (${Number(reg['perS']).toFixed(0)}/s); rekey (SEQ ${expectSeq}): `
      + `control request answered after ${Number(done['controlAnsweredMs']).toFixed(1)} ms, first member installed at ${Number(done['firstMs']).toFixed(1)} ms, `
      + `median ${Number(done['p50Ms']).toFixed(1)} ms, last at ${Number(done['lastMs']).toFixed(1)} ms; ${String(done['installed'])}/${n} installed; `
      + `last push reached the generator at ${Number(done['lastArrivalMs']).toFixed(1)} ms; one member's work per push (decrypt, verify, install, ACK) median `
      + `${Number(done['memberWorkMedianMs']).toFixed(3)} ms, so with a CPU per member (as real members have) the last would have installed at `
      + `${Number(done['ownCpuLastMs']).toFixed(1)} ms; member ACKs sent ${String(done['acksSent'])}, pushes dropped by members ${String(done['pushDrops'])}; daemon: pushesSent ${counters['pushesSent']}, `
      + `acksReceived ${counters['acksReceived']}, ackInvalid ${counters['ackInvalid']}, pushRetransmissions ${counters['pushRetransmissions']}; `
      + `UDP receive-buffer drops on the host meanwhile ${drops}; server RSS ${rssMb.toFixed(0)} MB`);
    if (done['installed'] !== n) throw new Error(`only ${String(done['installed'])} of ${n} members installed the new TEK within 30 s`);
    return {
      rekey_all_ms: Number(done['lastMs']).toFixed(1), rekey_arrival_ms: Number(done['lastArrivalMs']).toFixed(1),
      rekey_own_cpu_ms: Number(done['ownCpuLastMs']).toFixed(1), acks: String(acks), server_rss_mb: rssMb.toFixed(0),
    };
  } finally {
    await cleanup.run();
  }
}

console.log(`server pinned to core 0, load generator to core 1: ${hasTaskset ? 'yes (taskset)' : 'NO (taskset missing)'}`);
// One RESULT line: the first size's figures as they are, each further size's prefixed `members_N_` (as bench cluster does).
const fields: string[] = [];
for (const [i, n] of sizes.entries()) {
  const r = await run(n);
  if (i === 0) fields.push(`members=${n}`);
  for (const [k, v] of Object.entries(r)) fields.push(i === 0 ? `${k}=${v}` : `members_${n}_${k}=${v}`);
}
console.log(`RESULT ${fields.join(' ')}`);
