/**
 * Registrations of a group without a KEK (rekey.ts): no push ever goes unacknowledged there, so a member that
 * does not pull again within its TEK lifetime plus the TEK rekey lead is dropped on the key server's timer,
 * freeing its place under member-threshold; groups with a KEK keep their members as long as they ACK.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '@gvpn/crypto';
import type { IkeEndpoint } from '@gvpn/ike';
import { ManualClock, createLogger, loadConfig, type RoleContext, type ServerDaemonConfig } from '@gvpn/runtime';
import { createGcks, type Gcks, type GroupState } from '../src/index.js';

const ROOT = fileURLToPath(new URL('../../../../configs/lab/gdoi/root.yaml', import.meta.url));
const labConfig = (await loadConfig(ROOT)).config as ServerDaemonConfig;
const kekless: ServerDaemonConfig = {
  ...labConfig,
  server: { ...labConfig.server, groups: labConfig.server.groups.map((g) => ({ ...g, serverMemberCommunication: null })) },
};
const silent = createLogger({ level: 'fatal', name: 'member-expiry-test' });
const noIke = { establishedSas: () => [], status: () => [], initiateGateway: () => true } as unknown as IkeEndpoint;
const STALE = '127.0.9.31';
const ACTIVE = '127.0.9.32';

interface Server { gcks: Gcks; group: GroupState; clock: ManualClock }

function server(config: ServerDaemonConfig): Server {
  const clock = new ManualClock(10_000);
  const ctx: RoleContext = {
    config, log: silent, clock, random: seededRandom('member-expiry'), ike: noIke,
    send: () => {}, rearm: () => {}, bind: async () => {}, unbind: async () => {},
  };
  const gcks = createGcks(ctx);
  const group = gcks.groups()[0];
  assert.ok(group !== undefined);
  return { gcks, group, clock };
}

/** A completed pull from `address` now, as gcks.ts commits it. */
function register(s: Server, address: string): void {
  s.gcks.registrations.upsert({
    group: s.group.name, groupId: s.group.groupId, address, endpoint: { address, port: 848 }, gateway: 'GM-0001',
    icookie: '0102030405060708', rcookie: '1112131415161718', registeredAt: 1_700_000_000_000, registeredAtMono: s.clock.now(),
    lastAckedSeq: null, pendingSeq: null, pushesSent: 0, retransmissions: 0,
  });
}

/** Runs the server's timer as the daemon does (to each `nextDeadline`, then `poll`) until `until`; members ACK every push. */
function runUntil(s: Server, until: number): void {
  const rekey = s.gcks.rekeyOf(s.group);
  for (let i = 0; i < 10_000 && s.clock.now() < until; i++) {
    const due = Math.min(s.gcks.nextDeadline?.() ?? until, until);
    s.clock.set(Math.max(s.clock.now(), due));
    s.gcks.poll?.(s.clock.now());
    const c = rekey.campaign;
    if (c !== undefined) for (const address of [...c.targets.keys()]) rekey.acked(address, c.seq, s.clock.now());
  }
  assert.equal(s.clock.now(), until);
}

const members = (s: Server): string[] => s.gcks.registrations.members(s.group.name).map((m) => m.address).sort();

describe('members of a group without a KEK', () => {
  it('are dropped after their TEK lifetime plus the rekey lead unless they pull again; the store sees it', () => {
    const s = server(kekless);
    assert.equal(s.group.hasKek, false);
    const keptMs = s.group.tekLifetimeMs() + s.gcks.rekeyOf(s.group).tekLeadMs();
    const start = s.clock.now();
    register(s, STALE);
    register(s, ACTIVE);
    s.gcks.registrations.drainChanges();
    // ACTIVE pulls again as its TEKs near their end (after the group's TEK rekey); STALE never does.
    runUntil(s, start + s.group.tekLifetimeMs() - 5_000);
    register(s, ACTIVE);
    const repulled = s.clock.now();
    runUntil(s, start + keptMs - 1);
    assert.deepEqual(members(s), [STALE, ACTIVE], 'nobody is dropped before the lifetime and grace are over');
    runUntil(s, start + keptMs);
    assert.deepEqual(members(s), [ACTIVE], 'STALE\'s place is free');
    assert.equal(s.gcks.statistics().membersExpired, 1);
    assert.deepEqual(s.gcks.registrations.drainChanges().filter((c) => c.address === STALE), [{ group: s.group.name, address: STALE, now: undefined }],
      'the removal is recorded for the durable store');
    runUntil(s, repulled + keptMs);
    assert.deepEqual(members(s), [], 'ACTIVE is dropped too once it stops pulling');
    assert.equal(s.gcks.statistics().membersExpired, 2);
  });

  it('after the KEK is deleted (R-CHG-1.4c), count from then: members may hold keys pushed until that moment', () => {
    const s = server(labConfig);
    const rekey = s.gcks.rekeyOf(s.group);
    register(s, STALE);
    runUntil(s, s.clock.now() + 3 * s.group.tekLifetimeMs()); // TEK rekeys pushed and ACKed
    const ended = s.clock.now();
    rekey.endKek(ended);
    runUntil(s, ended + 10_000); // the delete of the KEK is ACKed
    const keptMs = s.group.tekLifetimeMs() + rekey.tekLeadMs();
    runUntil(s, ended + keptMs - 1);
    assert.deepEqual(members(s), [STALE]);
    runUntil(s, ended + keptMs);
    assert.deepEqual(members(s), []);
    assert.equal(s.gcks.statistics().membersExpired, 1);
  });
});

describe('members of a group with a KEK', () => {
  it('stay registered while they ACK the pushes, however long ago they pulled', () => {
    const s = server(labConfig);
    assert.equal(s.group.hasKek, true);
    register(s, STALE);
    runUntil(s, s.clock.now() + 5 * s.group.tekLifetimeMs());
    assert.ok(s.gcks.statistics().tekRekeys >= 4);
    assert.deepEqual(members(s), [STALE]);
    assert.equal(s.gcks.statistics().membersExpired, 0);
  });
});
