/**
 * Which configuration changes the member daemon applies live (a commit or SIGHUP; docs/config-changes.md,
 * "Member daemon"), worked out as one plan per vpn before anything changes, so a refusal leaves all as it
 * was; agent.ts carries the plan out. The IKE part is the daemon host's: it resets the IKE SAs of every
 * member gateway config-diff lists under 1.1 (`GATEWAY/ADDRESS`, one per server) once the plan is applied.
 *
 *   vpn added          register (from the first server)
 *   vpn removed        stop registering; its KEK and TEKs leave the data plane and the state store
 *   group changed      as removed, then added under the new group-id
 *   gateway changed    IKE settings (policy, pre-shared key, proposals, port, local-address, phase1-doi, or
 *                      another gateway): register again at once over them, the current keys in use meanwhile;
 *                      server list only: the next registration takes the new list, the keys stay — unless the
 *                      server they came from is no longer listed: register again at once, from the first
 *   other vpn values   (registration-timeout-seconds, group-vpn-external-interface) from the next attempt
 *   data-plane         refused: the ESP socket, sender id and probe are set up at start (restart needed)
 */
import { isDeepStrictEqual } from 'node:util';
import { equalBytes } from '@gvpn/crypto';
import type { ConfigChange, MemberConfig, MemberGatewayConfig, MemberVpnConfig } from '@gvpn/runtime';

export type VpnPlan =
  | { kind: 'added'; vpn: MemberVpnConfig }
  | { kind: 'removed'; name: string }
  | { kind: 'renumbered'; vpn: MemberVpnConfig; from: number }
  /** `ike`: IKE settings differ; `servers`: the server list differs; `reset`: the host resets its IKE SAs. */
  | { kind: 'gateway'; vpn: MemberVpnConfig; ike: boolean; servers: boolean; reset: boolean }
  /** Nothing to do beyond taking the new values. */
  | { kind: 'same'; vpn: MemberVpnConfig };

/** Why the member cannot apply these changes live, or undefined when it can. */
export function memberRefusal(changes: readonly ConfigChange[]): string | undefined {
  const dataPlane = changes.filter((c) => c.cell === 'group-other' && c.group === undefined);
  if (dataPlane.length > 0) {
    return `needs a restart (the ESP socket, sender id and probe are set up at start): ${dataPlane.map((c) => c.detail).join('; ')}`;
  }
  const other = changes.filter((c) => c.cell !== '1.1' && c.cell !== 'group-other');
  if (other.length > 0) return `not applied live on a member (restart the daemon with this file): ${other.map((c) => `R-CHG-${c.cell} ${c.detail}`).join('; ')}`;
  return undefined;
}

/** Removals first (their data plane and records go before anything new), then the new file's vpns in order. */
export function planVpns(running: MemberConfig, next: MemberConfig, changes: readonly ConfigChange[]): VpnPlan[] {
  const plans: VpnPlan[] = running.vpns.filter((v) => !next.vpns.some((n) => n.name === v.name)).map((v) => ({ kind: 'removed', name: v.name }));
  const resetGateways = new Set(changes.filter((c) => c.cell === '1.1' && c.kind !== 'added' && c.gateway !== undefined).map((c) => c.gateway));
  for (const vpn of next.vpns) {
    const old = running.vpns.find((v) => v.name === vpn.name);
    if (old === undefined) {
      plans.push({ kind: 'added', vpn });
    } else if (old.groupId !== vpn.groupId) {
      plans.push({ kind: 'renumbered', vpn, from: old.groupId });
    } else {
      const ike = old.gateway.name !== vpn.gateway.name || ikeSettingsDiffer(old.gateway, vpn.gateway);
      const servers = !isDeepStrictEqual(addresses(old.gateway), addresses(vpn.gateway));
      const reset = resetGateways.has(old.gateway.name);
      plans.push(ike || servers || reset ? { kind: 'gateway', vpn, ike, servers, reset } : { kind: 'same', vpn });
    }
  }
  return plans;
}

function addresses(gateway: MemberGatewayConfig): string[] {
  return gateway.servers.map((s) => s.remote.address);
}

/** What Main Mode with the gateway's servers depends on, the server list aside. */
function ikeSettingsDiffer(a: MemberGatewayConfig, b: MemberGatewayConfig): boolean {
  const first = (g: MemberGatewayConfig) => ({ port: g.servers[0]?.remote.port, doi: g.servers[0]?.phase1Doi });
  return a.localAddress !== b.localAddress || !isDeepStrictEqual(first(a), first(b)) || a.policy.name !== b.policy.name ||
    a.policy.mode !== b.policy.mode || !isDeepStrictEqual(a.policy.proposals, b.policy.proposals) ||
    !equalBytes(a.policy.preSharedKey.reveal(), b.policy.preSharedKey.reveal());
}
