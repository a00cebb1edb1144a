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

export interface IkeGatewayConfig {
  name: string;
  policy: IkePolicyConfig;
  remote: Endpoint;
  localAddress: string;
  initiate: boolean;
  /** DOI of the Main Mode SA payload we send: 2 (GDOI, default) or 1 (IPsec). */
  phase1Doi: 1 | 2;
  dpd: DeadPeerDetectionConfig;
}

export interface IkeOptionsConfig {
  allowLegacyGroups: boolean;
  maxHalfOpen: number;
  retransmitInitialMs: number;
  retransmitTries: number;
}

export interface IkeConfig {
  proposals: IkeProposalConfig[];
  policies: IkePolicyConfig[];
  gateways: IkeGatewayConfig[];
  options: IkeOptionsConfig;
}

/** `security.group-vpn.server` or `security.group-vpn.member`: the subtree present decides. */
export type ConfigRole = 'server' | 'member';

/** One daemon's validated configuration: camelCase, defaults applied, references resolved. */
export interface DaemonConfig {
  /** The file it was read from, for messages. */
  file: string;
  system: {
    hostName: string;
    platform: PlatformProfile;
    listen: Endpoint;
    /** Absolute; relative paths in the file are taken from the file's directory. */
    stateDirectory: string;
    logLevel: LogLevel;
    debug: {
      /** Phase-1 key log for tshark; `null` (the default) means off. Absolute path. */
      ikeKeyLog: string | null;
    };
  };
  role: ConfigRole;
  ike: IkeConfig;
}

export interface LoadedConfig {
  config: DaemonConfig;
  /** Accepted but risky settings (legacy DH groups, key logging), one "FILE: PATH: text" line each. */
  warnings: string[];
}
