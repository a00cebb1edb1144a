/**
 * R-REG rules of `authorizeMember` in-process (the daemon test covers the gateway, threshold and unknown
 * group over UDP; the platform maximum needs thousands of members there, so it is checked here).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IkeSa } from '@gvpn/ike';
import type { Logger, ServerGroupConfig } from '@gvpn/runtime';
import { authorizeMember, type AuthorizationContext } from '../src/authorization.js';
import type { GroupState } from '../src/group-state.js';
import { Registrations, type Registration } from '../src/registrations.js';
import { emptyGdoiCounters } from '../src/statistics.js';

const quiet = { info() {}, warn() {}, debug() {}, trace() {}, error() {}, child() { return quiet; } } as unknown as Logger;

function group(name: string, groupId: number, gateways: string[], memberThreshold: number | null): GroupState {
  const config = { name, groupId, memberGateways: gateways.map((g) => ({ name: g })), memberThreshold } as unknown as ServerGroupConfig;
  return { name, groupId, config } as unknown as GroupState;
}

function sa(address: string, gateway: string): IkeSa {
  return { peer: { address, port: 848 }, gateway: { name: gateway } } as unknown as IkeSa;
}

function member(g: GroupState, address: string): Registration {
  return {
    group: g.name, groupId: g.groupId, address, endpoint: { address, port: 848 }, gateway: 'GW', icookie: '', rcookie: '',
    registeredAt: 0, registeredAtMono: 0, lastAckedSeq: null, pendingSeq: null, pushesSent: 0, retransmissions: 0,
  };
}

describe('authorizeMember (R-REG)', () => {
  const g1 = group('G1', 1, ['GW'], 2);
  const g2 = group('G2', 2, ['GW', 'OTHER'], null);
  const setup = (platformMaxMembers: number): AuthorizationContext => ({
    group: (id) => [g1, g2].find((g) => g.groupId === id), registrations: new Registrations(), platformMaxMembers,
    counters: emptyGdoiCounters(), log: quiet,
  });

  it('refuses a gateway that is not a member gateway of the group, and an unknown group', () => {
    const ctx = setup(100);
    assert.equal(authorizeMember(ctx, sa('10.0.0.1', 'OTHER'), 1).ok, false);
    assert.equal(ctx.counters.refusedUnauthorizedGateway, 1);
    assert.equal(authorizeMember(ctx, sa('10.0.0.1', 'OTHER'), 2).ok, true);
    assert.equal(authorizeMember(ctx, sa('10.0.0.1', 'GW'), 3).ok, false);
  });

  it('member-threshold refuses a new member, never one already registered', () => {
    const ctx = setup(100);
    ctx.registrations.upsert(member(g1, '10.0.0.1'));
    ctx.registrations.upsert(member(g1, '10.0.0.2'));
    assert.equal(authorizeMember(ctx, sa('10.0.0.3', 'GW'), 1).ok, false);
    assert.equal(ctx.counters.refusedThreshold, 1);
    assert.equal(authorizeMember(ctx, sa('10.0.0.2', 'GW'), 1).ok, true, 're-registration takes no new place');
    assert.equal(authorizeMember(ctx, sa('10.0.0.3', 'GW'), 2).ok, true, 'G2 has no threshold');
  });

  it('R-REG-6: the platform maximum counts members across groups', () => {
    const ctx = setup(3);
    ctx.registrations.upsert(member(g1, '10.0.0.1'));
    ctx.registrations.upsert(member(g2, '10.0.0.2'));
    assert.equal(authorizeMember(ctx, sa('10.0.0.3', 'GW'), 2).ok, true);
    ctx.registrations.upsert(member(g2, '10.0.0.3'));
    assert.equal(authorizeMember(ctx, sa('10.0.0.4', 'GW'), 2).ok, false);
    assert.equal(ctx.counters.refusedPlatformMax, 1);
    assert.equal(authorizeMember(ctx, sa('10.0.0.3', 'GW'), 2).ok, true, 'an existing member may pull again');
    assert.equal(ctx.registrations.remove('G2', '10.0.0.3'), true);
    assert.equal(ctx.registrations.total, 2);
    assert.equal(authorizeMember(ctx, sa('10.0.0.4', 'GW'), 2).ok, true);
  });
});
