/**
 * A cluster-update the sub's key server refuses is not acknowledged (R-MSG-5), not even on retransmission:
 * the sub-server's cluster layer (src/sub-cluster.ts) with its key server (key source `root`) and a real IKE
 * SA with a root, over an in-memory network with a manual clock. The root side is gdoi's cluster-init
 * responder and hand-sealed CLUSTER-UPDATEs, so a stale root (SEQ below the sub's) can be played exactly.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '@gvpn/crypto';
import { CLUSTER_UPDATE_ACK, GcksGroup, hex, tryHeader, type ClusterUpdate, type Tek } from '@gvpn/gdoi';
import { groupPolicy } from '@gvpn/key-server';
import { EXAMPLE_GROUP, exampleConfig, exampleGroup, sealed, subWithRoot, type SubWithRoot } from './sub-with-root.js';

const GROUP = EXAMPLE_GROUP;
const subConfig = await exampleConfig('sub1');
const rootConfig = await exampleConfig('root');
const groupConfig = exampleGroup(subConfig);
const groupId = groupConfig.groupId;

/** The root's group, its push SEQ at 3; the sub has completed cluster-init with it (update number 0). */
function lab(): SubWithRoot & { rootGroup: GcksGroup } {
  const rootGroup = new GcksGroup(groupPolicy(groupConfig, rootConfig.system.listen), seededRandom('root'));
  rootGroup.rekeyTeks();
  rootGroup.rekeyTeks();
  rootGroup.rekeyTeks();
  assert.equal(rootGroup.seq(), 3);
  return { ...subWithRoot({ subConfig, rootConfig, rootGroup }), rootGroup };
}
type Lab = ReturnType<typeof lab>;

const acks = (l: Lab): number => l.fromSub.filter((d) => tryHeader(d.bytes)?.exchangeType === CLUSTER_UPDATE_ACK).length;
const updateSeq = (l: Lab): number | undefined => l.cluster.exportState().find((s) => s.group === GROUP)?.state.updateSeq;
const teksHeld = (l: Lab): string[] => l.gcks.group(GROUP)?.gcks.teks.map((t) => hex(t.spi)) ?? [];
const freshTeks = (seed: string, group: GcksGroup): Tek[] => new GcksGroup(group.policy, seededRandom(seed), group.signing).teks;

describe('sub-server cluster-update install', () => {
  it('an update the key server refuses (SEQ not above its own) is not acknowledged, nor its retransmission; a good one then is', () => {
    const l = lab();
    assert.equal(updateSeq(l), 0, 'cluster-init done');
    assert.equal(l.gcks.group(GROUP)?.gcks.seq(), 3);
    const before = teksHeld(l);
    assert.deepEqual(before, l.rootGroup.teks.map((t) => hex(t.spi)));

    // A root that lost its state (or a stale standby) announces TEKs with SEQ 2, below the sub's 3.
    const stale: ClusterUpdate = {
      kind: 'update-keys', groupId, updateSeq: 1, lifetimes: [],
      keys: { teks: freshTeks('stale', l.rootGroup), seq: 2, activationDelaySeconds: 2, deactivationDelaySeconds: 30 },
    };
    const bytes = sealed(l, stale);
    l.toSub(bytes);
    assert.equal(acks(l), 0, 'not installed: no ACK');
    assert.equal(updateSeq(l), 0, 'update number unchanged');
    assert.deepEqual(teksHeld(l), before);
    l.toSub(bytes); // the root's retransmission: same bytes
    assert.equal(acks(l), 0, 'the retransmission is not taken for a duplicate of an installed update');
    assert.equal(updateSeq(l), 0);

    // The root caught up: the same update number with a SEQ above the sub's is installed and acknowledged.
    const teks = freshTeks('good', l.rootGroup);
    l.toSub(sealed(l, { ...stale, keys: { ...stale.keys, teks, seq: 4 } }));
    assert.equal(acks(l), 1);
    assert.equal(updateSeq(l), 1);
    assert.deepEqual(teksHeld(l), teks.map((t) => hex(t.spi)));
    assert.equal(l.gcks.group(GROUP)?.gcks.seq(), 4);
  });
});
