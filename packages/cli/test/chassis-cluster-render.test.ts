import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderChassisClusterFailover, renderChassisClusterStatus, type ChassisClusterStatus } from '../src/render/chassis-cluster.js';

const STATUS: ChassisClusterStatus = {
  redundancyGroup: 0, epoch: 3, failovers: 2, stateVersion: 41, controlLink: 'up',
  nodes: [
    { name: 'node0', role: 'secondary', priority: 200, healthy: true, self: false, software: '0.1.0' },
    { name: 'node1', role: 'primary', priority: 100, healthy: true, self: true, software: '0.1.0' },
  ],
};

describe('chassis cluster renderers', () => {
  it('status: one row per node, the answering node marked', () => {
    assert.equal(renderChassisClusterStatus(STATUS), [
      'Redundancy group: 0 , Failover count: 2',
      'Epoch: 3, State version: 41, Control link: up',
      '  Node               Priority  Status     Health   Software',
      '  node0              200       secondary  healthy  0.1.0',
      '  node1 (this node)  100       primary    healthy  0.1.0',
      '',
    ].join('\n'));
  });

  it('a lost peer shows as lost', () => {
    const lost = { ...STATUS, controlLink: 'down' as const, nodes: [{ ...STATUS.nodes[0]!, healthy: false }, STATUS.nodes[1]!] };
    assert.match(renderChassisClusterStatus(lost), /node0 {14}200 {7}secondary {2}lost/);
  });

  it('nodes on different software versions: a warning under the table; a peer not heard yet shows -', () => {
    const other = { ...STATUS, nodes: [{ ...STATUS.nodes[0]!, software: '0.2.0' }, STATUS.nodes[1]!] };
    assert.match(renderChassisClusterStatus(other), /node0 .* 0\.2\.0\n.*0\.1\.0\nWarning: the nodes run different software versions; run the same on both \(no in-service upgrade\)\n$/);
    const unheard = { ...STATUS, nodes: [{ ...STATUS.nodes[0]!, healthy: false, software: null }, STATUS.nodes[1]!] };
    const text = renderChassisClusterStatus(unheard);
    assert.match(text, /node0 .* lost {5}-\n/);
    assert.doesNotMatch(text, /Warning/);
  });

  it('failover: done or why not', () => {
    assert.equal(renderChassisClusterFailover({ done: true, primary: 'node0' }), 'Initiated manual failover: node0 becomes primary of redundancy group 0\n');
    assert.equal(renderChassisClusterFailover({ done: false, reason: 'node1 is already primary' }), 'No failover: node1 is already primary\n');
  });
});
