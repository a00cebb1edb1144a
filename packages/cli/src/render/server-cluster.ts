import { renderTable } from './table.js';

/*
 * `show security group-vpn server server-cluster [detail]`: this server's view of the server cluster of
 * each group, and its cluster peers. Layout modelled on Junos (documented field vocabulary: role, peer
 * gateway, status), not copied from any output.
 *
 * Every field a daemon may leave `null` (or, from an older daemon, leave out) prints as `-`, and a peer
 * with no exchange yet as `never`: the renderer never throws on missing data.
 */

export type ClusterRole = 'root-server' | 'sub-server';

export interface ServerClusterPeer {
  /** The IKE gateway name of the peer. */
  name: string;
  address: string;
  port: number;
  /** The peer's role, not ours. */
  role: ClusterRole;
  state: 'active' | 'inactive';
  /** The IKE SA with the peer. */
  ikeSa: 'UP' | 'NEGOTIATING' | 'DOWN';
  /** Seconds since the last successful cluster exchange with the peer; `null` before the first. */
  lastExchangeSecondsAgo: number | null;
  /** Root only: updates queued or unacknowledged for that sub; `null` on a sub-server. */
  pendingUpdates: number | null;
}

/** An SA a sub-server tracks (detail only): the soft lifetime drives cluster-init (R-MSG-6). */
export interface ServerClusterSa {
  kind: 'kek' | 'tek';
  /** Lower-case hex: 32 digits for a KEK, 8 for a TEK. */
  spi: string;
  softInSeconds: number;
  hardInSeconds: number;
}

export interface ServerClusterGroup {
  name: string;
  groupId: number;
  /** Our own role in this group's cluster. */
  role: ClusterRole;
  retransmissionPeriodSeconds: number | null;
  /** Sub only: the sub's view of its root (`null` on the root). */
  root: 'active' | 'inactive' | null;
  /** Last cluster-update applied (sub) / published (root). */
  updateSeq: number | null;
  /** Sub only: cluster-init wanted or running. */
  initInProgress: boolean | null;
  /** Sub only: an SA passed its soft lifetime without a replacement, so no GROUPKEY-PUSH (R-MSG-6). */
  pushesHeld: boolean | null;
  /** Sub: where this server's group configuration differs from the root's policy (R-CONF-4); [] = none. */
  configMismatches?: string[];
  peers: ServerClusterPeer[];
  /** Detail only (absent otherwise); `[]` on a root. */
  sas?: ServerClusterSa[];
}

export interface ServerCluster {
  groups: ServerClusterGroup[];
}

export function renderServerCluster(data: ServerCluster, detail: boolean): string {
  const groups = data.groups ?? [];
  if (groups.length === 0) return 'No server cluster configured.\n';
  return groups.map((group) => renderGroup(group, detail)).join('\n');
}

function renderGroup(g: ServerClusterGroup, detail: boolean): string {
  const sub = g.role === 'sub-server';
  const lines = [`Group: ${g.name}, Group ID: ${g.groupId}, Role: ${g.role ?? '-'}`];
  if (sub) {
    lines.push(`  Root server: ${text(g.root)}, Last update applied: ${text(g.updateSeq)}`);
    lines.push(`  Cluster-init in progress: ${yesNo(g.initInProgress)}, Pushes held: ${yesNo(g.pushesHeld)}`);
    for (const m of g.configMismatches ?? []) lines.push(`  Configuration differs from the root: ${m}`);
  } else {
    lines.push(`  Last update published: ${text(g.updateSeq)}`);
  }
  if (detail) lines.push(`  Retransmission period: ${g.retransmissionPeriodSeconds == null ? '-' : `${g.retransmissionPeriodSeconds} seconds`}`);

  const peers = g.peers ?? [];
  if (peers.length === 0) {
    lines.push('  Peers: none');
  } else {
    const header = ['Name', 'Address', 'Role', 'State', 'IKE SA', 'Last exchange', ...(sub ? [] : ['Pending updates'])];
    lines.push('  Peers:', indent(renderTable(header, peers.map((p) => [
      text(p.name),
      p.port == null ? text(p.address) : `${text(p.address)}:${p.port}`,
      text(p.role),
      text(p.state),
      text(p.ikeSa),
      p.lastExchangeSecondsAgo == null ? 'never' : `${p.lastExchangeSecondsAgo} s ago`,
      ...(sub ? [] : [text(p.pendingUpdates)]),
    ]))));
  }

  if (detail && g.sas != null && (sub || g.sas.length > 0)) {
    if (g.sas.length === 0) {
      lines.push('  Tracked SAs: none');
    } else {
      lines.push('  Tracked SAs:', indent(renderTable(
        ['Kind', 'SPI', 'Soft lifetime', 'Hard lifetime'],
        g.sas.map((sa) => [sa.kind == null ? '-' : sa.kind.toUpperCase(), text(sa.spi), expiry(sa.softInSeconds), expiry(sa.hardInSeconds)]),
      )));
    }
  }
  return lines.join('\n').trimEnd() + '\n';
}

/** `null`/absent -> "-". */
function text(value: string | number | null | undefined): string {
  return value == null ? '-' : String(value);
}

function yesNo(value: boolean | null | undefined): string {
  return value == null ? '-' : value ? 'yes' : 'no';
}

/** Seconds until a lifetime ends: "in 100 s", or "passed" once it has. */
function expiry(seconds: number | null | undefined): string {
  if (seconds == null) return '-';
  return seconds > 0 ? `in ${seconds} s` : 'passed';
}

/** Two more spaces in front of every line of a table, so it sits under its heading. */
function indent(table: string): string {
  return table.trimEnd().split('\n').map((line) => `  ${line}`).join('\n');
}
