import { renderTable } from './table.js';

/*
 * `show security group-vpn server registered-members`: the members registered with this server, per group
 * (R-REG-7: only its own). Layout modelled on Junos (documented field names), not copied from any output.
 */

export interface ServerRegisteredMember {
  address: string;
  port: number;
  gateway: string;
  /** ISO 8601 time of the (last) registration. */
  registeredAt: string;
  lastAckedSeq: number | null;
  pendingSeq: number | null;
  pushesSent: number;
  retransmissions: number;
  icookie: string;
  rcookie: string;
}

export interface ServerRegisteredMembers {
  totalMembers: number;
  platformMaxMembers: number;
  groups: { name: string; groupId: number; memberThreshold: number | null; memberCount: number; members: ServerRegisteredMember[] }[];
}

export function renderServerRegisteredMembers(data: ServerRegisteredMembers): string {
  const head = `Registered members: ${data.totalMembers} (platform maximum ${data.platformMaxMembers})\n`;
  if (data.groups.length === 0) return `${head}No groups.\n`;
  return head + data.groups.map((g) => {
    const title = `\nGroup: ${g.name}, Group ID: ${g.groupId}, Members: ${g.memberCount}${g.memberThreshold === null ? '' : ` (threshold ${g.memberThreshold})`}\n`;
    if (g.members.length === 0) return title;
    return title + renderTable(
      ['Member', 'Gateway', 'Registered', 'Last ACKed seq', 'Pending seq'],
      g.members.map((m) => [m.address, m.gateway, m.registeredAt, m.lastAckedSeq === null ? '-' : String(m.lastAckedSeq), m.pendingSeq === null ? '-' : String(m.pendingSeq)]),
    );
  }).join('');
}
