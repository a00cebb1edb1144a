import { renderTable } from './table.js';

/*
 * `show security group-vpn server ipsec security-associations [detail]`: the TEKs of each group, the
 * active ones and those replaced by a rekey and kept until their deactivation delay has passed.
 * Layout modelled on Junos (documented field names), not copied from any output.
 */

export interface ServerIpsecSa {
  group: string;
  groupId: number;
  ipsecSa: string;
  /** 8 lower-case hex digits. */
  spi: string;
  state: 'active' | 'deactivating';
  protocol: string;
  mode: string;
  algorithm: string;
  authentication: string | null;
  lifetimeSeconds: number;
  expiresInSeconds: number;
  source: string;
  destination: string;
  sourcePort: number;
  destinationPort: number;
  ipProtocol: number;
  antiReplayWindowSeconds: number | null;
  activationDelaySeconds: number;
  deactivationDelaySeconds: number;
  /** Only with `--show-keys`. */
  keys?: { encryptionKey: string; salt?: string; authenticationKey?: string };
}

export interface ServerIpsecSecurityAssociations {
  sas: ServerIpsecSa[];
}

export function renderServerIpsecSecurityAssociations(data: ServerIpsecSecurityAssociations, detail: boolean): string {
  if (data.sas.length === 0) return 'No IPsec security associations.\n';
  if (!detail) {
    return renderTable(
      ['Group', 'Group ID', 'SPI', 'State', 'Algorithm', 'Source', 'Destination', 'Lifetime'],
      data.sas.map((sa) => [sa.group, String(sa.groupId), sa.spi, sa.state, sa.algorithm, sa.source, sa.destination, String(sa.expiresInSeconds)]),
    );
  }
  return data.sas.map((sa) => [
    `Group VPN Name: ${sa.group}, Group ID: ${sa.groupId}, IPsec SA: ${sa.ipsecSa}`,
    `  SPI: ${sa.spi}, State: ${sa.state}, Protocol: ${sa.protocol.toUpperCase()}, Mode: ${sa.mode}`,
    `  Encryption: ${sa.algorithm}, Authentication: ${sa.authentication ?? 'none (AEAD)'}`,
    `  Match policy: source ${sa.source} port ${sa.sourcePort || 'any'}, destination ${sa.destination} port ${sa.destinationPort || 'any'}, protocol ${sa.ipProtocol || 'any'}`,
    `  Anti-replay time window: ${sa.antiReplayWindowSeconds === null ? 'none' : `${sa.antiReplayWindowSeconds} seconds`}`,
    `  Activation delay: ${sa.activationDelaySeconds} seconds, deactivation delay: ${sa.deactivationDelaySeconds} seconds`,
    `  Lifetime: Expires in ${sa.expiresInSeconds} seconds (of ${sa.lifetimeSeconds})`,
    ...(sa.keys === undefined ? [] : [
      `  Encryption key: ${sa.keys.encryptionKey}`,
      ...(sa.keys.salt === undefined ? [] : [`  Salt: ${sa.keys.salt}`]),
      ...(sa.keys.authenticationKey === undefined ? [] : [`  Authentication key: ${sa.keys.authenticationKey}`]),
    ]),
  ].join('\n') + '\n').join('\n');
}
