/**
 * Main Mode handshakes per second of the real root-server daemon (one core), groups 14 and 19.
 *   ./scripts/bench ike [seconds-per-group]      (node packages/integration/dist/bench/ike.js)
 * Responder: the daemon process pinned to core 0 (taskset, when present). Load: bench/ike-loadgen.js in
 * its own process on core 1, 64 concurrent lean initiators (one shared DH key pair per connection; see
 * that file), each deleting its SA after completion and starting again with new cookies. Counted: the
 * responder's saEstablished counter, its CPU time from /proc/PID/stat, over the measuring window.
 * Ends with one `RESULT ...` line.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { controlRequest } from '@gvpn/runtime';
import { writeDaemonConfig } from '../src/daemon-config.js';

const here = import.meta.dirname;
const repo = resolve(here, '../../../..');
const { measureDh } = (await import(new URL('../../../crypto/dist/bench/dh-bench.js', import.meta.url).href)) as {
  measureDh(group: number, iterations: number): { keygenUs: number; computeUs: number };
};
const SECONDS = Number(process.argv[2] ?? 10);
const WARMUP_MS = 2000;
const CONNECTIONS = 64;
const BASE_PORT = 21000;
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const clkTck = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
function pinned(core: number, argv: string[]): [string, string[]] {
  return hasTaskset ? ['taskset', ['-c', String(core), ...argv]] : [argv[0]!, argv.slice(1)];
}
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clkTck; // utime, stime
}
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(m?.[1] ?? 0) / 1024);
}
function stop(p: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (p.exitCode !== null || p.signalCode !== null) return r();
    p.once('exit', () => r());
    p.kill('SIGTERM');
    setTimeout(() => p.kill('SIGKILL'), 3000).unref();
  });
}

interface Run { perS: number; perCpuS: number; handshakes: number; cpu: number; rssMb: number; saTable: number }

async function run(group: 14 | 19): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), `gvpn-bench-${group}-`));
  const children: ChildProcess[] = [];
  try {
    await writeDaemonConfig(join(dir, 'root.yaml'), {
      hostName: 'bench', listen: { address: '127.0.6.1', port: 848 }, stateDirectory: 'state', psk: 'bench-only', dhGroup: group,
      logLevel: 'warn',
      gateways: Array.from({ length: CONNECTIONS }, (_, i) => ({ name: `g${i}`, address: '127.0.6.2', port: BASE_PORT + i })),
    });
    const [cmd, args] = pinned(0, [process.execPath, join(repo, 'packages/root-server/dist/src/main.js'), '--config', join(dir, 'root.yaml')]);
    const daemon = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(daemon);
    const sock = join(dir, 'state/control.sock');
    const stats = async (): Promise<Record<string, number>> =>
      ((await controlRequest(sock, ['show', 'security', 'group-vpn', 'server', 'statistics'])) as { ike: Record<string, number> }).ike;
    for (let i = 0; ; i++) {
      try { await stats(); break; } catch (e) { if (i > 200) throw e; await sleep(50); }
    }
    const [gcmd, gargs] = pinned(1, [process.execPath, join(here, 'ike-loadgen.js'), String(group), String(CONNECTIONS), String(BASE_PORT)]);
    const gen = spawn(gcmd, gargs, { stdio: ['ignore', 'pipe', 'inherit'] });
    let genLast = '{}';
    gen.stdout!.setEncoding('utf8').on('data', (d: string) => { genLast = d.trim().split('\n').pop() ?? genLast; });
    children.push(gen);
    await sleep(WARMUP_MS);
    const s0 = await stats();
    const c0 = cpuSeconds(daemon.pid!);
    const g0 = cpuSeconds(gen.pid!);
    const t0 = performance.now();
    await sleep(SECONDS * 1000);
    const s1 = await stats();
    const c1 = cpuSeconds(daemon.pid!);
    const genCpu = cpuSeconds(gen.pid!) - g0;
    const wall = (performance.now() - t0) / 1000;
    const sas = (await controlRequest(sock, ['show', 'security', 'group-vpn', 'server', 'ike', 'security-associations'])) as { sas: unknown[] };
    const handshakes = (s1.saEstablished ?? 0) - (s0.saEstablished ?? 0);
    const cpu = c1 - c0;
    const result = { perS: handshakes / wall, perCpuS: handshakes / cpu, handshakes, cpu, rssMb: rssMb(daemon.pid!), saTable: sas.sas.length };
    console.log(`group ${group}: ${handshakes} handshakes in ${wall.toFixed(1)} s wall, responder CPU ${cpu.toFixed(2)} s `
      + `(${(100 * cpu / wall).toFixed(0)} % of a core; load generator ${(100 * genCpu / wall).toFixed(0)} %); ${result.perS.toFixed(1)}/s, ${result.perCpuS.toFixed(1)}/CPU-s; `
      + `responder RSS ${result.rssMb} MB, SA table ${result.saTable} (deletes received ${(s1.deletesReceived ?? 0) - (s0.deletesReceived ?? 0)}, `
      + `load generator ${genLast}, half-open rejected ${(s1.halfOpenRejected ?? 0) - (s0.halfOpenRejected ?? 0)}, retransmissions answered ${(s1.duplicateRequests ?? 0) - (s0.duplicateRequests ?? 0)}, replies suppressed ${(s1.replySuppressed ?? 0) - (s0.replySuppressed ?? 0)})`);
    return result;
  } finally {
    for (const c of children.reverse()) await stop(c);
    rmSync(dir, { recursive: true, force: true });
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
