/**
 * GDOI registrations per second of the real root-server daemon (standalone GCKS, one core), groups 14 and 19.
 *   ./scripts/bench register [--members N] [--concurrency C] [--group 14|19]      (default N = 4000, C = 256)
 * `--group` runs that group alone (with DH reuse as below), for comparing one change quickly.
 * Per group: a fresh daemon (bench/gcks-loadgen-host.ts: one group behind an `address: dynamic` gateway) pinned to
 * core 0; bench/gdoi-loadgen.ts in its own process on core 1 simulating N members, one loopback address
 * and socket each, at most C registering at a time; each does Main Mode + GROUPKEY-PULL (the engine's own
 * code; the generator reuses a small pool of DH key pairs, see that file).
 * The daemon reuses its DH key pair for DH_REUSE_SECONDS (`ike options dh-reuse-seconds`, see @gvpn/ike
 * dh-reuse.ts); one more group-14 run with it off gives `server_cpu_ms_per_reg_g14_noreuse`.
 * Figures: registrations/s and p50/p99 latency (Main Mode message 1 to pull message 4 verified) from the
 * generator's clock; server CPU (utime+stime from /proc/PID/stat) from before the first registration to the
 * last, per registration; server RSS growth over the run / N; the daemon's own `registrations` counter.
 * `--members` goes up to 10,000 (the daemon's default platform maximum); pullDropped in the output counts
 * pulls the server's bound on exchanges waiting for message 3 refused.
 * On a 2-core machine the generator, which must do a DH computation and the same symmetric work for each
 * registration, needs about as much CPU per registration as the server: the measured rate is then bound by
 * the generator's core, not the server's. `server_capacity_*_per_s` is what the server's one core sustains:
 * 1000 / the larger of its CPU ms per registration and its event loop's busy ms per registration (the
 * daemon's `process.eventLoopBusyMs` statistic, which also counts synchronous waits such as a state commit's
 * fsync); the targets are checked against both the measured rate and that capacity.
 * Ends with one `RESULT ...` line.
 */
import { Cleanup, workDirectory } from '../src/index.js';
import { DH_REUSE_SECONDS, GROUP, PSK, cpuMs, hasTaskset, option, rssKb, startGcks, startLoadgen, udpRcvbufErrors } from './gcks-loadgen-host.js';

const N = Number(option('members') ?? 4000);
// Enough registrations in flight that the server's core, not the offered load, is the bound: with 64 the
// daemon sat at ~80 % of its core, with 256 at ~90 % (p99 latency ~350 ms, well inside the 1-s retransmission).
const CONCURRENCY = Number(option('concurrency') ?? 256);
if (!Number.isInteger(N) || N < 1 || N > 10_000) throw new Error('--members: 1..10000 (the daemon\'s platform maximum without a published figure)');

interface Run { perS: number; p50: number; p99: number; cpuPerReg: number; loopPerReg: number; rssPerMember: number }

async function run(group: 14 | 19, dhReuseSeconds = DH_REUSE_SECONDS): Promise<Run> {
  const cleanup = new Cleanup();
  try {
    const dir = await workDirectory(cleanup, `bench-register-${group}`);
    const server = { address: `127.0.60.${group}`, port: 848 };
    const gcks = await startGcks(cleanup, dir, server.address, group, dhReuseSeconds);
    const rss0 = rssKb(gcks.pid);
    const gen = startLoadgen(cleanup, dir, 'loadgen', { server, psk: PSK, groupId: GROUP.id, dhGroup: group, members: N, concurrency: CONCURRENCY }, gcks);
    // The generator binds its N sockets first (the daemon is idle meanwhile), so CPU from here on is registration work.
    const c0 = cpuMs(gcks.pid);
    const loop0 = await gcks.eventLoopBusyMs();
    const drops0 = udpRcvbufErrors();
    const done = await gen.line('registered', 170_000);
    const c1 = cpuMs(gcks.pid);
    const loop1 = await gcks.eventLoopBusyMs();
    const drops = udpRcvbufErrors() - drops0;
    const genCpu = Number(done['cpuMs']);
    const rss1 = rssKb(gcks.pid);
    const counters = await gcks.gdoi();
    const ike = ((await gcks.request('show security group-vpn server statistics')) as { ike: Record<string, number> }).ike;
    const members = ((await gcks.request('show security group-vpn server registered-members')) as { groups: { members: unknown[] }[] }).groups[0]?.members.length ?? 0;
    gcks.assertRunning();
    if (counters['registrations'] !== N || members !== N) throw new Error(`daemon counted ${counters['registrations']} registrations, lists ${members} members; expected ${N}`);
    const wallS = Number(done['wallMs']) / 1000;
    const cpu = c1 - c0;
    const r: Run = {
      perS: Number(done['perS']), p50: Number(done['p50Ms']), p99: Number(done['p99Ms']), cpuPerReg: cpu / N, loopPerReg: (loop1 - loop0) / N, rssPerMember: (rss1 - rss0) / N,
    };
    console.log(`group ${group}, dh-reuse-seconds ${dhReuseSeconds}: ${N} members registered in ${wallS.toFixed(2)} s (${r.perS.toFixed(0)}/s; concurrency ${CONCURRENCY}; `
      + `retries ${String(done['retries'])}); latency p50 ${r.p50.toFixed(1)} ms p99 ${r.p99.toFixed(1)} ms; server CPU ${(cpu / 1000).toFixed(2)} s `
      + `(${(cpu / 10 / wallS).toFixed(0)} % of a core, ${r.cpuPerReg.toFixed(3)} ms/registration; event loop busy ${r.loopPerReg.toFixed(3)} ms/registration; generator ${(genCpu / 10 / wallS).toFixed(0)} %); `
      + `server RSS ${Math.round(rss0 / 1024)} -> ${Math.round(rss1 / 1024)} MB (${r.rssPerMember.toFixed(1)} kB/member); daemon: registrations ${counters['registrations']}, `
      + `pullDropped ${counters['pullDropped']}, pullDuplicates ${counters['pullDuplicates']}, refused ${(counters['refusedPlatformMax'] ?? 0) + (counters['refusedThreshold'] ?? 0)}, `
      + `DH key pairs reused ${ike['dhKeyPairsReused']} of ${ike['dhComputations']} exchanges`);
    return r;
  } finally {
    await cleanup.run();
  }
}

