/**
 * The cluster state machines (R-MSG-2/5/6/7/8, R-DPD-4) as pure transitions with a manual clock, and the
 * CLUSTER-INFO / message codec's strictness.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '@gvpn/crypto';
import { PayloadType } from '@gvpn/wire';
import {
  CLUSTER_INFO_NOTIFY, CLUSTER_UPDATE, ClusterKind, GcksGroup, RootClusterState, SubClusterState, clusterChain, clusterMessageFrom,
  clusterPayloads, decodeClusterInfo, encodeClusterInfo, generateTek, hex, keysFromWire,
} from '../src/index.js';
import type { ClusterKeys, ClusterMessage, ClusterUpdate, SubAction, Tek, TekPolicy } from '../src/index.js';
import { policy, signingKey } from './harness.js';
import { decodePayloads } from '@gvpn/wire';
import { GROUPKEY_PUSH } from '../src/index.js';

const random = seededRandom('cluster-state');

function group(kekLife = 1000, tekLife = 100): GcksGroup {
  const p = policy();
  return new GcksGroup({ ...p, kek: { ...p.kek, lifetimeSeconds: kekLife }, teks: p.teks.map((t) => ({ ...t, lifetimeSeconds: tekLife })) }, random, signingKey());
}

function keysOf(g: GcksGroup): ClusterKeys {
  return { kek: g.kek, teks: [...g.teks], seq: g.seq(), activationDelaySeconds: 15, deactivationDelaySeconds: 30 };
}

function types(actions: SubAction[]): string[] {
  return actions.map((a) => a.type);
}

/** A sub initialised at `now` with the group's keys and full lifetimes. */
function initialisedSub(g: GcksGroup, now = 0): SubClusterState {
  const s = new SubClusterState(1);
  assert.deepEqual(types(s.initSucceeded({ updateSeq: 0, keys: keysOf(g), lifetimes: [] }, now)), ['stop-cluster-init']);
  return s;
}

function tekUpdate(teks: Tek[], updateSeq: number): ClusterUpdate {
  return { kind: 'update-keys', groupId: 1, updateSeq, keys: { teks, seq: updateSeq }, lifetimes: [] };
}

