/**
 * The pure part of R-CHG-1.3a/1.3b and 'group-added' (live-config.ts): which groups a commit ends or adds,
 * and which gateways' IKE SAs go with an ended group. The daemons' part is live-config-groups.test.ts
 * (packages/integration).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigChange, ServerGroupConfig } from '@gvpn/runtime';
import { addedGroups, endedGroups, gatewaysToClear, serverRefusal } from '../src/live-config.js';

function group(name: string, memberGateways: string[], peers: string[] = []): ServerGroupConfig {
  return {
    name, memberGateways: memberGateways.map((g) => ({ name: g })),
    serverCluster: peers.length === 0 ? null : { peers: peers.map((p) => ({ name: p })) },
  } as unknown as ServerGroupConfig;
}

const changes: ConfigChange[] = [
  { cell: '1.3a', group: 'A', kind: 'deleted', detail: 'group A: deleted' },
  { cell: '1.3b', group: 'B', kind: 'changed', detail: 'group B: group-id 2 -> 3' },
  { cell: 'group-added', group: 'C', kind: 'added', detail: 'group C: added (group-id 4)' },
];

describe('R-CHG group cells (live-config.ts)', () => {
  it('lists the groups that end (renumbered or not) and those added; every role applies them live', () => {
    assert.deepEqual(endedGroups(changes), [{ group: 'A', renumbered: false }, { group: 'B', renumbered: true }]);
    assert.deepEqual(addedGroups(changes), ['C']);
    assert.equal(serverRefusal(changes, 'root'), undefined);
    assert.equal(serverRefusal(changes, 'sub'), undefined);
  });

  it('clears the gateways of ended groups except those a remaining group uses, as member gateway or cluster peer', () => {
    const next = [group('B', ['GM-1', 'GM-2'], ['Sub1']), group('C', ['GM-3'], ['Sub2'])];
    // A (deleted) used GM-1, GM-3, Sub2, GM-9; B (renumbered) counts as ended: its own gateways go too.
    const cleared = gatewaysToClear(['GM-1', 'GM-3', 'Sub2', 'GM-9', 'GM-9'], next, new Set(['A', 'B']));
    assert.deepEqual(cleared, ['GM-1', 'GM-9']);
    assert.deepEqual(gatewaysToClear([], next, new Set(['A'])), []);
  });
});
