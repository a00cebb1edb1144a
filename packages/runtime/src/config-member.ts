import { readAddress, type IkeReadResult } from './config-ike.js';
import { GROUP_ID_RANGE } from './config-group.js';
import type { DataPlaneConfig, MemberConfig, MemberVpnConfig, ProbePeerConfig } from './config-types.js';
import type { Endpoint } from './endpoint.js';
import type { YamlMapReader } from './yaml-reader.js';

/** RFC 3948 ESP-in-UDP port, the data plane's default. */
export const DEFAULT_DATA_PLANE_PORT = 4500;

/** Probe / sender ids: the host number of a member's inner addresses, also its GCM sender id. */
const MEMBER_ID_RANGE = { min: 1, max: 65_535 } as const;

/** What the member subtree needs from the rest of the file. */
export interface MemberContext {
  listen: Endpoint;
}

/** Validates `security.group-vpn.member.{ipsec,data-plane}` against the `ike` subtree already read. */
export function readMemberConfig(member: YamlMapReader, ikeRead: IkeReadResult, context: MemberContext): MemberConfig {
  const ipsec = member.map('ipsec', true);
  ipsec.onlyKeys(['vpn']);
  const vpns = ipsec.named('vpn').map(([name, node]) => readVpn(name, node, ikeRead));
  if (vpns.length === 0) throw ipsec.error('MISSING', 'vpn', 'required: at least one vpn (the group to join and the gateway to its servers)');
  const groups = new Map<number, string>();
  for (const [name, node] of ipsec.named('vpn')) {
    const vpn = vpns.find((candidate) => candidate.name === name);
    if (vpn === undefined) continue;
    const other = groups.get(vpn.groupId);
    if (other !== undefined) throw node.error('INVALID_VALUE', 'group', `group ${vpn.groupId} is already joined by vpn ${other}`);
    groups.set(vpn.groupId, name);
  }
  return { gateways: ikeRead.memberGateways, vpns, dataPlane: readDataPlane(member.map('data-plane'), context) };
}

function readVpn(name: string, node: YamlMapReader, ikeRead: IkeReadResult): MemberVpnConfig {
  node.onlyKeys(['ike-gateway', 'group', 'group-vpn-external-interface', 'registration-timeout-seconds']);
  const gatewayName = node.requiredString('ike-gateway');
  const gateway = ikeRead.memberGateways.find((candidate) => candidate.name === gatewayName);
  if (gateway === undefined) throw node.error('UNDEFINED_REFERENCE', 'ike-gateway', `gateway "${gatewayName}" is not defined under ike.gateway`);
  const groupId = node.integer('group', GROUP_ID_RANGE);
  if (groupId === undefined) throw node.error('MISSING', 'group', `required: the group number (${GROUP_ID_RANGE.min}..${GROUP_ID_RANGE.max})`);
  return {
    name,
    gateway,
    groupId,
    externalInterface: node.string('group-vpn-external-interface') ?? null,
    registrationTimeoutSeconds: node.integer('registration-timeout-seconds', { min: 1, max: 60, default: 5 }),
  };
}

function readDataPlane(node: YamlMapReader | undefined, context: MemberContext): DataPlaneConfig {
  if (node === undefined) return { listenAddress: context.listen.address, listenPort: DEFAULT_DATA_PLANE_PORT, memberId: null, probe: null };
  node.onlyKeys(['listen-address', 'listen-port', 'member-id', 'probe']);
  const listenAddress = readAddress(node, 'listen-address') ?? context.listen.address;
  const listenPort = node.integer('listen-port', { min: 1, max: 65_535, default: DEFAULT_DATA_PLANE_PORT });
  if (listenAddress === context.listen.address && listenPort === context.listen.port) {
    throw node.error('DUPLICATE_ADDRESS', 'listen-port', `${listenAddress} port ${listenPort} is already system.listen, the IKE/GDOI socket`);
  }
  const memberId = node.integer('member-id', MEMBER_ID_RANGE) ?? null;
  const probeNode = node.map('probe');
  if (probeNode === undefined) return { listenAddress, listenPort, memberId, probe: null };
  if (memberId === null) throw node.error('MISSING', 'member-id', 'required with probe: the host number of our inner addresses');
  probeNode.onlyKeys(['interval-ms', 'peers']);
  const intervalMs = probeNode.integer('interval-ms', { min: 10, max: 60_000, default: 1000 });
  const peers = probeNode.named('peers').map(([name, peer]): ProbePeerConfig => {
    peer.onlyKeys(['member-id', 'address', 'port']);
    const peerId = peer.integer('member-id', MEMBER_ID_RANGE);
    if (peerId === undefined) throw peer.error('MISSING', 'member-id', "required: the peer's own data-plane member-id");
    return { name, memberId: peerId, address: readAddress(peer, 'address') ?? missing(peer, 'address'), port: peer.integer('port', { min: 1, max: 65_535, default: listenPort }) };
  });
  if (peers.length === 0) throw probeNode.error('MISSING', 'peers', 'required: the members to send probes to');
  const ids = new Map<number, string>([[memberId, 'this member']]);
  for (const [name, peer] of probeNode.named('peers')) {
    const id = peers.find((candidate) => candidate.name === name)?.memberId;
    if (id === undefined) continue;
    const other = ids.get(id);
    if (other !== undefined) throw peer.error('INVALID_VALUE', 'member-id', `${id} is already the member-id of ${other}; member ids are unique in a group`);
    ids.set(id, `peer ${name}`);
  }
  return { listenAddress, listenPort, memberId, probe: { intervalMs, peers } };
}

function missing(node: YamlMapReader, key: string): never {
  throw node.error('MISSING', key, 'required');
}
