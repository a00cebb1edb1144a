/**
 * The sub-server's durable record (src/sub-state.ts) and its take-over at start (src/sub-role.ts), in
 * process: a key server with key source `root` holding adopted keys, a registered member and a retired TEK,
 * recorded, written to a real store (SQLite in a temporary directory), read back and resumed under a
 * monotonic clock that restarted elsewhere. The kill -9 itself is in packages/integration/test/sub-restart.test.ts.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '@gvpn/crypto';
import { GcksGroup, SubClusterState, hex, type Tek } from '@gvpn/gdoi';
import type { IkeEndpoint } from '@gvpn/ike';
import { createGcks, groupPolicy, type Gcks } from '@gvpn/key-server';
import { ManualClock, createLogger, loadConfig, type Endpoint, type RoleContext, type ServerDaemonConfig } from '@gvpn/runtime';
import { openStore, type Store } from '@gvpn/store';
import { createDurableSub } from '../src/sub-role.js';
import { GroupRecordError, MEMBER_ROWS, applyMemberChanges, memberChanges, readMembers } from '@gvpn/key-server';
import { SUB_STATE, resumeSub, subFingerprint, subRecord, type StoredSub } from '../src/sub-state.js';

const SUB1 = fileURLToPath(new URL('../../../../configs/lab/example/sub1.yaml', import.meta.url));
const GROUP = 'GROUP_ID-0001';
const MEMBER = '127.0.3.21';

const dir = mkdtempSync(join(tmpdir(), 'gvpn-sub-state-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const silent = createLogger({ level: 'fatal', name: 'sub-state-test' });
const config = (await loadConfig(SUB1)).config as ServerDaemonConfig;
const groupConfig = config.server.groups.find((g) => g.name === GROUP);
assert.ok(groupConfig !== undefined);

/** No IKE here: the cluster layer finds no SA with the root and just waits. */
const noIke = { establishedSas: () => [], status: () => [], initiateGateway: () => true } as unknown as IkeEndpoint;

function context(clock: ManualClock, sent: { bytes: Uint8Array; to: Endpoint }[] = []): RoleContext {
  return {
    config, log: silent, clock, random: seededRandom('sub-state'), ike: noIke,
    send: (bytes, to) => sent.push({ bytes, to }), rearm: () => {}, bind: async () => {}, unbind: async () => {},
  };
}

/** Keys as a root makes them (its GcksGroup), for this sub to adopt. */
const root = new GcksGroup(groupPolicy(groupConfig, { address: '127.0.3.1', port: 848 }), seededRandom('root'));
const freshTeks = (): Tek[] => new GcksGroup(root.policy, seededRandom(`teks-${Math.random()}`), root.signing).teks;

/** A sub's key server at mono 10 000 holding the root's keys (SEQ 5), gm-0001 registered, then a TEK rekey (SEQ 6). */
function heldGcks(clock: ManualClock): Gcks {
  const gcks = createGcks(context(clock), { keySource: 'root', accepting: () => true });
  const g = gcks.adopt(GROUP, { kek: root.kek, teks: root.teks, seq: 5, kekCreatedAt: 9_000, teksCreatedAt: 9_500 }, clock.now());
  gcks.registrations.upsert({
    group: GROUP, groupId: g.groupId, address: MEMBER, endpoint: { address: MEMBER, port: 848 }, gateway: 'GM-0001',
    icookie: '0102030405060708', rcookie: '1112131415161718', registeredAt: 1_700_000_000_000, registeredAtMono: 9_800,
    lastAckedSeq: 5, pendingSeq: null, pushesSent: 1, retransmissions: 0,
  });
  gcks.rekeyOf(g).installTeks(freshTeks(), 6, 9_900, clock.now(), false);
  return gcks;
}

function clusterState(clock: ManualClock, gcks: Gcks): SubClusterState {
  const state = new SubClusterState(groupConfig?.groupId ?? 1);
  const g = gcks.group(GROUP);
  assert.ok(g !== undefined);
  state.initSucceeded({ updateSeq: 3, keys: { kek: g.gcks.kek, teks: g.gcks.teks, seq: 6 }, lifetimes: [] }, clock.now());
  return state;
}

