/**
 * Which configuration changes a running server applies (R-CHG, ../shared/spec/config-changes.md), and the
 * key-server's part of applying them. Today: the cells whose action is "takes effect at the next rekey" or
 * "nothing" beyond the new values; the gateway cells (their IKE part is the daemon host's:
 * `IkeEndpoint.setGateways` resets the affected gateways' SAs); an IPsec SA added (standalone and root make
 * its TEK and push it, a root sends it to its subs; a sub waits for that); an IPsec SA deleted or given new selectors
 * (its TEK ends at once: standalone and root push a delete, a root sends the delete to its subs, a sub drops
 * it); a cluster peer deleted (marked inactive, its IKE SA cleared; a sub sees it only with 2.2c, its one
 * root's gateway replaced: it goes on with the new one); server-cluster added on a root (2.2a: "nothing" — the group keeps its keys and members, the
 * subs fetch them by cluster-init; the R-OPS-3 migration from a standalone server); server-cluster deleted on
 * a root (2.2f: the subs get "delete all" and are inactive, their IKE SAs are reset, the group's members get
 * "delete all" and every key is made anew, as `clear ... group` does); a group deleted or renumbered (1.3a/b:
 * standalone and root push "delete all" to its members, a root sends it to its subs and marks them inactive, a
 * sub marks its root inactive; the group's keys and members go, and the IKE SAs of its gateways that no
 * remaining group uses; renumbered, it starts again under the new ID: new keys, or a sub's cluster-init); a
 * new group (standalone and root make its keys, a sub cluster-inits for it); server-member-communication
 * added (1.4a: standalone and root make a KEK, a root sends it to its subs as a KEK rekey; standalone, root
 * and sub forget the members registered without a KEK, and a root resets its member gateways' IKE SAs) or
 * deleted (1.4c: standalone and root push a delete of the KEK to their members, a root sends the delete to
 * its subs, which push it to theirs, and resets its member gateways' IKE SAs; then no KEK is shown, handed
 * out or pushed under). A change of the server's role — server-cluster added on a standalone server that
 * becomes a sub (2.2a), deleted on a sub (2.2f), root <-> sub (2.2b) — is no key-server cell: the sub-server
 * daemon's server-role.ts switches role modules for it (the root and sub modules refuse it, below); the
 * root-server daemon never becomes a sub (runtime's checkDaemonKind). A refused commit names the cells, and
 * the running configuration stays: restart the daemon with the new file for those (a restarted server
 * resumes its stored keys, then serves the new configuration).
 */
import type { ConfigChange, ChangeCell, ServerGroupConfig } from '@gvpn/runtime';

const LIVE: ReadonlySet<ChangeCell> = new Set<ChangeCell>([
  '1.1', '1.2', '1.3a', '1.3b', '1.3c', '1.3d', '1.3e', '1.4a', '1.4b', '1.4c', '1.5a', '1.5b', '1.5c', '2.1', '2.2a', '2.2c', '2.2d', '2.2e', '2.2f', 'group-added', 'group-other',
]);

/** Cells the sub module does not apply: each changes the server's role (server-role.ts does, in the sub-server daemon). */
const SUB_REFUSED: ReadonlySet<ChangeCell> = new Set<ChangeCell>(['2.2a', '2.2f']);

/**
 * Why a server's role module cannot apply these changes, or undefined when it can. `sub`: the sub module,
 * where a server-cluster added (2.2a) or deleted (2.2f) changes the role: a role switch, not its part.
 */
export function serverRefusal(changes: readonly ConfigChange[], role: 'root' | 'sub' = 'root'): string | undefined {
  const refused = changes.filter((c) => !LIVE.has(c.cell) || (role === 'sub' && SUB_REFUSED.has(c.cell)));
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

/** Groups a commit ends: deleted (1.3a) or given another group-id (1.3b: rebuilt under the new one). */
export function endedGroups(changes: readonly ConfigChange[]): { group: string; renumbered: boolean }[] {
  return changes.filter((c) => (c.cell === '1.3a' || c.cell === '1.3b') && c.group !== undefined)
    .map((c) => ({ group: c.group as string, renumbered: c.cell === '1.3b' }));
}

/** Groups a commit adds ('group-added'). */
export function addedGroups(changes: readonly ConfigChange[]): string[] {
  return changes.filter((c) => c.cell === 'group-added' && c.group !== undefined).map((c) => c.group as string);
}

/**
 * Of the gateways of ended groups (member gateways, cluster peers), those whose IKE SAs go (R-CHG-1.3a/b):
 * every one that no other group of the new configuration uses — a gateway shared with a group that stays
 * keeps its SAs, which that group's members or cluster still ride.
 */
export function gatewaysToClear(gateways: Iterable<string>, next: readonly ServerGroupConfig[], ended: ReadonlySet<string>): string[] {
  const inUse = new Set(next.filter((g) => !ended.has(g.name))
    .flatMap((g) => [...g.memberGateways.map((m) => m.name), ...(g.serverCluster?.peers.map((p) => p.name) ?? [])]));
  return [...new Set(gateways)].filter((name) => !inUse.has(name));
}

/** Groups whose server-member-communication was added (1.4a) or deleted (1.4c). */
export function kekChanges(changes: readonly ConfigChange[]): { group: string; added: boolean }[] {
  return changes.filter((c) => (c.cell === '1.4a' || c.cell === '1.4c') && c.group !== undefined)
    .map((c) => ({ group: c.group as string, added: c.cell === '1.4a' }));
}
