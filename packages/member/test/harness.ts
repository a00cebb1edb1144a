/**
 * Member daemons as real processes for tests: writes a member configuration (docs/configuration.md,
 * `security.group-vpn.member`), starts `node packages/member/dist/src/main.js --config FILE`, and queries
 * it over its control socket the way the CLI does.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedProcess, stopPid, waitFor } from '@gvpn/integration';
import type { GroupPolicy } from '@gvpn/gdoi';
import { controlRequest } from '@gvpn/runtime';

/** packages/member/dist/test -> packages/member/dist/src/main.js */
export const MEMBER_MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));

/** The member tests' group 7: AES-GCM-256 TEK for 172.16.0.0/12, pushed by unicast from `server`. */
export function testGroupPolicy(server: string, deactivationDelaySeconds: number): GroupPolicy {
  return {
    groupId: 7,
    kek: {
      cipher: 'aes-256-cbc', lifetimeSeconds: 3600, sigHash: 'sha256', rsaBits: 2048, ackRequested: true,
      pushSource: { address: server, port: 848 }, pushDestination: { address: '0.0.0.0', port: 848 },
    },
    teks: [{
      name: 'GROUP7', cipher: 'aes-gcm-256', protocol: 0,
      source: { prefix: '172.16.0.0/12', port: 0 }, destination: { prefix: '172.16.0.0/12', port: 0 }, lifetimeSeconds: 3600,
    }],
    activationDelaySeconds: 1, deactivationDelaySeconds,
  };
}

export interface MemberSpec {
  name: string;
  address: string;
  platform?: string;
  /** Key server addresses, tried in order. */
  servers: string[];
  serverPort?: number;
  psk: string;
  groupId: number;
  registrationTimeoutSeconds?: number;
  memberId: number;
  dataPort?: number;
  probeIntervalMs?: number;
  peers: { name: string; memberId: number; address: string; port?: number }[];
  /**
   * More vpns (groups) after `GROUP1-VPN`: each through a gateway of its own when `servers` is given, else
   * through the first vpn's gateway (the same key server).
   */
  moreVpns?: readonly { name: string; groupId: number; servers?: string[] }[];
}

export function memberConfig(spec: MemberSpec): string {
  const tree = {
    system: {
      'host-name': spec.name,
      platform: spec.platform ?? 'vsrx',
      listen: { address: spec.address, port: 848 },
      'state-directory': `${spec.name}-state`,
      'log-level': 'debug',
    },
    security: {
      'group-vpn': {
        member: {
          ike: {
            proposal: {
              'PSK-SHA256-DH19-AES256': {
                'authentication-method': 'pre-shared-keys', 'dh-group': 'group19', 'authentication-algorithm': 'sha-256',
                'encryption-algorithm': 'aes-256-cbc', 'lifetime-seconds': 3600,
              },
            },
            policy: { GMs: { mode: 'main', proposals: ['PSK-SHA256-DH19-AES256'], 'pre-shared-key': { 'ascii-text': spec.psk } } },
            gateway: {
              'GW-GROUP1': {
                'ike-policy': 'GMs', 'server-address': spec.servers, port: spec.serverPort ?? 848, 'local-address': spec.address,
              },
              ...Object.fromEntries((spec.moreVpns ?? []).filter((v) => v.servers !== undefined).map((v) => [`GW-${v.name}`, {
                'ike-policy': 'GMs', 'server-address': v.servers, port: spec.serverPort ?? 848, 'local-address': spec.address,
              }])),
            },
            options: { 'retransmit-initial-ms': 250, 'retransmit-tries': 2 },
          },
          ipsec: {
            vpn: {
              'GROUP1-VPN': {
                'ike-gateway': 'GW-GROUP1', group: spec.groupId,
                'registration-timeout-seconds': spec.registrationTimeoutSeconds ?? 1,
              },
              ...Object.fromEntries((spec.moreVpns ?? []).map((v) => [v.name, {
                'ike-gateway': v.servers === undefined ? 'GW-GROUP1' : `GW-${v.name}`, group: v.groupId,
                'registration-timeout-seconds': spec.registrationTimeoutSeconds ?? 1,
              }])),
            },
          },
          'data-plane': {
            'listen-port': spec.dataPort ?? 4500,
            'member-id': spec.memberId,
            probe: {
              'interval-ms': spec.probeIntervalMs ?? 50,
              peers: Object.fromEntries(spec.peers.map((p) => [p.name, { 'member-id': p.memberId, address: p.address, ...(p.port === undefined ? {} : { port: p.port }) }])),
            },
          },
        },
      },
    },
  };
  return `${JSON.stringify(tree, null, 2)}\n`;
}

export interface KekSa { group: string; groupId: number; spi: string; server: string; algorithm: string; seq: number; expiresInSeconds: number; key?: string }
export interface IpsecSa { group: string; spi: string; algorithm: string; state: 'active' | 'retiring'; outbound: boolean; encryptionKey?: string; integrityKey?: string | null; salt?: string | null }
export interface MemberStatistics {
  probe: { sent: number; received: number; authFailures: number; noSa: number; sendFailures: number; gaps: number; duplicates: number; invalid: number };
  esp: Record<string, number>;
  push: Record<string, number>;
  registration: Record<string, number>;
  probePeers: { name: string; memberId: number; sent: number; sendFailures: number; received: number; highest: number }[];
}

export class MemberDaemon {
  private constructor(readonly spec: MemberSpec, readonly child: ManagedProcess, readonly socketPath: string) {}

  /** `env`: added to this process's environment (e.g. GVPN_STATE_KEY). */
  static async start(spec: MemberSpec, workDir: string, env: Record<string, string> = {}): Promise<MemberDaemon> {
    const file = join(workDir, `${spec.name}.yaml`);
    await writeFile(file, memberConfig(spec));
    const child = ManagedProcess.start(spec.name, process.execPath, [MEMBER_MAIN, '--config', file], { logDir: workDir, env: { ...process.env, ...env } });
    const daemon = new MemberDaemon(spec, child, join(workDir, `${spec.name}-state`, 'control.sock'));
    await waitFor(async () => {
      if (!child.running) throw new Error(`${spec.name} exited at start: ${child.stderr()}${child.stdout()}`);
      return daemon.request(['request', 'system', 'ping']).then(() => true, () => false);
    }, 10_000, `${spec.name} control socket`);
    return daemon;
  }

  request(words: string[], options: Record<string, unknown> = {}): Promise<unknown> {
    return controlRequest(this.socketPath, words, { options });
  }

  async kek(): Promise<{ sas: KekSa[]; registrations: { registered: boolean; server: string | null }[] }> {
    return await this.request(['show', 'security', 'group-vpn', 'member', 'kek', 'security-associations'], { showKeys: true }) as never;
  }

  async ipsec(): Promise<{ sas: IpsecSa[] }> {
    return await this.request(['show', 'security', 'group-vpn', 'member', 'ipsec', 'security-associations'], { showKeys: true }) as never;
  }

  async statistics(): Promise<MemberStatistics> {
    return await this.request(['show', 'security', 'group-vpn', 'member', 'ipsec', 'statistics']) as never;
  }

  log(): string {
    return this.child.stdout();
  }

  async stop(): Promise<void> {
    if (!this.child.running) return;
    await stopPid(this.child.pid);
    await this.child.exited;
  }
}
