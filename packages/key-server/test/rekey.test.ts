/**
 * Push campaigns (rekey.ts) as the key server runs them:
 * - GroupRekey.end: a group ended by a commit (R-CHG-1.3a/b) or by a change of the server's role. The old
 *   campaigns must leave the registrations of a group renumbered under the same name alone, and a role change
 *   sends "delete all" at once rather than behind a running campaign that is dropped with it.
 * - ACKs (RFC 8263) count for the member at their source address, whatever member their ID payload names.
 * - SEQ restarts with each KEK (RFC 6407 §3.1), so an ACK is the running push's only under its KEK: an old ACK
 *   under the previous KEK that carries the same SEQ (late, or replayed by anyone who saw it) answers nothing.
 * - A push that waited behind a running campaign is not sent to a member that registered again meanwhile: it
 *   holds those keys and a SEQ as high, would refuse the push as a replay, never ACK, and be removed.
 * - A member forgotten while its push is pending (its gateway left the group) is pushed no more.
 * - TEKs replaced by a rekey that came late (a long poll gap) are not kept and shown past their lifetime.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '@gvpn/crypto';
import { buildAck } from '@gvpn/gdoi';
import type { IkeEndpoint } from '@gvpn/ike';
import { ManualClock, createLogger, loadConfig, type Endpoint, type RoleContext, type ServerDaemonConfig } from '@gvpn/runtime';
import { createGcks, type Gcks, type GroupRekey, type GroupState, type Registration } from '../src/index.js';
import { tekViews } from '../src/views.js';

const ROOT = fileURLToPath(new URL('../../../../configs/lab/gdoi/root.yaml', import.meta.url));
const config = (await loadConfig(ROOT)).config as ServerDaemonConfig;
const silent = createLogger({ level: 'fatal', name: 'rekey-end-test' });
const noIke = { establishedSas: () => [], status: () => [], initiateGateway: () => true } as unknown as IkeEndpoint;
const MEMBER = '127.0.9.21';

function server(): { gcks: Gcks; group: GroupState; clock: ManualClock; sent: { bytes: Uint8Array; to: Endpoint }[] } {
  const clock = new ManualClock(10_000);
  const sent: { bytes: Uint8Array; to: Endpoint }[] = [];
  const ctx: RoleContext = {
    config, log: silent, clock, random: seededRandom('rekey-end'), ike: noIke,
    send: (bytes, to) => sent.push({ bytes, to }), rearm: () => {}, bind: async () => {}, unbind: async () => {},
  };
  const gcks = createGcks(ctx);
  const group = gcks.groups()[0];
  assert.ok(group !== undefined && group.hasKek, 'the lab group has a KEK (server-member-communication)');
  return { gcks, group, clock, sent };
}

function register(gcks: Gcks, group: GroupState, at: number, port = 848): Registration {
  gcks.registrations.upsert({
    group: group.name, groupId: group.groupId, address: MEMBER, endpoint: { address: MEMBER, port }, gateway: 'GM-0001',
    icookie: '0102030405060708', rcookie: '1112131415161718', registeredAt: 1_700_000_000_000, registeredAtMono: at,
    lastAckedSeq: null, pendingSeq: null, pushesSent: 0, retransmissions: 0,
  });
  const r = gcks.registrations.get(group.name, MEMBER);
  assert.ok(r !== undefined);
  return r;
}

/** MEMBER's pull committed, as `commit` does: a new entry, and the running campaign stops waiting for it. */
function pulled(s: ReturnType<typeof server>, port = 848): Registration {
  const r = register(s.gcks, s.group, s.clock.now(), port);
  s.gcks.rekeyOf(s.group).registered(MEMBER, s.clock.now());
  return r;
}

const ack = (s: ReturnType<typeof server>, bytes: Uint8Array): boolean | undefined => s.gcks.preIke?.(bytes, { address: MEMBER, port: 848 }, s.clock.now());

/** A server with MEMBER registered and a TEK rekey campaign to it running. */
function campaignRunning(): { s: ReturnType<typeof server>; rekey: GroupRekey; member: Registration } {
  const s = server();
  const rekey = s.gcks.rekeyOf(s.group);
  const member = register(s.gcks, s.group, s.clock.now());
  rekey.request('tek-rekey');
  rekey.poll(s.clock.now());
  return { s, rekey, member };
}

