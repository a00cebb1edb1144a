import type { IkeSecurityAssociations, PingReply, Statistics, VersionInfo } from './data.js';
import { renderIkeSecurityAssociations } from './render/ike-security-associations.js';
import { renderStatistics } from './render/statistics.js';
import { renderPing, renderVersion } from './render/system.js';
import { renderMemberClear, type MemberClearResult } from './render/member-clear.js';
import { renderMemberIpsecSecurityAssociations, type MemberIpsecSecurityAssociations } from './render/member-ipsec-security-associations.js';
import { renderMemberIpsecStatistics, type MemberIpsecStatistics } from './render/member-ipsec-statistics.js';
import { renderMemberKekSecurityAssociations, type MemberKekSecurityAssociations } from './render/member-kek-security-associations.js';
import { renderMemberPolicy, type MemberPolicy } from './render/member-policy.js';
import { renderServerGroupAction, type ServerGroupActionResult } from './render/server-group-action.js';
import { renderServerIpsecSecurityAssociations, type ServerIpsecSecurityAssociations } from './render/server-ipsec-security-associations.js';
import { renderServerCluster, type ServerCluster } from './render/server-cluster.js';
import {
  renderChassisClusterFailover, renderChassisClusterStatus, type ChassisClusterFailover, type ChassisClusterStatus,
} from './render/chassis-cluster.js';
import { renderServerKekSecurityAssociations, type ServerKekSecurityAssociations } from './render/server-kek-security-associations.js';
import { renderServerRegisteredMembers, type ServerRegisteredMembers } from './render/server-registered-members.js';
import {
  commitFailed, renderCommit, renderCommitCheck, renderCommitHistory, renderConfiguration,
  type CommitCheck, type CommitHistory, type CommitOutcome, type RunningConfiguration,
} from './render/commit.js';

/** How much a `show` prints; Junos takes it as a trailing keyword (`... security-associations detail`). */
export type Verbosity = 'brief' | 'detail';

export interface CommandSpec {
  /** The words typed, which are also the control-protocol command. */
  words: readonly string[];
  description: string;
  /** Present when the command takes `brief`/`detail`; the daemon gets `options.detail`. */
  verbosity?: true;
  /**
   * A required operand after the words (e.g. a group NAME); the daemon gets it as `options[option]`. With
   * `choices`, any other value is a bad command line (exit 64), as a bad keyword is.
   */
  argument?: { name: string; option: string; description: string; choices?: readonly string[] };
  /**
   * `--flag VALUE` options; the daemon gets each given one as `options[option]`. A `path` is sent
   * absolute (resolved against the CLI's working directory, since the daemon's may differ).
   */
  options?: ReadonlyArray<{ flag: string; value: string; option: string; description: string; path?: true }>;
  render(data: unknown, verbosity: Verbosity): string;
  /** True when the answer, although `ok`, reports a failure: the text is printed and `gvpn` exits 1. */
  failed?(data: unknown): boolean;
}

/** Ties a renderer to the data type the daemon promises for that command (docs/control-protocol.md). */
function command<T>(spec: Omit<CommandSpec, 'render' | 'failed'> & { render(data: T, verbosity: Verbosity): string; failed?(data: T): boolean }): CommandSpec {
  return spec as CommandSpec;
}

const COMMIT_FILE = { flag: '--file', value: 'path', option: 'file', description: 'configuration file to commit (default: the running one)', path: true } as const;

