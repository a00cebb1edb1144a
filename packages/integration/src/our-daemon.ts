// Our own daemons (root-server, sub-server) as real processes for tests and benchmarks: the one place that
// writes their configuration (docs/configuration.md) and starts `node packages/<program>/dist/src/main.js
// --config FILE`, on the host or inside a test namespace; then reads status and counters over the control
// socket, the way the CLI does.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlRequest } from '@gvpn/runtime';
import type { NetworkNamespace } from './netns.js';
import { ManagedProcess, runCommand, waitFor } from './process.js';

/** packages/integration/dist/src -> packages/root-server/dist/src/main.js */
export const ROOT_SERVER_MAIN = fileURLToPath(new URL('../../../root-server/dist/src/main.js', import.meta.url));

/** packages/integration/dist/src -> packages/sub-server/dist/src/main.js */
export const SUB_SERVER_MAIN = fileURLToPath(new URL('../../../sub-server/dist/src/main.js', import.meta.url));

/** packages/integration/dist/src -> packages/cli/dist/src/main.js (the `gvpn` command) */
export const CLI_MAIN = fileURLToPath(new URL('../../../cli/dist/src/main.js', import.meta.url));

export interface OurProposal {
  name: string;
  /** group2 group5 group14 group15 group19 group20 group21 group24 */
  dhGroup: string;
  /** sha1 sha-256 sha-384 sha-512 */
  hash: string;
  /** aes-128-cbc aes-192-cbc aes-256-cbc */
  encryption: string;
  lifetimeSeconds?: number;
}

/** PSK, SHA-256, AES-256-CBC with the given DH group, e.g. aes256Sha256(14) = AES256-SHA256-DH14. */
export function aes256Sha256(dhGroup: number): OurProposal {
  return { name: `AES256-SHA256-DH${dhGroup}`, dhGroup: `group${dhGroup}`, hash: 'sha-256', encryption: 'aes-256-cbc' };
}

export interface OurGateway {
  name: string;
  address: string;
  /** the peer's UDP port; default 848 */
  port?: number;
  initiate?: boolean;
  phase1Doi?: 'gdoi' | 'ipsec';
  dpd?: { alwaysSend: boolean; interval: number; threshold: number };
}

/** What goes into one daemon's configuration file. */
export interface OurDaemonConfig {
  /** host name, file prefix (`<name>.yaml`, `<name>-state/`, `<name>.keys`) and process name */
  name: string;
  listen: { address: string; port: number };
  /** most preferred first; default [aes256Sha256(14)] */
  proposals?: readonly OurProposal[];
  psk: string;
  gateways: readonly OurGateway[];
  allowLegacyGroups?: boolean;
  /** write `system.debug.ike-key-log` to `<name>.keys` */
  keyLog?: boolean;
  /** short test timers by default (500 ms, 3 tries); they only matter to a gateway with `initiate` */
  retransmitInitialMs?: number;
  retransmitTries?: number;
  /** default 'debug' */
  logLevel?: string;
}

export interface OurDaemonOptions extends OurDaemonConfig {
  /** holds the configuration, state directory, key log and the process's stdout/stderr files */
  workDir: string;
  /** run inside this namespace (its destroy() stops the daemon too); default the host */
  namespace?: NetworkNamespace;
  /** default 'root-server' */
  program?: 'root-server' | 'sub-server';
  /** command words put before `node`, e.g. ['taskset', '-c', '0'] (they must exec it, so the PID stays) */
  wrapper?: readonly string[];
  /** how long to wait for the control socket; default 10000 ms */
  startWithinMs?: number;
}

/** A phase-1 SA as `show security group-vpn server ike security-associations` reports it. */
export interface OurSa {
  index: number;
  gateway: string;
  role: 'initiator' | 'responder';
  state: 'UP' | 'DOWN' | 'NEGOTIATING';
  icookie: string;
  rcookie: string;
  local: { address: string; port: number };
  remote: { address: string; port: number };
  encryption: string;
  hash: string;
  dhGroup: number;
  lifetimeSeconds: number;
  dpd: { interval: number; threshold: number; sentSeq: number; lastAckSeq: number | null; outstanding: number; peerSupportsDpd: boolean };
}

/** `show security group-vpn server statistics`: the IKE endpoint's and the UDP transport's counters. */
export interface OurStatistics {
  ike: Record<string, number>;
  transport: Record<string, number>;
}

/**
 * The daemon configuration as JSON text, which is YAML 1.2 too; JSON quoting means no value can change
 * the structure. Paths are relative to the file's directory, as the daemon takes them.
 */
export function ourDaemonConfig(config: OurDaemonConfig): string {
  const proposals = config.proposals ?? [aes256Sha256(14)];
  const proposalMap = Object.fromEntries(proposals.map((p) => [p.name, {
    'authentication-method': 'pre-shared-keys',
    'dh-group': p.dhGroup,
    'authentication-algorithm': p.hash,
    'encryption-algorithm': p.encryption,
    'lifetime-seconds': p.lifetimeSeconds ?? 3600,
  }]));
  const gatewayMap = Object.fromEntries(config.gateways.map((g) => [g.name, {
    'ike-policy': 'test',
    address: g.address,
    port: g.port ?? 848,
    'local-address': config.listen.address,
    initiate: g.initiate ?? false,
    'phase1-doi': g.phase1Doi ?? 'gdoi',
    ...(g.dpd === undefined ? {} : {
      'dead-peer-detection': { 'always-send': g.dpd.alwaysSend, interval: g.dpd.interval, threshold: g.dpd.threshold },
    }),
  }]));
  const tree = {
    system: {
      'host-name': config.name,
      platform: 'vsrx',
      listen: config.listen,
      'state-directory': `${config.name}-state`,
      'log-level': config.logLevel ?? 'debug',
      ...(config.keyLog === true ? { debug: { 'ike-key-log': `${config.name}.keys` } } : {}),
    },
    security: {
      'group-vpn': {
        server: {
          ike: {
            proposal: proposalMap,
            policy: {
              test: {
                mode: 'main',
                proposals: proposals.map((p) => p.name),
                'pre-shared-key': { 'ascii-text': config.psk },
              },
            },
            gateway: gatewayMap,
            options: {
              'allow-legacy-groups': config.allowLegacyGroups ?? false,
              'retransmit-initial-ms': config.retransmitInitialMs ?? 500,
              'retransmit-tries': config.retransmitTries ?? 3,
            },
          },
        },
      },
    },
  };
  return `${JSON.stringify(tree, null, 2)}\n`;
}

