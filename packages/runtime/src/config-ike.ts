import { isIP, SocketAddress } from 'node:net';
import { Secret } from '@gvpn/crypto';
import { MAX_DH_REUSE_SECONDS } from '@gvpn/ike';
import type {
  ConfigRole,
  DeadPeerDetectionConfig,
  IkeConfig,
  IkeDynamicGatewayConfig,
  IkeEncryptionAlgorithm,
  IkeGatewayConfig,
  IkeHashName,
  IkeOptionsConfig,
  IkePolicyConfig,
  IkeProposalConfig,
  MemberGatewayConfig,
} from './config-types.js';
import { unmapIpv4, type Endpoint } from './endpoint.js';
import type { ConfigError } from './errors.js';
import type { YamlMapReader } from './yaml-reader.js';

export const DEFAULT_IKE_PORT = 848;

/** Smallest lifetime (IKE, KEK, TEK) accepted with `system.debug.short-timers: true`. */
export const SHORT_TIMER_MIN_LIFETIME = 10;

const DH_GROUPS = {
  group2: 2,
  group5: 5,
  group14: 14,
  group15: 15,
  group19: 19,
  group20: 20,
  group21: 21,
  group24: 24,
} as const;
/** 768/1024/1536-bit MODP groups: breakable or close to it, kept only for old peers. */
const LEGACY_DH_GROUPS: readonly string[] = ['group2', 'group5'];

const HASHES: Record<string, IkeHashName> = { sha1: 'sha1', 'sha-256': 'sha256', 'sha-384': 'sha384', 'sha-512': 'sha512' };
export const ENCRYPTION_KEY_LENGTHS: Record<IkeEncryptionAlgorithm, number> = { 'aes-128-cbc': 16, 'aes-192-cbc': 24, 'aes-256-cbc': 32 };

/** At most this many key servers per member gateway (R-REG-4). */
export const MAX_SERVER_ADDRESSES = 4;

/** What the `ike` subtree needs from the rest of the file. */
export interface IkeContext {
  role: ConfigRole;
  listen: Endpoint;
  /** `system.debug.short-timers`: lower minimum lifetimes for tests. */
  shortTimers: boolean;
  warn(path: string, text: string): void;
}

/** The validated `ike` subtree, with what later checks (groups, cluster) need to point at. */
export interface IkeReadResult {
  ike: IkeConfig;
  /** The YAML node of each gateway by name, so group checks can name the gateway's own path. */
  gatewayNodes: Map<string, YamlMapReader>;
  /** Member gateways with their server lists; empty on a server. */
  memberGateways: MemberGatewayConfig[];
}

/** Validates `security.group-vpn.{server,member}.ike`. */
export function readIkeConfig(ike: YamlMapReader, context: IkeContext): IkeReadResult {
  ike.onlyKeys(['proposal', 'policy', 'gateway', 'options']);
  const options = readOptions(ike.map('options'));
  const proposals = ike.named('proposal').map(([name, node]) => readProposal(name, node, options, context));
  const policies = ike.named('policy').map(([name, node]) => readPolicy(name, node, proposals));
  const peers = new Map<string, string>();
  const gateways: IkeGatewayConfig[] = [];
  const dynamicGateways: IkeDynamicGatewayConfig[] = [];
  const memberGateways: MemberGatewayConfig[] = [];
  const gatewayNodes = new Map<string, YamlMapReader>();
  for (const [name, node] of ike.named('gateway')) {
    gatewayNodes.set(name, node);
    if (context.role === 'member') {
      const gateway = readMemberGateway(name, node, policies, context);
      gateway.servers.forEach((server, index) => {
        rejectDuplicatePeer(server, peers, context.listen, (problem) => node.itemError('DUPLICATE_ADDRESS', 'server-address', index, problem));
      });
      memberGateways.push(gateway);
      gateways.push(...gateway.servers);
      continue;
    }
    const gateway = readServerGateway(name, node, policies, context);
    if (gateway.dynamic) {
      const other = dynamicGateways[0];
      if (other !== undefined) {
        throw node.error(
          'INVALID_VALUE',
          'address',
          `only one gateway may be dynamic (${other.name} already is): Main Mode chooses the pre-shared key from the peer address, so two dynamic gateways cannot be told apart`,
        );
      }
      dynamicGateways.push(gateway);
    } else {
      rejectDuplicatePeer(gateway, peers, context.listen, (problem) => node.error('DUPLICATE_ADDRESS', 'address', problem));
      gateways.push(gateway);
    }
  }
  return { ike: { proposals, policies, gateways, dynamicGateways, options }, gatewayNodes, memberGateways };
}

