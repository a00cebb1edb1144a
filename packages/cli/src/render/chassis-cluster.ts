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
  const rows = data.nodes.map((n) => [`${n.name}${n.self ? ' (this node)' : ''}`, String(n.priority), n.role, n.healthy ? 'healthy' : 'lost']);
  return [
    `Redundancy group: ${data.redundancyGroup} , Failover count: ${data.failovers}`,
    `Epoch: ${data.epoch}, State version: ${data.stateVersion}, Control link: ${data.controlLink}`,
  ].join('\n') + '\n' + renderTable(['Node', 'Priority', 'Status', 'Health'], rows);
}

export function renderChassisClusterFailover(data: ChassisClusterFailover): string {
  return data.done ? `Initiated manual failover: ${data.primary ?? '?'} becomes primary of redundancy group 0\n` : `No failover: ${data.reason ?? 'nothing to do'}\n`;
}
