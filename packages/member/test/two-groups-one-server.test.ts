/**
 * Members of two groups served by ONE key server through one IKE gateway (the member's two vpns share it),
 * real processes on 127.0.8.8x: the root-server daemon as a standalone key server with groups 1 and 2, and
 * two member daemons.
 *   - both register for both groups over one IKE SA (one Main Mode per member), and probes flow;
 *   - a rekey of group 2 leaves group 1's TEKs and SEQ as they were;
 *   - `clear security group-vpn member group` (every group) brings both back over one new Main Mode.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanup, assertIntegrationRequirements, waitFor, workDirectory } from '@gvpn/integration';
import { RootServerDaemon, standaloneGcksConfig } from './daemons.js';
import { MemberDaemon, type KekSa, type MemberStatistics } from './harness.js';

const SERVER = '127.0.8.81';
const PSK = 'member-two-groups-one-server-psk';
const M = [
  { name: 'gm82', address: '127.0.8.82', memberId: 1 },
  { name: 'gm83', address: '127.0.8.83', memberId: 2 },
] as const;
const GROUPS = { 1: 'GROUP_ID-0001', 2: 'GROUP_ID-0002' } as const;

/** The standalone configuration with a second group (group-id 2, 10.20.0.0/16) through the same gateways. */
function twoGroupConfig() {
  const options = { name: 'gcks81', address: SERVER, psk: PSK, members: M, kekLifetimeSeconds: 3600, retransmissionPeriod: 1 };
  const config = standaloneGcksConfig({ ...options, group: GROUPS[1], groupId: 1 });
  const second = standaloneGcksConfig({ ...options, group: GROUPS[2], groupId: 2 }).security['group-vpn'].server.group[GROUPS[2]]!;
  const sa = second['ipsec-sa'][GROUPS[2]]!;
  sa['match-policy'].POL1 = { ...sa['match-policy'].POL1, source: '10.20.0.0/16', destination: '10.20.0.0/16' };
  config.security['group-vpn'].server.group[GROUPS[2]] = second;
  return config;
}

describe('members of two groups on one key server', () => {
  const cleanup = new Cleanup();
  const members: MemberDaemon[] = [];
  let gcks: RootServerDaemon;
  after(() => cleanup.run());

  const serverTeks = async (group: string): Promise<string[]> =>
    ((await gcks.request(['show', 'security', 'group-vpn', 'server', 'ipsec', 'security-associations'])) as { sas: { group: string; spi: string; state: string }[] }).sas
      .filter((t) => t.group === group && t.state === 'active').map((t) => t.spi);

  before(async () => {
    await assertIntegrationRequirements();
    const workDir = await workDirectory(cleanup, 'member-two-groups-one-server');
    gcks = await RootServerDaemon.start('gcks81', twoGroupConfig(), workDir);
    cleanup.defer('root-server', () => gcks.stop());
    for (const m of M) {
      const daemon = await MemberDaemon.start({
        name: m.name, address: m.address, servers: [SERVER], psk: PSK, groupId: 1, memberId: m.memberId,
        peers: M.filter((o) => o !== m).map((o) => ({ name: o.name, memberId: o.memberId, address: o.address })),
        moreVpns: [{ name: 'GROUP2-VPN', groupId: 2 }],
      }, workDir);
      cleanup.defer(`${m.name} daemon`, () => daemon.stop());
      members.push(daemon);
    }
  });

  const kekOf = async (m: MemberDaemon, groupId: number): Promise<KekSa | undefined> => (await m.kek()).sas.find((k) => k.groupId === groupId);
  const teksOf = async (m: MemberDaemon, groupId: number) => (await m.ipsec()).sas.filter((s) => (s as { groupId?: number }).groupId === groupId);

  async function inSync(what: string): Promise<void> {
    let last = '';
    await waitFor(async () => {
      for (const id of [1, 2] as const) {
        const want = (await serverTeks(GROUPS[id])).sort().join(' ');
        for (const m of members) {
          const have = (await teksOf(m, id)).filter((s) => s.state === 'active').map((s) => s.spi).sort().join(' ');
          last = `${m.spec.name} group ${id}: ${have} vs server ${want}; KEK ${(await kekOf(m, id))?.spi ?? '-'}`;
          if (have !== want || want === '' || (await kekOf(m, id)) === undefined) return false;
        }
      }
      return true;
    }, 15_000, () => `${what} (last: ${last})`);
  }

  async function probesGrow(by: number): Promise<MemberStatistics[]> {
    const base = await Promise.all(members.map((m) => m.statistics()));
    let last = '';
    return await waitFor(async () => {
      const stats = await Promise.all(members.map((m) => m.statistics()));
      last = stats.map((s) => JSON.stringify(s.probe)).join(' / ');
      return stats.every((s, i) => s.probe.received >= base[i]!.probe.received + by) ? stats : false;
    }, 10_000, () => `probes received by both members (last: ${last})`);
  }

  it('registers both groups over one IKE SA with the server; probes flow', async () => {
    await inSync('both members on both groups');
    await probesGrow(10);
    // One Main Mode per member: the second vpn waits for the first one's (a second, beside it, is dropped).
    for (const m of members) assert.equal(m.log().match(/main mode initiator started/g)?.length, 1, `${m.spec.name}: Main Modes started`);
  });

  it('applies a rekey of group 2 to group 2 only', async () => {
    const before = await Promise.all(members.map(async (m) => ({ kek: await kekOf(m, 1), teks: await teksOf(m, 1), seq2: (await kekOf(m, 2))?.seq })));
    const old = await serverTeks(GROUPS[2]);
    await gcks.request(['request', 'security', 'group-vpn', 'server', 'rekey', 'group'], { group: GROUPS[2] });
    await waitFor(async () => (await serverTeks(GROUPS[2])).some((spi) => !old.includes(spi)), 5000, 'server rekeyed group 2');
    await inSync('group 2 on its new TEK');
    for (const [i, m] of members.entries()) {
      assert.deepEqual((await teksOf(m, 1)).map((s) => [s.spi, s.state]), before[i]!.teks.map((s) => [s.spi, s.state]), `${m.spec.name}: group 1's TEKs`);
      assert.equal((await kekOf(m, 1))?.seq, before[i]!.kek?.seq, `${m.spec.name}: group 1's SEQ`);
      assert.ok(((await kekOf(m, 2))?.seq ?? 0) > (before[i]!.seq2 ?? 0), `${m.spec.name}: group 2's SEQ moved`);
    }
  });

  it('registers both groups again after `clear security group-vpn member group`', async () => {
    const m = members[0]!;
    const stats = (await m.statistics()).registration['registrations']!;
    const answer = await m.request(['clear', 'security', 'group-vpn', 'member', 'group']) as { cleared: { group: string }[] };
    assert.deepEqual(answer.cleared.map((c) => c.group), ['GROUP1-VPN', 'GROUP2-VPN']);
    await waitFor(async () => (await m.statistics()).registration['registrations']! >= stats + 2, 10_000, 'both groups registered again');
    assert.equal(m.log().match(/main mode initiator started/g)?.length, 2, 'one new Main Mode for both groups');
    await inSync('both groups back after the clear');
    await probesGrow(10);
  });
});