console.log(`server pinned to core 0, load generator to core 1: ${hasTaskset ? 'yes (taskset)' : 'NO (taskset missing)'}; ${N} members per group; `
  + `server ike options dh-reuse-seconds ${DH_REUSE_SECONDS} (and one group-14 run with 0)`);
const f = (x: number, d = 1): string => x.toFixed(d);
// One core's worth: the CPU of all the daemon's threads, or its event loop's busy time (which also holds
// synchronous waits, e.g. a state commit's fsync), whichever is the larger.
const capacity = (r: Run): number => 1000 / Math.max(r.cpuPerReg, r.loopPerReg);
const only = option('group');
if (only !== undefined) {
  if (only !== '14' && only !== '19') throw new Error('--group: 14 or 19');
  const g = Number(only) as 14 | 19;
  const r = await run(g);
  console.log(`RESULT members=${N} reg_g${g}_per_s=${f(r.perS)} p50_g${g}_ms=${f(r.p50)} p99_g${g}_ms=${f(r.p99)} server_cpu_ms_per_reg_g${g}=${f(r.cpuPerReg, 3)} `
    + `server_loop_ms_per_reg_g${g}=${f(r.loopPerReg, 3)} server_capacity_g${g}_per_s=${f(capacity(r))} dh_reuse_seconds=${DH_REUSE_SECONDS} rss_kb_per_member=${f(r.rssPerMember)}`);
} else {
  const g14 = await run(14);
  const g19 = await run(19);
  const g14NoReuse = await run(14, 0);
  const verdict = (rate: number, target: number): string => (rate >= target ? 'met' : 'NOT met');
  console.log(`targets (one core): >= 1000 reg/s group 14: measured ${verdict(g14.perS, 1000)}, server capacity ${capacity(g14).toFixed(0)}/s ${verdict(capacity(g14), 1000)}; `
    + `>= 3000 reg/s group 19: measured ${verdict(g19.perS, 3000)}, server capacity ${capacity(g19).toFixed(0)}/s ${verdict(capacity(g19), 3000)}`);
  console.log(`RESULT members=${N} reg_g14_per_s=${f(g14.perS)} reg_g19_per_s=${f(g19.perS)} p50_g14_ms=${f(g14.p50)} p99_g14_ms=${f(g14.p99)} `
    + `p50_g19_ms=${f(g19.p50)} p99_g19_ms=${f(g19.p99)} server_cpu_ms_per_reg_g14=${f(g14.cpuPerReg, 3)} server_cpu_ms_per_reg_g19=${f(g19.cpuPerReg, 3)} `
    + `server_loop_ms_per_reg_g14=${f(g14.loopPerReg, 3)} server_loop_ms_per_reg_g19=${f(g19.loopPerReg, 3)} `
    + `server_capacity_g14_per_s=${f(capacity(g14))} server_capacity_g19_per_s=${f(capacity(g19))} `
    + `dh_reuse_seconds=${DH_REUSE_SECONDS} server_cpu_ms_per_reg_g14_noreuse=${f(g14NoReuse.cpuPerReg, 3)} `
    + `rss_kb_per_member=${f(Math.max(g14.rssPerMember, g19.rssPerMember))}`);
}