/** Polls `rekey` every retransmission period until its campaigns are over (bounded). */
function runOut(s: ReturnType<typeof server>): void {
  const rekey = s.gcks.rekeyOf(s.group);
  const smc = s.group.config.serverMemberCommunication;
  assert.ok(smc !== null);
  for (let i = 0; i < 4 * (smc.numberOfRetransmission + 2) && rekey.busy; i++) {
    s.clock.advance(smc.retransmissionPeriodSeconds * 1000);
    rekey.poll(s.clock.now());
  }
  assert.equal(rekey.busy, false, 'the campaigns ended');
}

describe('GroupRekey.end', () => {
  it('a group renumbered under the same name: the old campaign neither removes nor changes the new registration', () => {
    const { s, rekey } = campaignRunning();
    assert.equal(rekey.busy, true, 'a TEK rekey campaign to the member is running');
    const tekSeq = s.group.gcks.seq();
    rekey.end(s.clock.now()); // R-CHG-1.3b: the delete all waits behind that campaign
    // The member registers again under the group's new number, which keeps the name.
    const fresh = register(s.gcks, s.group, s.clock.now());
    rekey.acked(MEMBER, tekSeq, s.clock.now()); // a late ACK of the old push
    assert.equal(fresh.lastAckedSeq, null, 'an ACK of the old campaign is not the new registration\'s');
    runOut(s); // neither push is ever acknowledged: every retransmission spent
    assert.equal(s.gcks.registrations.get(s.group.name, MEMBER), fresh, 'still registered');
    assert.equal(fresh.retransmissions, 0);
    assert.equal(fresh.pendingSeq, null);
  });

  it('with the role: "delete all" goes at once, ahead of the running campaign, which ends there', () => {
    const { s, rekey } = campaignRunning();
    const before = s.sent.length;
    rekey.end(s.clock.now(), true);
    assert.equal(s.sent.length, before + 1, 'one push, now');
    assert.equal(s.sent.at(-1)?.to.address, MEMBER);
    assert.equal(s.gcks.registrations.members(s.group.name).length, 0, 'the group\'s members are forgotten');
    // Without the role, the same end waits for the running campaign (the case above).
    const t = campaignRunning();
    const queued = t.s.sent.length;
    t.rekey.end(t.s.clock.now());
    assert.equal(t.s.sent.length, queued, 'queued behind the TEK rekey campaign');
  });
});

describe('push ACKs', () => {
  it('count for the member at their source address: an ACK naming another member does not end its retransmissions', () => {
    const { s, rekey, member } = campaignRunning();
    const seq = s.group.gcks.seq();
    const ack = buildAck(s.group.gcks.kek, seq, MEMBER);
    // Another member holds the KEK too, and names MEMBER in the ACK's ID payload.
    assert.equal(s.gcks.preIke?.(ack, { address: '127.0.9.99', port: 848 }, s.clock.now()), true);
    assert.equal(rekey.busy, true, 'still waiting for MEMBER');
    assert.equal(member.lastAckedSeq, null);
    // MEMBER's own ACK, even one whose ID names a private address (behind NAT), ends the campaign.
    assert.equal(s.gcks.preIke?.(buildAck(s.group.gcks.kek, seq, '10.1.2.3'), { address: MEMBER, port: 848 }, s.clock.now()), true);
    assert.equal(member.lastAckedSeq, seq);
    assert.equal(rekey.busy, false);
  });
});

describe('push ACKs across a KEK rekey', () => {
  it('an old ACK under the previous KEK with the running push\'s SEQ does not answer it', () => {
    const s = server();
    const rekey = s.gcks.rekeyOf(s.group);
    pulled(s);
    const k1 = s.group.gcks.kek;
    // Under K1: a TEK rekey, SEQ 1, acknowledged (an observer keeps the ACK), then the KEK rekey to K2, acknowledged.
    rekey.request('tek-rekey');
    rekey.poll(s.clock.now());
    const oldAck = buildAck(k1, 1, MEMBER);
    assert.equal(ack(s, oldAck), true);
    rekey.request('kek-rekey');
    rekey.poll(s.clock.now());
    assert.equal(s.group.gcks.previousKek, k1);
    assert.equal(ack(s, buildAck(k1, 2, MEMBER)), true);
    assert.equal(rekey.busy, false);
    // Under K2 SEQ restarts: the next TEK rekey is SEQ 1 again.
    rekey.request('tek-rekey');
    rekey.poll(s.clock.now());
    assert.equal(rekey.campaign?.seq, 1);
    assert.notEqual(rekey.campaign?.ackKek, k1);
    const member = s.gcks.registrations.get(s.group.name, MEMBER);
    assert.equal(ack(s, oldAck), true, 'the replayed ACK verifies under K1, still held as the previous KEK');
    assert.equal(rekey.busy, true, 'the push under K2 still waits for the member');
    assert.equal(member?.pendingSeq, 1, 'still pending');
    runOut(s); // the member never answers the push under K2
    assert.equal(s.gcks.registrations.get(s.group.name, MEMBER), undefined, 'removed: it never acknowledged the push under K2');
  });
});

