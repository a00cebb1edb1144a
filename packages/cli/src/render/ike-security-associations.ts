import type { Endpoint, IkeSecurityAssociation, IkeSecurityAssociations } from '../data.js';
import { renderTable } from './table.js';

/*
 * Layouts modelled on Junos `show security ike security-associations [detail]` (field names from its
 * documented output fields), not copied from any Juniper output. A field the daemon sends as `null` (no
 * proposal chosen yet, no DPD probes configured) prints as `-`.
 */

export function renderIkeSecurityAssociations(data: IkeSecurityAssociations, detail: boolean): string {
  if (data.sas.length === 0) return 'No IKE security associations.\n';
  if (detail) return data.sas.map(renderDetail).join('\n');
  return renderTable(
    ['Index', 'State', 'Initiator cookie', 'Responder cookie', 'Mode', 'Remote Address'],
    data.sas.map((sa) => [String(sa.index), sa.state, sa.icookie, sa.rcookie, EXCHANGE_NAMES[sa.exchangeType], sa.remote.address]),
  );
}

function renderDetail(sa: IkeSecurityAssociation): string {
  const { dpd } = sa;
  return [
    `IKE peer ${sa.remote.address}, Index ${sa.index}, Gateway Name: ${sa.gateway}`,
    `  Role: ${capitalize(sa.role)}, State: ${sa.state}`,
    `  Initiator cookie: ${sa.icookie}, Responder cookie: ${sa.rcookie}`,
    `  Exchange type: ${EXCHANGE_NAMES[sa.exchangeType]}, Authentication method: ${capitalize(sa.authMethod)}`,
    `  Local: ${endpoint(sa.local)}, Remote: ${endpoint(sa.remote)}`,
    `  Lifetime: ${sa.expiresInSeconds == null ? '-' : `Expires in ${sa.expiresInSeconds} seconds`} (of ${sa.lifetimeSeconds ?? '-'})`,
    '  Algorithms:',
    `   Authentication        : ${sa.hash == null ? '-' : HASH_NAMES[sa.hash] ?? sa.hash}`,
    `   Encryption            : ${sa.encryption ?? '-'}`,
    `   Diffie-Hellman group  : ${sa.dhGroup == null ? '-' : `group${sa.dhGroup}`}`,
    '  Dead peer detection:',
    `   Peer supports DPD: ${dpd.peerSupportsDpd ? 'yes' : 'no'}, Interval: ${dpd.interval == null ? '-' : `${dpd.interval} seconds`}, Threshold: ${dpd.threshold ?? '-'}`,
    `   Sequence sent: ${dpd.sentSeq}, Last acknowledged: ${dpd.lastAckSeq ?? 'none'}, Outstanding probes: ${dpd.outstanding}`,
  ].join('\n') + '\n';
}

const EXCHANGE_NAMES: Record<IkeSecurityAssociation['exchangeType'], string> = { main: 'Main' };
/** The configuration's spelling (docs/configuration.md), so operators see what they wrote. */
const HASH_NAMES: Record<string, string> = { sha1: 'sha1', sha256: 'sha-256', sha384: 'sha-384', sha512: 'sha-512' };

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function endpoint({ address, port }: Endpoint): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
