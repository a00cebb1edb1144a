/**
 * A vpn whose group the key server does not serve, beside one it does, through ONE gateway (real processes on
 * 127.0.8.91-93): the root-server daemon as a standalone key server with group 1 only; gm92 with vpns for
 * groups 1 and 3, gm93 with group 1 only. The server refuses group 3's pulls silently.
 *   - Group 3's pull timeouts, round after back-off round, leave the IKE SA group 1 registered over up (same
 *     cookies): an R-U-THERE on it is answered, so the server knows it (before: every round deleted it).
 *   - A re-registration of group 1 meanwhile runs over that same SA.
 *   - The server killed (no Delete) and started again forgets the SA: a pull over it and the R-U-THERE go
 *     unanswered, the member deletes the SA and registers over a new one.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanup, assertIntegrationRequirements, waitFor, workDirectory } from '@gvpn/integration';
import { RootServerDaemon, standaloneGcksConfig } from './daemons.js';
import { MemberDaemon } from './harness.js';

const SERVER = '127.0.8.91';
const PSK = 'member-unserved-group-psk';
const M = [
  { name: 'gm92', address: '127.0.8.92', memberId: 1 },
  { name: 'gm93', address: '127.0.8.93', memberId: 2 },
] as const;

interface IkeSaView { icookie: string; rcookie: string; state: string }

const count = (text: string, pattern: RegExp): number => text.match(pattern)?.length ?? 0;
const ANSWERS_NOT_PULL = 'registration: key server answers on the IKE SA but not this group\'s pull';

/** The daemon's log lines with message `msg` (pino JSON, one object a line). */
function logged(m: MemberDaemon, msg: string): Record<string, unknown>[] {
  return m.log().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === msg);
}

describe('a vpn whose group the key server does not serve, beside one it serves', () => {
  const cleanup = new Cleanup();
  const members: MemberDaemon[] = [];
  let gcks: RootServerDaemon;
  let workDir: string;
  const config = standaloneGcksConfig({
    name: 'gcks91', address: SERVER, psk: PSK, members: M, group: 'GROUP_ID-0001', groupId: 1, kekLifetimeSeconds: 3600, retransmissionPeriod: 1,
  });
  after(() => cleanup.run());

  const ikeSas = async (m: MemberDaemon): Promise<IkeSaView[]> =>
    ((await m.request(['show', 'security', 'group-vpn', 'member', 'ike', 'security-associations'])) as { sas: IkeSaView[] }).sas;
  const registrations = async (m: MemberDaemon): Promise<number> => (await m.statistics()).registration['registrations']!;
  const group1Registered = async (m: MemberDaemon): Promise<boolean> => (await m.kek()).sas.some((k) => k.groupId === 1);

  /** The member's one IKE SA, once it is up. */
  async function oneSa(m: MemberDaemon, what: string): Promise<IkeSaView> {
    let last: IkeSaView[] = [];
    return await waitFor(async () => {
      last = await ikeSas(m);
      return last.length === 1 && last[0]!.state === 'UP' ? last[0]! : false;
    }, 10_000, () => `${m.spec.name}: ${what} (last: ${JSON.stringify(last)})`);
  }

  before(async () => {
    await assertIntegrationRequirements();
    workDir = await workDirectory(cleanup, 'member-unserved-group');
    gcks = await RootServerDaemon.start('gcks91', config, workDir);
    cleanup.defer('root-server', () => gcks.stop());
    for (const m of M) {
      const daemon = await MemberDaemon.start({
        name: m.name, address: m.address, servers: [SERVER], psk: PSK, groupId: 1, memberId: m.memberId,
        peers: M.filter((o) => o !== m).map((o) => ({ name: o.name, memberId: o.memberId, address: o.address })),
        ...(m.name === 'gm92' ? { moreVpns: [{ name: 'GROUP3-VPN', groupId: 3 }] } : {}),
      }, workDir);
      cleanup.defer(`${m.name} daemon`, () => daemon.stop());
      members.push(daemon);
    }
    for (const m of members) await waitFor(() => group1Registered(m), 15_000, `${m.spec.name} registered for group 1`);
  });

  it('keeps the IKE SA of group 1 (same cookies) through three back-off rounds of group 3', async () => {
    const gm = members[0]!;
    const sa = await oneSa(gm, 'the IKE SA with the server');
    let rounds = 0;
    await waitFor(async () => (rounds = (await gm.statistics()).registration['rounds']!) >= 3, 20_000, () => `three rounds of group 3 (last: ${rounds})`);
    const now = await ikeSas(gm);
    assert.deepEqual(now.map((s) => [s.icookie, s.rcookie, s.state]), [[sa.icookie, sa.rcookie, 'UP']], 'the same IKE SA, up');
    const log = gm.log();
    assert.equal(count(log, /"IKE SA deleted"/g), 0, 'no IKE SA deleted');
    assert.equal(count(log, /main mode initiator started/g), 1, 'one Main Mode');
    const why = logged(gm, ANSWERS_NOT_PULL);
    assert.ok(why.length >= 3 && why.every((l) => l['saKept'] === true && l['group'] === 'GROUP3-VPN'), 'each timeout of group 3 says why the SA stays');
    assert.ok(await group1Registered(gm), 'group 1 still registered');
    const kek = await gm.kek();
    assert.deepEqual(kek.registrations.map((r) => r.registered), [true, false], 'group 1 registered, group 3 not');
  });

  it('re-registers group 1 meanwhile over the same IKE SA', async () => {
    const gm = members[0]!;
    const sa = await oneSa(gm, 'the IKE SA with the server');
    const before = await registrations(gm);
    await gm.request(['clear', 'security', 'group-vpn', 'member', 'ipsec', 'security-associations']);
    await waitFor(async () => (await registrations(gm)) > before, 10_000, 'group 1 registered again');
    assert.deepEqual((await ikeSas(gm)).map((s) => [s.icookie, s.rcookie]), [[sa.icookie, sa.rcookie]]);
  });

  it('deletes the IKE SA a restarted server forgot and registers over a new one', async () => {
    const gm = members[1]!;
    const old = await oneSa(gm, 'the IKE SA with the server');
    // SIGKILL: no Delete reaches the members, their SAs stay up here and are unknown there.
    process.kill(gcks.child.pid, 'SIGKILL');
    await gcks.child.exited;
    gcks = await RootServerDaemon.start('gcks91', config, workDir);
    const before = await registrations(gm);
    await gm.request(['clear', 'security', 'group-vpn', 'member', 'ipsec', 'security-associations']);
    await waitFor(async () => (await registrations(gm)) > before, 15_000, () => `gm93 registered again after the restart: ${gm.log().split('\n').slice(-15).join('\n')}`);
    const fresh = await oneSa(gm, 'a new IKE SA with the restarted server');
    assert.notEqual(fresh.icookie, old.icookie, 'a new IKE SA');
    const log = gm.log();
    assert.equal(count(log, /"IKE SA deleted"/g), 1, 'the forgotten SA deleted');
    assert.deepEqual(logged(gm, ANSWERS_NOT_PULL), [], 'the forgotten SA is not taken for a live one');
  });
});