describe('sub-server state record', () => {
  it('round-trips through the store: same KEK (with a working signing key), TEKs, SEQ, member, retired TEK; times follow wall time', () => {
    const clock = new ManualClock(10_000);
    const gcks = heldGcks(clock);
    const state = clusterState(clock, gcks);
    const g = gcks.group(GROUP);
    assert.ok(g !== undefined);
    const record = subRecord(gcks, [{ group: GROUP, state: state.exportState() }], { mono: 10_000, wall: 1_700_000_010_000 });

    const store = openStore({ path: join(dir, 'roundtrip', 'state.db'), log: silent });
    store.put(SUB_STATE.ns, SUB_STATE.key, { version: 1, record } satisfies StoredSub);
    applyMemberChanges(store, memberChanges(gcks, { mono: 10_000, wall: 1_700_000_010_000 }));
    const back = store.get<StoredSub>(SUB_STATE.ns, SUB_STATE.key);
    assert.ok(back !== undefined);

    // The new process: its monotonic clock reads 500 at wall time 1_700_000_020_000 (10 s later).
    const clocks = { mono: 500, wall: 1_700_000_020_000 };
    const resumed = resumeSub(back.record, readMembers(store, clocks), clocks);
    store.close();
    const r = resumed.groups.get(GROUP);
    assert.ok(r !== undefined);
    assert.equal(hex(r.kek.spi), hex(g.gcks.kek.spi));
    assert.deepEqual(r.teks.map((t) => hex(t.spi)), g.gcks.teks.map((t) => hex(t.spi)));
    assert.deepEqual(r.teks[0]?.encKey.reveal(), g.gcks.teks[0]?.encKey.reveal());
    assert.equal(r.seq, 6);
    assert.equal(r.kekCreatedAt, 9_000 - 10_000 + 500 - 10_000, 'KEK age kept across the restart');
    assert.equal(r.retired.length, 1);
    assert.equal(hex(r.retired[0]?.tek.spi ?? new Uint8Array()), hex(root.teks[0]?.spi ?? new Uint8Array()));
    assert.equal(r.previousKek, undefined);
    assert.deepEqual(r.registrations.map((m) => [m.address, m.endpoint.port, m.lastAckedSeq, m.pendingSeq, m.registeredAtMono]),
      [[MEMBER, 848, 5, null, 9_800 - 10_000 + 500 - 10_000]], 'the push of SEQ 6 was never acknowledged; nothing is pending now');
    const c = resumed.cluster.get(GROUP);
    assert.equal(c?.updateSeq, 3);
    assert.equal(c?.sas.length, 2);

    // The adopted KEK signs pushes: the sub's next push under it is built from the resumed group.
    const later = createGcks(context(new ManualClock(500)), { keySource: 'root', accepting: () => true });
    const again = later.adopt(GROUP, r, 500);
    assert.equal(again.gcks.seq(), 6);
    const { push } = again.gcks.installTeks(freshTeks(), 7);
    assert.equal(push.seq, 7);
    assert.ok(push.bytes.length > 0);
  });

  it('the fingerprint moves with an applied update, not with nothing; a registration is a member row to write', () => {
    const clock = new ManualClock(10_000);
    const gcks = heldGcks(clock);
    const state = clusterState(clock, gcks);
    const fp = () => subFingerprint(gcks, [{ group: GROUP, state: state.exportState() }]);
    const first = fp();
    assert.equal(fp(), first);
    const g = gcks.group(GROUP);
    assert.ok(g !== undefined);
    gcks.registrations.drainChanges();
    gcks.registrations.upsert({ ...gcks.registrations.members(GROUP)[0]!, address: '127.0.3.22', endpoint: { address: '127.0.3.22', port: 848 } });
    const second = fp();
    assert.equal(second, first, 'members are not in the record');
    assert.deepEqual(memberChanges(gcks, { mono: 10_000, wall: 0 }).map((m) => m.key), [`${GROUP}\u0000127.0.3.22`]);
    state.updateInstalled({ kind: 'update-delete-members', groupId: g.groupId, updateSeq: 4, all: false, members: [] }, clock.now());
    assert.notEqual(fp(), second);
  });

  it('a record it cannot take over is refused before anything is built', () => {
    const clock = new ManualClock(10_000);
    const gcks = heldGcks(clock);
    const record = subRecord(gcks, [], { mono: 10_000, wall: 1_700_000_010_000 });
    const c = { mono: 0, wall: 1_700_000_020_000 };
    const none = new Map();
    assert.throws(() => resumeSub(null, none, c), GroupRecordError);
    assert.throws(() => resumeSub({ groups: 'x', cluster: [] }, none, c), GroupRecordError);
    const noSigningKey = { ...record, groups: record.groups.map((g) => ({ ...g, kek: { ...g.kek, privateKeyDer: undefined } })) };
    assert.throws(() => resumeSub(noSigningKey, none, c), GroupRecordError);
    const badKek = { ...record, groups: record.groups.map((g) => ({ ...g, kek: { ...g.kek, spi: new Uint8Array(3) } })) };
    assert.throws(() => resumeSub(badKek, none, c), (e: Error) => e.name === 'StoreError');
    const store = openStore({ path: join(dir, 'bad-member', 'state.db'), log: silent });
    store.put(MEMBER_ROWS, `${GROUP}\0${MEMBER}`, { address: MEMBER });
    assert.throws(() => readMembers(store, c), GroupRecordError);
    store.close();
  });
});

