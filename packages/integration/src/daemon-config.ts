// Writes daemon configuration files (docs/configuration.md) for tests and benchmarks. JSON is valid
// YAML, so the file is the JSON of the documented tree.
import { writeFile } from 'node:fs/promises';

export interface GatewaySpec {
  name: string;
  address: string;
  port?: number;
  initiate?: boolean;
  doi?: 'ipsec' | 'gdoi';
  dpd?: { interval: number; threshold: number };
}

export interface DaemonConfigSpec {
  hostName: string;
  listen: { address: string; port: number };
  /** absolute, or relative to the config file */
  stateDirectory: string;
  psk: string;
  gateways: GatewaySpec[];
  dhGroup?: 14 | 19;
  lifetimeSeconds?: number;
  ikeKeyLog?: string;
  logLevel?: string;
  options?: Record<string, number | boolean>;
}

export function daemonConfig(spec: DaemonConfigSpec): object {
  const group = spec.dhGroup ?? 14;
  const proposal = `PSK-SHA256-DH${group}-AES256`;
  const gateway: Record<string, object> = {};
  for (const g of spec.gateways) {
    gateway[g.name] = {
      'ike-policy': 'P',
      address: g.address,
      ...(g.port !== undefined ? { port: g.port } : {}),
      'local-address': spec.listen.address,
      ...(g.initiate === true ? { initiate: true } : {}),
      ...(g.doi !== undefined ? { 'phase1-doi': g.doi } : {}),
      ...(g.dpd !== undefined ? { 'dead-peer-detection': { 'always-send': true, interval: g.dpd.interval, threshold: g.dpd.threshold } } : {}),
    };
  }
  return {
    system: {
      'host-name': spec.hostName,
      platform: 'vsrx',
      listen: spec.listen,
      'state-directory': spec.stateDirectory,
      'log-level': spec.logLevel ?? 'info',
      ...(spec.ikeKeyLog !== undefined ? { debug: { 'ike-key-log': spec.ikeKeyLog } } : {}),
    },
    security: {
      'group-vpn': {
        server: {
          ike: {
            proposal: {
              [proposal]: {
                'authentication-method': 'pre-shared-keys',
                'dh-group': `group${group}`,
                'authentication-algorithm': 'sha-256',
                'encryption-algorithm': 'aes-256-cbc',
                'lifetime-seconds': spec.lifetimeSeconds ?? 3600,
              },
            },
            policy: { P: { mode: 'main', proposals: [proposal], 'pre-shared-key': { 'ascii-text': spec.psk } } },
            gateway,
            ...(spec.options !== undefined ? { options: spec.options } : {}),
          },
        },
      },
    },
  };
}

export async function writeDaemonConfig(file: string, spec: DaemonConfigSpec): Promise<void> {
  await writeFile(file, `${JSON.stringify(daemonConfig(spec), null, 2)}\n`);
}
