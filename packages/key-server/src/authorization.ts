/**
 * Who may register (R-REG), asked by the pull responder at message 1 and again at message 3:
 * - the group exists (the responder itself refuses an unknown group: `refusedUnknownGroup`);
 * - the member authenticated (IKE Main Mode) through one of the group's `ike-gateway`s: the IKE SA's
 *   gateway name must be in the group's member gateways (`refusedUnauthorizedGateway`);
 * - `member-threshold`: a member not yet registered in the group is refused once the group has that many
 *   registered members (`refusedThreshold`), R-REG-5;
 * - the platform maximum across all groups (`system.platform.maxMembers`; DEFAULT_PLATFORM_MAX_MEMBERS when
 *   the profile publishes none) likewise (`refusedPlatformMax`), R-REG-6.
 * A member already registered from the same address may always pull again (it replaces its entry and
 * takes no new place). Every refusal is silent on the wire (no pull response: the member times out and
 * tries its next server), counted, and logged without key material.
 */
import type { Authorization } from '@gvpn/gdoi';
import type { IkeSa } from '@gvpn/ike';
import { DEFAULT_PLATFORM_MAX_MEMBERS, type Logger } from '@gvpn/runtime';
import type { GroupState } from './group-state.js';
import type { Registrations } from './registrations.js';
import type { GdoiCounters } from './statistics.js';

/** Defined by the configuration loader, which bounds `member-threshold` by the same number. */
export { DEFAULT_PLATFORM_MAX_MEMBERS };

export interface AuthorizationContext {
  group(groupId: number): GroupState | undefined;
  registrations: Registrations;
  platformMaxMembers: number;
  counters: GdoiCounters;
  log: Logger;
}

export function authorizeMember(ctx: AuthorizationContext, sa: IkeSa, groupId: number): Authorization {
  const group = ctx.group(groupId);
  const peer = sa.peer.address;
  const refuse = (counter: 'refusedUnauthorizedGateway' | 'refusedThreshold' | 'refusedPlatformMax', reason: string): Authorization => {
    ctx.counters[counter]++;
    // Debug only: the pull responder logs each refusal with this reason, rate-limited (a member can send
    // refused pulls as fast as it likes); the counters keep every one.
    ctx.log.debug({ member: peer, gateway: sa.gateway.name, groupId, reason }, 'registration refused');
    return { ok: false, reason };
  };
  if (group === undefined) return { ok: false, reason: 'no such group' };
  if (!group.config.memberGateways.some((g) => g.name === sa.gateway.name)) {
    return refuse('refusedUnauthorizedGateway', `gateway ${sa.gateway.name} is not a member gateway of group ${group.name}`);
  }
  if (ctx.registrations.get(group.name, peer) !== undefined) return { ok: true };
  const threshold = group.config.memberThreshold;
  if (threshold !== null && ctx.registrations.count(group.name) >= threshold) {
    return refuse('refusedThreshold', `group ${group.name} has reached its member-threshold of ${threshold}`);
  }
  if (ctx.registrations.total >= ctx.platformMaxMembers) {
    return refuse('refusedPlatformMax', `the platform maximum of ${ctx.platformMaxMembers} members is reached`);
  }
  return { ok: true };
}
