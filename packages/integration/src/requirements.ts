// Integration tests need root (namespaces, captures, tmpfs mounts) and the external tools. When either
// is missing they must fail loudly rather than skip: CI installs the tools (scripts/setup --tools), so a
// silent skip would hide a broken CI image.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Debian installs charon to one of these, depending on the release. */
const CHARON_PATHS = ['/usr/lib/ipsec/charon', '/usr/libexec/ipsec/charon'];

/** Command-line tools the harness runs, with the Debian package that provides each. */
export const REQUIRED_TOOLS: Readonly<Record<string, string>> = {
  ip: 'iproute2',
  nft: 'nftables',
  unshare: 'util-linux',
  tshark: 'tshark',
  swanctl: 'strongswan-swanctl',
  'ike-scan': 'ike-scan',
};

/** The charon binary, or undefined when strongswan-charon is not installed. */
export function findCharon(): string | undefined {
  return CHARON_PATHS.find(isExecutable);
}

/** The absolute path of a command on PATH, or undefined. */
export function findOnPath(command: string): string | undefined {
  const dirs = (process.env['PATH'] ?? '').split(delimiter).concat(['/usr/sbin', '/sbin']);
  return dirs.map((dir) => join(dir, command)).find(isExecutable);
}

/** Throws one error listing everything missing: root, each tool and its package, charon. */
export function assertIntegrationRequirements(): void {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push(`must run as root (uid is ${process.getuid?.()})`);
  for (const [tool, pkg] of Object.entries(REQUIRED_TOOLS)) {
    if (findOnPath(tool) === undefined) problems.push(`${tool} not found (Debian package ${pkg})`);
  }
  if (findCharon() === undefined) problems.push(`charon not found in ${CHARON_PATHS.join(' or ')} (strongswan-charon)`);
  if (problems.length > 0) {
    throw new Error(`integration test requirements missing (run scripts/setup --tools as root):\n  ${problems.join('\n  ')}`);
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
