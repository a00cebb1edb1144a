// Shared pieces of the interoperability tests (test/interop-*.test.ts): the proposal suites proven
// against charon, ISAKMP numbers and fields as tshark prints them, and the checks that several tests make
// on a capture of our daemon's Main Mode with charon.
import assert from 'node:assert/strict';
import { aes256Sha256, type OurDaemon, type OurProposal, type OurSa } from './our-daemon.js';
import type { Scenario } from './stage.js';
import { fields, malformedGate } from './tshark.js';
import { readIkeKeyLog } from './ike-key-log.js';

export interface InteropSuite {
  /** strongSwan proposal syntax */
  strongswan: string;
  /** the same suite in our configuration */
  ours: OurProposal;
  /** what our status reports once the SA is up */
  expected: { encryption: string; hash: string; dhGroup: number };
  /** the transform's attributes as tshark prints them (RFC 2409 Appendix A numbers) */
  transform: { encryption: string; keyLength: string; hash: string; auth: string; group: string };
  /** length of HASH_I / HASH_R in hex digits */
  hashHexLength: number;
  /** charon's log and --list-sas name the suite like this, e.g. AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048 */
  charonSuite: RegExp;
  legacy: boolean;
}

/** RFC 2409 Appendix A: AES-CBC = 7; SHA = 2, SHA2-256 = 4; pre-shared key = 1. */
export const INTEROP_SUITES: readonly InteropSuite[] = [
  {
    strongswan: 'aes256-sha256-modp2048',
    ours: aes256Sha256(14),
    expected: { encryption: 'aes-256-cbc', hash: 'sha256', dhGroup: 14 },
    transform: { encryption: '7', keyLength: '256', hash: '4', auth: '1', group: '14' },
    hashHexLength: 64,
    charonSuite: /AES_CBC-256\/HMAC_SHA2_256_128\/PRF_HMAC_SHA2_256\/MODP_2048/,
    legacy: false,
  },
  {
    strongswan: 'aes256-sha256-ecp256',
    ours: aes256Sha256(19),
    expected: { encryption: 'aes-256-cbc', hash: 'sha256', dhGroup: 19 },
    transform: { encryption: '7', keyLength: '256', hash: '4', auth: '1', group: '19' },
    hashHexLength: 64,
    charonSuite: /AES_CBC-256\/HMAC_SHA2_256_128\/PRF_HMAC_SHA2_256\/ECP_256/,
    legacy: false,
  },
  {
    strongswan: 'aes128-sha1-modp1024',
    ours: { name: 'AES128-SHA1-DH2', dhGroup: 'group2', hash: 'sha1', encryption: 'aes-128-cbc' },
    expected: { encryption: 'aes-128-cbc', hash: 'sha1', dhGroup: 2 },
    transform: { encryption: '7', keyLength: '128', hash: '2', auth: '1', group: '2' },
    hashHexLength: 40,
    charonSuite: /AES_CBC-128\/HMAC_SHA1_96\/PRF_HMAC_SHA1\/MODP_1024/,
    legacy: true,
  },
];

/** ISAKMP numbers as tshark's fields print them (RFC 2408, RFC 2407, RFC 3706). */
export const IKE_NUMBERS = {
  exchange: { identityProtection: '2', informational: '5' },
  payload: { sa: '1', transform: '3', ke: '4', id: '5', hash: '8', nonce: '10', notify: '11', delete: '12', vendorId: '13' },
  idType: { ipv4Address: '1' },
  notify: { noProposalChosen: '14', authenticationFailed: '24', rUThere: '36136', rUThereAck: '36137' },
} as const;

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

/** ISAKMP_FIELDS of every frame in a capture (decrypted where `keyTable` has the SA's key). */
export async function isakmpRows(pcapFile: string, options: Parameters<typeof fields>[2] = {}): Promise<IsakmpRow[]> {
  return (await fields(pcapFile, ISAKMP_FIELDS, options)) as IsakmpRow[];
}

