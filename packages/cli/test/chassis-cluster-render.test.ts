import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderChassisClusterFailover, renderChassisClusterStatus, type ChassisClusterStatus } from '../src/render/chassis-cluster.js';

const STATUS: ChassisClusterStatus = {
  redundancyGroup: 0, epoch: 3, failovers: 2, stateVersion: 41, controlLink: 'up',
  nodes: [
    { name: 'node0', role: 'secondary', priority: 200, healthy: true, self: false },
    { name: 'node1', role: 'primary', priority: 100, healthy: true, self: true },
  ],
};

describe('chassis cluster renderers', () => {
  it('status: one row per node, the answering node marked', () => {
    assert.equal(renderChassisClusterStatus(STATUS), [
      'Redundancy group: 0 , Failover count: 2',
      'Epoch: 3, State version: 41, Control link: up',
      '  Node               Priority  Status     Health',
      '  node0              200       secondary  healthy',
      '  node1 (this node)  100       primary    healthy',
      '',
    ].join('\n'));
  });

  it('a lost peer shows as lost', () => {
    const lost = { ...STATUS, controlLink: 'down' as const, nodes: [{ ...STATUS.nodes[0]!, healthy: false }, STATUS.nodes[1]!] };
    assert.match(renderChassisClusterStatus(lost), /node0 {14}200 {7}secondary {2}lost/);
  });

  it('failover: done or why not', () => {
    assert.equal(renderChassisClusterFailover({ done: true, primary: 'node0' }), 'Initiated manual failover: node0 becomes primary of redundancy group 0\n');
    assert.equal(renderChassisClusterFailover({ done: false, reason: 'node1 is already primary' }), 'No failover: node1 is already primary\n');
  });
});
