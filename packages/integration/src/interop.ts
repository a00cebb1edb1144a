// Shared pieces of the interoperability tests (test/interop-*.test.ts): the proposal suites proven
// against charon, ISAKMP numbers as tshark prints them, and a stage of two namespaces joined by a veth
// pair with a work directory, all undone by the caller's Cleanup.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cleanup } from './cleanup.js';
import { NetworkNamespace, connect, sweepStaleNamespaces, type VethLink } from './netns.js';
import type { OurProposal } from './our-daemon.js';
import { assertIntegrationRequirements } from './requirements.js';

export interface InteropSuite {
  /** strongSwan proposal syntax */
  strongswan: string;
  /** the same suite in our configuration */
  ours: OurProposal;
  /** what our status reports once the SA is up */
  expected: { encryption: string; hash: string; dhGroup: number };
  /** charon's log and --list-sas name the suite like this, e.g. AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048 */
  charonSuite: RegExp;
  legacy: boolean;
}

export const INTEROP_SUITES: readonly InteropSuite[] = [
  {
    strongswan: 'aes256-sha256-modp2048',
    ours: { name: 'AES256-SHA256-DH14', dhGroup: 'group14', hash: 'sha-256', encryption: 'aes-256-cbc' },
    expected: { encryption: 'aes-256-cbc', hash: 'sha256', dhGroup: 14 },
    charonSuite: /AES_CBC-256\/HMAC_SHA2_256_128\/PRF_HMAC_SHA2_256\/MODP_2048/,
    legacy: false,
  },
  {
    strongswan: 'aes256-sha256-ecp256',
    ours: { name: 'AES256-SHA256-DH19', dhGroup: 'group19', hash: 'sha-256', encryption: 'aes-256-cbc' },
    expected: { encryption: 'aes-256-cbc', hash: 'sha256', dhGroup: 19 },
    charonSuite: /AES_CBC-256\/HMAC_SHA2_256_128\/PRF_HMAC_SHA2_256\/ECP_256/,
    legacy: false,
  },
  {
    strongswan: 'aes128-sha1-modp1024',
    ours: { name: 'AES128-SHA1-DH2', dhGroup: 'group2', hash: 'sha1', encryption: 'aes-128-cbc' },
    expected: { encryption: 'aes-128-cbc', hash: 'sha1', dhGroup: 2 },
    charonSuite: /AES_CBC-128\/HMAC_SHA1_96\/PRF_HMAC_SHA1\/MODP_1024/,
    legacy: true,
  },
];

/** ISAKMP numbers as tshark's fields print them (RFC 2408, RFC 2407, RFC 3706). */
export const IKE_NUMBERS = {
  exchange: { identityProtection: '2', informational: '5' },
  payload: { sa: '1', ke: '4', id: '5', hash: '8', nonce: '10', notify: '11', delete: '12', vendorId: '13' },
  idType: { ipv4Address: '1' },
  notify: { rUThere: '36136', rUThereAck: '36137' },
} as const;

export interface InteropStage {
  workDir: string;
  /** where our daemon runs (link.a) */
  ours: NetworkNamespace;
  /** where charon or ike-scan runs (link.b) */
  theirs: NetworkNamespace;
  link: VethLink;
}

/**
 * Checks root and tools (failing, never skipping), then makes a work directory and two namespaces joined
 * by a veth pair; each resource is registered with `cleanup` as soon as it exists.
 * GVPN_KEEP_ARTIFACTS=1 keeps the work directory (captures, configurations, logs).
 */
export async function interopStage(cleanup: Cleanup, label: string): Promise<InteropStage> {
  assertIntegrationRequirements();
  await sweepStaleNamespaces();
  const workDir = await mkdtemp(join(tmpdir(), `gvpn-${label}-`));
  if (process.env['GVPN_KEEP_ARTIFACTS'] === '1') console.log(`keeping ${workDir}`);
  else cleanup.defer('work directory', () => rm(workDir, { recursive: true, force: true }));
  const ours = await NetworkNamespace.create();
  cleanup.defer('our namespace', () => ours.destroy());
  const theirs = await NetworkNamespace.create();
  cleanup.defer('their namespace', () => theirs.destroy());
  const link = await connect(ours, theirs);
  return { workDir, ours, theirs, link };
}

/** Fields the interop tests read from every ISAKMP frame. */
export const ISAKMP_FIELDS = [
  'frame.number', 'frame.len', 'ip.src', 'ip.dst', 'udp.srcport', 'udp.dstport', 'isakmp.ispi', 'isakmp.rspi', 'isakmp.exchangetype',
  'isakmp.flags', 'isakmp.typepayload', 'isakmp.sa.doi', 'isakmp.ike.attr.encryption_algorithm',
  'isakmp.ike.attr.key_length', 'isakmp.ike.attr.hash_algorithm', 'isakmp.ike.attr.authentication_method',
  'isakmp.ike.attr.group_description', 'isakmp.id.type', 'isakmp.id.data.ipv4_addr', 'isakmp.hash',
  'isakmp.notify.msgtype', 'isakmp.notify.data.dpd.are_you_there', 'isakmp.notify.data.dpd.are_you_there_ack',
  'isakmp.delete.spi',
] as const;

export type IsakmpRow = Record<(typeof ISAKMP_FIELDS)[number], string>;

/** The encryption bit of the ISAKMP header flags as tshark prints them ("0x01"). */
export function encrypted(row: IsakmpRow): boolean {
  return (Number(row['isakmp.flags']) & 1) === 1;
}

/** A comma-joined tshark value as a list ('' -> []). */
export function values(value: string | undefined): string[] {
  return value === undefined || value === '' ? [] : value.split(',');
}
