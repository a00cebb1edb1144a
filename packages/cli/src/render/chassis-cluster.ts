/**
 * `show chassis cluster status` and `request chassis cluster failover redundancy-group 0 node N` of the root
 * pair (docs/root-pair.md), in the shape of the Junos commands they are modelled on.
 */
import { renderTable } from './table.js';

export interface ChassisClusterNode {
  name: string;
  role: 'primary' | 'secondary';
  priority: number;
  healthy: boolean;
  /** The node that answered. */
  self: boolean;
  /** Its software version; null for a peer not heard yet, or one that does not say it. */
  software: string | null;
}

export interface ChassisClusterStatus {
  redundancyGroup: number;
  epoch: number;
  failovers: number;
  stateVersion: number;
  controlLink: 'up' | 'down';
  nodes: ChassisClusterNode[];
}

export interface ChassisClusterFailover {
  done: boolean;
  primary?: string;
  reason?: string;
}

export function renderChassisClusterStatus(data: ChassisClusterStatus): string {
  const rows = data.nodes.map((n) => [`${n.name}${n.self ? ' (this node)' : ''}`, String(n.priority), n.role, n.healthy ? 'healthy' : 'lost', n.software ?? '-']);
  const versions = new Set(data.nodes.map((n) => n.software ?? 'unknown'));
  const warning = versions.size > 1 && data.nodes.every((n) => n.software !== null)
    ? 'Warning: the nodes run different software versions; run the same on both (no in-service upgrade)\n'
    : '';
  return [
    `Redundancy group: ${data.redundancyGroup} , Failover count: ${data.failovers}`,
    `Epoch: ${data.epoch}, State version: ${data.stateVersion}, Control link: ${data.controlLink}`,
  ].join('\n') + '\n' + renderTable(['Node', 'Priority', 'Status', 'Health', 'Software'], rows) + warning;
}

export function renderChassisClusterFailover(data: ChassisClusterFailover): string {
  return data.done ? `Initiated manual failover: ${data.primary ?? '?'} becomes primary of redundancy group 0\n` : `No failover: ${data.reason ?? 'nothing to do'}\n`;
}
