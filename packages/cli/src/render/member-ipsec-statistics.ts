import { renderStatistics } from './statistics.js';
import { renderTable } from './table.js';

/* `show security group-vpn member ipsec statistics`: data plane, probe, push and registration counters. */

export interface MemberIpsecStatistics {
  probe: Record<string, number>;
  esp: Record<string, number>;
  push: Record<string, number>;
  registration: Record<string, number>;
  probePeers: { name: string; memberId: number; address: string; port: number; sent: number; sendFailures: number; received: number; highest: number }[];
}

export function renderMemberIpsecStatistics(data: MemberIpsecStatistics): string {
  const { probePeers, ...sections } = data;
  const counters = renderStatistics({ probe: sections.probe, esp: sections.esp, push: sections.push, registration: sections.registration })
    .replace(/^Esp statistics:/m, 'ESP statistics:');
  if (probePeers.length === 0) return counters;
  return `${counters}\nProbe peers:\n${renderTable(
    ['Peer', 'Member ID', 'Address', 'Sent', 'Send failures', 'Received', 'Highest seq'],
    probePeers.map((p) => [p.name, String(p.memberId), `${p.address}:${p.port}`, String(p.sent), String(p.sendFailures), String(p.received), String(p.highest)]),
  )}`;
}