describe('pushes that waited behind a running campaign', () => {
  it('are not sent to a member that registered again meanwhile (it holds those keys)', () => {
    const s = server();
    const rekey = s.gcks.rekeyOf(s.group);
    pulled(s);
    rekey.request('tek-rekey');
    rekey.poll(s.clock.now()); // campaign 1, to MEMBER
    // A commit adds an ipsec-sa (R-CHG-1.5a): its TEK is made now, and its push waits for campaign 1.
    const extra = { ...s.group.gcks.policy.teks[0]!, name: 'EXTRA' };
    rekey.addTeks([extra], s.clock.now());
    const seq = s.group.gcks.seq();
    // MEMBER pulls again now, from a new port: it gets the new TEKs and SEQ `seq`; campaign 1 stops waiting.
    const sentBefore = s.sent.length;
    const fresh = pulled(s, 4500);
    assert.equal(rekey.busy, false, 'nothing left to push to the member');
    assert.equal(s.sent.length, sentBefore, 'the push of SEQ ' + String(seq) + ' (a replay to the member) is not sent');
    assert.equal(fresh.pendingSeq, null);
    runOut(s);
    assert.equal(s.gcks.registrations.get(s.group.name, MEMBER), fresh, 'still registered');
  });

  it('are not sent to a member removed meanwhile', () => {
    const s = server();
    const rekey = s.gcks.rekeyOf(s.group);
    pulled(s);
    rekey.request('tek-rekey');
    rekey.poll(s.clock.now());
    rekey.addTeks([{ ...s.group.gcks.policy.teks[0]!, name: 'EXTRA' }], s.clock.now());
    const sentBefore = s.sent.length;
    runOut(s); // MEMBER never answers campaign 1: removed
    assert.equal(s.gcks.registrations.get(s.group.name, MEMBER), undefined);
    const retransmissions = s.group.config.serverMemberCommunication?.numberOfRetransmission ?? 0;
    assert.equal(s.sent.length, sentBefore + retransmissions, 'only campaign 1\'s retransmissions: the waiting push went to no one');
    assert.equal(s.gcks.statistics().pushesUnacknowledged, 1, 'one push unacknowledged, not two');
  });
});

describe('a member forgotten while a push to it is pending', () => {
  it('gets no more retransmissions and is not counted as a push unacknowledged', () => {
    const s = server();
    const rekey = s.gcks.rekeyOf(s.group);
    pulled(s);
    rekey.request('tek-rekey');
    rekey.poll(s.clock.now());
    const sentBefore = s.sent.length;
    // A commit removes its gateway from the group (R-CHG): the member is forgotten, as applyConfig does.
    assert.equal(s.gcks.registrations.remove(s.group.name, MEMBER), true);
    runOut(s);
    assert.equal(s.sent.length, sentBefore, 'nothing more sent to it');
    assert.equal(s.gcks.statistics().pushesUnacknowledged, 0);
    assert.equal(s.gcks.statistics().pushRetransmissions, 0);
  });
});

describe('retired TEKs after a late rekey', () => {
  it('a poll long after the TEK rekey was due: the replaced TEKs are not shown deactivating past their end', () => {
    const s = server();
    const old = s.group.gcks.teks.map((t) => t.spi);
    const lifetimeMs = s.group.tekLifetimeMs();
    s.clock.advance(lifetimeMs + 60_000); // the event loop was blocked, or the machine slept: a long poll gap
    s.gcks.poll?.(s.clock.now());
    assert.notDeepEqual(s.group.gcks.teks.map((t) => t.spi), old, 'rekeyed at the late poll');
    // The daemon polls again at the next deadline (due now, if any).
    const due = s.gcks.nextDeadline?.();
    if (due !== undefined && due <= s.clock.now()) s.gcks.poll?.(s.clock.now());
    const shown = tekViews(s.group, s.clock.now(), false);
    assert.deepEqual(shown.filter((t) => t.state === 'deactivating'), [], 'a TEK past its lifetime is gone, not deactivating');
    assert.ok(shown.every((t) => t.expiresInSeconds > 0));
  });
});
