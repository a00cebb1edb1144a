import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { chassisClusterSection, readChassisCluster } from './config-chassis.js';
import { readServerConfig } from './config-group.js';
import { readAddress, readIkeConfig, DEFAULT_IKE_PORT } from './config-ike.js';
import { readMemberConfig } from './config-member.js';
import type { ConfigRole, DaemonConfig, DaemonConfigBase, LoadedConfig } from './config-types.js';
import { ConfigError } from './errors.js';
import { LOG_LEVELS } from './logger.js';
import { defaultProfilesDirectory, listPlatformProfiles, loadPlatformProfile, type PlatformProfile } from './platform.js';
import { parseYamlMap, type YamlMapReader } from './yaml-reader.js';

export interface LoadConfigOptions {
  /** Where platform profiles live; default: this repository's `configs/platforms/`. */
  profilesDirectory?: string;
}

/** Reads and validates one daemon configuration file (docs/configuration.md). Throws `ConfigError`. */
export async function loadConfig(file: string, options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new ConfigError('READ_FAILED', file, '', `cannot read: ${(cause as Error).message}`);
  }
  return parseConfig(text, file, options);
}

/** As `loadConfig`, for text already in hand; `file` names it in errors and anchors relative paths. */
export async function parseConfig(text: string, file: string, options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const warnings: string[] = [];
  const warn = (path: string, message: string): void => {
    warnings.push(`${file}: ${path}: ${message}`);
  };
  const root = parseYamlMap(text, file);
  root.onlyKeys(['system', 'security', 'chassis-cluster']);

  const system = root.map('system', true);
  system.onlyKeys(['host-name', 'platform', 'listen', 'state-directory', 'state-key-file', 'log-level', 'debug']);
  const platform = await readPlatform(system, options.profilesDirectory ?? defaultProfilesDirectory);
  const listenNode = system.map('listen', true);
  listenNode.onlyKeys(['address', 'port']);
  const listenAddress = readAddress(listenNode, 'address');
  if (listenAddress === undefined) throw listenNode.error('MISSING', 'address', 'required');
  const listen = { address: listenAddress, port: listenNode.integer('port', { min: 1, max: 65_535, default: DEFAULT_IKE_PORT }) };
  const debug = system.map('debug');
  debug?.onlyKeys(['ike-key-log', 'short-timers']);
  const ikeKeyLog = debug?.string('ike-key-log');
  if (ikeKeyLog !== undefined && debug !== undefined) {
    warn(debug.childPath('ike-key-log'), 'phase-1 keys will be written to a file; for testing only');
  }
  const shortTimers = debug?.boolean('short-timers', false) ?? false;
  if (shortTimers && debug !== undefined) {
    warn(debug.childPath('short-timers'), 'minimum lifetimes and delays are lowered below the Junos ranges; for testing only');
  }

  const groupVpn = root.map('security', true).map('group-vpn', true);
  groupVpn.onlyKeys(['server', 'member']);
  const role = readRole(groupVpn);
  refuseUnsupportedRole(groupVpn, role, platform);
  const roleNode = groupVpn.map(role, true);
  roleNode.onlyKeys(role === 'server' ? ['ike', 'ipsec', 'group'] : ['ike', 'ipsec', 'data-plane']);
  const ikeRead = readIkeConfig(roleNode.map('ike', true), { role, listen, shortTimers, warn });

  const base = dirname(resolve(file));
  const stateKeyFile = system.string('state-key-file');
  const common: Omit<DaemonConfigBase, 'chassisCluster'> = {
    file,
    system: {
      hostName: system.requiredString('host-name'),
      platform,
      listen,
      stateDirectory: resolve(base, system.requiredString('state-directory')),
      stateKeyFile: stateKeyFile === undefined ? null : resolve(base, stateKeyFile),
      logLevel: system.choice('log-level', LOG_LEVELS, 'info'),
      debug: { ikeKeyLog: ikeKeyLog === undefined ? null : resolve(base, ikeKeyLog), shortTimers },
    },
    role,
    ike: ikeRead.ike,
  };
  let config: DaemonConfig;
  if (role === 'server') {
    const server = readServerConfig(roleNode, ikeRead, { platform, shortTimers });
    const chassis = chassisClusterSection(root, server.clusterRole, platform);
    config = { ...common, role, server, member: null, chassisCluster: chassis === undefined ? null : readChassisCluster(chassis, listen) };
  } else {
    chassisClusterSection(root, 'member', platform); // refuses the section on a member
    config = { ...common, role, server: null, member: readMemberConfig(roleNode, ikeRead, { listen }), chassisCluster: null };
  }
  return { config, warnings };
}

async function readPlatform(system: YamlMapReader, directory: string): Promise<PlatformProfile> {
  const name = system.requiredString('platform');
  const known = await listPlatformProfiles(directory).catch((cause: Error) => {
    throw system.error('READ_FAILED', 'platform', `cannot list platform profiles in ${directory}: ${cause.message}`);
  });
  if (!known.includes(name)) throw system.error('UNKNOWN_PLATFORM', 'platform', `"${name}" is not one of: ${known.join(', ')}`);
  return loadPlatformProfile(name, directory);
}

function readRole(groupVpn: YamlMapReader): ConfigRole {
  const server = groupVpn.has('server');
  const member = groupVpn.has('member');
  if (server && member) throw groupVpn.error('ROLE', undefined, 'configure either server or member, not both');
  if (!server && !member) throw groupVpn.error('MISSING', undefined, 'required: server or member');
  return server ? 'server' : 'member';
}

function refuseUnsupportedRole(groupVpn: YamlMapReader, role: ConfigRole, platform: PlatformProfile): void {
  const able = role === 'server'
    ? platform.roles.includes('root-server') || platform.roles.includes('sub-server')
    : platform.roles.includes('member');
  if (!able) {
    throw groupVpn.error(
      'ROLE_NOT_SUPPORTED',
      role,
      `system.platform ${platform.name} (${platform.model}) cannot be a group VPN ${role}; it supports: ${platform.roles.join(', ')}`,
    );
  }
}
