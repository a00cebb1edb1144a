/**
 * Main Mode handshakes per second of the real root-server daemon (one core), groups 14 and 19.
 *   ./scripts/bench ike [seconds-per-group]      (node packages/integration/dist/bench/ike.js)
 * Responder: the daemon process pinned to core 0 (taskset, when present). Load: bench/ike-loadgen.js in
 * its own process on core 1, 64 concurrent lean initiators (one shared DH key pair per connection; see
 * that file), each deleting its SA after completion and starting again with new cookies. Counted: the
 * responder's saEstablished counter, its CPU time from /proc/PID/stat, over the measuring window.
 * Ends with one `RESULT ...` line.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup, ManagedProcess, OurDaemon, aes256Sha256, workDirectory } from '../src/index.js';

const here = import.meta.dirname;
const { measureDh } = (await import(new URL('../../../crypto/dist/bench/dh-bench.js', import.meta.url).href)) as {
  measureDh(group: number, iterations: number): { keygenUs: number; computeUs: number };
};
const SECONDS = Number(process.argv[2] ?? 10);
const WARMUP_MS = 2000;
const CONNECTIONS = 64;
const BASE_PORT = 21000;
const RESPONDER = { address: '127.0.6.1', port: 848 };
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const clkTck = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** The measuring windows themselves: a benchmark, not a test, so waiting a fixed time is the point. */
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** `taskset -c CORE` (which execs the command, so the PID is the command's own), when taskset exists. */
const pinnedTo = (core: number): string[] => (hasTaskset ? ['taskset', '-c', String(core)] : []);
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clkTck; // utime, stime
}
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(m?.[1] ?? 0) / 1024);
}

interface Run { perS: number; perCpuS: number; handshakes: number; cpu: number; rssMb: number; saTable: number }

async function run(group: 14 | 19): Promise<Run> {
  const cleanup = new Cleanup();
  try {
    const dir = await workDirectory(cleanup, `bench-${group}`);
    const daemon = await OurDaemon.start({
      name: 'root', workDir: dir, listen: RESPONDER, psk: 'bench-only', proposals: [aes256Sha256(group)], logLevel: 'warn',
      gateways: Array.from({ length: CONNECTIONS }, (_, i) => ({ name: `g${i}`, address: '127.0.6.2', port: BASE_PORT + i })),
      wrapper: pinnedTo(0),
    });
    cleanup.defer('responder', () => daemon.stop());
    const stats = () => daemon.statistics();
    const [command = process.execPath, ...args] = [...pinnedTo(1), process.execPath, join(here, 'ike-loadgen.js'), String(group), String(CONNECTIONS), String(BASE_PORT)];
    const gen = ManagedProcess.start('loadgen', command, args, { logDir: dir });
    cleanup.defer('load generator', () => gen.stop());
    // The generator prints one JSON line per second; its last one goes into the summary.
    const genLast = (): string => gen.stdout().trim().split('\n').pop() || '{}';
    const assertRunning = (): void => {
      daemon.assertRunning();
      if (!gen.running) throw new Error(`load generator exited: ${gen.stderr()}`);
    };
    await sleep(WARMUP_MS);
    assertRunning();
    const s0 = await stats();
    const c0 = cpuSeconds(daemon.pid);
    const g0 = cpuSeconds(gen.pid);
    const t0 = performance.now();
    await sleep(SECONDS * 1000);
    const s1 = await stats();
    const c1 = cpuSeconds(daemon.pid);
    const genCpu = cpuSeconds(gen.pid) - g0;
    const wall = (performance.now() - t0) / 1000;
    const sas = await daemon.sas();
    assertRunning();
    const handshakes = (s1.saEstablished ?? 0) - (s0.saEstablished ?? 0);
    const cpu = c1 - c0;
    const result = { perS: handshakes / wall, perCpuS: handshakes / cpu, handshakes, cpu, rssMb: rssMb(daemon.pid), saTable: sas.length };
    console.log(`group ${group}: ${handshakes} handshakes in ${wall.toFixed(1)} s wall, responder CPU ${cpu.toFixed(2)} s `
      + `(${(100 * cpu / wall).toFixed(0)} % of a core; load generator ${(100 * genCpu / wall).toFixed(0)} %); ${result.perS.toFixed(1)}/s, ${result.perCpuS.toFixed(1)}/CPU-s; `
      + `responder RSS ${result.rssMb} MB, SA table ${result.saTable} (deletes received ${(s1.deletesReceived ?? 0) - (s0.deletesReceived ?? 0)}, `
      + `load generator ${genLast()}, half-open rejected ${(s1.halfOpenRejected ?? 0) - (s0.halfOpenRejected ?? 0)}, retransmissions answered ${(s1.duplicateRequests ?? 0) - (s0.duplicateRequests ?? 0)}, replies suppressed ${(s1.replySuppressed ?? 0) - (s0.replySuppressed ?? 0)})`);
    return result;
  } finally {
    await cleanup.run();
  }
}

console.log(`responder pinned to core 0, load generator to core 1: ${hasTaskset ? 'yes (taskset)' : 'NO (taskset missing)'}; ${SECONDS} s per group`);
const g14 = await run(14);
const g19 = await run(19);
const dh14 = measureDh(14, 200);
const dh19 = measureDh(19, 200);
const pair14 = dh14.keygenUs + dh14.computeUs;
const pair19 = dh19.keygenUs + dh19.computeUs;
// responder CPU per handshake in µs, and the share of it one key generation + one compute account for
const share14 = pair14 / (1e6 / g14.perCpuS);
const share19 = pair19 / (1e6 / g19.perCpuS);
console.log(`DH alone (median of 200): group 14 keygen ${dh14.keygenUs} µs + compute ${dh14.computeUs} µs; group 19 keygen ${dh19.keygenUs} µs + compute ${dh19.computeUs} µs`);
console.log(`responder CPU per handshake: group 14 ${(1e6 / g14.perCpuS).toFixed(0)} µs, group 19 ${(1e6 / g19.perCpuS).toFixed(0)} µs`);
const f = (x: number, d = 1): string => x.toFixed(d);
console.log(`RESULT mm_g14_per_s=${f(g14.perS)} mm_g19_per_s=${f(g19.perS)} mm_g14_per_cpu_s=${f(g14.perCpuS)} mm_g19_per_cpu_s=${f(g19.perCpuS)} `
  + `dh14_pair_us=${pair14} dh19_pair_us=${pair19} dh_share_g14=${f(share14, 2)} dh_share_g19=${f(share19, 2)}`);