describe('SubClusterState (R-MSG-2, R-MSG-6, R-MSG-7, R-DPD-4)', () => {
  it('starts with the root inactive and cluster-init wanted; answers no registrations, pushes nothing (R-MSG-1/2a)', () => {
    const s = new SubClusterState(1);
    assert.equal(s.root, 'inactive');
    assert.equal(s.initWanted, true);
    assert.equal(s.answersRegistrations(), false);
    assert.equal(s.mayPush(), false);
    assert.equal(s.nextDeadline(), undefined);
    const g = group();
    assert.deepEqual(types(s.initSucceeded({ updateSeq: 7, keys: keysOf(g), lifetimes: [] }, 1000)), ['stop-cluster-init']);
    assert.equal(s.root, 'active');
    assert.equal(s.updateSeq, 7);
    assert.equal(s.answersRegistrations(), true);
    assert.equal(s.mayPush(), true);
  });

  it('R-MSG-6: soft expiry without an update -> cluster-init, no pushes until the new SA arrives', () => {
    const g = group(1000, 100);
    const s = initialisedSub(g);
    // Soft at 90 % of the TEK's 100 s.
    assert.equal(s.nextDeadline(), 90_000);
    assert.deepEqual(s.poll(89_999), []);
    assert.equal(s.mayPush(), true);
    assert.deepEqual(types(s.poll(90_000)), ['start-cluster-init']);
    assert.equal(s.initWanted, true);
    assert.equal(s.pushesHeld, true);
    assert.equal(s.mayPush(), false);
    assert.equal(s.root, 'active', 'the root stays active');
    assert.equal(s.answersRegistrations(), true, 'keys still valid until hard expiry');
    assert.deepEqual(s.poll(91_000), [], 'no second start');
    // A cluster-init answer with the same (old) TEKs does not lift it: keep asking.
    assert.deepEqual(s.initSucceeded({ updateSeq: 0, keys: keysOf(g), lifetimes: g.teks.map((t) => ({ spi: t.spi, remainingSeconds: 5 })) }, 95_000), []);
    assert.equal(s.initWanted, true);
    assert.equal(s.mayPush(), false);
    // The update with the new TEKs arrives: pushes resume with it, cluster-init stops.
    g.rekeyTeks();
    const actions = s.updateInstalled(tekUpdate([...g.teks], 1), 96_000);
    assert.deepEqual(types(actions), ['push-rekey', 'stop-cluster-init']);
    assert.equal(s.initWanted, false);
    assert.equal(s.mayPush(), true);
    assert.equal(s.nextDeadline(), 96_000 + 90_000);
  });

  it('R-MSG-7: hard expiry without an update -> root inactive, all members deleted, cluster-init continues', () => {
    const g = group(1000, 100);
    const s = initialisedSub(g);
    s.poll(90_000);
    assert.equal(s.nextDeadline(), 100_000);
    const actions = s.poll(100_000);
    assert.deepEqual(actions, [
      { type: 'root-inactive', groupId: 1, reason: 'hard-expiry' },
      { type: 'delete-local-members', groupId: 1, all: true, members: [] },
    ]);
    assert.equal(s.root, 'inactive');
    assert.equal(s.initWanted, true, 'cluster-init keeps running (it was already wanted since soft expiry)');
    assert.equal(s.answersRegistrations(), false);
    assert.equal(s.mayPush(), false);
    assert.equal(s.sas.size, 1, 'only the KEK is left');
    // A successful cluster-init with fresh SAs makes the root active again.
    g.rekeyTeks();
    assert.deepEqual(types(s.initSucceeded({ updateSeq: 3, keys: keysOf(g), lifetimes: [] }, 101_000)), ['stop-cluster-init']);
    assert.equal(s.root, 'active');
    assert.equal(s.answersRegistrations(), true);
  });

  it('hard expiry straight away (no soft step first) also starts cluster-init', () => {
    const g = group(1000, 100);
    const s = initialisedSub(g);
    assert.deepEqual(types(s.poll(100_000)), ['root-inactive', 'delete-local-members', 'start-cluster-init']);
  });

  it('remaining lifetimes from the root set the expiries (soft = hard - 10 % of the total)', () => {
    const g = group(1000, 100);
    const s = new SubClusterState(1);
    const tek = g.teks[0] as Tek;
    s.initSucceeded({ updateSeq: 0, keys: keysOf(g), lifetimes: [{ spi: tek.spi, remainingSeconds: 50 }] }, 10_000);
    const t = s.sas.get(hex(tek.spi));
    assert.equal(t?.hardAt, 60_000);
    assert.equal(t?.softAt, 50_000);
    // A TEK with 5 s left is already past soft: pushes held and cluster-init kept wanted.
    const s2 = new SubClusterState(1);
    assert.deepEqual(s2.initSucceeded({ updateSeq: 0, keys: keysOf(g), lifetimes: [{ spi: tek.spi, remainingSeconds: 5 }] }, 0), []);
    assert.equal(s2.mayPush(), false);
    assert.equal(s2.initWanted, true);
  });

  it('R-DPD-3/4: the root declared dead -> inactive, no registrations, member SAs kept (no deletes), cluster-init', () => {
    const g = group();
    const s = initialisedSub(g);
    const actions = s.rootDead(5000);
    assert.deepEqual(actions, [{ type: 'root-inactive', groupId: 1, reason: 'dpd' }, { type: 'start-cluster-init' }]);
    assert.ok(!actions.some((a) => a.type === 'delete-local-members' || a.type === 'push-delete'));
    assert.equal(s.answersRegistrations(), false);
    assert.equal(s.sas.size, 3, 'SAs kept');
    // A delete arriving while the root is inactive (impossible from the root, but) pushes nothing.
    assert.deepEqual(types(s.updateInstalled({ kind: 'update-delete-sas', groupId: 1, updateSeq: 1, teks: [(g.teks[0] as Tek).spi], kek: false, all: false }, 6000)), []);
  });

  it('R-MSG-8 / R-MSG-2c/2d: delete-SA pushes a delete; all SAs deleted -> cluster-init; delete-members; config change', () => {
    const g = group();
    const s = initialisedSub(g);
    const [t1, t2] = g.teks as [Tek, Tek];
    assert.deepEqual(s.updateInstalled({ kind: 'update-delete-sas', groupId: 1, updateSeq: 1, teks: [t1.spi], kek: false, all: false }, 1),
      [{ type: 'push-delete', groupId: 1, teks: [t1.spi], all: false }]);
    assert.equal(s.initWanted, false);
    assert.deepEqual(s.updateInstalled({ kind: 'update-delete-members', groupId: 1, updateSeq: 2, all: true, members: [] }, 2),
      [{ type: 'delete-local-members', groupId: 1, all: true, members: [] }]);
    assert.deepEqual(types(s.updateInstalled({ kind: 'update-delete-sas', groupId: 1, updateSeq: 3, teks: [], kek: true, all: true }, 3)),
      ['push-delete', 'start-cluster-init']);
    assert.equal(s.sas.size, 0);
    assert.equal(s.answersRegistrations(), false);
    assert.equal(s.updateSeq, 3);
    assert.ok(t2);
    // R-CHG-1.4c: the KEK alone is deleted -> its delete is pushed, its lifetime no longer watched, the TEKs stay.
    const s3 = initialisedSub(g);
    assert.deepEqual(types(s3.updateInstalled({ kind: 'update-delete-sas', groupId: 1, updateSeq: 1, seq: 3, teks: [], kek: true, all: false }, 1)), ['push-delete']);
    assert.deepEqual([...s3.sas.values()].map((x) => x.kind), ['tek', 'tek']);
    assert.equal(s3.answersRegistrations(), true);
    const s2 = initialisedSub(g);
    assert.deepEqual(types(s2.configChanged(1)), ['start-cluster-init']);
    assert.deepEqual(types(s2.updateGap(2)), [], 'already wanted');
  });
});

