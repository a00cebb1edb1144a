/**
 * Push campaigns (rekey.ts) as the key server runs them:
 * - GroupRekey.end: a group ended by a commit (R-CHG-1.3a/b) or by a change of the server's role. The old
 *   campaigns must leave the registrations of a group renumbered under the same name alone, and a role change
 *   sends "delete all" at once rather than behind a running campaign that is dropped with it.
 * - ACKs (RFC 8263) count for the member at their source address, whatever member their ID payload names.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '@gvpn/crypto';
import { buildAck } from '@gvpn/gdoi';
import type { IkeEndpoint } from '@gvpn/ike';
import { ManualClock, createLogger, loadConfig, type Endpoint, type RoleContext, type ServerDaemonConfig } from '@gvpn/runtime';
import { createGcks, type Gcks, type GroupRekey, type GroupState, type Registration } from '../src/index.js';

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

function register(gcks: Gcks, group: GroupState, at: number): Registration {
  gcks.registrations.upsert({
    group: group.name, groupId: group.groupId, address: MEMBER, endpoint: { address: MEMBER, port: 848 }, gateway: 'GM-0001',
    icookie: '0102030405060708', rcookie: '1112131415161718', registeredAt: 1_700_000_000_000, registeredAtMono: at,
    lastAckedSeq: null, pendingSeq: null, pushesSent: 0, retransmissions: 0,
  });
  const r = gcks.registrations.get(group.name, MEMBER);
  assert.ok(r !== undefined);
  return r;
}

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
