import type { Secret } from '@gvpn/crypto';
import type { Endpoint } from './endpoint.js';
import type { LogLevel } from './logger.js';
import type { PlatformProfile } from './platform.js';

/** Hash names as `@gvpn/crypto` spells them. */
export type IkeHashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';
export type IkeEncryptionAlgorithm = 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc';

export interface IkeProposalConfig {
  name: string;
  authenticationMethod: 'pre-shared-keys';
  /** Oakley group number (2, 5, 14, 15, 19, 20, 21, 24). */
  dhGroup: number;
  hash: IkeHashName;
  encryptionAlgorithm: IkeEncryptionAlgorithm;
  /** AES key length in bytes: 16, 24 or 32. */
  encryptionKeyLength: number;
  lifetimeSeconds: number;
}

export interface IkePolicyConfig {
  name: string;
  mode: 'main';
  /** Most preferred first, resolved from the names in the file. */
  proposals: IkeProposalConfig[];
  /** Serializes and inspects as "[secret]"; `reveal()` gives the bytes to the key derivation. */
  preSharedKey: Secret;
}

export interface DeadPeerDetectionConfig {
  alwaysSend: boolean;
  intervalSeconds: number;
  threshold: number;
}

/** A gateway with a fixed peer address: every gateway of a member, and server gateways not `dynamic`. */
export interface IkeGatewayConfig {
  name: string;
  dynamic: false;
  policy: IkePolicyConfig;
  remote: Endpoint;
  localAddress: string;
  initiate: boolean;
  /** DOI of the Main Mode SA payload we send: 2 (GDOI, default) or 1 (IPsec). */
  phase1Doi: 1 | 2;
  dpd: DeadPeerDetectionConfig;
}

/**
 * A server gateway with `address: dynamic`: any member address may authenticate with its policy's
 * pre-shared key. At most one per server (Main Mode picks the PSK from the peer address before it sees
 * any identity, so two dynamic gateways could not be told apart). Never a server-cluster peer.
 */
export interface IkeDynamicGatewayConfig {
  name: string;
  dynamic: true;
  policy: IkePolicyConfig;
  localAddress: string;
  phase1Doi: 1 | 2;
  dpd: DeadPeerDetectionConfig;
}

/** What a group's `ike-gateway` list may name on a server. */
export type IkeServerGatewayConfig = IkeGatewayConfig | IkeDynamicGatewayConfig;

export interface IkeOptionsConfig {
  allowLegacyGroups: boolean;
  maxHalfOpen: number;
  retransmitInitialMs: number;
  retransmitTries: number;
  /** Seconds a responder reuses its Diffie-Hellman key pair (0: never); see @gvpn/ike dh-reuse.ts. */
  dhReuseSeconds: number;
}

export interface IkeConfig {
  proposals: IkeProposalConfig[];
  policies: IkePolicyConfig[];
  /**
   * Every peer with a fixed address, which is what the IKE engine is given. On a member: one entry per
   * `server-address` of each gateway, named `GATEWAY/ADDRESS`, `initiate: false` (the member agent
   * decides which server to try; see `MemberGatewayConfig.servers`).
   */
  gateways: IkeGatewayConfig[];
  /** Server gateways with `address: dynamic` (zero or one); always empty on a member. */
  dynamicGateways: IkeDynamicGatewayConfig[];
  options: IkeOptionsConfig;
}

// ---- server: security.group-vpn.server.{ipsec,group} ------------------------------------------------

/** ESP encryption of a TEK (`ipsec proposal encryption-algorithm`). */
export type TekEncryptionAlgorithm = 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc' | 'aes-128-gcm' | 'aes-256-gcm';
/** ESP integrity of a CBC TEK; GCM TEKs have none (`null`). */
export type TekAuthenticationAlgorithm = 'hmac-sha-256-128';

/** `security.group-vpn.server.ipsec.proposal.NAME`. */
export interface IpsecProposalConfig {
  name: string;
  encryptionAlgorithm: TekEncryptionAlgorithm;
  /** AES key length in bytes: 16, 24 or 32. */
  encryptionKeyLength: number;
  /** `hmac-sha-256-128` for CBC (the default), `null` for GCM. */
  authenticationAlgorithm: TekAuthenticationAlgorithm | null;
  /** TEK lifetime. */
  lifetimeSeconds: number;
}

