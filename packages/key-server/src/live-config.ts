/**
 * Which configuration changes a running server applies (R-CHG, ../shared/spec/config-changes.md), and the
 * key-server's part of applying them. Today: the cells whose action is "takes effect at the next rekey" or
 * "nothing" beyond the new values; the gateway cells (their IKE part is the daemon host's:
 * `IkeEndpoint.setGateways` resets the affected gateways' SAs); an IPsec SA added (standalone and root make
 * its TEK and push it, a root sends it to its subs; a sub waits for that); an IPsec SA deleted or given new selectors
 * (its TEK ends at once: standalone and root push a delete, a root sends the delete to its subs, a sub drops
 * it); a cluster peer deleted (marked inactive, its IKE SA cleared; a sub always has its one root, so only a
 * root sees this); server-cluster added on a root (2.2a: "nothing" — the group keeps its keys and members, the
 * subs fetch them by cluster-init; the R-OPS-3 migration from a standalone server). Every other cell — group deleted or renumbered, server-member-communication added or
 * deleted, a server-cluster added on a sub, deleted or its role changed, a new group — refuses the
 * whole commit, naming the cells, and the running configuration stays: restart the daemon with the new file
 * for those (a restarted server resumes its stored keys, then serves the new configuration).
 */
import type { ConfigChange, ChangeCell } from '@gvpn/runtime';

const LIVE: ReadonlySet<ChangeCell> = new Set<ChangeCell>([
  '1.1', '1.2', '1.3c', '1.3d', '1.3e', '1.4b', '1.5a', '1.5b', '1.5c', '2.1', '2.2a', '2.2c', '2.2d', '2.2e', 'group-other',
]);

/**
 * Why a server cannot apply these changes live, or undefined when it can. `sub`: a sub-server, where a
 * server-cluster added (2.2a) means deleting everything and starting over from a cluster-init: not live yet.
 */
export function serverRefusal(changes: readonly ConfigChange[], role: 'root' | 'sub' = 'root'): string | undefined {
  const refused = changes.filter((c) => !LIVE.has(c.cell) || (role === 'sub' && c.cell === '2.2a'));
  if (refused.length === 0) return undefined;
  return `not applied live yet (restart the daemon with this file): ${refused.map((c) => `R-CHG-${c.cell} ${c.detail}`).join('; ')}`;
}

/** IPsec SAs added (1.5a): a standalone server or a root makes their TEKs now. */
export function addedIpsecSas(changes: readonly ConfigChange[]): { group: string; ipsecSa: string }[] {
  return changes.filter((c) => c.cell === '1.5a' && c.group !== undefined && c.ipsecSa !== undefined)
    .map((c) => ({ group: c.group as string, ipsecSa: c.ipsecSa as string }));
}

/** IPsec SAs whose TEK ends at once: deleted (1.5c) or given new traffic selectors (1.5b). */
export function endedIpsecSas(changes: readonly ConfigChange[]): { group: string; ipsecSa: string }[] {
  return changes
    .filter((c) => c.group !== undefined && c.ipsecSa !== undefined && (c.cell === '1.5c' || (c.cell === '1.5b' && c.matchPolicyChanged === true)))
    .map((c) => ({ group: c.group as string, ipsecSa: c.ipsecSa as string }));
}

/** Gateways whose members must be forgotten: a gateway deleted (1.1) or taken out of a group (1.3c). */
export function gatewaysLosingMembers(changes: readonly ConfigChange[]): { gateway: string; group: string | undefined }[] {
  return changes
    .filter((c) => c.gateway !== undefined && c.kind === 'deleted' && (c.cell === '1.1' || c.cell === '1.3c'))
    .map((c) => ({ gateway: c.gateway as string, group: c.cell === '1.3c' ? c.group : undefined }));
}