function readOptions(node: YamlMapReader | undefined): IkeOptionsConfig {
  const defaults = { allowLegacyGroups: false, maxHalfOpen: 512, retransmitInitialMs: 1000, retransmitTries: 5, dhReuseSeconds: 0 };
  if (node === undefined) return defaults;
  node.onlyKeys(['allow-legacy-groups', 'max-half-open', 'retransmit-initial-ms', 'retransmit-tries', 'dh-reuse-seconds']);
  return {
    allowLegacyGroups: node.boolean('allow-legacy-groups', defaults.allowLegacyGroups),
    maxHalfOpen: node.integer('max-half-open', { min: 1, max: 1_000_000, default: defaults.maxHalfOpen }),
    retransmitInitialMs: node.integer('retransmit-initial-ms', { min: 10, max: 60_000, default: defaults.retransmitInitialMs }),
    retransmitTries: node.integer('retransmit-tries', { min: 1, max: 10, default: defaults.retransmitTries }),
    dhReuseSeconds: node.integer('dh-reuse-seconds', { min: 0, max: MAX_DH_REUSE_SECONDS, default: defaults.dhReuseSeconds }),
  };
}

const CERTIFICATE_METHODS = ['rsa-signatures', 'dsa-signatures', 'ecdsa-signatures-256', 'ecdsa-signatures-384'] as const;

function readProposal(name: string, node: YamlMapReader, options: IkeOptionsConfig, context: IkeContext): IkeProposalConfig {
  node.onlyKeys(['authentication-method', 'dh-group', 'authentication-algorithm', 'encryption-algorithm', 'lifetime-seconds']);
  const groupName = node.choice('dh-group', Object.keys(DH_GROUPS) as Array<keyof typeof DH_GROUPS>);
  if (LEGACY_DH_GROUPS.includes(groupName)) {
    if (!options.allowLegacyGroups) {
      throw node.error('LEGACY_GROUP', 'dh-group', `${groupName} is a legacy group; set options.allow-legacy-groups: true to accept it`);
    }
    context.warn(node.childPath('dh-group'), `legacy Diffie-Hellman ${groupName} accepted because options.allow-legacy-groups is true`);
  }
  const encryptionAlgorithm = node.choice('encryption-algorithm', Object.keys(ENCRYPTION_KEY_LENGTHS) as IkeEncryptionAlgorithm[]);
  const hashName = node.choice('authentication-algorithm', Object.keys(HASHES));
  // Junos's certificate methods are known words here so that their refusal can say why.
  const method = node.choice('authentication-method', ['pre-shared-keys', ...CERTIFICATE_METHODS], 'pre-shared-keys');
  if (method !== 'pre-shared-keys') {
    throw node.error('INVALID_VALUE', 'authentication-method', `${method}: certificates are not supported; a server cluster authenticates IKE with pre-shared keys only (use pre-shared-keys)`);
  }
  return {
    name,
    authenticationMethod: method,
    dhGroup: DH_GROUPS[groupName],
    hash: HASHES[hashName] as IkeHashName,
    encryptionAlgorithm,
    encryptionKeyLength: ENCRYPTION_KEY_LENGTHS[encryptionAlgorithm],
    lifetimeSeconds: node.integer('lifetime-seconds', { min: context.shortTimers ? SHORT_TIMER_MIN_LIFETIME : 180, max: 86_400, default: 3600 }),
  };
}

function readPolicy(name: string, node: YamlMapReader, proposals: IkeProposalConfig[]): IkePolicyConfig {
  node.onlyKeys(['mode', 'proposals', 'pre-shared-key']);
  const names = node.stringList('proposals');
  if (names === undefined || names.length === 0) throw node.error('MISSING', 'proposals', 'required: a list of proposal names');
  if (new Set(names).size !== names.length) throw node.error('INVALID_VALUE', 'proposals', 'lists a proposal twice');
  const resolved = names.map((proposalName) => {
    const proposal = proposals.find((candidate) => candidate.name === proposalName);
    if (proposal === undefined) {
      throw node.error('UNDEFINED_REFERENCE', 'proposals', `proposal "${proposalName}" is not defined under ike.proposal`);
    }
    return proposal;
  });
  return {
    name,
    mode: node.choice('mode', ['main'] as const, 'main'),
    proposals: resolved,
    preSharedKey: readPreSharedKey(node),
  };
}

/**
 * `pre-shared-key: { ascii-text: ... }` or `{ hexadecimal: ... }` under `parent`, required. Also reads the
 * chassis-cluster control-link key. Errors never quote the value.
 */
