/**
 * The `data` a daemon returns for each CLI command, as documented in docs/control-protocol.md.
 * Declared here rather than imported so the CLI stays free of protocol code.
 */

export interface Endpoint {
  address: string;
  port: number;
}

export interface IkeSecurityAssociation {
  index: number;
  gateway: string;
  role: 'initiator' | 'responder';
  state: 'UP' | 'DOWN' | 'NEGOTIATING';
  /** 16 lower-case hex digits each. */
  icookie: string;
  rcookie: string;
  local: Endpoint;
  remote: Endpoint;
  exchangeType: 'main';
  authMethod: 'pre-shared-keys';
  /** The proposal's fields are `null` until the responder has chosen one (a NEGOTIATING SA). */
  encryption: 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc' | null;
  hash: 'sha1' | 'sha256' | 'sha384' | 'sha512' | null;
  dhGroup: number | null;
  lifetimeSeconds: number | null;
  expiresInSeconds: number | null;
  dpd: {
    /** `null` when this daemon sends no probes on the gateway (no `always-send`); it still answers them. */
    interval: number | null;
    threshold: number | null;
    sentSeq: number;
    lastAckSeq: number | null;
    outstanding: number;
    peerSupportsDpd: boolean;
  };
}

export interface IkeSecurityAssociations {
  sas: IkeSecurityAssociation[];
}

/** Counter sections, e.g. `{ ike: { datagramsReceived: 10 } }`; names are lowerCamelCase words. */
export type Statistics = Record<string, Record<string, number>>;

export interface VersionInfo {
  hostName: string;
  platform: string;
  model: string;
  daemon: string;
  version: string;
  node: string;
}

export interface PingReply {
  name: string;
  /** The daemon that answers; `role` is what its running configuration makes it. */
  daemon?: 'root-server' | 'sub-server' | 'member';
  role: 'root-server' | 'sub-server' | 'standalone' | 'member';
  platform: string;
  pid: number;
  uptimeSeconds: number;
}
