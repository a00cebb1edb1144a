/**
 * Shared by bench/register.ts and bench/rekey.ts: one real root-server daemon as a standalone GCKS (one
 * group behind an `address: dynamic` member gateway), pinned to core 0; the member load generator
 * (bench/gdoi-loadgen.ts) in processes of its own, pinned to core 1 unless told otherwise; /proc readings of the daemon.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { controlRequest } from '@gvpn/runtime';
import { ManagedProcess, ROOT_SERVER_MAIN, waitFor, type Cleanup } from '../src/index.js';

const here = import.meta.dirname;
export const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const clkTck = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
export const PSK = 'bench-only-dynamic-psk';
export const GROUP = { name: 'BENCH', id: 4242 };
/** `ike options dh-reuse-seconds` of the bench daemon unless a run says otherwise (see @gvpn/ike dh-reuse.ts). */
export const DH_REUSE_SECONDS = 10;

/** `taskset -c CORE` (which execs the command, so the PID is the command's own), when taskset exists. */
export const pinnedTo = (core: number): string[] => (hasTaskset ? ['taskset', '-c', String(core)] : []);

/** utime + stime of a process, in ms. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clkTck;
}

export function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

/** The host's UDP RcvbufErrors (/proc/net/snmp): datagrams dropped because a socket's receive buffer was full. System-wide. */
export function udpRcvbufErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp: '));
  const names = (lines[0] ?? '').split(' ');
  const values = (lines[1] ?? '').split(' ');
  return Number(values[names.indexOf('RcvbufErrors')] ?? 0);
}

/** Parses `--members N` style options; the rest stay positional. */
export function option(name: string): string | undefined {
  const argv = process.argv.slice(2);
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

export interface Gcks {
  pid: number;
  socket: string;
  request(words: string, options?: Record<string, unknown>): Promise<unknown>;
  gdoi(): Promise<Record<string, number>>;
  /** The daemon's `process.eventLoopBusyMs` statistic. */
  eventLoopBusyMs(): Promise<number>;
  assertRunning(): void;
}

/**
 * Starts the daemon: listen `address`:848, platform vsrx (no published maximum: 10,000 members), one IKE
 * proposal (PSK, SHA-256, AES-256-CBC, `dhGroup`), the dynamic gateway, `dh-reuse-seconds` (default
 * DH_REUSE_SECONDS), group BENCH (id 4242) with one AES-256-GCM TEK and an AES-256-CBC KEK, RSA-2048/SHA-256
 * push signatures, pushes retransmitted every 10 s.
 */
export async function startGcks(cleanup: Cleanup, dir: string, address: string, dhGroup: 14 | 19, dhReuseSeconds = DH_REUSE_SECONDS): Promise<Gcks> {
  const config = {
    system: {
      'host-name': `gcks-bench-${dhGroup}`, platform: 'vsrx', listen: { address, port: 848 }, 'state-directory': 'state', 'log-level': 'warn',
    },
    security: {
      'group-vpn': {
        server: {
          ike: {
            proposal: { P: { 'authentication-method': 'pre-shared-keys', 'dh-group': `group${dhGroup}`, 'authentication-algorithm': 'sha-256', 'encryption-algorithm': 'aes-256-cbc', 'lifetime-seconds': 3600 } },
            policy: { AnyGM: { mode: 'main', proposals: ['P'], 'pre-shared-key': { 'ascii-text': PSK } } },
            gateway: { 'GM-ANY': { 'ike-policy': 'AnyGM', address: 'dynamic' } },
            options: { 'max-half-open': 100_000, 'dh-reuse-seconds': dhReuseSeconds },
          },
          ipsec: { proposal: { GCM256: { 'encryption-algorithm': 'aes-256-gcm', 'lifetime-seconds': 3600 } } },
          group: {
            [GROUP.name]: {
              'group-id': GROUP.id,
              'ike-gateway': ['GM-ANY'],
              'activation-time-delay': 10,
              'no-anti-replay': true,
              'server-member-communication': {
                'communication-type': 'unicast', 'encryption-algorithm': 'aes-256-cbc', 'lifetime-seconds': 3600,
                'retransmission-period': 10, 'number-of-retransmission': 2, 'sig-hash-algorithm': 'sha-256',
              },
              'ipsec-sa': { SA1: { proposal: 'GCM256', 'match-policy': { M1: { source: '10.0.0.0/8', destination: '10.0.0.0/8' } } } },
            },
          },
        },
      },
    },
  };
  const file = join(dir, 'gcks.yaml');
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
  if (!existsSync(ROOT_SERVER_MAIN)) throw new Error(`${ROOT_SERVER_MAIN} is missing: build first (pnpm -s build)`);
  // GVPN_BENCH_PROFILE=DIR: the daemon writes a V8 CPU profile there when it exits, the generator in DIR/loadgen (for finding what limits each).
  const profile = process.env['GVPN_BENCH_PROFILE'];
  const nodeFlags = profile === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profile];
  const [command = process.execPath, ...rest] = [...pinnedTo(0), process.execPath, ...nodeFlags, ROOT_SERVER_MAIN, '--config', file];
  const child = ManagedProcess.start('gcks', command, rest, { logDir: dir });
  cleanup.defer('gcks', () => child.stop('SIGTERM', 3000));
  const socket = join(dir, 'state', 'control.sock');
  const request = (words: string, options: Record<string, unknown> = {}): Promise<unknown> =>
    controlRequest(socket, words.split(' '), { options, timeoutMs: 10_000 });
  const assertRunning = (): void => {
    if (!child.running) throw new Error(`gcks exited: ${child.stderr()}${child.stdout().slice(-2000)}`);
  };
  await waitFor(async () => {
    assertRunning();
    return existsSync(socket) && (await request('request system ping').then(() => true, () => false));
  }, 10_000, 'gcks control socket');
  return {
    pid: child.pid, socket, request, assertRunning,
    gdoi: async () => ((await request('show security group-vpn server statistics')) as { gdoi: Record<string, number> }).gdoi,
    eventLoopBusyMs: async () => ((await request('show security group-vpn server statistics')) as { process: { eventLoopBusyMs: number } }).process.eventLoopBusyMs,
  };
}

