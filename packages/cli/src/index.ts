export { ExitCode, runCli, type CliIo } from './cli.js';
export { COMMANDS, type CommandSpec, type Verbosity } from './commands.js';
export type { Endpoint, IkeSecurityAssociation, IkeSecurityAssociations, PingReply, Statistics, VersionInfo } from './data.js';
export { renderIkeSecurityAssociations } from './render/ike-security-associations.js';
export { renderStatistics } from './render/statistics.js';
export { duration, renderPing, renderVersion } from './render/system.js';
export {
  commitFailed, renderCommit, renderCommitCheck, renderCommitHistory, renderConfiguration,
  type CommitCheck, type CommitHistory, type CommitOutcome, type CommitRecord, type ConfigChange, type RunningConfiguration,
} from './render/commit.js';
