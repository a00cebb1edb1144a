import type { IkeSecurityAssociations, PingReply, Statistics, VersionInfo } from './data.js';
import { renderIkeSecurityAssociations } from './render/ike-security-associations.js';
import { renderStatistics } from './render/statistics.js';
import { renderPing, renderVersion } from './render/system.js';

/** How much a `show` prints; Junos takes it as a trailing keyword (`... security-associations detail`). */
export type Verbosity = 'brief' | 'detail';

export interface CommandSpec {
  /** The words typed, which are also the control-protocol command. */
  words: readonly string[];
  description: string;
  /** Present when the command takes `brief`/`detail`; the daemon gets `options.detail`. */
  verbosity?: true;
  render(data: unknown, verbosity: Verbosity): string;
}

/** Ties a renderer to the data type the daemon promises for that command (docs/control-protocol.md). */
function command<T>(spec: Omit<CommandSpec, 'render'> & { render(data: T, verbosity: Verbosity): string }): CommandSpec {
  return spec as CommandSpec;
}

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
  command<VersionInfo>({
    words: ['show', 'version'],
    description: 'daemon name, version and platform',
    render: (data) => renderVersion(data),
  }),
  command<PingReply>({
    words: ['request', 'system', 'ping'],
    description: 'check that the daemon answers: name, role, platform, pid, uptime',
    render: (data) => renderPing(data),
  }),
];
