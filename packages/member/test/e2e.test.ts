/**
 * End to end, real processes only, on 127.0.8.3x/4x (this file's addresses): the root-server daemon as a
 * standalone key server and four member daemons.
 *   - all four register; gm4's first server address is dead, so it registers with its second (R-REG-4);
 *   - every member holds the server's KEK and TEK SPIs and keys (compared with the server's own display);
 *   - ESP probes flow between all members through three operator TEK rekeys and one KEK rekey (short KEK
 *     lifetime) with zero loss;
 *   - tshark (external checker), given the TEK keys the members show, decrypts the captured ESP-in-UDP
 *     probes and finds every ICV good, with the group-policy inner addresses;
 *   - both clear commands make members register again.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Capture, Cleanup, assertIntegrationRequirements, runCommand, waitFor, workDirectory } from '@gvpn/integration';
import { RootServerDaemon, standaloneGcksConfig } from './daemons.js';
import { MemberDaemon, type MemberSpec, type MemberStatistics } from './harness.js';

const SERVER = '127.0.8.31';
const DEAD_SERVER = '127.0.8.32';
const GROUP = 'GROUP_ID-0001';
const PSK = 'member-e2e-psk';
const M = [
  { name: 'gm1', address: '127.0.8.41', memberId: 1, platform: 'vsrx', servers: [SERVER] },
  { name: 'gm2', address: '127.0.8.42', memberId: 2, platform: 'srx340', servers: [SERVER] },
  { name: 'gm3', address: '127.0.8.43', memberId: 3, platform: 'mx', servers: [SERVER] },
  { name: 'gm4', address: '127.0.8.44', memberId: 4, platform: 'mx', servers: [DEAD_SERVER, SERVER] },
] as const;
const KEK_LIFETIME_SECONDS = 14;

function serverConfig() {
  return standaloneGcksConfig({
    name: 'gcks', address: SERVER, psk: PSK, members: M, group: GROUP, groupId: 1,
    kekLifetimeSeconds: KEK_LIFETIME_SECONDS, retransmissionPeriod: 1,
  });
}

interface ServerKek { spi: string; seq: number; keys?: { encryptionKey: string } }
interface ServerTek { spi: string; state: 'active' | 'deactivating'; keys?: { encryptionKey: string; authenticationKey?: string } }

describe('root-server (standalone GCKS) and four member daemons', () => {
  const cleanup = new Cleanup();
  const members: MemberDaemon[] = [];
  let workDir: string;
  let gcks: RootServerDaemon;
  after(() => cleanup.run());

  const server = (words: string[], options: Record<string, unknown> = {}): Promise<unknown> => gcks.request(words, options);
  const serverKek = async (): Promise<ServerKek> =>
    ((await server(['show', 'security', 'group-vpn', 'server', 'kek', 'security-associations'], { showKeys: true })) as { sas: ServerKek[] }).sas[0]!;
  const serverTeks = async (): Promise<ServerTek[]> =>
    ((await server(['show', 'security', 'group-vpn', 'server', 'ipsec', 'security-associations'], { showKeys: true })) as { sas: ServerTek[] }).sas;

  before(async () => {
    await assertIntegrationRequirements();
    workDir = await workDirectory(cleanup, 'member-e2e');
    gcks = await RootServerDaemon.start('gcks', serverConfig(), workDir);
    cleanup.defer('root-server', () => gcks.stop());
    for (const m of M) {
      const spec: MemberSpec = {
        name: m.name, address: m.address, platform: m.platform, servers: [...m.servers], psk: PSK, groupId: 1, memberId: m.memberId,
        peers: M.filter((o) => o !== m).map((o) => ({ name: o.name, memberId: o.memberId, address: o.address })),
      };
      const daemon = await MemberDaemon.start(spec, workDir);
      cleanup.defer(`${m.name} daemon`, () => daemon.stop());
      members.push(daemon);
    }
  });

  /** Every member shows the server's KEK and exactly the server's active TEKs (keys included), all active. */
  async function inSync(withinMs: number, what: string): Promise<void> {
    let last = '';
    await waitFor(async () => {
      const kek = await serverKek();
      const active = (await serverTeks()).filter((t) => t.state === 'active');
      const want = active.map((t) => `${t.spi}:${t.keys?.encryptionKey}:${t.keys?.authenticationKey}`).sort().join(' ');
      for (const m of members) {
        const k = (await m.kek()).sas[0];
        const have = (await m.ipsec()).sas;
        const got = have.map((s) => `${s.spi}:${s.encryptionKey}:${s.integrityKey}`).sort().join(' ');
        last = `${m.spec.name}: KEK ${k?.spi} vs ${kek.spi}; TEKs ${got} vs ${want}`;
        if (k?.spi !== kek.spi || k.key !== kek.keys?.encryptionKey) return false;
        if (got !== want || !have.every((s) => s.state === 'active' && s.outbound)) return false;
      }
      return true;
    }, withinMs, () => `${what} (last: ${last})`);
  }

  it('registers all four members, gm4 with its second server address', async () => {
    await waitFor(async () => {
      for (const m of members) if ((await m.kek()).sas.length !== 1) return false;
      return true;
    }, 20_000, 'every member registered');
    const view = await server(['show', 'security', 'group-vpn', 'server', 'registered-members']) as { groups: { memberCount: number; members: { address: string }[] }[] };
    assert.deepEqual(new Set(view.groups[0]?.members.map((m) => m.address)), new Set(M.map((m) => m.address)));
    const gm4 = await members[3]!.statistics();
    assert.ok(gm4.registration['failovers']! >= 1, 'gm4 moved on from 127.0.8.32');
    for (const m of members) assert.equal((await m.kek()).sas[0]?.server, SERVER);
    await inSync(5000, 'members hold the server KEK and TEKs');
  });

  it('carries probes between all members with zero loss through three TEK rekeys and a KEK rekey', async () => {
    const base = await waitFor(async () => {
      const stats = await Promise.all(members.map((m) => m.statistics()));
      return stats.every((s) => s.probePeers.every((p) => p.received >= 5)) ? stats : false;
    }, 10_000, 'probes between every pair');
    const kekBefore = (await serverKek()).spi;
    for (let round = 1; round <= 3; round++) {
      const before = (await serverTeks()).filter((t) => t.state === 'active').map((t) => t.spi);
      await server(['request', 'security', 'group-vpn', 'server', 'rekey', 'group'], { group: GROUP });
      await waitFor(async () => (await serverTeks()).some((t) => t.state === 'active' && !before.includes(t.spi)), 5000, 'server rekeyed');
      await inSync(15_000, `members on the new TEK after rekey ${round}`);
    }
    // The KEK lifetime is 14 s: the server rekeys it on its own before it ends.
    await waitFor(async () => (await serverKek()).spi !== kekBefore, 20_000, 'the server to rekey its KEK');
    await inSync(10_000, 'members on the new KEK');
    await members[0]!.request(['show', 'version']);
    const now = await waitFor(async () => {
      const stats = await Promise.all(members.map((m) => m.statistics()));
      return stats.every((s, i) => s.probe.received >= base[i]!.probe.received + 100) ? stats : false;
    }, 10_000, 'probes after the rekeys');
    for (const [i, s] of now.entries()) {
      const b: MemberStatistics = base[i]!;
      const who = M[i]!.name;
      assert.equal(s.probe.gaps - b.probe.gaps, 0, `${who}: probes lost between received ones`);
      assert.equal(s.probe.sendFailures - b.probe.sendFailures, 0, `${who}: probes with no outbound TEK`);
      assert.equal(s.probe.noSa - b.probe.noSa, 0, `${who}: ESP under an SPI it did not hold`);
      assert.equal(s.probe.authFailures - b.probe.authFailures, 0, `${who}: ESP authentication failures`);
      assert.ok(s.push['pushesAccepted']! >= 4, `${who}: pushes accepted ${s.push['pushesAccepted']}`);
      assert.ok(s.push['kekRekeys']! >= 1, `${who}: KEK rekeys`);
      assert.equal(s.push['badSignatureDropped'], 0);
      assert.equal(s.push['replayDropped'], 0);
    }
  });

  it('tshark decrypts the members\' ESP-in-UDP probes with the TEK keys they show: every ICV good', async () => {
    const pcap = join(workDir, 'esp.pcap');
    const filter = 'udp port 4500 and src net 127.0.8.40/29 and dst net 127.0.8.40/29';
    const capture = await Capture.start({ namespace: undefined, iface: 'lo', pcapFile: pcap, logDir: workDir, filter });
    let stopped = false;
    cleanup.defer('tshark capture', async () => { if (!stopped) await capture.stop(); });
    const teks = (await members[0]!.ipsec()).sas;
    await capture.waitForFrames('udp.port == 4500', 60, 10_000, { decodeAs: [] });
    await capture.stop();
    stopped = true;
    const uat = teks.map((t) => `uat:esp_sa:"IPv4","*","*","0x${t.spi}","AES-CBC [RFC3602]","0x${t.encryptionKey}","HMAC-SHA-256-128 [RFC4868]","0x${t.integrityKey}"`);
    const { stdout } = await runCommand('tshark', [
      '-r', pcap, '-d', 'udp.port==4500,udpencap', '-Y', 'udp.port == 4500',
      '-o', 'esp.enable_encryption_decode:TRUE', '-o', 'esp.enable_authentication_check:TRUE', ...uat.flatMap((u) => ['-o', u]),
      '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,',
      '-e', 'frame.number', '-e', 'esp.spi', '-e', 'esp.icv_good', '-e', 'esp.icv_bad', '-e', 'ip.src', '-e', 'ip.dst', '-e', '_ws.malformed',
    ]);
    const rows = stdout.split('\n').filter((l) => l !== '').map((l) => {
      const [frame, spi, good, bad, src, dst, malformed] = l.split('\t');
      return { frame, spi, good, bad, src, dst, malformed };
    });
    assert.ok(rows.length >= 60, `ESP frames captured: ${rows.length}`);
    const spis = new Set(teks.map((t) => Number.parseInt(t.spi, 16)));
    for (const row of rows) {
      assert.ok(spis.has(Number(row.spi)), `frame ${row.frame}: SPI ${row.spi} is a TEK the member holds`);
      assert.equal(row.good, '1', `frame ${row.frame}: icv_good (${JSON.stringify(row)})`);
      assert.equal(row.bad, '0', `frame ${row.frame}: icv_bad`);
      assert.equal(row.malformed, '', `frame ${row.frame}: malformed`);
      const [outerSrc, innerSrc] = row.src!.split(',');
      const [outerDst, innerDst] = row.dst!.split(',');
      const from = M.find((m) => m.address === outerSrc);
      const to = M.find((m) => m.address === outerDst);
      assert.ok(from !== undefined && to !== undefined, `frame ${row.frame}: between members`);
      assert.equal(innerSrc, `172.16.0.${from.memberId}`, `frame ${row.frame}: inner source (address preservation)`);
      assert.equal(innerDst, `172.16.0.${to.memberId}`, `frame ${row.frame}: inner destination`);
    }
  });

  it('clear commands make members register again, with the server', async () => {
    const regs = await Promise.all(members.map(async (m) => (await m.statistics()).registration['registrations']!));
    await members[0]!.request(['clear', 'security', 'group-vpn', 'member', 'ipsec', 'security-associations']);
    await members[3]!.request(['clear', 'security', 'group-vpn', 'member', 'group']);
    await waitFor(async () => (await members[0]!.statistics()).registration['registrations'] === regs[0]! + 1, 10_000, 'gm1 registered again');
    await waitFor(async () => (await members[3]!.statistics()).registration['registrations'] === regs[3]! + 1, 15_000, 'gm4 registered again');
    await inSync(10_000, 'members back in sync after the clear commands');
  });
});