/** The encryption bit of the ISAKMP header flags as tshark prints them ("0x01"). */
export function encrypted(row: IsakmpRow): boolean {
  return (Number(row['isakmp.flags']) & 1) === 1;
}

/** A comma-joined tshark value as a list ('' -> []). */
export function values(value: string | undefined): string[] {
  return value === undefined || value === '' ? [] : value.split(',');
}

/**
 * The six Main Mode messages of `sa` between our daemon (link.a) and charon (link.b), as tshark reads
 * them with our key log: waits for all six, stops the scenario's capture, asserts that our key log holds exactly
 * this SA and that no frame is malformed, and returns the SA's Main Mode rows split by sender.
 */
export async function mainModeFrames(scenario: Scenario, daemon: OurDaemon, sa: OurSa): Promise<{ fromUs: IsakmpRow[]; fromCharon: IsakmpRow[] }> {
  const { capture, stage } = scenario;
  await capture.waitForFrames(`isakmp.exchangetype == 2 && isakmp.ispi == ${sa.icookie}`, 6, 5000);
  await capture.stop();
  const keyTable = await readIkeKeyLog(daemon.keyLogFile ?? '');
  assert.deepEqual(keyTable.map((k) => k.icookie), [sa.icookie], 'our key log has this SA');
  assert.deepEqual(await malformedGate(capture.pcapFile, { keyTable }), []);
  const mainMode = (await isakmpRows(capture.pcapFile, { keyTable }))
    .filter((r) => r['isakmp.ispi'] === sa.icookie && r['isakmp.exchangetype'] === IKE_NUMBERS.exchange.identityProtection);
  return {
    fromUs: mainMode.filter((r) => r['ip.src'] === stage.link.a.address),
    fromCharon: mainMode.filter((r) => r['ip.src'] === stage.link.b.address),
  };
}

/** A Main Mode message 1 or 2: DOI 1 (IPsec, as charon uses) and exactly one transform, the suite's. */
export function assertSuiteTransform(row: IsakmpRow | undefined, suite: InteropSuite, what: string): void {
  assert.ok(row !== undefined, what);
  assert.equal(row['isakmp.sa.doi'], '1', `${what}: DOI 1 (phase1-doi: ipsec)`);
  assert.equal(values(row['isakmp.typepayload']).filter((t) => t === IKE_NUMBERS.payload.transform).length, 1, `${what}: one transform`);
  assert.deepEqual({
    encryption: row['isakmp.ike.attr.encryption_algorithm'],
    keyLength: row['isakmp.ike.attr.key_length'],
    hash: row['isakmp.ike.attr.hash_algorithm'],
    auth: row['isakmp.ike.attr.authentication_method'],
    group: row['isakmp.ike.attr.group_description'],
  }, suite.transform, `${what}: the transform`);
}

/** A Main Mode message 5 or 6, decrypted: ID_IPV4_ADDR `address` and a HASH of the suite's length. */
export function assertDecryptedIdentity(row: IsakmpRow | undefined, address: string, suite: InteropSuite, what: string): void {
  assert.ok(row !== undefined, what);
  assert.ok(encrypted(row), `${what} is encrypted`);
  assert.equal(row['isakmp.id.type'], IKE_NUMBERS.idType.ipv4Address, `${what}: ID type`);
  assert.equal(row['isakmp.id.data.ipv4_addr'], address, `${what}: ID`);
  assert.equal(row['isakmp.hash'].length, suite.hashHexLength, `${what}: HASH length`);
}

/** One SA established, no authentication failure, nothing malformed: our side of a clean negotiation. */
export function assertOneCleanSa(counters: Record<string, number>): void {
  assert.equal(counters['saEstablished'], 1);
  assert.equal(counters['authFailed'], 0);
  assert.equal(counters['malformedDropped'], 0);
}
