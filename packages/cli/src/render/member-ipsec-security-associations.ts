import { renderTable } from './table.js';

/*
 * `show security group-vpn member ipsec security-associations [detail]`: the group TEKs the member's
 * data plane holds. Layout modelled on Junos (documented field names), not copied from any output.
 */

export interface MemberIpsecSa {
  group: string;
  groupId: number | null;
  /** 8 lower-case hex digits. */
  spi: string;
  algorithm: string;
  integrity: string | null;
  transform: string;
  state: 'active' | 'retiring';
  /** The SA the member sends under now. */
  outbound: boolean;
  server: string | null;
  source: string;
  destination: string;
  sourcePort: number;
  destinationPort: number;
  protocol: number;
  mode: string;
  lifetimeSeconds: number;
  activatesInSeconds: number | null;
  expiresInSeconds: number | null;
  encryptionKey?: string;
  integrityKey?: string | null;
  salt?: string | null;
}

export interface MemberIpsecSecurityAssociations {
  sas: MemberIpsecSa[];
}

export function renderMemberIpsecSecurityAssociations(data: MemberIpsecSecurityAssociations, detail: boolean): string {
  if (data.sas.length === 0) return 'No IPsec security associations.\n';
  if (!detail) {
    return renderTable(
      ['Group', 'SPI', 'Algorithm', 'State', 'Out', 'Lifetime', 'Source', 'Destination'],
      data.sas.map((sa) => [sa.group, sa.spi, `ESP:${sa.algorithm}${sa.integrity === null ? '' : `/${sa.integrity}`}`, sa.state,
        sa.outbound ? 'yes' : 'no', `${sa.expiresInSeconds ?? '-'}`, sa.source, sa.destination]),
    );
  }
  return data.sas.map((sa) => [
    `Group VPN Name: ${sa.group}, Group ID: ${sa.groupId ?? '-'}, Server: ${sa.server ?? '-'}`,
    `  SPI: ${sa.spi}, State: ${sa.state}${sa.outbound ? ', outbound' : ''}`,
    `  Protocol: ESP, Mode: ${sa.mode}, Encryption: ${sa.algorithm}, Integrity: ${sa.integrity ?? 'none (AEAD)'}`,
    // 0 is the wildcard, printed as the server's view and `member policy` print it
    `  Match: source ${sa.source} port ${sa.sourcePort || 'any'}, destination ${sa.destination} port ${sa.destinationPort || 'any'}, protocol ${sa.protocol || 'any'}`,
    `  Lifetime: Expires in ${sa.expiresInSeconds ?? '-'} seconds (of ${sa.lifetimeSeconds})${sa.activatesInSeconds ? `, activates in ${sa.activatesInSeconds} seconds` : ''}`,
    ...(sa.encryptionKey === undefined ? [] : [
      `  Encryption key: ${sa.encryptionKey}`,
      ...(sa.integrityKey ? [`  Integrity key: ${sa.integrityKey}`] : []),
      ...(sa.salt ? [`  Salt: ${sa.salt}`] : []),
    ]),
  ].join('\n') + '\n').join('\n');
}
