/**
 * R-CONF-4: the group configuration must be the same on the root and every sub-server, and nothing
 * synchronises it. A sub can still notice a difference: the root's cluster-init answer carries its policy
 * (the KEK's SAK, each TEK's SAT, the GAP). The sub hands out the root's policy either way (members of one
 * group must all hold the same SAs); a difference is reported in the log and in `show ... server-cluster`
 * so the operator can fix the file. Key lengths follow from the ciphers; member-threshold (R-CONF-5) and
 * the gateways do not travel, so they cannot be compared here.
 */
import type { ClusterKeys, GroupPolicy, TekPolicy } from '@gvpn/gdoi';

function describeTek(t: TekPolicy): string {
  return `${t.cipher}${t.integrity === undefined ? '' : `/${t.integrity}`} ${t.source.prefix}:${t.source.port} -> ${t.destination.prefix}:${t.destination.port}`
    + ` proto ${t.protocol}, ${t.lifetimeSeconds} s, anti-replay ${t.antiReplayWindowSeconds ?? 'off'}`;
}

/** Differences between this server's group policy and the root's keys, one readable line each ([] = none). */
export function policyMismatches(own: GroupPolicy, root: ClusterKeys): string[] {
  const out: string[] = [];
  if (root.kek !== undefined) {
    if (root.kek.cipher !== own.kek.cipher) out.push(`KEK encryption: root ${root.kek.cipher}, here ${own.kek.cipher}`);
    if (root.kek.lifetimeSeconds !== own.kek.lifetimeSeconds) out.push(`KEK lifetime: root ${root.kek.lifetimeSeconds} s, here ${own.kek.lifetimeSeconds} s`);
    if (root.kek.sigHash !== own.kek.sigHash) out.push(`KEK signature hash: root ${root.kek.sigHash}, here ${own.kek.sigHash}`);
  }
  const theirs = root.teks.map((t) => describeTek(t.policy)).sort();
  const mine = own.teks.map(describeTek).sort();
  if (root.teks.length > 0 && theirs.join('\n') !== mine.join('\n')) out.push(`IPsec SAs: root [${theirs.join('; ')}], here [${mine.join('; ')}]`);
  if (root.activationDelaySeconds !== undefined && root.activationDelaySeconds !== own.activationDelaySeconds) {
    out.push(`activation-time-delay: root ${root.activationDelaySeconds} s, here ${own.activationDelaySeconds} s`);
  }
  return out;
}
