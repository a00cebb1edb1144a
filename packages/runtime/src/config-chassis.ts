import { isIPv4 } from 'node:net';
import { readPreSharedKey } from './config-ike.js';
import type { ChassisClusterConfig, ServerClusterRole } from './config-types.js';
import type { Endpoint } from './endpoint.js';
import type { PlatformProfile } from './platform.js';
import type { YamlMapReader } from './yaml-reader.js';

/** TCP port of the chassis-cluster control link when `control-link.port` is not given (gvpn). */
export const DEFAULT_CONTROL_LINK_PORT = 849;

/** Ranges and defaults of the `chassis-cluster` keys (docs/configuration.md). */
export const CHASSIS_CLUSTER_LIMITS = {
  heartbeatIntervalMs: { min: 100, max: 2000, default: 250 },
  heartbeatThreshold: { min: 3, max: 8, default: 4 },
  priority: { min: 1, max: 254 },
  /** Default RG0 priority of node 0 and node 1. */
  defaultPriorities: [200, 100],
} as const;

/** What a configuration is, for deciding whether it may have a `chassis-cluster` section. */
export type ChassisClusterHost = ServerClusterRole | 'standalone' | 'member';

/**
 * The `chassis-cluster` section when this configuration may have one; `undefined` when it has none.
 * Only a root server runs as a pair (R-TOPO-3): a member, a sub-server or a standalone server with the
 * section is refused, as is a platform whose profile says `chassis-cluster-root: false`.
 */
export function chassisClusterSection(root: YamlMapReader, host: ChassisClusterHost, platform: PlatformProfile): YamlMapReader | undefined {
  if (!root.has('chassis-cluster')) return undefined;
  const refuse = (problem: string) => root.error('ROLE', 'chassis-cluster', problem);
  if (host === 'member') throw refuse('a group member cannot be a chassis cluster node: only a root server runs as a pair (R-TOPO-3)');
  if (host === 'sub-server') throw refuse('this server is a sub-server, and sub-servers are single devices that cannot be a pair (R-TOPO-3)');
  if (host === 'standalone') {
    throw refuse('only a root server runs as a pair, and this server is standalone: no group has server-cluster server-role root-server (R-TOPO-3)');
  }
  if (!platform.chassisClusterRoot) {
    throw root.error('ROLE_NOT_SUPPORTED', 'chassis-cluster', `system.platform ${platform.name} (${platform.model}) cannot run a root server as a chassis cluster`);
  }
  return root.map('chassis-cluster', true);
}

/**
 * Validates `chassis-cluster`. `listen` is `system.listen`: the shared cluster address the active node
 * serves, which sub-servers and members use; neither control-link address may be it.
 */
export function readChassisCluster(node: YamlMapReader, listen: Endpoint): ChassisClusterConfig {
  node.onlyKeys(['node', 'control-link', 'heartbeat-interval', 'heartbeat-threshold', 'redundancy-group-0']);
  const self = node.integer('node', { min: 0, max: 1 });
  if (self === undefined) throw node.error('MISSING', 'node', 'required: 0 or 1, which node of the pair this process is');

  const link = node.map('control-link', true);
  link.onlyKeys(['local-address', 'peer-address', 'port', 'pre-shared-key']);
  const localAddress = readIpv4(link, 'local-address', "required: this node's own control-link address");
  const peerAddress = readIpv4(link, 'peer-address', "required: the other node's control-link address");
  for (const [key, address] of [['local-address', localAddress], ['peer-address', peerAddress]] as const) {
    if (address === listen.address) {
      throw link.error(
        'DUPLICATE_ADDRESS',
        key,
        `${address} is system.listen.address, the shared cluster address that moves with the active node; a control-link address belongs to one node`,
      );
    }
  }
  if (peerAddress === localAddress) {
    throw link.error('DUPLICATE_ADDRESS', 'peer-address', `${peerAddress} is local-address too; each node needs its own control-link address`);
  }
  const port = link.integer('port', { min: 1, max: 65_535, default: DEFAULT_CONTROL_LINK_PORT });
  // The link carries group keys, so it is always authenticated: the key is required, as on IKE policies.
  const preSharedKey = readPreSharedKey(link);

  const limits = CHASSIS_CLUSTER_LIMITS;
  return {
    node: self === 0 ? 0 : 1,
    controlLink: { localAddress, peerAddress, port, preSharedKey },
    heartbeatIntervalMs: node.integer('heartbeat-interval', limits.heartbeatIntervalMs),
    heartbeatThreshold: node.integer('heartbeat-threshold', limits.heartbeatThreshold),
    priorities: readPriorities(node.map('redundancy-group-0')),
  };
}

function readPriorities(group: YamlMapReader | undefined): [number, number] {
  const [default0, default1] = CHASSIS_CLUSTER_LIMITS.defaultPriorities;
  if (group === undefined) return [default0, default1];
  group.onlyKeys(['node0-priority', 'node1-priority']);
  const range = CHASSIS_CLUSTER_LIMITS.priority;
  const node0 = group.integer('node0-priority', { ...range, default: default0 });
  const node1 = group.integer('node1-priority', { ...range, default: default1 });
  if (node0 === node1) {
    // Point at a key the file actually sets (both defaults differ, so at least one is set).
    const key = group.has('node1-priority') ? 'node1-priority' : 'node0-priority';
    const other = key === 'node1-priority' ? 'node0-priority' : 'node1-priority';
    throw group.error('INVALID_VALUE', key, `equals ${other} (${node0}); the two priorities must differ so that one node is preferred`);
  }
  return [node0, node1];
}

function readIpv4(node: YamlMapReader, key: string, required: string): string {
  const address = node.string(key);
  if (address === undefined) throw node.error('MISSING', key, required);
  if (!isIPv4(address)) throw node.error('INVALID_ADDRESS', key, `"${address}" is not an IPv4 address`);
  return address;
}
