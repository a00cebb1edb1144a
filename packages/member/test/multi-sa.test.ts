/**
 * A group with two SAs (two `ipsec-sa`s of different match-policies, so two TEKs per rekey), real
 * processes on 127.0.8.5x: the root-server daemon as a standalone key server and two member daemons. Each
 * member sends every probe under the TEK whose selector covers it (the probe's inner addresses are in the
 * first SA's 172.16.0.0/12), not under the newest TEK of the group, before and after a rekey; status marks
 * each SA outbound for its own selector.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanup, assertIntegrationRequirements, waitFor, workDirectory } from '@gvpn/integration';
import { RootServerDaemon, standaloneGcksConfig } from './daemons.js';
import { MemberDaemon, type MemberStatistics } from './harness.js';

const SERVER = '127.0.8.51';
const GROUP = 'GROUP_ID-0001';
const PSK = 'member-multi-sa-psk';
const M = [
  { name: 'gm1', address: '127.0.8.52', memberId: 1 },
  { name: 'gm2', address: '127.0.8.53', memberId: 2 },
] as const;

describe('a group with two SAs: each probe goes under the TEK of its selector', () => {
  const cleanup = new Cleanup();
  const members: MemberDaemon[] = [];
  let gcks: RootServerDaemon;
  after(() => cleanup.run());

  const serverTeks = async (): Promise<{ spi: string; state: string }[]> =>
    ((await gcks.request(['show', 'security', 'group-vpn', 'server', 'ipsec', 'security-associations'])) as { sas: { spi: string; state: string }[] }).sas;

  before(async () => {
    await assertIntegrationRequirements();
    const workDir = await workDirectory(cleanup, 'member-multi-sa');
    gcks = await RootServerDaemon.start('gcks', standaloneGcksConfig({
      name: 'gcks', address: SERVER, psk: PSK, members: M, group: GROUP, groupId: 1, kekLifetimeSeconds: 3600, retransmissionPeriod: 1,
      moreIpsecSas: [{ name: 'VOICE', source: '10.20.0.0/16', destination: '10.20.0.0/16' }],
    }), workDir);
    cleanup.defer('root-server', () => gcks.stop());
    for (const m of M) {
      const daemon = await MemberDaemon.start({
        name: m.name, address: m.address, servers: [SERVER], psk: PSK, groupId: 1, memberId: m.memberId,
        peers: M.filter((o) => o !== m).map((o) => ({ name: o.name, memberId: o.memberId, address: o.address })),
      }, workDir);
      cleanup.defer(`${m.name} daemon`, () => daemon.stop());
      members.push(daemon);
    }
  });

  /** Each member holds the server's two active TEKs, each marked outbound, one per selector. */
  async function bothSasOutbound(what: string): Promise<void> {
    let last = '';
    await waitFor(async () => {
      const want = (await serverTeks()).filter((t) => t.state === 'active').map((t) => t.spi).sort().join(' ');
      for (const m of members) {
        const outbound = (await m.ipsec()).sas.filter((s) => s.state === 'active' && s.outbound);
        last = `${m.spec.name}: outbound ${outbound.map((s) => s.spi).sort().join(' ')} vs server ${want}`;
        if (outbound.map((s) => s.spi).sort().join(' ') !== want || want.split(' ').length !== 2) return false;
      }
      return true;
    }, 15_000, () => `${what} (last: ${last})`);
  }

  it('sends every probe, before and after a rekey of both SAs, with zero loss', async () => {
    await bothSasOutbound('both members on the two TEKs');
    const base = await waitFor(async () => {
      const stats = await Promise.all(members.map((m) => m.statistics()));
      return stats.every((s) => s.probe.received >= 5) ? stats : false;
    }, 10_000, 'probes between the members');
    const before = (await serverTeks()).map((t) => t.spi);
    await gcks.request(['request', 'security', 'group-vpn', 'server', 'rekey', 'group'], { group: GROUP });
    await waitFor(async () => (await serverTeks()).filter((t) => t.state === 'active' && !before.includes(t.spi)).length === 2, 5000, 'server rekeyed both SAs');
    await bothSasOutbound('both members on the two new TEKs');
    const now = await waitFor(async () => {
      const stats = await Promise.all(members.map((m) => m.statistics()));
      return stats.every((s, i) => s.probe.received >= base[i]!.probe.received + 40) ? stats : false;
    }, 10_000, 'probes after the rekey');
    for (const [i, s] of now.entries()) {
      const b: MemberStatistics = base[i]!;
      assert.equal(s.probe.sendFailures, 0, `${M[i]!.name}: probes not sent (no TEK for their selector)`);
      assert.equal(s.esp['outboundPolicyDropped'], 0, `${M[i]!.name}: packets refused as outside the chosen TEK's policy`);
      assert.equal(s.probe.gaps - b.probe.gaps, 0, `${M[i]!.name}: probes lost`);
      assert.equal(s.probe.authFailures, 0);
    }
  });
});
