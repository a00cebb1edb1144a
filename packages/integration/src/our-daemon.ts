// Our own daemon (the root-server binary) as one side of an interoperability test: writes its
// configuration (docs/configuration.md), starts `node packages/root-server/dist/src/main.js --config FILE`
// inside a test namespace, and reads its status and counters over the control socket, the way the CLI does.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlRequest } from '@gvpn/runtime';
import type { NetworkNamespace } from './netns.js';
import { runCommand, startDaemon, waitFor, type ManagedProcess } from './process.js';

/** packages/integration/dist/src -> packages/root-server/dist/src/main.js */
export const ROOT_SERVER_MAIN = fileURLToPath(new URL('../../../root-server/dist/src/main.js', import.meta.url));

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

export interface OurGateway {
  name: string;
  address: string;
  /** the peer's UDP port; default 848 */
  port?: number;
  initiate?: boolean;
  phase1Doi?: 'gdoi' | 'ipsec';
  dpd?: { alwaysSend: boolean; interval: number; threshold: number };
}

export interface OurDaemonOptions {
  /** host name, file prefix and process name */
  name: string;
  workDir: string;
  namespace: NetworkNamespace;
  listen: { address: string; port: number };
  /** most preferred first */
  proposals: readonly OurProposal[];
  psk: string;
  gateways: readonly OurGateway[];
  allowLegacyGroups?: boolean;
  /** write `system.debug.ike-key-log` to `<workDir>/<name>.keys` */
  keyLog?: boolean;
  retransmitInitialMs?: number;
  retransmitTries?: number;
  logLevel?: string;
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

/**
 * The daemon configuration as JSON text, which is YAML 1.2 too; JSON quoting means no value can change
 * the structure. Paths are relative to the file's directory, as the daemon takes them.
 */
export function ourDaemonConfig(options: OurDaemonOptions): string {
  const proposalMap = Object.fromEntries(options.proposals.map((p) => [p.name, {
    'authentication-method': 'pre-shared-keys',
    'dh-group': p.dhGroup,
    'authentication-algorithm': p.hash,
    'encryption-algorithm': p.encryption,
    'lifetime-seconds': p.lifetimeSeconds ?? 3600,
  }]));
  const gatewayMap = Object.fromEntries(options.gateways.map((g) => [g.name, {
    'ike-policy': 'interop',
    address: g.address,
    port: g.port ?? 848,
    'local-address': options.listen.address,
    initiate: g.initiate ?? false,
    'phase1-doi': g.phase1Doi ?? 'gdoi',
    ...(g.dpd === undefined ? {} : {
      'dead-peer-detection': { 'always-send': g.dpd.alwaysSend, interval: g.dpd.interval, threshold: g.dpd.threshold },
    }),
  }]));
  const config = {
    system: {
      'host-name': options.name,
      platform: 'vsrx',
      listen: options.listen,
      'state-directory': `${options.name}-state`,
      'log-level': options.logLevel ?? 'debug',
      ...(options.keyLog === true ? { debug: { 'ike-key-log': `${options.name}.keys` } } : {}),
    },
    security: {
      'group-vpn': {
        server: {
          ike: {
            proposal: proposalMap,
            policy: {
              interop: {
                mode: 'main',
                proposals: options.proposals.map((p) => p.name),
                'pre-shared-key': { 'ascii-text': options.psk },
              },
            },
            gateway: gatewayMap,
            options: {
              'allow-legacy-groups': options.allowLegacyGroups ?? false,
              'retransmit-initial-ms': options.retransmitInitialMs ?? 500,
              'retransmit-tries': options.retransmitTries ?? 3,
            },
          },
        },
      },
    },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

export class OurDaemon {
  private constructor(
    readonly child: ManagedProcess,
    readonly configFile: string,
    readonly socketPath: string,
    readonly keyLogFile: string | undefined,
  ) {}

  /** Writes the configuration, starts the daemon in the namespace and waits until its control socket answers. */
  static async start(options: OurDaemonOptions): Promise<OurDaemon> {
    if (!existsSync(ROOT_SERVER_MAIN)) throw new Error(`${ROOT_SERVER_MAIN} is missing: build first (pnpm -s build)`);
    await mkdir(options.workDir, { recursive: true });
    const configFile = join(options.workDir, `${options.name}.yaml`);
    await writeFile(configFile, ourDaemonConfig(options));
    const child = startDaemon(options.name, ROOT_SERVER_MAIN, configFile, { logDir: options.workDir, namespace: options.namespace });
    const daemon = new OurDaemon(
      child,
      configFile,
      join(options.workDir, `${options.name}-state`, 'control.sock'),
      options.keyLog === true ? join(options.workDir, `${options.name}.keys`) : undefined,
    );
    await waitFor(
      async () => {
        if (!child.running) throw new Error(`${options.name} exited at start: ${child.stderr()}${child.stdout()}`);
        return existsSync(daemon.socketPath) && (await daemon.request(['request', 'system', 'ping']).then(() => true, () => false));
      },
      options.startWithinMs ?? 10_000,
      `${options.name} control socket`,
    );
    return daemon;
  }

  get pid(): number {
    return this.child.pid;
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

  async statistics(): Promise<Record<string, number>> {
    const data = (await this.request(['show', 'security', 'group-vpn', 'server', 'statistics'])) as { ike: Record<string, number> };
    return data.ike;
  }

  /** Waits for an SA in state UP (optionally matching more), failing early if the daemon died. */
  async waitForUpSa(withinMs: number, match: (sa: OurSa) => boolean = () => true): Promise<OurSa> {
    return waitFor(
      async () => {
        this.assertRunning();
        return (await this.sas()).find((sa) => sa.state === 'UP' && match(sa));
      },
      withinMs,
      'an UP IKE SA in our daemon',
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
    if (!this.child.running) throw new Error(`our daemon exited: ${this.child.stderr()}`);
  }

  async stop(): Promise<void> {
    await this.child.stop();
  }
}
