export { ExitCode, runCli, type CliIo } from './cli.js';
export { COMMANDS, type CommandSpec, type Verbosity } from './commands.js';
export type { Endpoint, IkeSecurityAssociation, IkeSecurityAssociations, PingReply, Statistics, VersionInfo } from './data.js';
export { renderIkeSecurityAssociations } from './render/ike-security-associations.js';
export { renderStatistics } from './render/statistics.js';
export { duration, renderPing, renderVersion } from './render/system.js';
