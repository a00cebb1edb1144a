import { isIPv4 } from 'node:net';
import { ENCRYPTION_KEY_LENGTHS, SHORT_TIMER_MIN_LIFETIME, type IkeReadResult } from './config-ike.js';
import type {
  GroupIpsecSaConfig,
  IkeEncryptionAlgorithm,
  IkeGatewayConfig,
  IkeServerGatewayConfig,
  IpsecProposalConfig,
  MatchPolicyConfig,
  ServerClusterConfig,
  ServerClusterRole,
  ServerConfig,
  ServerGroupConfig,
  ServerMemberCommunicationConfig,
  TekEncryptionAlgorithm,
} from './config-types.js';
import type { PlatformProfile } from './platform.js';
import type { YamlMapReader } from './yaml-reader.js';

/** A root serves at most this many sub-servers (R-TOPO-1, R-CONF-2). */
export const MAX_SUB_SERVERS = 4;

/**
 * Group numbers: 1..65535, the range Junos documents for `group-id` (v1; VPNv2 publishes none). It also
 * keeps every valid number distinguishable from a little-endian encoding of another (gdoid writes the
 * 4-octet ID_KEY_ID little-endian, protocol.md §1.3): byte-swapping 1..65535 always gives 65536 or more.
 */
export const GROUP_ID_RANGE = { min: 1, max: 65_535 } as const;

/**
 * Members across all groups when the platform profile publishes no maximum (gvpn's choice). The key server
 * enforces it (R-REG-6) and `member-threshold` may not exceed it: a larger threshold could never be reached.
 */
export const DEFAULT_PLATFORM_MAX_MEMBERS = 10_000;

const TEK_KEY_LENGTHS: Record<TekEncryptionAlgorithm, number> = {
  'aes-128-cbc': 16,
  'aes-192-cbc': 24,
  'aes-256-cbc': 32,
  'aes-128-gcm': 16,
  'aes-256-gcm': 32,
};

/** What the group subtree needs from the rest of the file. */
export interface GroupContext {
  platform: PlatformProfile;
  shortTimers: boolean;
}

/** A group as read, with the nodes the cross-group checks point at. */
interface ReadGroup {
  config: ServerGroupConfig;
  node: YamlMapReader;
  cluster: YamlMapReader | undefined;
}

/** Validates `security.group-vpn.server.{ipsec,group}` against the `ike` subtree already read. */
export function readServerConfig(server: YamlMapReader, ikeRead: IkeReadResult, context: GroupContext): ServerConfig {
  const ipsec = server.map('ipsec');
  ipsec?.onlyKeys(['proposal']);
  const ipsecProposals = ipsec?.named('proposal').map(([name, node]) => readIpsecProposal(name, node, context)) ?? [];
  const groups = server.named('group').map(([name, node]) => readGroup(name, node, ipsecProposals, ikeRead, context));
  rejectDuplicateGroupIds(groups);
  rejectClusterPeersAsMemberGateways(groups);
  const clusterRole = resolveClusterRole(groups);
  for (const group of groups) requireMemberGateways(group);
  return { clusterRole, ipsecProposals, groups: groups.map((group) => group.config) };
}

function readIpsecProposal(name: string, node: YamlMapReader, context: GroupContext): IpsecProposalConfig {
  node.onlyKeys(['authentication-algorithm', 'encryption-algorithm', 'lifetime-seconds']);
  const encryptionAlgorithm = node.choice('encryption-algorithm', Object.keys(TEK_KEY_LENGTHS) as TekEncryptionAlgorithm[], 'aes-256-cbc');
  const gcm = encryptionAlgorithm.endsWith('-gcm');
  if (gcm && node.has('authentication-algorithm')) {
    throw node.error('INVALID_VALUE', 'authentication-algorithm', `must be absent with ${encryptionAlgorithm}: GCM authenticates the packets itself`);
  }
  return {
    name,
    encryptionAlgorithm,
    encryptionKeyLength: TEK_KEY_LENGTHS[encryptionAlgorithm],
    authenticationAlgorithm: gcm ? null : node.choice('authentication-algorithm', ['hmac-sha-256-128'] as const, 'hmac-sha-256-128'),
    lifetimeSeconds: node.integer('lifetime-seconds', { min: context.shortTimers ? SHORT_TIMER_MIN_LIFETIME : 180, max: 86_400, default: 3600 }),
  };
}

