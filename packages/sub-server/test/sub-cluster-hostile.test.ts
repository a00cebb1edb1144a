/**
 * What a sub-server does with cluster messages that are stale, out of line or malformed, from its root:
 * the sub's cluster layer (src/sub-cluster.ts) with its key server (key source `root`) and a real IKE SA
 * with a root, over an in-memory network with a manual clock (sub-with-root.ts). The root's cluster-init
 * answers come from gdoi's responder over a snapshot the test can change; CLUSTER-UPDATEs are hand-sealed.
 * - A TEK delete whose SEQ is below the sub's is refused (R-MSG-5: no ACK) without touching the TEKs.
 * - A cluster-init answer without a KEK is ignored and cluster-init goes on (R-MSG-3): no wedge.
 * - A cluster-init answer overtaken by a cluster-update the root sent after it is not installed over that
 *   update's keys.
 * - Damaged CLUSTER-UPDATEs, and authentic ones with hostile content (another group, a short TEK key, a TEK
 *   SPI 0 or one SPI twice), are counted drops: nothing thrown, no ACK, keys and update number unchanged.
 * - A root that stops (its IKE SA deleted by a Delete notification, DPD has nothing left to probe) and cannot
 *   be negotiated with again is inactive at the sub: no new registrations (R-TOPO-4, R-DPD-4). One that
 *   comes back at once with other keys is asked by cluster-init on the new SA.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Secret, seededRandom } from '@gvpn/crypto';
import {
  CLUSTER_INIT, CLUSTER_UPDATE_ACK, GcksGroup, hex, openCluster, sealCluster, tryHeader, type ClusterInitResponderConfig, type GroupSnapshot,
} from '@gvpn/gdoi';
import { groupPolicy } from '@gvpn/key-server';
import { EXAMPLE_GROUP, exampleConfig, exampleGroup, sealed, subWithRoot, type SubWithRoot } from './sub-with-root.js';

const GROUP = EXAMPLE_GROUP;
const subConfig = await exampleConfig('sub1');
const rootConfig = await exampleConfig('root');
const groupConfig = exampleGroup(subConfig);
const groupId = groupConfig.groupId;

/**
 * The root's group as its cluster-init responder sees it; `answer: 'no-kek'` plays a root answering without
 * a KEK, `'silent'` one that does not answer (the test answers by hand).
 */
interface RootView { group: GcksGroup; answer: 'normal' | 'no-kek' | 'silent' }

/** The root's group (push SEQ 3); the sub has completed cluster-init with it (update number 0). */
function lab(responder?: Pick<ClusterInitResponderConfig, 'remainingSeconds'>): SubWithRoot & { root: RootView } {
  const group = new GcksGroup(groupPolicy(groupConfig, rootConfig.system.listen), seededRandom('root'));
  for (let i = 0; i < 3; i++) group.rekeyTeks();
  const root: RootView = { group, answer: 'normal' };
  const snapshot: GroupSnapshot = {
    get policy() { return root.group.policy; },
    get kek() { return root.answer === 'normal' ? root.group.kek : undefined; },
    get teks() { return root.answer === 'silent' ? [] : root.group.teks; },
    seq: () => root.group.seq(),
  };
  return { ...subWithRoot({ subConfig, rootConfig, rootGroup: snapshot as GcksGroup, ...(responder === undefined ? {} : { responder }) }), root };
}
type Lab = ReturnType<typeof lab>;

const count = (l: Lab, exchange: number): number => l.fromSub.filter((d) => tryHeader(d.bytes)?.exchangeType === exchange).length;
const updateSeq = (l: Lab): number | undefined => l.cluster.exportState().find((s) => s.group === GROUP)?.state.updateSeq;
const teksHeld = (l: Lab): string[] => l.gcks.group(GROUP)?.gcks.teks.map((t) => hex(t.spi)) ?? [];
const cluster = (l: Lab): Record<string, number> => (l.cluster.statisticsSections?.() as { cluster: Record<string, number> }).cluster;