describe('RootClusterState (R-MSG-5)', () => {
  it('inactive until cluster-init; queues only while active; DPD down drops the queue; ACK pops the head only', () => {
    const r = new RootClusterState('sub1');
    const u = (n: number): ClusterUpdate => ({ kind: 'update-delete-members', groupId: 1, updateSeq: n, all: true, members: [] });
    assert.equal(r.enqueue(u(1), 0), false);
    r.markActive(1);
    assert.equal(r.enqueue(u(1), 2), true);
    assert.equal(r.enqueue(u(2), 2), true);
    assert.equal(r.acked(1, 2, 3), false, 'not the head');
    assert.equal(r.acked(2, 1, 3), false, 'other group');
    assert.equal(r.acked(1, 1, 3), true);
    assert.equal(r.head()?.update.updateSeq, 2);
    r.markInactive(4);
    assert.equal(r.queue.length, 0);
    assert.equal(r.enqueue(u(3), 5), false);
  });
});

describe('cluster codec', () => {
  it('CLUSTER-INFO round trip, strict on every truncation, reserved bytes and trailing bytes', () => {
    const info = { kind: ClusterKind.InitResponse, flags: 0, updateSeq: 0xfffffffe, lifetimes: [{ spi: Uint8Array.of(1, 2, 3, 4), remainingSeconds: 77 }, { spi: new Uint8Array(16).fill(9), remainingSeconds: 3600 }] };
    const bytes = encodeClusterInfo(info);
    assert.equal(hex(bytes), `02000002fffffffe` + `04000000` + `0000004d` + `01020304` + `10000000` + `00000e10` + '09'.repeat(16));
    assert.deepEqual(decodeClusterInfo(bytes), info);
    for (let n = 0; n < bytes.length; n++) assert.throws(() => decodeClusterInfo(bytes.subarray(0, n)), { name: 'WireError' }, `truncated at ${n}`);
    assert.throws(() => decodeClusterInfo(Uint8Array.from([...bytes, 0])), { name: 'WireError', code: 'TRAILING_BYTES' });
    const reserved = Uint8Array.from(bytes);
    reserved[9] = 1;
    assert.throws(() => decodeClusterInfo(reserved), { name: 'WireError', code: 'RESERVED_NOT_ZERO' });
  });

  it('every message kind survives encode -> decode with its keys, signing key included', () => {
    const g = group();
    const extra = generateTek(policy().teks[0] as TekPolicy, random);
    const messages: ClusterMessage[] = [
      { kind: 'init-request', groupId: 1234, nonce: random.bytes(16) },
      { kind: 'init-response', groupId: 1, updateSeq: 9, keys: keysOf(g), lifetimes: [{ spi: g.kek.spi, remainingSeconds: 10 }] },
      { kind: 'update-keys', groupId: 1, updateSeq: 10, keys: { teks: [extra], seq: 4, activationDelaySeconds: 15, deactivationDelaySeconds: 30 }, lifetimes: [] },
      { kind: 'update-delete-sas', groupId: 1, updateSeq: 11, seq: 5, teks: [extra.spi], kek: false, all: false },
      { kind: 'update-delete-sas', groupId: 1, updateSeq: 12, teks: [], kek: true, all: true },
      { kind: 'update-delete-sas', groupId: 1, updateSeq: 12, seq: 6, teks: [], kek: true, all: false },
      { kind: 'update-delete-members', groupId: 1, updateSeq: 13, all: false, members: ['172.16.0.1', '10.0.0.255'] },
      { kind: 'update-delete-members', groupId: 1, updateSeq: 14, all: true, members: [] },
      { kind: 'update-ack', groupId: 1, updateSeq: 14 },
    ];
    const exchange = (m: ClusterMessage): number => (m.kind.startsWith('init') ? 240 : m.kind === 'update-ack' ? 242 : CLUSTER_UPDATE);
    for (const m of messages) {
      const payloads = clusterPayloads(m);
      const chain = clusterChain(payloads);
      const decoded = decodePayloads(chain, payloads[0]?.type as number, 0, chain.length, { exchangeType: GROUPKEY_PUSH });
      const back = clusterMessageFrom(exchange(m), decoded.payloads.map((d) => d.payload));
      assert.ok(typeof back !== 'string', `${m.kind}: ${String(back)}`);
      assert.equal(hex(clusterChain(clusterPayloads(back))), hex(chain), `${m.kind} re-encodes byte for byte`);
      assert.equal(back.kind, m.kind);
      if (back.kind === 'init-response' && m.kind === 'init-response') {
        const priv = (k: ClusterKeys): string => hex(k.kek?.privateKey?.export({ format: 'der', type: 'pkcs8' }) as Uint8Array);
        assert.equal(priv(back.keys), priv(m.keys));
        assert.equal(back.keys.seq, m.keys.seq);
      }
      // The same payloads under the wrong exchange are refused.
      const wrong = exchange(m) === 242 ? 241 : 242;
      assert.equal(typeof clusterMessageFrom(wrong, decoded.payloads.map((d) => d.payload)), 'string');
    }
  });

  it('refuses a signing key that does not match the KEK\'s public key, and stray KD packets', () => {
    const g = group();
    const other = new GcksGroup(policy(), random); // its own RSA key
    const payloads = clusterPayloads({ kind: 'init-response', groupId: 1, updateSeq: 0, keys: keysOf(g), lifetimes: [] });
    const otherPayloads = clusterPayloads({ kind: 'init-response', groupId: 1, updateSeq: 0, keys: keysOf(other), lifetimes: [] });
    const sa = payloads.find((p) => p.type === PayloadType.SA);
    const kd = payloads.find((p) => p.type === PayloadType.KD);
    const otherKd = otherPayloads.find((p) => p.type === PayloadType.KD);
    assert.ok(sa?.type === PayloadType.SA && 'layout' in sa && sa.layout === 'gdoi' && kd?.type === PayloadType.KD && 'packets' in kd && otherKd !== undefined && 'packets' in otherKd);
    const foreignSigning = otherKd.packets.find((p) => p.kdType === 128);
    assert.ok(foreignSigning !== undefined);
    const swapped = kd.packets.map((p) => (p.kdType === 128 ? { ...foreignSigning, spi: p.spi } : p));
    assert.equal(keysFromWire(sa, swapped, 1), 'signing key does not match SIG_ALGORITHM_KEY');
    assert.equal(keysFromWire(sa, kd.packets.filter((p) => p.kdType !== 128), 1), 'KEK without its KD and signing-key packets');
    assert.equal(keysFromWire(sa, [...kd.packets, { kdType: 1, spi: Uint8Array.of(9, 9, 9, 9), attributes: [] }], 1), 'KD packet without policy');
    assert.ok(typeof keysFromWire(sa, kd.packets, 1) !== 'string');
    // And the notify must be ours.
    const n = payloads[0];
    assert.ok(n?.type === PayloadType.N && 'notifyType' in n && n.notifyType === CLUSTER_INFO_NOTIFY);
  });
});