/** Traffic selectors of one TEK (`ipsec-sa NAME match-policy NAME`). */
export interface MatchPolicyConfig {
  name: string;
  /** IPv4 prefix in canonical form, e.g. "172.16.0.0/12". */
  source: string;
  destination: string;
  /** 0 = any. */
  sourcePort: number;
  destinationPort: number;
  /** IP protocol number, 0 = any. */
  protocol: number;
}

/** `group NAME ipsec-sa NAME`: one TEK of the group. */
export interface GroupIpsecSaConfig {
  name: string;
  proposal: IpsecProposalConfig;
  matchPolicy: MatchPolicyConfig;
}

/** `group NAME server-member-communication`: the KEK and how pushes are sent. */
export interface ServerMemberCommunicationConfig {
  communicationType: 'unicast';
  encryptionAlgorithm: IkeEncryptionAlgorithm;
  /** AES key length in bytes: 16, 24 or 32. */
  encryptionKeyLength: number;
  /** KEK lifetime. */
  lifetimeSeconds: number;
  /** Seconds between push retransmissions to a member that has not acknowledged. */
  retransmissionPeriodSeconds: number;
  /** Retransmissions after the first push. */
  numberOfRetransmission: number;
  /** Hash of the push signature (RSA key generated by the server). */
  sigHashAlgorithm: 'sha256' | 'sha384';
}

export type ServerClusterRole = 'root-server' | 'sub-server';

/** `group NAME server-cluster`. */
export interface ServerClusterConfig {
  serverRole: ServerClusterRole;
  /** Root: the sub-servers (1..4). Sub: the root (exactly 1). Fixed addresses, DPD always-send. */
  peers: IkeGatewayConfig[];
  /** Seconds between cluster-update retransmissions (R-MSG-5). */
  retransmissionPeriodSeconds: number;
}

/** `security.group-vpn.server.group.NAME`. */
export interface ServerGroupConfig {
  name: string;
  /** GDOI group number (ID_KEY_ID), 1..65535. */
  groupId: number;
  /** Gateways members of this group authenticate through (possibly none on a root). */
  memberGateways: IkeServerGatewayConfig[];
  /** Registered members at which this server stops answering pulls (R-REG-5); `null`: no group limit. */
  memberThreshold: number | null;
  activationTimeDelaySeconds: number;
  /** Time-based anti-replay window; `null` when not configured or when `noAntiReplay`. */
  antiReplayTimeWindowSeconds: number | null;
  noAntiReplay: boolean;
  /** `null`: no KEK, so no pushes (members re-register when their TEKs near expiry). */
  serverMemberCommunication: ServerMemberCommunicationConfig | null;
  /** At least one. */
  ipsecSas: GroupIpsecSaConfig[];
  /** `null`: a standalone key server for this group. */
  serverCluster: ServerClusterConfig | null;
}

/** The server side of a configuration. */
export interface ServerConfig {
  /**
   * The one role this server plays in every cluster it belongs to (R-TOPO-5): `root-server` or
   * `sub-server` when some group has `server-cluster`, `standalone` when none has.
   */
  clusterRole: ServerClusterRole | 'standalone';
  ipsecProposals: IpsecProposalConfig[];
  groups: ServerGroupConfig[];
}

// ---- member: security.group-vpn.member.{ike,ipsec,data-plane} ----------------------------------------

/** `security.group-vpn.member.ike.gateway.NAME`: one gateway, up to four key servers in order. */
export interface MemberGatewayConfig {
  name: string;
  policy: IkePolicyConfig;
  /** 1..4 servers in the order they are tried (R-REG-4); the same objects as in `ike.gateways`. */
  servers: IkeGatewayConfig[];
  localAddress: string;
}

/** `security.group-vpn.member.ipsec.vpn.NAME`: membership of one group. */
export interface MemberVpnConfig {
  name: string;
  gateway: MemberGatewayConfig;
  /** The group number asked for in the pull. */
  groupId: number;
  /** Accepted for Junos compatibility; a user-space member has no interface to bind, so it is unused. */
  externalInterface: string | null;
  /** How long one server may take to complete a registration before the next one is tried (gvpn). */
  registrationTimeoutSeconds: number;
}