const GROUP_KEYS = [
  'group-id',
  'ike-gateway',
  'member-threshold',
  'activation-time-delay',
  'anti-replay-time-window',
  'no-anti-replay',
  'server-member-communication',
  'ipsec-sa',
  'server-cluster',
];

function readGroup(name: string, node: YamlMapReader, proposals: IpsecProposalConfig[], ikeRead: IkeReadResult, context: GroupContext): ReadGroup {
  node.onlyKeys(GROUP_KEYS);
  const groupId = node.integer('group-id', GROUP_ID_RANGE);
  if (groupId === undefined) throw node.error('MISSING', 'group-id', `required: the group number members ask for (${GROUP_ID_RANGE.min}..${GROUP_ID_RANGE.max})`);
  const memberGateways = readGatewayList(node, 'ike-gateway', ikeRead).map(([, gateway]) => gateway);

  const cluster = node.map('server-cluster');
  const serverCluster = cluster === undefined ? null : readServerCluster(name, cluster, ikeRead, context);
  const maxMembers = context.platform.maxMembers ?? DEFAULT_PLATFORM_MAX_MEMBERS;
  const memberThreshold = node.integer('member-threshold', { min: 1, max: maxMembers }) ?? null;
  if (serverCluster !== null && memberThreshold === null) {
    throw node.error('MISSING', 'member-threshold', 'required with server-cluster, and the same on every server of the cluster (R-CONF-5)');
  }

  const noAntiReplay = node.boolean('no-anti-replay', false);
  if (noAntiReplay && node.has('anti-replay-time-window')) {
    throw node.error('INVALID_VALUE', 'no-anti-replay', 'give anti-replay-time-window or no-anti-replay, not both');
  }
  const antiReplayTimeWindowSeconds = node.integer('anti-replay-time-window', { min: 60, max: 360 }) ?? null;

  const ipsecSas = node.named('ipsec-sa').map(([saName, saNode]) => readIpsecSa(saName, saNode, proposals));
  if (ipsecSas.length === 0) throw node.error('MISSING', 'ipsec-sa', 'required: at least one ipsec-sa (one TEK and its match-policy)');

  const communication = node.map('server-member-communication');
  return {
    node,
    cluster,
    config: {
      name,
      groupId,
      memberGateways,
      memberThreshold,
      activationTimeDelaySeconds: node.integer('activation-time-delay', { min: context.shortTimers ? 1 : 10, max: 900, default: 15 }),
      antiReplayTimeWindowSeconds,
      noAntiReplay,
      serverMemberCommunication: communication === undefined ? null : readServerMemberCommunication(communication, context),
      ipsecSas,
      serverCluster,
    },
  };
}

/** A list of gateway names under `key`, each resolved; no name twice. */
function readGatewayList(node: YamlMapReader, key: string, ikeRead: IkeReadResult): Array<[number, IkeServerGatewayConfig]> {
  const names = node.stringList(key) ?? [];
  return names.map((gatewayName, index) => {
    if (names.indexOf(gatewayName) !== index) throw node.itemError('INVALID_VALUE', key, index, `lists gateway ${gatewayName} twice`);
    const gateway =
      ikeRead.ike.gateways.find((candidate) => candidate.name === gatewayName) ??
      ikeRead.ike.dynamicGateways.find((candidate) => candidate.name === gatewayName);
    if (gateway === undefined) {
      throw node.itemError('UNDEFINED_REFERENCE', key, index, `gateway "${gatewayName}" is not defined under ike.gateway`);
    }
    return [index, gateway];
  });
}

function readServerMemberCommunication(node: YamlMapReader, context: GroupContext): ServerMemberCommunicationConfig {
  if (node.has('certificate')) {
    throw node.error(
      'INVALID_VALUE',
      'certificate',
      'not supported: the server signs pushes with an RSA key it generates itself; remove certificate',
    );
  }
  node.onlyKeys(['communication-type', 'encryption-algorithm', 'lifetime-seconds', 'retransmission-period', 'number-of-retransmission', 'sig-hash-algorithm']);
  const encryptionAlgorithm = node.choice('encryption-algorithm', Object.keys(ENCRYPTION_KEY_LENGTHS) as IkeEncryptionAlgorithm[], 'aes-256-cbc');
  return {
    communicationType: node.choice('communication-type', ['unicast'] as const, 'unicast'),
    encryptionAlgorithm,
    encryptionKeyLength: ENCRYPTION_KEY_LENGTHS[encryptionAlgorithm],
    lifetimeSeconds: node.integer('lifetime-seconds', { min: context.shortTimers ? SHORT_TIMER_MIN_LIFETIME : 300, max: 86_400, default: 3600 }),
    retransmissionPeriodSeconds: node.integer('retransmission-period', { min: context.shortTimers ? 1 : 2, max: 60, default: 10 }),
    numberOfRetransmission: node.integer('number-of-retransmission', { min: 0, max: 60, default: 2 }),
    sigHashAlgorithm: node.choice('sig-hash-algorithm', ['sha-256', 'sha-384'] as const, 'sha-256') === 'sha-256' ? 'sha256' : 'sha384',
  };
}

