import { isIP } from 'node:net';
import { Secret } from '@gvpn/crypto';
import type {
  IkeConfig,
  IkeEncryptionAlgorithm,
  IkeGatewayConfig,
  IkeHashName,
  IkeOptionsConfig,
  IkePolicyConfig,
  IkeProposalConfig,
} from './config-types.js';
import type { Endpoint } from './endpoint.js';
import type { YamlMapReader } from './yaml-reader.js';

export const DEFAULT_IKE_PORT = 848;

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
const ENCRYPTION_KEY_LENGTHS: Record<IkeEncryptionAlgorithm, number> = { 'aes-128-cbc': 16, 'aes-192-cbc': 24, 'aes-256-cbc': 32 };

/** What the `ike` subtree needs from the rest of the file. */
export interface IkeContext {
  listen: Endpoint;
  warn(path: string, text: string): void;
}

/** Validates `security.group-vpn.{server,member}.ike`. */
export function readIkeConfig(ike: YamlMapReader, context: IkeContext): IkeConfig {
  ike.onlyKeys(['proposal', 'policy', 'gateway', 'options']);
  const options = readOptions(ike.map('options'));
  const proposals = ike.named('proposal').map(([name, node]) => readProposal(name, node, options, context));
  const policies = ike.named('policy').map(([name, node]) => readPolicy(name, node, proposals));
  const peers = new Map<string, string>();
  const gateways = ike.named('gateway').map(([name, node]) => {
    const gateway = readGateway(name, node, policies, context);
    rejectDuplicatePeer(node, gateway, peers, context.listen);
    return gateway;
  });
  return { proposals, policies, gateways, options };
}

function readOptions(node: YamlMapReader | undefined): IkeOptionsConfig {
  const defaults = { allowLegacyGroups: false, maxHalfOpen: 512, retransmitInitialMs: 1000, retransmitTries: 5 };
  if (node === undefined) return defaults;
  node.onlyKeys(['allow-legacy-groups', 'max-half-open', 'retransmit-initial-ms', 'retransmit-tries']);
  return {
    allowLegacyGroups: node.boolean('allow-legacy-groups', defaults.allowLegacyGroups),
    maxHalfOpen: node.integer('max-half-open', { min: 1, max: 1_000_000, default: defaults.maxHalfOpen }),
    retransmitInitialMs: node.integer('retransmit-initial-ms', { min: 10, max: 60_000, default: defaults.retransmitInitialMs }),
    retransmitTries: node.integer('retransmit-tries', { min: 1, max: 10, default: defaults.retransmitTries }),
  };
}

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
  return {
    name,
    authenticationMethod: node.choice('authentication-method', ['pre-shared-keys'] as const, 'pre-shared-keys'),
    dhGroup: DH_GROUPS[groupName],
    hash: HASHES[hashName] as IkeHashName,
    encryptionAlgorithm,
    encryptionKeyLength: ENCRYPTION_KEY_LENGTHS[encryptionAlgorithm],
    lifetimeSeconds: node.integer('lifetime-seconds', { min: 180, max: 86_400, default: 3600 }),
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

function readPreSharedKey(policy: YamlMapReader): Secret {
  const node = policy.map('pre-shared-key');
  if (node === undefined) throw policy.error('MISSING', 'pre-shared-key', 'required (ascii-text or hexadecimal)');
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

function readGateway(name: string, node: YamlMapReader, policies: IkePolicyConfig[], context: IkeContext): IkeGatewayConfig {
  node.onlyKeys(['ike-policy', 'address', 'port', 'local-address', 'initiate', 'phase1-doi', 'dead-peer-detection']);
  const policyName = node.requiredString('ike-policy');
  const policy = policies.find((candidate) => candidate.name === policyName);
  if (policy === undefined) throw node.error('UNDEFINED_REFERENCE', 'ike-policy', `policy "${policyName}" is not defined under ike.policy`);
  const dpd = node.map('dead-peer-detection');
  dpd?.onlyKeys(['always-send', 'interval', 'threshold']);
  return {
    name,
    policy,
    remote: {
      address: readAddress(node, 'address') ?? missing(node, 'address'),
      port: node.integer('port', { min: 1, max: 65_535, default: DEFAULT_IKE_PORT }),
    },
    localAddress: readAddress(node, 'local-address') ?? context.listen.address,
    initiate: node.boolean('initiate', false),
    // GDOI (2) is what group VPN peers expect; IPsec (1) lets Wireshark decrypt phase 1 (notes/checkers.md).
    phase1Doi: node.choice('phase1-doi', ['gdoi', 'ipsec'] as const, 'gdoi') === 'gdoi' ? 2 : 1,
    dpd: {
      alwaysSend: dpd?.boolean('always-send', false) ?? false,
      intervalSeconds: dpd?.integer('interval', { min: 2, max: 60, default: 10 }) ?? 10,
      threshold: dpd?.integer('threshold', { min: 1, max: 5, default: 5 }) ?? 5,
    },
  };
}

/** Two gateways on one peer (or a gateway on our own socket) would make inbound datagrams ambiguous. */
function rejectDuplicatePeer(node: YamlMapReader, gateway: IkeGatewayConfig, peers: Map<string, string>, listen: Endpoint): void {
  const { address, port } = gateway.remote;
  const other = peers.get(`${address} ${port}`);
  if (other !== undefined) throw node.error('DUPLICATE_ADDRESS', 'address', `${address} port ${port} is already gateway ${other}`);
  if (address === listen.address && port === listen.port) {
    throw node.error('DUPLICATE_ADDRESS', 'address', "is this daemon's own listen address and port");
  }
  peers.set(`${address} ${port}`, gateway.name);
}

/** An IPv4 or IPv6 address in text form. */
export function readAddress(node: YamlMapReader, key: string): string | undefined {
  const address = node.string(key);
  if (address !== undefined && isIP(address) === 0) throw node.error('INVALID_ADDRESS', key, `"${address}" is not an IP address`);
  return address;
}

function missing(node: YamlMapReader, key: string): never {
  throw node.error('MISSING', key, 'required');
}
