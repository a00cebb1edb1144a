import { renderTable } from './table.js';

/*
 * `show security group-vpn member kek security-associations [detail]`. Layout modelled on the Junos
 * member KEK display (field vocabulary from its documented output fields), not copied from any output.
 */

export interface MemberKekSa {
  group: string;
  groupId: number;
  /** 32 lower-case hex digits: the KEK SPI (the cookies of the PUSH headers). */
  spi: string;
  server: string;
  serverPort: number;
  gateway: string;
  algorithm: string;
  signatureHash: string;
  signatureKeyBits: number;
  ackRequested: boolean;
  seq: number;
  lifetimeSeconds: number;
  expiresInSeconds: number | null;
  registeredSecondsAgo: number | null;
  key?: string;
  iv?: string;
}

export interface MemberKekSecurityAssociations {
  sas: MemberKekSa[];
  registrations: { group: string; groupId: number; registered: boolean; server: string | null; attempt: string | null; trying: string | null }[];
}

export function renderMemberKekSecurityAssociations(data: MemberKekSecurityAssociations, detail: boolean): string {
  // A group the member is registered in without a KEK (the server sends none when the group has no
  // server-member-communication) would otherwise vanish from the text while --json says `registered: true`.
  const withKek = new Set(data.sas.map((sa) => sa.group));
  const pending = data.registrations
    .filter((r) => !r.registered || !withKek.has(r.group))
    .map((r) => (r.registered
      ? `Group ${r.group} (ID ${r.groupId}): registered with ${r.server ?? '-'}, no KEK (no server-member-communication)\n`
      : `Group ${r.group} (ID ${r.groupId}): not registered${r.trying === null ? '' : `, trying ${r.trying}`}${r.attempt === null ? '' : ` (${r.attempt})`}\n`))
    .join('');
  if (data.sas.length === 0) return `${pending}No KEK security associations.\n`;
  if (!detail) {
    return pending + renderTable(
      ['Group', 'Group ID', 'Server', 'SPI', 'Algorithm', 'Seq', 'Lifetime'],
      data.sas.map((sa) => [sa.group, String(sa.groupId), sa.server, sa.spi, sa.algorithm, String(sa.seq), `${sa.expiresInSeconds ?? '-'}`]),
    );
  }
  return pending + data.sas.map((sa) => [
    `Group VPN Name: ${sa.group}, Group ID: ${sa.groupId}`,
    `  Server: ${sa.server}:${sa.serverPort}, Gateway: ${sa.gateway}`,
    `  KEK SPI: ${sa.spi}`,
    `  Encryption: ${sa.algorithm}, Signature: rsa-${sa.signatureKeyBits} ${sa.signatureHash}, ACK requested: ${sa.ackRequested ? 'yes' : 'no'}`,
    `  Sequence number: ${sa.seq}`,
    `  Lifetime: Expires in ${sa.expiresInSeconds ?? '-'} seconds (of ${sa.lifetimeSeconds}), registered ${sa.registeredSecondsAgo ?? '-'} seconds ago`,
    ...(sa.key === undefined ? [] : [`  Key: ${sa.key}`, `  IV: ${sa.iv ?? ''}`]),
  ].join('\n') + '\n').join('\n');
}
