// Everything the integration tests and benchmarks use; they import from here, never from deep paths.
export { Cleanup, keepArtifacts, workDirectory } from './cleanup.js';
export {
  CommandError, ManagedProcess, TimeoutError, pidAlive, processGroupMembers, runCommand, stopPid, waitFor,
  type ExitStatus, type RunOptions, type RunResult, type StartOptions,
} from './process.js';
export { logSize, waitForLog, type WaitForLogOptions } from './log-file.js';
export {
  HOST, NetworkNamespace, connect, randomLoopbackPrefix, sweepStaleNamespaces, type ConnectOptions, type VethEnd, type VethLink,
} from './netns.js';
export { dropIsakmp, droppedCount, redirectUdpPort, removeTable, type IsakmpDrop } from './nft.js';
export { REQUIRED_TOOLS, assertIntegrationRequirements, findCharon, findOnPath } from './requirements.js';
export { CHARON_PLUGINS, strongswanConf, swanctlConf, type CharonConnection, type StrongswanConfOptions } from './charon-config.js';
export { charonIkeKeys, type IkeKey } from './charon-keys.js';
export { Charon, type CharonFiles, type CharonOptions } from './charon.js';
export { parseIkeKeyLog, readIkeKeyLog } from './ike-key-log.js';
export {
  CAPTURE_MARKER_PORT, Capture, DECODE_GDOI_PORT, IKE_CAPTURE_FILTER, fields, malformedGate, type CaptureOptions, type ReadOptions,
} from './tshark.js';
export {
  ikeScan, ikeScanTransform, parseIkeScanOutput, type IkeScanOptions, type IkeScanResult, type IkeScanTransform,
} from './ikescan.js';
export {
  CLI_MAIN, OurDaemon, ROOT_SERVER_MAIN, SUB_SERVER_MAIN, aes256Sha256, ourDaemonConfig,
  type OurDaemonConfig, type OurDaemonOptions, type OurGateway, type OurProposal, type OurSa, type OurStatistics,
} from './our-daemon.js';
export { Scenario, Stage, type TowardsCharon } from './stage.js';
export {
  INTEROP_SUITES, IKE_NUMBERS, ISAKMP_FIELDS, assertDecryptedIdentity, assertOneCleanSa, assertSuiteTransform, encrypted,
  isakmpRows, mainModeFrames, values, type InteropSuite, type IsakmpRow,
} from './interop.js';
export {
  ClusterLab, EXAMPLE_LAB_DIR, EXAMPLE_NODES, MEMBER_MAIN, ROOT_PAIR_NODES, controlLinkAddress, exampleAddress, isRootPairNode, isServer,
  memberGateways, otherPairNode, probeOnly, rootWithSubs, useServers,
  type ChassisStatus, type ClusterLabOptions, type ClusterPeer, type CommitReply, type ExampleNode, type IkeSaView, type NodeDocument, type Probe,
  type RootPairNode, type ServerCluster,
} from './cluster-lab.js';