function readIpsecSa(name: string, node: YamlMapReader, proposals: IpsecProposalConfig[]): GroupIpsecSaConfig {
  node.onlyKeys(['proposal', 'match-policy']);
  const proposalName = node.requiredString('proposal');
  const proposal = proposals.find((candidate) => candidate.name === proposalName);
  if (proposal === undefined) {
    throw node.error('UNDEFINED_REFERENCE', 'proposal', `proposal "${proposalName}" is not defined under ipsec.proposal`);
  }
  const policies = node.named('match-policy');
  // One TEK carries one pair of traffic selectors (RFC 6407 §5.5.1); a second policy needs a second ipsec-sa.
  if (policies.length !== 1) {
    throw node.error(policies.length === 0 ? 'MISSING' : 'INVALID_VALUE', 'match-policy', `required: exactly one match-policy (found ${policies.length}); a TEK has one pair of selectors`);
  }
  const [policyName, policyNode] = policies[0] as [string, YamlMapReader];
  return { name, proposal, matchPolicy: readMatchPolicy(policyName, policyNode) };
}

function readMatchPolicy(name: string, node: YamlMapReader): MatchPolicyConfig {
  node.onlyKeys(['source', 'destination', 'source-port', 'destination-port', 'protocol']);
  return {
    name,
    source: readPrefix(node, 'source'),
    destination: readPrefix(node, 'destination'),
    sourcePort: node.integer('source-port', { min: 0, max: 65_535, default: 0 }),
    destinationPort: node.integer('destination-port', { min: 0, max: 65_535, default: 0 }),
    protocol: node.integer('protocol', { min: 0, max: 255, default: 0 }),
  };
}

/** An IPv4 prefix "a.b.c.d/n" with no host bits set; returned in canonical form. */
function readPrefix(node: YamlMapReader, key: string): string {
  const text = node.requiredString(key);
  const match = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  const address = match?.[1];
  const length = Number(match?.[2]);
  if (address === undefined || !isIPv4(address) || length > 32) {
    throw node.error('INVALID_ADDRESS', key, `"${text}" is not an IPv4 prefix such as 172.16.0.0/12`);
  }
  const value = address.split('.').reduce((sum, octet) => sum * 256 + Number(octet), 0);
  const network = length === 0 ? 0 : value - (value % 2 ** (32 - length));
  const canonical = `${[24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256).join('.')}/${length}`;
  if (network !== value) throw node.error('INVALID_ADDRESS', key, `"${text}" has host bits set; did you mean ${canonical}?`);
  return canonical;
}

function readServerCluster(group: string, node: YamlMapReader, ikeRead: IkeReadResult, context: GroupContext): ServerClusterConfig {
  node.onlyKeys(['server-role', 'ike-gateway', 'retransmission-period']);
  const serverRole = node.choice('server-role', ['root-server', 'sub-server'] as const);
  const { platform } = context;
  if (!platform.roles.includes(serverRole)) {
    // R-TOPO-7: servers are SRX/vSRX models, and a profile says which roles its model can play.
    throw node.error('ROLE_NOT_SUPPORTED', 'server-role', `system.platform ${platform.name} (${platform.model}) cannot be a ${serverRole}; it supports: ${platform.roles.join(', ')}`);
  }
  const entries = readGatewayList(node, 'ike-gateway', ikeRead);
  if (serverRole === 'root-server' && (entries.length === 0 || entries.length > MAX_SUB_SERVERS)) {
    throw node.error(
      entries.length === 0 ? 'MISSING' : 'INVALID_VALUE',
      'ike-gateway',
      `a root server lists its sub-servers here: 1 to ${MAX_SUB_SERVERS} gateways, found ${entries.length} (R-CONF-2)`,
    );
  }
  if (serverRole === 'sub-server' && entries.length !== 1) {
    throw node.error(entries.length === 0 ? 'MISSING' : 'INVALID_VALUE', 'ike-gateway', `a sub-server lists exactly one gateway here, the root; found ${entries.length} (R-CONF-2)`);
  }
  const peers = entries.map(([, gateway]) => checkClusterPeer(group, serverRole, gateway, ikeRead));
  return {
    serverRole,
    peers,
    retransmissionPeriodSeconds: node.integer('retransmission-period', { min: context.shortTimers ? 1 : 2, max: 60, default: 10 }),
  };
}

