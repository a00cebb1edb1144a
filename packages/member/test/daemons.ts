/**
 * The root-server daemon as a real process for the member package's end-to-end tests: writes its
 * configuration (any tree docs/configuration.md accepts), starts `node packages/root-server/dist/src/main.js
 * --config FILE`, waits for its control socket, and queries it the way the CLI does.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagedProcess, ROOT_SERVER_MAIN, stopPid, waitFor } from '@gvpn/integration';
import { controlRequest } from '@gvpn/runtime';

/** What differs between the standalone key servers of the member tests. */
export interface StandaloneGcksOptions {
  /** host-name; the state directory is `<name>-state`. */
  name: string;
  address: string;
  psk: string;
  /** Every one is an authorised gateway (ike-gateway NAME upper-cased) of the group. */
  members: readonly { name: string; address: string }[];
  group: string;
  groupId: number;
  memberThreshold?: number;
  kekLifetimeSeconds: number;
  retransmissionPeriod: number;
  /** More `ipsec-sa`s of the group after the first (each its own TEK), with their match-policy prefixes. */
  moreIpsecSas?: readonly { name: string; source: string; destination: string }[];
}

/**
 * A standalone GCKS configuration tree (docs/configuration.md): PSK Main Mode with DH 19 / SHA-256 /
 * AES-256, one group with an AES-256/HMAC-SHA-256-128 TEK for 172.16.0.0/12, unicast rekeys signed with
 * SHA-256, short timers and debug logs.
 */
export function standaloneGcksConfig(o: StandaloneGcksOptions) {
  return {
    system: {
      'host-name': o.name, platform: 'vsrx', listen: { address: o.address, port: 848 }, 'state-directory': `${o.name}-state`,
      'log-level': 'debug', debug: { 'short-timers': true },
    },
    security: {
      'group-vpn': {
        server: {
          ike: {
            proposal: {
              'PSK-SHA256-DH19-AES256': {
                'authentication-method': 'pre-shared-keys', 'dh-group': 'group19', 'authentication-algorithm': 'sha-256',
                'encryption-algorithm': 'aes-256-cbc', 'lifetime-seconds': 3600,
              },
            },
            policy: { GMs: { mode: 'main', proposals: ['PSK-SHA256-DH19-AES256'], 'pre-shared-key': { 'ascii-text': o.psk } } },
            gateway: Object.fromEntries(o.members.map((m) => [m.name.toUpperCase(), { 'ike-policy': 'GMs', address: m.address }])),
          },
          ipsec: {
            proposal: { 'AES256-SHA256': { 'encryption-algorithm': 'aes-256-cbc', 'authentication-algorithm': 'hmac-sha-256-128', 'lifetime-seconds': 3600 } },
          },
          group: {
            [o.group]: {
              'group-id': o.groupId,
              ...(o.memberThreshold === undefined ? {} : { 'member-threshold': o.memberThreshold }),
              'ike-gateway': o.members.map((m) => m.name.toUpperCase()),
              'activation-time-delay': 1,
              'server-member-communication': {
                'communication-type': 'unicast', 'encryption-algorithm': 'aes-256-cbc', 'lifetime-seconds': o.kekLifetimeSeconds,
                'retransmission-period': o.retransmissionPeriod, 'number-of-retransmission': 1, 'sig-hash-algorithm': 'sha-256',
              },
              'ipsec-sa': {
                [o.group]: {
                  proposal: 'AES256-SHA256',
                  'match-policy': { POL1: { source: '172.16.0.0/12', destination: '172.16.0.0/12', 'source-port': 0, 'destination-port': 0, protocol: 0 } },
                },
                ...Object.fromEntries((o.moreIpsecSas ?? []).map((sa) => [sa.name, {
                  proposal: 'AES256-SHA256',
                  'match-policy': { POL1: { source: sa.source, destination: sa.destination, 'source-port': 0, 'destination-port': 0, protocol: 0 } },
                }])),
              },
            },
          },
        },
      },
    },
  };
}

export class RootServerDaemon {
  private constructor(readonly name: string, readonly child: ManagedProcess, readonly socketPath: string) {}

  /** `config.system['state-directory']` must be set; relative paths are taken from workDir. */
  static async start(name: string, config: { system: { 'state-directory': string } }, workDir: string): Promise<RootServerDaemon> {
    const file = join(workDir, `${name}.yaml`);
    await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
    const child = ManagedProcess.start(name, process.execPath, [ROOT_SERVER_MAIN, '--config', file], { logDir: workDir });
    const daemon = new RootServerDaemon(name, child, join(workDir, config.system['state-directory'], 'control.sock'));
    try {
      await waitFor(async () => {
        if (!child.running) throw new Error(`${name} exited at start: ${child.stderr()}${child.stdout()}`);
        return daemon.request(['request', 'system', 'ping']).then(() => true, () => false);
      }, 10_000, `${name} control socket`);
    } catch (error) {
      await daemon.stop();
      throw error;
    }
    return daemon;
  }

  request(words: string[], options: Record<string, unknown> = {}): Promise<unknown> {
    return controlRequest(this.socketPath, words, { options });
  }

  log(): string {
    return this.child.stdout();
  }

  async stop(): Promise<void> {
    if (this.child.running) await stopPid(this.child.pid);
    await this.child.exited;
  }
}