export function readPreSharedKey(parent: YamlMapReader): Secret {
  const node = parent.map('pre-shared-key');
  if (node === undefined) throw parent.error('MISSING', 'pre-shared-key', 'required (ascii-text or hexadecimal)');
  node.onlyKeys(['ascii-text', 'hexadecimal']);
  const ascii = node.string('ascii-text');
  const hex = node.string('hexadecimal');
  if (ascii !== undefined && hex !== undefined) throw node.error('INVALID_VALUE', undefined, 'give ascii-text or hexadecimal, not both');
  if (ascii !== undefined) return new Secret(new TextEncoder().encode(ascii));
  if (hex !== undefined) {
    // The message never quotes the value: it is the key.
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) throw node.error('INVALID_VALUE', 'hexadecimal', 'must be an even number of hex digits');
    return new Secret(Uint8Array.from(Buffer.from(hex, 'hex')));
  }
  throw node.error('MISSING', undefined, 'required: ascii-text or hexadecimal');
}

const SERVER_GATEWAY_KEYS = ['ike-policy', 'address', 'port', 'local-address', 'initiate', 'phase1-doi', 'dead-peer-detection'];
const MEMBER_GATEWAY_KEYS = ['ike-policy', 'server-address', 'port', 'local-address', 'phase1-doi'];

function readServerGateway(
  name: string,
  node: YamlMapReader,
  policies: IkePolicyConfig[],
  context: IkeContext,
): IkeGatewayConfig | IkeDynamicGatewayConfig {
  node.onlyKeys(SERVER_GATEWAY_KEYS);
  const policy = readPolicyReference(node, policies);
  const localAddress = readAddress(node, 'local-address') ?? context.listen.address;
  const phase1Doi = readPhase1Doi(node);
  const dpd = readDpd(node);
  if (node.string('address') === 'dynamic') {
    // Any member address; only the pre-shared key authenticates it. We never start Main Mode towards it.
    if (node.boolean('initiate', false)) throw node.error('INVALID_VALUE', 'initiate', 'a dynamic peer has no address to initiate to');
    if (node.has('port')) throw node.error('INVALID_VALUE', 'port', 'a dynamic peer uses whatever port it sends from');
    return { name, dynamic: true, policy, localAddress, phase1Doi, dpd };
  }
  const address = readAddress(node, 'address') ?? missing(node, 'address');
  rejectUnreachableFamily(address, context.listen, (problem) => node.error('INVALID_ADDRESS', 'address', problem));
  return {
    name,
    dynamic: false,
    policy,
    remote: {
      address,
      port: node.integer('port', { min: 1, max: 65_535, default: DEFAULT_IKE_PORT }),
    },
    localAddress,
    initiate: node.boolean('initiate', false),
    phase1Doi,
    dpd,
  };
}

/**
 * A member gateway lists its key servers under `server-address` (Junos `set security group-vpn member
 * ike gateway G server-address A`). Each server becomes one fixed-address IKE peer named `G/ADDRESS`.
 */
function readMemberGateway(name: string, node: YamlMapReader, policies: IkePolicyConfig[], context: IkeContext): MemberGatewayConfig {
  if (node.has('dead-peer-detection')) {
    throw node.error('INVALID_VALUE', 'dead-peer-detection', 'members never run dead-peer detection; remove it (R-CONF-3)');
  }
  if (node.has('address')) {
    throw node.error('UNKNOWN_KEY', 'address', 'a member lists its key servers under server-address: [A, B, ...] (up to 4, in order)');
  }
  node.onlyKeys(MEMBER_GATEWAY_KEYS);
  const policy = readPolicyReference(node, policies);
  const addresses = node.stringList('server-address');
  if (addresses === undefined || addresses.length === 0) throw node.error('MISSING', 'server-address', 'required: a list of 1 to 4 key server addresses');
  if (addresses.length > MAX_SERVER_ADDRESSES) {
    throw node.error('INVALID_VALUE', 'server-address', `lists ${addresses.length} servers; a member holds at most ${MAX_SERVER_ADDRESSES} (R-REG-4)`);
  }
  const canonical = addresses.map((address, index) => {
    const text = canonicalAddress(address);
    if (text === undefined) throw node.itemError('INVALID_ADDRESS', 'server-address', index, `"${address}" is not an IP address`);
    return text;
  });
  canonical.forEach((address, index) => {
    if (canonical.indexOf(address) !== index) throw node.itemError('INVALID_VALUE', 'server-address', index, `${address} is listed twice`);
    rejectUnreachableFamily(address, context.listen, (problem) => node.itemError('INVALID_ADDRESS', 'server-address', index, problem));
  });
  const port = node.integer('port', { min: 1, max: 65_535, default: DEFAULT_IKE_PORT });
  const localAddress = readAddress(node, 'local-address') ?? context.listen.address;
  const phase1Doi = readPhase1Doi(node);
  const servers = canonical.map((address): IkeGatewayConfig => ({
    name: `${name}/${address}`,
    dynamic: false,
    policy,
    remote: { address, port },
    localAddress,
    initiate: false,
    phase1Doi,
    dpd: { alwaysSend: false, intervalSeconds: 10, threshold: 5 },
  }));
  return { name, policy, servers, localAddress };
}

