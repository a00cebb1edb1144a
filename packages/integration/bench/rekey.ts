/**
 * Time from a TEK rekey on the real root-server daemon (standalone GCKS, core 0) until the LAST of N members
 * has installed the new TEK, and the daemon's RSS with N members registered.
 *   ./scripts/bench rekey [--members N] [--generators G] [--concurrency C]
 *       without --members: N = 1000, then 10000; G = 2 generator processes; C = 128 in all
 * G generators (bench/gdoi-loadgen.ts, each its own process, with N/G members at addresses of its own;
 * generator g pinned to core (g + 1) mod 2, so the first has core 1 to itself and the second shares the
 * daemon's core 0) register the members with group 19 (Main Mode + GROUPKEY-PULL; group 14 would only make
 * the setup slower: the rekey itself involves no DH) and keep listening. Then this process sends
 * `request security group-vpn server rekey group BENCH` over the control socket; time 0 is just before it.
 * Every generator records, on the host's monotonic clock, when each member's PushReceiver accepted the
 * GROUPKEY-PUSH carrying the new TEK (decrypted under the KEK, RSA signature verified, SEQ fresh; then an
 * RFC 8263 ACK from the member's own socket).
 * Figures per N: `rekey_all_ms`, until the last member installed the TEK; `rekey_arrival_ms`, until the last
 * push reached its member; `rekey_own_cpu_ms`, that arrival plus the member's own work on the push (what
 * members with a CPU each would see: here G processes verify every push on two cores, also the daemon's);
 * `acks`, the daemon's count of verified ACKs (acksReceived), read once it reaches N or after 15 s (an ACK
 * lost once is counted after the 10-s retransmission); `server_rss_mb` with all N registered.
 * Ends with one `RESULT ...` line (further sizes' keys prefixed `members_N_`).
 */
import { Cleanup, waitFor, workDirectory } from '../src/index.js';
import { GROUP, PSK, hasTaskset, monoMs, option, rssKb, startGcks, startLoadgen, udpRcvbufErrors, type Loadgen } from './gcks-loadgen-host.js';

const GENERATORS = Number(option('generators') ?? 2);
const CONCURRENCY = Number(option('concurrency') ?? 128);
const sizes = option('members') === undefined ? [1000, 10_000] : [Number(option('members'))];
for (const n of sizes) if (!Number.isInteger(n) || n < GENERATORS || n > 10_000) throw new Error(`--members: ${GENERATORS}..10000 (the daemon's platform maximum without a published figure)`);
if (!Number.isInteger(GENERATORS) || GENERATORS < 1) throw new Error('--generators: 1 or more');

const max = (xs: readonly number[]): number => Math.max(...xs);

async function run(n: number): Promise<Record<string, string>> {
  const cleanup = new Cleanup();
  try {
    const dir = await workDirectory(cleanup, `bench-rekey-${n}`);
    const server = { address: '127.0.61.1', port: 848 };
    const gcks = await startGcks(cleanup, dir, server.address, 19);
    const gens: Loadgen[] = [];
    let offset = 0;
    for (let g = 0; g < GENERATORS; g++) {
      const members = Math.floor((n * (g + 1)) / GENERATORS) - Math.floor((n * g) / GENERATORS);
      gens.push(startLoadgen(cleanup, dir, `loadgen-${g}`, {
        server, psk: PSK, groupId: GROUP.id, dhGroup: 19, members, concurrency: Math.max(1, Math.floor(CONCURRENCY / GENERATORS)),
        memberOffset: offset, watchTeks: true,
      }, gcks, (g + 1) % 2));
      offset += members;
    }
    const regs = await Promise.all(gens.map((gen) => gen.line('registered', 150_000)));
    const registerS = max(regs.map((r) => Number(r['wallMs']))) / 1000;
    const rssMb = rssKb(gcks.pid) / 1024; // all N registered, just before the rekey
    const drops0 = udpRcvbufErrors();

    const t0 = monoMs();
    const answer = (await gcks.request('request security group-vpn server rekey group', { group: GROUP.name })) as { spis: string[]; seq: number };
    const answeredMs = monoMs() - t0;
    const spi = answer.spis[0];
    if (spi === undefined) throw new Error(`the rekey answered ${JSON.stringify(answer)}`);
    const teks = await Promise.all(gens.map((gen) => gen.line('tek', 40_000, (o) => o['spi'] === spi && o['installed'] === o['of'])));
    const rel = (key: string): number[] => teks.map((t) => Number(t[key]) - t0);
    const rekeyMs = max(rel('lastMono'));
    const arrivalMs = max(rel('lastArrivalMono'));
    const ownCpuMs = max(rel('ownCpuLastMono'));
    const firstMs = Math.min(...rel('firstMono'));
    const workMedian = teks.map((t) => Number(t['memberWorkMedianMs'])).sort((a, b) => a - b)[Math.floor(teks.length / 2)] ?? 0;
    const counters = await waitFor(async () => {
      const c = await gcks.gdoi();
      return (c['acksReceived'] ?? 0) >= n && c;
    }, 15_000, 'all ACKs at the daemon').catch(async () => gcks.gdoi());
    gcks.assertRunning();
    const drops = udpRcvbufErrors() - drops0;
    // No push before this rekey, so every verified ACK the daemon counted is for it.
    const acks = counters['acksReceived'] ?? 0;
    const pushDrops = teks.reduce((s, t) => s + Number(t['pushDrops'] ?? 0), 0);
    console.log(`N=${n}: ${GENERATORS} generators registered ${n} members in ${registerS.toFixed(1)} s; rekey (SEQ ${answer.seq}, TEK ${spi}): `
      + `control request answered after ${answeredMs.toFixed(1)} ms, first member installed at ${firstMs.toFixed(1)} ms, last at ${rekeyMs.toFixed(1)} ms; `
      + `last push reached its member at ${arrivalMs.toFixed(1)} ms; one member's work per push (decrypt, verify, install, ACK) median ${workMedian.toFixed(3)} ms, `
      + `so with a CPU per member the last would have installed at ${ownCpuMs.toFixed(1)} ms; pushes dropped by members ${pushDrops}; daemon: `
      + `pushesSent ${counters['pushesSent']}, acksReceived ${counters['acksReceived']}, ackInvalid ${counters['ackInvalid']}, pushRetransmissions ${counters['pushRetransmissions']}; `
      + `UDP receive-buffer drops on the host meanwhile ${drops}; server RSS ${rssMb.toFixed(0)} MB`);
    return {
      rekey_all_ms: rekeyMs.toFixed(1), rekey_arrival_ms: arrivalMs.toFixed(1), rekey_own_cpu_ms: ownCpuMs.toFixed(1),
      acks: String(acks), server_rss_mb: rssMb.toFixed(0),
    };
  } finally {
    await cleanup.run();
  }
}

console.log(`server pinned to core 0, ${GENERATORS} load generators to cores 1, 0, ...: ${hasTaskset ? 'yes (taskset)' : 'NO (taskset missing)'}`);
// One RESULT line: the first size's figures as they are, each further size's prefixed `members_N_` (as bench cluster does).
const fields: string[] = [];
for (const [i, n] of sizes.entries()) {
  const r = await run(n);
  if (i === 0) fields.push(`members=${n}`);
  for (const [k, v] of Object.entries(r)) fields.push(i === 0 ? `${k}=${v}` : `members_${n}_${k}=${v}`);
}
console.log(`RESULT ${fields.join(' ')}`);
