import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from './errors.js';
import { parseYamlMap } from './yaml-reader.js';

export const PLATFORM_ROLES = ['root-server', 'sub-server', 'member'] as const;
export type PlatformRole = (typeof PLATFORM_ROLES)[number];

export const PLATFORM_FAMILIES = ['srx', 'vsrx', 'mx'] as const;
export type PlatformFamily = (typeof PLATFORM_FAMILIES)[number];

/** What a box model may do in a group VPN, read from `configs/platforms/<name>.yaml`. */
export interface PlatformProfile {
  /** The file stem, as written in `system.platform`. */
  name: string;
  model: string;
  family: PlatformFamily;
  roles: PlatformRole[];
  /** Whether the model can run the root server as a chassis cluster (the recommended deployment). */
  chassisClusterRoot: boolean;
  /** Per-box member maximum; `null` where no public source states it. */
  maxMembers: number | null;
  /** Where `maxMembers` comes from, or why it is unknown. */
  maxMembersSource: string;
  /** Group VPN operational commands the model offers, as Junos names them. */
  commands: string[];
}

/** `configs/platforms/` of this repository, found from the compiled file (`packages/runtime/dist/src/`). */
export const defaultProfilesDirectory: string = fileURLToPath(new URL('../../../../configs/platforms/', import.meta.url));

const PROFILE_NAME = /^[a-z0-9][a-z0-9-]*$/;
const PROFILE_KEYS = ['model', 'family', 'roles', 'chassis-cluster-root', 'max-members', 'max-members-source', 'commands'];

/** The profile names available in `directory`, sorted. */
export async function listPlatformProfiles(directory: string = defaultProfilesDirectory): Promise<string[]> {
  const entries = await readdir(directory);
  return entries
    .filter((entry) => entry.endsWith('.yaml'))
    .map((entry) => entry.slice(0, -'.yaml'.length))
    .filter((name) => PROFILE_NAME.test(name))
    .sort();
}

export async function loadPlatformProfile(name: string, directory: string = defaultProfilesDirectory): Promise<PlatformProfile> {
  const file = join(directory, `${name}.yaml`);
  if (!PROFILE_NAME.test(name)) throw new ConfigError('UNKNOWN_PLATFORM', file, '', `"${name}" is not a profile name`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new ConfigError('READ_FAILED', file, '', `cannot read profile: ${(cause as Error).message}`);
  }
  return parsePlatformProfile(text, file, name);
}

export async function loadAllPlatformProfiles(directory: string = defaultProfilesDirectory): Promise<PlatformProfile[]> {
  const names = await listPlatformProfiles(directory);
  return Promise.all(names.map((name) => loadPlatformProfile(name, directory)));
}

/** Validates one profile file; `file` is only used in error messages. */
export function parsePlatformProfile(text: string, file: string, name: string): PlatformProfile {
  const root = parseYamlMap(text, file);
  root.onlyKeys(PROFILE_KEYS);
  const roles = root.stringList('roles');
  if (roles === undefined || roles.length === 0) throw root.error('MISSING', 'roles', `required: a list of ${PLATFORM_ROLES.join(', ')}`);
  for (const role of roles) {
    if (!(PLATFORM_ROLES as readonly string[]).includes(role)) {
      throw root.error('INVALID_VALUE', 'roles', `"${role}" is not one of: ${PLATFORM_ROLES.join(', ')}`);
    }
  }
  if (new Set(roles).size !== roles.length) throw root.error('INVALID_VALUE', 'roles', 'lists a role twice');

  const chassisClusterRoot = root.boolean('chassis-cluster-root', false);
  if (chassisClusterRoot && !roles.includes('root-server')) {
    throw root.error('INVALID_VALUE', 'chassis-cluster-root', 'true requires the root-server role');
  }
  const maxMembers = root.nullableInteger('max-members', { min: 1, max: 1_000_000 });
  if (maxMembers === undefined) throw root.error('MISSING', 'max-members', 'required (a number, or null when not published)');

  const commands = root.stringList('commands') ?? [];
  for (const command of commands) {
    if (!/^(show|clear|request) [a-z0-9 -]+$/.test(command)) {
      throw root.error('INVALID_VALUE', 'commands', `"${command}" is not an operational command`);
    }
  }
  return {
    name,
    model: root.requiredString('model'),
    family: root.choice('family', PLATFORM_FAMILIES),
    roles: roles as PlatformRole[],
    chassisClusterRoot,
    maxMembers,
    maxMembersSource: root.requiredString('max-members-source'),
    commands,
  };
}