/** R-CONF-3 and R-MSG: a fixed address, DPD always-send, and on a sub the IKE SA is ours to start. */
function checkClusterPeer(group: string, role: ServerClusterRole, gateway: IkeServerGatewayConfig, ikeRead: IkeReadResult): IkeGatewayConfig {
  const node = ikeRead.gatewayNodes.get(gateway.name);
  if (node === undefined) throw new Error(`internal: no node for gateway ${gateway.name}`);
  const why = `it is a server-cluster peer of group ${group}`;
  if (gateway.dynamic) throw node.error('INVALID_VALUE', 'address', `cannot be dynamic: ${why} (R-CONF-3)`);
  if (!gateway.dpd.alwaysSend) {
    const dpd = node.map('dead-peer-detection');
    if (dpd === undefined) throw node.error('MISSING', 'dead-peer-detection', `required with always-send: true: ${why} (R-CONF-3)`);
    throw dpd.error('INVALID_VALUE', 'always-send', `must be true: ${why} (R-CONF-3)`);
  }
  if (role === 'sub-server' && !gateway.initiate) {
    throw node.error('INVALID_VALUE', 'initiate', `must be true: ${why}, and a sub-server starts the IKE SA with its root (R-MSG)`);
  }
  return gateway;
}

function rejectDuplicateGroupIds(groups: ReadGroup[]): void {
  const seen = new Map<number, string>();
  for (const { config, node } of groups) {
    const other = seen.get(config.groupId);
    if (other !== undefined) throw node.error('INVALID_VALUE', 'group-id', `${config.groupId} is already the group-id of group ${other}`);
    seen.set(config.groupId, config.name);
  }
}

/** A cluster peer is a server; members authenticate through other gateways. */
function rejectClusterPeersAsMemberGateways(groups: ReadGroup[]): void {
  const memberGatewayOf = new Map<string, string>();
  for (const { config } of groups) {
    for (const gateway of config.memberGateways) if (!memberGatewayOf.has(gateway.name)) memberGatewayOf.set(gateway.name, config.name);
  }
  for (const { config, cluster } of groups) {
    config.serverCluster?.peers.forEach((peer, index) => {
      const group = memberGatewayOf.get(peer.name);
      if (group !== undefined && cluster !== undefined) {
        throw cluster.itemError('INVALID_VALUE', 'ike-gateway', index, `gateway ${peer.name} is a member gateway of group ${group}; a cluster peer cannot also be a member gateway`);
      }
    });
  }
}

/** R-TOPO-5 and R-TOPO-2: one role in every cluster, and sub-servers generate no keys. */
function resolveClusterRole(groups: ReadGroup[]): ServerClusterRole | 'standalone' {
  let first: ReadGroup | undefined;
  for (const group of groups) {
    const role = group.config.serverCluster?.serverRole;
    if (role === undefined || group.cluster === undefined) continue;
    const firstRole = first?.config.serverCluster?.serverRole;
    if (first === undefined || firstRole === undefined) {
      first = group;
    } else if (role !== firstRole) {
      throw group.cluster.error(
        'ROLE',
        'server-role',
        `this server is ${firstRole} in group ${first.config.name}; a server has the same role in every cluster it belongs to (R-TOPO-5)`,
      );
    }
  }
  const role = first?.config.serverCluster?.serverRole;
  if (role === undefined) return 'standalone';
  if (role === 'sub-server') {
    const standalone = groups.find((group) => group.config.serverCluster === null);
    if (standalone !== undefined) {
      throw standalone.node.error(
        'ROLE',
        undefined,
        `has no server-cluster, so this server would generate its keys, but it is a sub-server in group ${first?.config.name ?? ''} and sub-servers never generate group keys (R-TOPO-2)`,
      );
    }
  }
  return role;
}

/** A standalone or sub-server group nobody can join is a mistake; a root may leave members to its subs (R-REG-3). */
function requireMemberGateways(group: ReadGroup): void {
  if (group.config.memberGateways.length > 0 || group.config.serverCluster?.serverRole === 'root-server') return;
  throw group.node.error('MISSING', 'ike-gateway', 'required: the gateways members of this group authenticate through');
}
