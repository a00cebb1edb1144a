export { ConfigError, type ConfigErrorCode } from './errors.js';
export { loadConfig, parseConfig, type LoadConfigOptions } from './config.js';
export { CHANGE_CELLS, diffConfigs, type ChangeCell, type ConfigChange, type ConfigDiff } from './config-diff.js';
export type {
  ChassisClusterConfig,
  ChassisControlLinkConfig,
  ConfigRole,
  DaemonConfig,
  DaemonConfigBase,
  DataPlaneConfig,
  DeadPeerDetectionConfig,
  GroupIpsecSaConfig,
  IkeConfig,
  IkeDynamicGatewayConfig,
  IkeEncryptionAlgorithm,
  IkeGatewayConfig,
  IkeHashName,
  IkeOptionsConfig,
  IkePolicyConfig,
  IkeProposalConfig,
  IkeServerGatewayConfig,
  IpsecProposalConfig,
  LoadedConfig,
  MatchPolicyConfig,
  MemberConfig,
  MemberDaemonConfig,
  MemberGatewayConfig,
  MemberVpnConfig,
  ProbePeerConfig,
  ServerClusterConfig,
  ServerClusterRole,
  ServerConfig,
  ServerDaemonConfig,
  ServerGroupConfig,
  ServerMemberCommunicationConfig,
  TekAuthenticationAlgorithm,
  TekEncryptionAlgorithm,
} from './config-types.js';
export { DEFAULT_PLATFORM_MAX_MEMBERS, GROUP_ID_RANGE, MAX_SUB_SERVERS } from './config-group.js';
export { CHASSIS_CLUSTER_LIMITS, DEFAULT_CONTROL_LINK_PORT, type ChassisClusterHost } from './config-chassis.js';
export { DEFAULT_DATA_PLANE_PORT } from './config-member.js';
export { DEFAULT_IKE_PORT, MAX_SERVER_ADDRESSES, SHORT_TIMER_MIN_LIFETIME } from './config-ike.js';
export {
  defaultProfilesDirectory,
  listPlatformProfiles,
  loadAllPlatformProfiles,
  loadPlatformProfile,
  parsePlatformProfile,
  PLATFORM_FAMILIES,
  PLATFORM_ROLES,
  type PlatformFamily,
  type PlatformProfile,
  type PlatformRole,
} from './platform.js';
export { createLogger, LOG_LEVELS, rateLimited, type Logger, type LoggerOptions, type LogLevel, type RateLimitedLog } from './logger.js';
export { ManualClock, systemClock, type Clock } from './clock.js';
export { DeadlineTimer, type DeadlineTimerOptions } from './deadline-timer.js';
export { formatEndpoint, unmapIpv4, type Endpoint } from './endpoint.js';
export { emptyTransportStats, type DatagramHandler, type DatagramTransport, type TransportStats } from './transport.js';
export { UdpTransport, lookupLiteral } from './udp-transport.js';
export { MemoryNetwork, MemoryTransport } from './memory-transport.js';
export {
  commandKey,
  CONTROL_SOCKET_NAME,
  ControlCommandError,
  ControlErrorCode,
  MAX_REQUEST_LINE_BYTES,
  PID_FILE_NAME,
  type ControlRequest,
  type ControlResponse,
} from './control-protocol.js';
export { ControlServer, type ControlHandler, type ControlServerOptions } from './control-server.js';
export { ControlClientError, controlRequest, type ControlRequestOptions } from './control-client.js';
export { processExists, readPidFile, removePidFile, writePidFile } from './pid-file.js';
export {
  SOFTWARE_VERSION, composeRoles, ikeGatewayPolicies, runDaemonMain, startDaemon, type Daemon, type RoleContext, type RoleFactory, type RoleModule,
} from './daemon-host.js';
export {
  CANNOT_APPLY_LIVE,
  COMMIT_HISTORY,
  ConfigCommitter,
  maskSecrets,
  MASKED_SECRET,
  readConfigFile,
  type ApplyResult,
  type CommitCheck,
  type CommitOutcome,
  type CommitRecord,
  type CommitResult,
  type CommitTrigger,
  type ConfigCommitterOptions,
  type ReadConfig,
} from './config-commit.js';