function readPolicyReference(node: YamlMapReader, policies: IkePolicyConfig[]): IkePolicyConfig {
  const policyName = node.requiredString('ike-policy');
  const policy = policies.find((candidate) => candidate.name === policyName);
  if (policy === undefined) throw node.error('UNDEFINED_REFERENCE', 'ike-policy', `policy "${policyName}" is not defined under ike.policy`);
  return policy;
}

function readPhase1Doi(node: YamlMapReader): 1 | 2 {
  // GDOI (2) is what group VPN peers expect; IPsec (1) lets Wireshark decrypt phase 1 (notes/checkers.md).
  return node.choice('phase1-doi', ['gdoi', 'ipsec'] as const, 'gdoi') === 'gdoi' ? 2 : 1;
}

function readDpd(gateway: YamlMapReader): DeadPeerDetectionConfig {
  const dpd = gateway.map('dead-peer-detection');
  dpd?.onlyKeys(['always-send', 'interval', 'threshold']);
  return {
    alwaysSend: dpd?.boolean('always-send', false) ?? false,
    intervalSeconds: dpd?.integer('interval', { min: 2, max: 60, default: 10 }) ?? 10,
    threshold: dpd?.integer('threshold', { min: 1, max: 5, default: 5 }) ?? 5,
  };
}

/** Two gateways on one peer (or a gateway on our own socket) would make inbound datagrams ambiguous. */
function rejectDuplicatePeer(gateway: IkeGatewayConfig, peers: Map<string, string>, listen: Endpoint, error: (problem: string) => ConfigError): void {
  const { address, port } = gateway.remote;
  const other = peers.get(`${address} ${port}`);
  if (other !== undefined) throw error(`${address} port ${port} is already gateway ${other}`);
  if (address === listen.address && port === listen.port) throw error("is this daemon's own listen address and port");
  peers.set(`${address} ${port}`, gateway.name);
}

/**
 * An IPv4 or IPv6 address in the canonical text form (`canonicalAddress`), so that addresses compare as
 * text and match what the UDP transport reports for a peer.
 */
export function readAddress(node: YamlMapReader, key: string): string | undefined {
  const address = node.string(key);
  if (address === undefined) return undefined;
  const canonical = canonicalAddress(address);
  if (canonical === undefined) throw node.error('INVALID_ADDRESS', key, `"${address}" is not an IP address`);
  return canonical;
}

/**
 * The one text form of an IP address, or `undefined` when `text` is none: IPv6 lowercase and compressed as
 * node:dgram reports it (RFC 5952), an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the plain IPv4
 * address the UDP transport reports for it. A zone (`%eth0`) is kept as written.
 */
function canonicalAddress(text: string): string | undefined {
  const family = isIP(text);
  if (family === 0) return undefined;
  if (family === 4) return text;
  const zoneAt = text.indexOf('%');
  const zone = zoneAt === -1 ? '' : text.slice(zoneAt);
  const address = new SocketAddress({ address: zoneAt === -1 ? text : text.slice(0, zoneAt), family: 'ipv6' }).address;
  const plain = unmapIpv4(address);
  return plain === address ? address + zone : plain;
}

/**
 * The IKE socket is bound to `listen`: an IPv4 socket cannot send to an IPv6 peer, and an IPv6 one reaches an
 * IPv4 peer only when bound to `::` on a dual-stack host (not with net.ipv6.bindv6only). Such a gateway
 * would load and, there, never come up; one family is asked for rather than depend on the host.
 */
function rejectUnreachableFamily(address: string, listen: Endpoint, error: (problem: string) => ConfigError): void {
  const family = isIP(address);
  const listenFamily = isIP(listen.address);
  if (family !== listenFamily) {
    throw error(`an IPv${family} peer cannot be reached from the IPv${listenFamily} listen address ${listen.address} (system.listen.address)`);
  }
}

function missing(node: YamlMapReader, key: string): never {
  throw node.error('MISSING', key, 'required');
}