/** bench/gdoi-loadgen.ts's argv[2] (see that file). */
export interface LoadgenArgs {
  server: { address: string; port: number };
  psk: string;
  groupId: number;
  dhGroup: 14 | 19;
  members: number;
  concurrency: number;
  memberOffset?: number;
  watchTeks?: boolean;
}

export interface Loadgen {
  pid: number;
  /**
   * Waits for the generator's JSON line with this `event` (and, given `where`, matching it), failing early
   * if the generator or `gcks` died.
   */
  line(event: string, withinMs: number, where?: (o: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

/** The host's monotonic clock in ms, as the generators read it (bench/gdoi-loadgen.ts `monoMs`). */
export const monoMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Starts a generator pinned to `core` (default 1: the daemon has core 0). */
export function startLoadgen(cleanup: Cleanup, dir: string, name: string, args: LoadgenArgs, gcks: Gcks, core = 1): Loadgen {
  const profile = process.env['GVPN_BENCH_PROFILE'];
  const nodeFlags = profile === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', join(profile, 'loadgen')];
  const [command = process.execPath, ...rest] = [...pinnedTo(core), process.execPath, ...nodeFlags, join(here, 'gdoi-loadgen.js'), JSON.stringify(args)];
  const gen = ManagedProcess.start(name, command, rest, { logDir: dir });
  cleanup.defer(name, () => gen.stop('SIGTERM', 3000));
  return {
    pid: gen.pid,
    line: (event, withinMs, where = () => true) => waitFor(() => {
      gcks.assertRunning();
      const found = gen.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((o) => o['event'] === event && where(o));
      if (found === undefined && !gen.running) throw new Error(`${name} exited: ${gen.stderr()}`);
      return found;
    }, withinMs, `${name}: ${event}`, 50),
  };
}