describe('createDurableSub', () => {
  let store: Store | undefined;
  after(() => store?.close());

  it('resumes a stored group: members and keys shown at once, root inactive and no pull answered until cluster-init', async () => {
    const clock = new ManualClock(10_000);
    const gcks = heldGcks(clock);
    const state = clusterState(clock, gcks);
    const path = join(dir, 'resume', 'state.db');
    store = openStore({ path, log: silent });
    const clocks = { mono: clock.now(), wall: Date.now() };
    const record = subRecord(gcks, [{ group: GROUP, state: state.exportState() }], clocks);
    store.put(SUB_STATE.ns, SUB_STATE.key, { version: 7, record } satisfies StoredSub);
    applyMemberChanges(store, memberChanges(gcks, clocks));

    const sent: { bytes: Uint8Array; to: Endpoint }[] = [];
    const later = new ManualClock(100);
    const role = createDurableSub(context(later, sent), store);
    await role.start?.(later.now());
    const handlers = role.handlers ?? {};
    const members = await handlers['show security group-vpn server registered-members']?.({}) as { groups: { members: { address: string; pendingSeq: number | null }[] }[] };
    assert.deepEqual(members.groups[0]?.members.map((m) => [m.address, m.pendingSeq]), [[MEMBER, null]]);
    const keks = await handlers['show security group-vpn server kek security-associations']?.({}) as { sas: { spi: string; seq: number }[] };
    assert.deepEqual(keks.sas.map((s) => [s.spi, s.seq]), [[hex(root.kek.spi), 6]]);
    const cluster = await handlers['show security group-vpn server server-cluster']?.({ detail: true }) as { groups: { root: string; updateSeq: number; initInProgress: boolean }[] };
    assert.deepEqual([cluster.groups[0]?.root, cluster.groups[0]?.updateSeq, cluster.groups[0]?.initInProgress], ['inactive', 3, true]);
    // Nothing changed by resuming: the record is not rewritten.
    role.settle?.(later.now());
    assert.equal(store.get<StoredSub>(SUB_STATE.ns, SUB_STATE.key)?.version, 7);
  });

  it('drops a stored record it cannot take over and starts clean', async () => {
    const path = join(dir, 'bad', 'state.db');
    const bad = openStore({ path, log: silent });
    bad.put(SUB_STATE.ns, SUB_STATE.key, { version: 2, record: { groups: [{ name: GROUP, seq: 1, kek: {} }], cluster: [] } });
    const clock = new ManualClock(0);
    const role = createDurableSub(context(clock), bad);
    await role.start?.(clock.now());
    const members = await role.handlers?.['show security group-vpn server registered-members']?.({}) as { groups: { members: unknown[] }[] };
    assert.deepEqual(members.groups[0]?.members, []);
    const keks = await role.handlers?.['show security group-vpn server kek security-associations']?.({}) as { sas: unknown[] };
    assert.deepEqual(keks.sas, []);
    assert.equal(bad.get(SUB_STATE.ns, SUB_STATE.key), undefined, 'the bad record is gone');
    bad.close();
  });
});