/** Every command the CLI knows. Adding one is an entry here plus a renderer. */
export const COMMANDS: readonly CommandSpec[] = [
  command<IkeSecurityAssociations>({
    words: ['show', 'security', 'group-vpn', 'server', 'ike', 'security-associations'],
    description: 'IKE security associations with sub-servers or the root server',
    verbosity: true,
    render: (data, verbosity) => renderIkeSecurityAssociations(data, verbosity === 'detail'),
  }),
  command<Statistics>({
    words: ['show', 'security', 'group-vpn', 'server', 'statistics'],
    description: 'server counters',
    render: (data) => renderStatistics(data),
  }),
  command<ServerKekSecurityAssociations>({
    words: ['show', 'security', 'group-vpn', 'server', 'kek', 'security-associations'],
    description: 'the KEK of each group this key server serves (keys only with --show-keys)',
    verbosity: true,
    render: (data, verbosity) => renderServerKekSecurityAssociations(data, verbosity === 'detail'),
  }),
  command<ServerIpsecSecurityAssociations>({
    words: ['show', 'security', 'group-vpn', 'server', 'ipsec', 'security-associations'],
    description: 'the TEKs of each group, active and deactivating (keys only with --show-keys)',
    verbosity: true,
    render: (data, verbosity) => renderServerIpsecSecurityAssociations(data, verbosity === 'detail'),
  }),
  command<ServerRegisteredMembers>({
    words: ['show', 'security', 'group-vpn', 'server', 'registered-members'],
    description: 'members registered with this server, per group',
    render: (data) => renderServerRegisteredMembers(data),
  }),
  command<ServerCluster>({
    words: ['show', 'security', 'group-vpn', 'server', 'server-cluster'],
    description: 'the server cluster of each group: own role, root state, peers (detail: tracked SA lifetimes)',
    verbosity: true,
    render: (data, verbosity) => renderServerCluster(data, verbosity === 'detail'),
  }),
  command<ServerGroupActionResult>({
    words: ['request', 'security', 'group-vpn', 'server', 'rekey', 'group'],
    description: 'rekey the TEKs of a group now and push them to its members (gvpn-specific)',
    argument: { name: 'name', option: 'group', description: 'group name' },
    render: (data) => renderServerGroupAction(data),
  }),
  command<ServerGroupActionResult>({
    words: ['clear', 'security', 'group-vpn', 'server', 'group'],
    description: 'push delete-all to the members of a group, forget them, and make fresh keys',
    argument: { name: 'name', option: 'group', description: 'group name' },
    render: (data) => renderServerGroupAction(data),
  }),
  command<IkeSecurityAssociations>({
    words: ['show', 'security', 'group-vpn', 'member', 'ike', 'security-associations'],
    description: 'IKE security associations with the key servers',
    verbosity: true,
    render: (data, verbosity) => renderIkeSecurityAssociations(data, verbosity === 'detail'),
  }),
  command<Statistics>({
    words: ['show', 'security', 'group-vpn', 'member', 'statistics'],
    description: 'member counters (IKE for now)',
    render: (data) => renderStatistics(data),
  }),
  command<MemberKekSecurityAssociations>({
    words: ['show', 'security', 'group-vpn', 'member', 'kek', 'security-associations'],
    description: 'the group KEKs this member holds, and registrations in progress',
    verbosity: true,
    render: (data, verbosity) => renderMemberKekSecurityAssociations(data, verbosity === 'detail'),
  }),
  command<MemberIpsecSecurityAssociations>({
    words: ['show', 'security', 'group-vpn', 'member', 'ipsec', 'security-associations'],
    description: 'the group TEKs in the member data plane (active / retiring)',
    verbosity: true,
    render: (data, verbosity) => renderMemberIpsecSecurityAssociations(data, verbosity === 'detail'),
  }),
  command<MemberPolicy>({
    words: ['show', 'security', 'group-vpn', 'member', 'policy'],
    description: 'the group policy the member enforces (SRX/vSRX only)',
    render: (data) => renderMemberPolicy(data),
  }),
  command<MemberIpsecStatistics>({
    words: ['show', 'security', 'group-vpn', 'member', 'ipsec', 'statistics'],
    description: 'member data-plane, probe, push and registration counters',
    render: (data) => renderMemberIpsecStatistics(data),
  }),
  command<MemberClearResult>({
    words: ['clear', 'security', 'group-vpn', 'member', 'ipsec', 'security-associations'],
    description: 'drop the group TEKs and pull them again (R-OPS-1)',
    render: (data) => renderMemberClear(data),
  }),
  command<MemberClearResult>({
    words: ['clear', 'security', 'group-vpn', 'member', 'group'],
    description: 'drop the group registration and register again from the first server (R-OPS-1)',
    render: (data) => renderMemberClear(data),
  }),
  command<VersionInfo>({
    words: ['show', 'version'],
    description: 'daemon name, version and platform',
    render: (data) => renderVersion(data),
  }),
  command<CommitOutcome>({
    words: ['commit'],
    description: 'apply the configuration file (default: the running file) to the running daemon, as SIGHUP does',
    options: [COMMIT_FILE],
    render: (data) => renderCommit(data),
    failed: commitFailed,
  }),
  command<CommitCheck>({
    words: ['commit', 'check'],
    description: 'validate the configuration file and list the changes a commit would make; applies nothing',
    options: [COMMIT_FILE],
    render: (data) => renderCommitCheck(data),
    failed: commitFailed,
  }),
  command<RunningConfiguration>({
    words: ['show', 'configuration'],
    description: 'the running configuration, pre-shared keys masked (shown with --show-keys)',
    render: (data) => renderConfiguration(data),
  }),
  command<CommitHistory>({
    words: ['show', 'system', 'commit'],
    description: 'the last commits (SIGHUP and commit): time, result, file, changes; newest first',
    render: (data) => renderCommitHistory(data),
  }),
  command<PingReply>({
    words: ['request', 'system', 'ping'],
    description: 'check that the daemon answers: name, role, platform, pid, uptime',
    render: (data) => renderPing(data),
  }),
  command<ChassisClusterStatus>({
    words: ['show', 'chassis', 'cluster', 'status'],
    description: 'the root pair: each node\'s role (primary/secondary), priority and health (root-server with chassis-cluster)',
    render: (data) => renderChassisClusterStatus(data),
  }),
  command<ChassisClusterFailover>({
    words: ['request', 'chassis', 'cluster', 'failover', 'redundancy-group', '0', 'node'],
    description: 'switch the root pair gracefully: node N becomes primary (run on the primary)',
    argument: { name: 'N', option: 'node', description: 'node id, 0 or 1', choices: ['0', '1'] },
    render: (data) => renderChassisClusterFailover(data),
  }),
];
