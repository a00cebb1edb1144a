import { renderTable } from './table.js';

/* `show security group-vpn member policy` (SRX/vSRX members): the group policy the member enforces. */

export interface MemberPolicy {
  policies: { group: string; groupId: number; action: string; source: string; destination: string; sourcePort: number; destinationPort: number; protocol: number; spis: string[] }[];
}

export function renderMemberPolicy(data: MemberPolicy): string {
  if (data.policies.length === 0) return 'No group policies.\n';
  const any = (n: number): string => (n === 0 ? 'any' : String(n));
  return renderTable(
    ['Group', 'Source', 'Destination', 'Protocol', 'Ports', 'Action', 'SPIs'],
    data.policies.map((p) => [p.group, p.source, p.destination, any(p.protocol), `${any(p.sourcePort)}/${any(p.destinationPort)}`, p.action, p.spis.join(',')]),
  );
}