export interface ProbePeerConfig {
  name: string;
  /** The peer's probe/sender id: host number of the inner addresses inside the group policy. */
  memberId: number;
  address: string;
  port: number;
}

/** `security.group-vpn.member.data-plane` (gvpn): the user-space ESP-in-UDP endpoint and its probe. */
export interface DataPlaneConfig {
  listenAddress: string;
  listenPort: number;
  /** This member's probe/sender id; `null` when not configured (then no probe, and no GCM sending). */
  memberId: number | null;
  probe: { intervalMs: number; peers: ProbePeerConfig[] } | null;
}

/** The member side of a configuration. */
export interface MemberConfig {
  gateways: MemberGatewayConfig[];
  /** At least one. */
  vpns: MemberVpnConfig[];
  dataPlane: DataPlaneConfig;
}

// ---- chassis-cluster: the root pair (RG0) -----------------------------------------------------------

/** `chassis-cluster control-link`: the private link between the two root nodes. */
export interface ChassisControlLinkConfig {
  /** This node's own control-link address (IPv4), never `system.listen.address`. */
  localAddress: string;
  /** The other node's control-link address (IPv4), not `localAddress`. */
  peerAddress: string;
  /** TCP port, the same on both nodes. */
  port: number;
  /** Authenticates the link, which carries group keys. Serializes and inspects as "[secret]". */
  preSharedKey: Secret;
}

/**
 * `chassis-cluster` (modelled on Junos `chassis cluster`): this root server is one node of an
 * active/standby pair. The active node serves `system.listen.address`, the shared cluster address; the
 * nodes exchange heartbeats and replicate state over the control link. Root servers only (R-TOPO-3).
 */
export interface ChassisClusterConfig {
  /** Which node this process is. */
  node: 0 | 1;
  controlLink: ChassisControlLinkConfig;
  /** Milliseconds between heartbeats. */
  heartbeatIntervalMs: number;
  /** Heartbeats missed in a row before the peer is declared dead. */
  heartbeatThreshold: number;
  /** Redundancy group 0 priority of node 0 and node 1 (index = node); they differ, the higher is preferred. */
  priorities: [number, number];
}

/** `security.group-vpn.server` or `security.group-vpn.member`: the subtree present decides. */
export type ConfigRole = 'server' | 'member';

/** What every configuration has, whatever its role. */
export interface DaemonConfigBase {
  /** The file it was read from, for messages. */
  file: string;
  system: {
    hostName: string;
    platform: PlatformProfile;
    listen: Endpoint;
    /** Absolute; relative paths in the file are taken from the file's directory. */
    stateDirectory: string;
    /** `state-key-file`: the key sealing `<state-directory>/state.db` (packages/store), or null (GVPN_STATE_KEY or none). */
    stateKeyFile: string | null;
    logLevel: LogLevel;
    debug: {
      /** Phase-1 key log for tshark; `null` (the default) means off. Absolute path. */
      ikeKeyLog: string | null;
      /** Lowered minimums for lifetimes and delays, for tests (`short-timers: true`). */
      shortTimers: boolean;
    };
  };
  role: ConfigRole;
  ike: IkeConfig;
  /** The root pair settings; `null` when the file has no `chassis-cluster` (always on a member or sub-server). */
  chassisCluster: ChassisClusterConfig | null;
}

export interface ServerDaemonConfig extends DaemonConfigBase {
  role: 'server';
  server: ServerConfig;
  member: null;
}

export interface MemberDaemonConfig extends DaemonConfigBase {
  role: 'member';
  server: null;
  member: MemberConfig;
  chassisCluster: null;
}

/** One daemon's validated configuration: camelCase, defaults applied, references resolved. */
export type DaemonConfig = ServerDaemonConfig | MemberDaemonConfig;

export interface LoadedConfig {
  config: DaemonConfig;
  /** Accepted but risky settings (legacy DH groups, key logging), one "FILE: PATH: text" line each. */
  warnings: string[];
}