export class OurDaemon {
  private constructor(
    readonly child: ManagedProcess,
    readonly configFile: string,
    readonly socketPath: string,
    readonly keyLogFile: string | undefined,
  ) {}

  /**
   * Writes the configuration, starts the daemon and waits until its control socket answers. If it does
   * not, the process is stopped before the error is thrown, so a caller never holds an unowned daemon.
   */
  static async start(options: OurDaemonOptions): Promise<OurDaemon> {
    const entry = options.program === 'sub-server' ? SUB_SERVER_MAIN : ROOT_SERVER_MAIN;
    if (!existsSync(entry)) throw new Error(`${entry} is missing: build first (pnpm -s build)`);
    await mkdir(options.workDir, { recursive: true });
    const configFile = join(options.workDir, `${options.name}.yaml`);
    await writeFile(configFile, ourDaemonConfig(options));
    const [command = process.execPath, ...args] = [...(options.wrapper ?? []), process.execPath, entry, '--config', configFile];
    const startOptions = { logDir: options.workDir };
    const child = options.namespace === undefined
      ? ManagedProcess.start(options.name, command, args, startOptions)
      : options.namespace.spawn(options.name, command, args, startOptions);
    const daemon = new OurDaemon(
      child,
      configFile,
      join(options.workDir, `${options.name}-state`, 'control.sock'),
      options.keyLog === true ? join(options.workDir, `${options.name}.keys`) : undefined,
    );
    try {
      await waitFor(
        async () => {
          if (!child.running) throw new Error(`${options.name} exited at start: ${child.stderr()}${child.stdout()}`);
          return existsSync(daemon.socketPath) && (await daemon.request(['request', 'system', 'ping']).then(() => true, () => false));
        },
        options.startWithinMs ?? 10_000,
        `${options.name} control socket`,
      );
    } catch (error) {
      await daemon.stop();
      throw error;
    }
    return daemon;
  }

  get pid(): number {
    return this.child.pid;
  }

  get name(): string {
    return this.child.name;
  }

  request(words: string[], requestOptions: Record<string, unknown> = {}): Promise<unknown> {
    return controlRequest(this.socketPath, words, { options: requestOptions, timeoutMs: 5000 });
  }

  /** Runs the `gvpn` CLI against this daemon with `--json` and parses what it prints. */
  async cli(words: string[]): Promise<unknown> {
    const { stdout } = await runCommand(process.execPath, [CLI_MAIN, '--socket', this.socketPath, '--json', ...words]);
    return JSON.parse(stdout);
  }

  async sas(): Promise<OurSa[]> {
    const data = (await this.request(['show', 'security', 'group-vpn', 'server', 'ike', 'security-associations'], { detail: true })) as { sas: OurSa[] };
    return data.sas;
  }

  /** The IKE counters (see packages/ike/src/statistics.ts). */
  async statistics(): Promise<Record<string, number>> {
    return (await this.allStatistics()).ike;
  }

  /** The IKE and transport counters, read at the same moment. */
  async allStatistics(): Promise<OurStatistics> {
    return (await this.request(['show', 'security', 'group-vpn', 'server', 'statistics'])) as OurStatistics;
  }

  /** Waits for an SA in state UP (optionally matching more), failing early if the daemon died. */
  async waitForUpSa(withinMs: number, match: (sa: OurSa) => boolean = () => true): Promise<OurSa> {
    return waitFor(
      async () => {
        this.assertRunning();
        return (await this.sas()).find((sa) => sa.state === 'UP' && match(sa));
      },
      withinMs,
      `an UP IKE SA in ${this.name}`,
      50,
    );
  }

  /** Waits until `condition` holds on the daemon's IKE counters; resolves to the counters. */
  async waitForCounters(condition: (c: Record<string, number>) => boolean, withinMs: number, what: string): Promise<Record<string, number>> {
    return waitFor(
      async () => {
        this.assertRunning();
        const counters = await this.statistics();
        return condition(counters) && counters;
      },
      withinMs,
      what,
      50,
    );
  }

  /** The daemon's pino JSON lines. */
  async logLines(): Promise<Record<string, unknown>[]> {
    const text = await readFile(this.child.stdoutPath, 'utf8');
    return text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  assertRunning(): void {
    if (!this.child.running) throw new Error(`${this.name} exited: ${this.child.stderr()}`);
  }

  /** SIGTERM (SIGKILL after `graceMs`); a daemon a test froze with SIGSTOP is continued first. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.child.running) process.kill(this.pid, 'SIGCONT');
    await this.child.stop('SIGTERM', graceMs);
  }
}