describe('sub-server: stale, out-of-line and malformed cluster messages', () => {
  it('a TEK delete with a SEQ below the sub\'s is refused (no ACK) and deletes nothing; the same delete with the next SEQ is taken', () => {
    const l = lab();
    const before = teksHeld(l);
    const [victim] = l.root.group.teks;
    assert.ok(victim !== undefined);
    const stale = sealed(l, { kind: 'update-delete-sas', groupId, updateSeq: 1, seq: 2, teks: [victim.spi], kek: false, all: false });
    l.toSub(stale);
    assert.equal(count(l, CLUSTER_UPDATE_ACK), 0, 'not acknowledged');
    assert.equal(updateSeq(l), 0, 'update number unchanged');
    assert.deepEqual(teksHeld(l), before, 'the TEK is still held: a refused update changes nothing');
    l.toSub(stale); // the root's retransmission
    assert.equal(count(l, CLUSTER_UPDATE_ACK), 0);
    assert.deepEqual(teksHeld(l), before);

    l.toSub(sealed(l, { kind: 'update-delete-sas', groupId, updateSeq: 1, seq: 4, teks: [victim.spi], kek: false, all: false }));
    assert.equal(count(l, CLUSTER_UPDATE_ACK), 1);
    assert.equal(updateSeq(l), 1);
    assert.deepEqual(teksHeld(l), before.filter((s) => s !== hex(victim.spi)));
  });

  it('a cluster-init answer without a KEK is ignored and cluster-init goes on every 5 s until a good answer (R-MSG-3)', () => {
    const l = lab();
    // A gap in the update numbers: cluster-init (R-MSG-2); the root answers without a KEK.
    l.root.answer = 'no-kek';
    const inits = count(l, CLUSTER_INIT);
    l.toSub(sealed(l, { kind: 'update-delete-members', groupId, updateSeq: 3, all: true, members: [] }));
    assert.equal(count(l, CLUSTER_INIT), inits + 1, 'cluster-init after the gap');
    assert.equal(updateSeq(l), 0, 'the KEK-less answer is not taken');
    l.run(5_000);
    assert.equal(count(l, CLUSTER_INIT), inits + 2, 'asked again 5 s later');
    // The root answers properly now: the sub takes it.
    l.root.answer = 'normal';
    l.root.group.rekeyTeks();
    l.run(5_000);
    assert.deepEqual(teksHeld(l), l.root.group.teks.map((t) => hex(t.spi)), 'the good answer installed');
    const sent = count(l, CLUSTER_INIT);
    l.run(20_000);
    assert.equal(count(l, CLUSTER_INIT), sent, 'and cluster-init stopped');
  });

  it('damaged or truncated CLUSTER-UPDATEs are counted drops: nothing thrown, no ACK, keys unchanged', () => {
    const l = lab();
    const before = teksHeld(l);
    const good = sealed(l, {
      kind: 'update-keys', groupId, updateSeq: 1, lifetimes: [],
      keys: { teks: new GcksGroup(l.root.group.policy, seededRandom('next'), l.root.group.signing).teks, seq: 4, activationDelaySeconds: 2, deactivationDelaySeconds: 30 },
    });
    const random = seededRandom('damage');
    const dropped = cluster(l).clusterMessagesDropped ?? 0;
    let sent = 0;
    for (let i = 0; i < 300; i++) {
      const bytes = Uint8Array.from(good);
      const r = random.bytes(4);
      const at = 28 + ((r[0] as number) << 8 | (r[1] as number)) % (bytes.length - 28);
      if (i % 3 === 0) bytes[at] = (bytes[at] as number) ^ (1 + ((r[2] as number) % 255)); // one byte flipped after the header
      const cut = i % 3 === 1 ? bytes.subarray(0, at) : bytes; // truncated (the header's length left as is)
      if (i % 3 === 2) new DataView(bytes.buffer).setUint32(24, at); // the header's length says less
      assert.doesNotThrow(() => l.toSub(cut), `datagram ${i}`);
      sent++;
    }
    assert.equal(count(l, CLUSTER_UPDATE_ACK), 0, 'nothing acknowledged');
    assert.equal(updateSeq(l), 0);
    assert.deepEqual(teksHeld(l), before);
    assert.ok((cluster(l).clusterMessagesDropped ?? 0) > dropped, `drops counted (${sent} sent)`);
    l.toSub(good);
    assert.equal(count(l, CLUSTER_UPDATE_ACK), 1, 'the intact update is still taken');
  });

  it('a root that stopped (IKE SA deleted by the root, no new one negotiable) is inactive: no new registrations (R-DPD-4), no deletes', () => {
    const l = lab();
    const rootState = (): string => (l.cluster.handlers?.['show security group-vpn server server-cluster']?.({}) as { groups: { root: string }[] }).groups[0]?.root ?? '';
    assert.equal(rootState(), 'active');
    const held = teksHeld(l);
    l.rootStops();
    l.run(80_000); // the IKE negotiation with the root times out (~66 s); the TEK (120 s from the init) is still valid
    assert.equal(rootState(), 'inactive');
    assert.equal(l.cluster.accepting(groupId), false, 'no new registrations');
    assert.deepEqual(teksHeld(l), held, 'keys kept (R-DPD-4)');
  });

  it('a root that stopped and came back at once with other keys (its state file lost): the sub asks by cluster-init on the new SA and takes them', () => {
    const l = lab();
    const rootState = (): string => (l.cluster.handlers?.['show security group-vpn server server-cluster']?.({}) as { groups: { root: string }[] }).groups[0]?.root ?? '';
    const inits = count(l, CLUSTER_INIT);
    l.rootStops();
    l.root.group = new GcksGroup(l.root.group.policy, seededRandom('root after a lost state'));
    l.rootStarts();
    assert.equal(rootState(), 'active', 'a deleted SA alone is no outage');
    l.run(10_000);
    assert.ok(count(l, CLUSTER_INIT) > inits, 'cluster-init on the new SA');
    assert.equal(rootState(), 'active');
    assert.deepEqual(teksHeld(l), l.root.group.teks.map((t) => hex(t.spi)), 'the restarted root\'s keys');
  });

  it('a cluster-init answer overtaken by a later cluster-update (datagrams reordered) does not put the older keys back', () => {
    // The KEK has 70 s left at the cluster-init: past its soft lifetime 10 s later (10 % of 600 s), so the sub
    // asks again and holds its pushes (R-MSG-6) while the TEK rekey below is installed.
    const l = lab({ remainingSeconds: (_id, spi) => (spi.length === 16 ? 70 : undefined) });
    l.root.answer = 'silent';
    const inits = count(l, CLUSTER_INIT);
    l.run(11_000);
    const requests = l.fromSub.filter((d) => tryHeader(d.bytes)?.exchangeType === CLUSTER_INIT);
    const request = requests.at(-1);
    assert.ok(requests.length > inits && request !== undefined, 'cluster-init after the KEK\'s soft expiry');
    // The root answers with what it holds (update 0, TEKs T0), then publishes a TEK rekey (update 1, T1);
    // the update overtakes the answer.
    const sa = l.rootSa();
    const header = tryHeader(request.bytes);
    assert.ok(header !== undefined);
    const asked = openCluster(sa, request.bytes, header, sa.phase2Iv(header.messageId));
    assert.ok(asked.ok && asked.message.kind === 'init-request');
    const old = l.root.group;
    const answer = sealCluster(sa, {
      kind: 'init-response', groupId, updateSeq: 0, lifetimes: [{ spi: old.kek.spi, remainingSeconds: 59 }],
      keys: { kek: old.kek, teks: [...old.teks], seq: old.seq(), activationDelaySeconds: 2, deactivationDelaySeconds: 30 },
    }, header.messageId, asked.nextIv, [asked.message.nonce]).bytes;
    const t1 = new GcksGroup(old.policy, seededRandom('t1'), old.signing).teks;
    l.toSub(sealed(l, { kind: 'update-keys', groupId, updateSeq: 1, lifetimes: [], keys: { teks: t1, seq: old.seq() + 1, activationDelaySeconds: 2, deactivationDelaySeconds: 30 } }));
    assert.equal(count(l, CLUSTER_UPDATE_ACK), 1, 'update 1 installed');
    assert.deepEqual(teksHeld(l), t1.map((t) => hex(t.spi)));
    assert.equal(count(l, CLUSTER_INIT), requests.length + 1, 'asked again: the answer to the new request holds update 1');
    const dropped = cluster(l).clusterMessagesDropped ?? 0;
    l.toSub(answer); // the late answer
    assert.equal(cluster(l).clusterMessagesDropped, dropped + 1, 'counted as a drop');
    assert.deepEqual(teksHeld(l), t1.map((t) => hex(t.spi)), 'the TEKs of update 1 stay');
    assert.equal(l.gcks.group(GROUP)?.gcks.seq(), old.seq() + 1, 'SEQ not taken back');
    assert.equal(updateSeq(l), 1, 'update number not taken back');
  });

  it('hostile content from the root: another group, a short TEK key, a TEK SPI 0, one SPI twice: dropped and counted, nothing installed, no ACK', () => {
    const l = lab();
    const before = teksHeld(l);
    const [tek] = new GcksGroup(l.root.group.policy, seededRandom('hostile'), l.root.group.signing).teks;
    assert.ok(tek !== undefined);
    const keys = (teks: typeof tek[]) => ({ teks, seq: 4, activationDelaySeconds: 2, deactivationDelaySeconds: 30 });
    const cases: [string, Uint8Array][] = [
      ['another group', sealed(l, { kind: 'update-keys', groupId: groupId + 1, updateSeq: 1, lifetimes: [], keys: keys([tek]) })],
      ['short TEK key', sealed(l, { kind: 'update-keys', groupId, updateSeq: 1, lifetimes: [], keys: keys([{ ...tek, encKey: Secret.copyOf(tek.encKey.reveal().subarray(1)) }]) })],
      ['TEK SPI 0', sealed(l, { kind: 'update-keys', groupId, updateSeq: 1, lifetimes: [], keys: keys([{ ...tek, spi: new Uint8Array(4) }]) })],
      ['one SPI twice', sealed(l, { kind: 'update-keys', groupId, updateSeq: 1, lifetimes: [], keys: keys([tek, tek]) })],
    ];
    for (const [what, bytes] of cases) {
      const dropped = cluster(l).clusterMessagesDropped ?? 0;
      assert.doesNotThrow(() => l.toSub(bytes), what);
      assert.equal(count(l, CLUSTER_UPDATE_ACK), 0, `${what}: no ACK`);
      assert.equal(updateSeq(l), 0, `${what}: update number unchanged`);
      assert.deepEqual(teksHeld(l), before, `${what}: keys unchanged`);
      assert.equal(cluster(l).clusterMessagesDropped, dropped + 1, `${what}: counted`);
    }
  });
});
