/**
 * The member daemon applies configuration commits live (src/live-config.ts), with real processes only on
 * 127.0.12.x (this file's addresses): two standalone root-server daemons A and B (groups 1, 2 and 3 each,
 * their own keys) and two member daemons gm1 and gm2 that start with [A] as their server list and send each
 * other probes under group 1's TEK.
 *   - an invalid file and a data-plane change are refused: keys, IKE SA, registrations and text unchanged;
 *   - PSK changed on A and then on the members: their IKE SAs are reset and come back under the new key, the
 *     keys stay and no probe is lost;
 *   - a vpn added registers for its group; its group-id changed, it registers under the new one; removed, its
 *     KEK and TEKs and its stored record go; group 1 is untouched throughout;
 *   - server list changed: [A] -> [A, B] keeps the keys (no PULL); A killed, gm1 moves to B when its KEK
 *     nears its end, without a restart; gm2's [A] -> [B] (its server gone) registers with B at once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cleanup, assertIntegrationRequirements, waitFor, workDirectory } from '@gvpn/integration';
import { RootServerDaemon, standaloneGcksConfig } from './daemons.js';
import { MemberDaemon, memberConfig, type MemberSpec, type MemberStatistics } from './harness.js';

const A = '127.0.12.1';
const B = '127.0.12.2';
const PSK = 'member-live-psk';
const NEW_PSK = 'member-live-psk-2';
const GROUP = 'GROUP_ID-0001';
/** A's KEK lifetime: A rekeys it before members refresh; once A is dead, gm1 registers again within it. */
const KEK_LIFETIME_SECONDS = 20;
const M = [
  { name: 'gm1', address: '127.0.12.11', memberId: 1 },
  { name: 'gm2', address: '127.0.12.12', memberId: 2 },
] as const;
/** Groups 2 and 3 on both servers, each its own selectors (the probe runs under group 1's TEK). */
const EXTRA_GROUPS = [{ name: 'GROUP_ID-0002', groupId: 2, net: '10.2.0.0/16' }, { name: 'GROUP_ID-0003', groupId: 3, net: '10.3.0.0/16' }] as const;

/** A configuration tree as docs/configuration.md has it (plain JSON). */
type Tree = Record<string, any>;

function serverConfig(name: string, address: string, psk: string): ReturnType<typeof standaloneGcksConfig> {
  const tree = standaloneGcksConfig({
    name, address, psk, members: M, group: GROUP, groupId: 1, kekLifetimeSeconds: KEK_LIFETIME_SECONDS, retransmissionPeriod: 1,
  });
  const groups: Tree = tree.security['group-vpn'].server.group;
  const first = groups[GROUP];
  for (const g of EXTRA_GROUPS) {
    groups[g.name] = {
      ...first, 'group-id': g.groupId,
      'ipsec-sa': { [g.name]: { proposal: 'AES256-SHA256', 'match-policy': { POL1: { source: g.net, destination: g.net, 'source-port': 0, 'destination-port': 0, protocol: 0 } } } },
    };
  }
  return tree;
}

function spec(m: (typeof M)[number], servers: string[], psk = PSK): MemberSpec {
  return {
    name: m.name, address: m.address, servers, psk, groupId: 1, memberId: m.memberId,
    peers: M.filter((o) => o !== m).map((o) => ({ name: o.name, memberId: o.memberId, address: o.address })),
  };
}

/** A member file from the harness's, edited (extra vpns, a data-plane change, ...). */
function memberTree(s: MemberSpec, edit: (member: Tree) => void = () => undefined): string {
  const tree = JSON.parse(memberConfig(s)) as Tree;
  edit(tree.security['group-vpn'].member);
  return `${JSON.stringify(tree, null, 2)}\n`;
}

interface CommitOutcome { result: string; applied: string[]; error: string | null }
interface IkeSa { gateway: string; state: string; icookie: string; remote: { address: string } }
interface ServerKek { group: string; groupId: number; spi: string }
interface MemberKek { group: string; groupId: number; spi: string; server: string }

describe('member daemon: configuration changes applied live', () => {
  const cleanup = new Cleanup();
  let workDir: string;
  let serverA: RootServerDaemon;
  let serverB: RootServerDaemon;
  const gm: MemberDaemon[] = [];
  let fileCount = 0;
  after(() => cleanup.run());

  /** Writes `text` to a new file and commits it on `daemon`. */
  async function commit(daemon: MemberDaemon | RootServerDaemon, text: string): Promise<CommitOutcome> {
    const file = join(workDir, `commit-${++fileCount}.yaml`);
    await writeFile(file, text);
    return await daemon.request(['commit'], { file }) as CommitOutcome;
  }
  const serverKeks = async (server: RootServerDaemon): Promise<ServerKek[]> =>
    ((await server.request(['show', 'security', 'group-vpn', 'server', 'kek', 'security-associations'])) as { sas: ServerKek[] }).sas;
  /** The member's KEKs, without the fields that count down. */
  const memberKeks = async (m: MemberDaemon): Promise<MemberKek[]> =>
    ((await m.kek()).sas as unknown as MemberKek[]).map(({ group, groupId, spi, server }) => ({ group, groupId, spi, server }));
  const ikeSas = async (m: MemberDaemon): Promise<IkeSa[]> =>
    ((await m.request(['show', 'security', 'group-vpn', 'member', 'ike', 'security-associations'])) as { sas: IkeSa[] }).sas;
  const upSa = async (m: MemberDaemon): Promise<IkeSa | undefined> => (await ikeSas(m)).find((s) => s.state === 'UP');
  /** The vpn names with a stored registration in the member's state store (read-only, beside the daemon). */
  function storedVpns(m: MemberDaemon): string[] {
    const require = createRequire(fileURLToPath(import.meta.resolve('@gvpn/store')));
    const Database = require('better-sqlite3') as new (path: string, options: { readonly: boolean }) => {
      prepare(sql: string): { all(): { key: string }[] }; close(): void;
    };
    const db = new Database(join(workDir, `${m.spec.name}-state`, 'state.db'), { readonly: true });
    try {
      return db.prepare("SELECT key FROM kv WHERE ns = 'member-registration' ORDER BY key").all().map((row) => row.key);
    } finally {
      db.close();
    }
  }
  /** Probe losses of both members since `base` (gaps between received probes, sends with no TEK, bad ESP). */
  async function assertNoLoss(base: MemberStatistics[], what: string): Promise<void> {
    const now = await waitFor(async () => {
      const stats = await Promise.all(gm.map((m) => m.statistics()));
      return stats.every((s, i) => s.probe.received >= base[i]!.probe.received + 40) ? stats : false;
    }, 10_000, `probes flowing after ${what}`);
    for (const [i, s] of now.entries()) {
      const b = base[i]!;
      const who = M[i]!.name;
      assert.equal(s.probe.gaps - b.probe.gaps, 0, `${who}: probes lost between received ones (${what})`);
      assert.equal(s.probe.sendFailures - b.probe.sendFailures, 0, `${who}: probes with no outbound TEK (${what})`);
      assert.equal(s.probe.noSa - b.probe.noSa, 0, `${who}: ESP under an SPI it did not hold (${what})`);
      assert.equal(s.probe.authFailures - b.probe.authFailures, 0, `${who}: ESP authentication failures (${what})`);
    }
  }

  before(async () => {
    await assertIntegrationRequirements();
    workDir = await workDirectory(cleanup, 'member-live-config');
    serverA = await RootServerDaemon.start('server-a', serverConfig('server-a', A, PSK), workDir);
    cleanup.defer('server A', () => serverA.stop());
    serverB = await RootServerDaemon.start('server-b', serverConfig('server-b', B, PSK), workDir);
    cleanup.defer('server B', () => serverB.stop());
    for (const m of M) {
      const daemon = await MemberDaemon.start(spec(m, [A]), workDir);
      cleanup.defer(`${m.name} daemon`, () => daemon.stop());
      gm.push(daemon);
    }
    const kekA = (await serverKeks(serverA)).find((k) => k.group === GROUP)!.spi;
    await waitFor(async () => {
      for (const m of gm) if ((await memberKeks(m))[0]?.spi !== kekA) return false;
      return true;
    }, 20_000, 'both members registered with A');
    await waitFor(async () => (await Promise.all(gm.map((m) => m.statistics()))).every((s) => s.probePeers.every((p) => p.received >= 5)), 10_000, 'probes both ways');
  });

  it('R-CHG member: invalid file refused, nothing changes', async () => {
    const [gm1] = gm as [MemberDaemon];
    const before = {
      keks: await memberKeks(gm1), teks: (await gm1.ipsec()).sas.map((s) => s.spi), sa: await upSa(gm1),
      registrations: (await gm1.statistics()).registration, text: await gm1.request(['show', 'configuration']),
    };
    const five = ['127.0.12.1', '127.0.12.2', '127.0.12.3', '127.0.12.4', '127.0.12.5'];
    const invalid = await commit(gm1, memberTree(spec(M[0], five)));
    assert.equal(invalid.result, 'invalid');
    assert.match(invalid.error ?? '', /server-address/);
    const broken = await commit(gm1, 'security: [unclosed\n');
    assert.equal(broken.result, 'invalid');
    const dataPlane = await commit(gm1, memberTree(spec(M[0], [A]), (member) => { member['data-plane'].probe['interval-ms'] = 100; }));
    assert.equal(dataPlane.result, 'refused');
    assert.match(dataPlane.error ?? '', /needs a restart/);
    assert.match(dataPlane.error ?? '', /data-plane: probe changed/);
    // A valid change beside the data-plane one is not applied either (all or nothing).
    const mixed = await commit(gm1, memberTree(spec(M[0], [A], NEW_PSK), (member) => { member['data-plane'].probe['interval-ms'] = 100; }));
    assert.equal(mixed.result, 'refused');
    assert.deepEqual(await memberKeks(gm1), before.keks);
    assert.deepEqual((await gm1.ipsec()).sas.map((s) => s.spi), before.teks);
    assert.equal((await upSa(gm1))?.icookie, before.sa?.icookie, 'the IKE SA is the same');
    assert.deepEqual((await gm1.statistics()).registration, before.registrations);
    assert.deepEqual(await gm1.request(['show', 'configuration']), before.text);
    const history = (await gm1.request(['show', 'system', 'commit'])) as { commits: { result: string }[] };
    assert.deepEqual(history.commits.slice(0, 4).map((c) => c.result), ['refused', 'refused', 'invalid', 'invalid']);
  });

  it('R-CHG member: PSK changed', async () => {
    const base = await Promise.all(gm.map((m) => m.statistics()));
    const saBefore = await Promise.all(gm.map((m) => upSa(m)));
    const keksBefore = await Promise.all(gm.map((m) => memberKeks(m)));
    const server = await commit(serverA, `${JSON.stringify(serverConfig('server-a', A, NEW_PSK), null, 2)}\n`);
    assert.equal(server.result, 'applied', JSON.stringify(server));
    for (const [i, m] of gm.entries()) {
      const outcome = await commit(m, memberTree(spec(M[i]!, [A], NEW_PSK)));
      assert.equal(outcome.result, 'applied', JSON.stringify(outcome));
      assert.ok(outcome.applied.some((line) => /IKE SAs of gateway GW-GROUP1\/127\.0\.12\.1 deleted/.test(line)), JSON.stringify(outcome.applied));
      assert.ok(outcome.applied.some((line) => /registering again over the new settings/.test(line)), JSON.stringify(outcome.applied));
    }
    for (const [i, m] of gm.entries()) {
      // A new IKE SA (new cookies) under the new key, and a PULL over it that handed out the same keys.
      const sa = await waitFor(async () => {
        const up = await upSa(m);
        return up !== undefined && up.icookie !== saBefore[i]?.icookie ? up : false;
      }, 10_000, `${M[i]!.name}: IKE SA with A again`);
      assert.equal(sa.remote.address, A);
      await waitFor(async () => (await m.statistics()).registration['reRegistrations'] === base[i]!.registration['reRegistrations']! + 1, 10_000, `${M[i]!.name}: registered again`);
      assert.deepEqual((await memberKeks(m)).map((k) => k.spi), keksBefore[i]!.map((k) => k.spi), 'the same KEK');
    }
    await assertNoLoss(base, 'the PSK change');
  });

  it('R-CHG member: group added / removed', async () => {
    const [gm1] = gm as [MemberDaemon];
    const keksA = await serverKeks(serverA);
    const kekOf = (groupId: number): string => keksA.find((k) => k.groupId === groupId)!.spi;
    const group1 = await memberKeks(gm1);
    const withVpn = (groupId: number) => memberTree(spec(M[0], [A], NEW_PSK), (member) => {
      member.ipsec.vpn['EXTRA-VPN'] = { 'ike-gateway': 'GW-GROUP1', group: groupId, 'registration-timeout-seconds': 1 };
    });
    const extra = async (): Promise<MemberKek | undefined> => (await memberKeks(gm1)).find((k) => k.group === 'EXTRA-VPN');
    const extraTeks = async (): Promise<string[]> => (await gm1.ipsec()).sas.filter((s) => s.group === 'EXTRA-VPN').map((s) => s.spi);

    const added = await commit(gm1, withVpn(2));
    assert.equal(added.result, 'applied', JSON.stringify(added));
    assert.ok(added.applied.some((line) => /vpn EXTRA-VPN: added/.test(line)), JSON.stringify(added.applied));
    await waitFor(async () => (await extra())?.spi === kekOf(2), 10_000, 'EXTRA-VPN registered for group 2 with A');
    assert.ok((await extraTeks()).length >= 1, 'group 2 TEK installed');
    assert.deepEqual(storedVpns(gm1), ['EXTRA-VPN', 'GROUP1-VPN']);

    const group2Teks = await extraTeks();
    const renumbered = await commit(gm1, withVpn(3));
    assert.equal(renumbered.result, 'applied', JSON.stringify(renumbered));
    assert.ok(renumbered.applied.some((line) => /vpn EXTRA-VPN: group 2 -> 3/.test(line)), JSON.stringify(renumbered.applied));
    await waitFor(async () => (await extra())?.spi === kekOf(3), 10_000, 'EXTRA-VPN registered again for group 3');
    assert.equal((await extra())?.groupId, 3);
    const group3Teks = await extraTeks();
    assert.ok(group3Teks.length >= 1 && group3Teks.every((spi) => !group2Teks.includes(spi)), 'group 2 TEKs dropped, group 3 TEKs installed');

    const removed = await commit(gm1, memberTree(spec(M[0], [A], NEW_PSK)));
    assert.equal(removed.result, 'applied', JSON.stringify(removed));
    assert.ok(removed.applied.some((line) => /vpn EXTRA-VPN: removed/.test(line)), JSON.stringify(removed.applied));
    assert.equal(await extra(), undefined, 'no KEK of EXTRA-VPN');
    assert.deepEqual(await extraTeks(), [], 'no TEK of EXTRA-VPN');
    assert.deepEqual(storedVpns(gm1), ['GROUP1-VPN'], 'the stored registration is gone');
    const registrations = (await gm1.kek()).registrations as unknown as { group: string }[];
    assert.deepEqual(registrations.map((r) => r.group), ['GROUP1-VPN']);
    assert.deepEqual(await memberKeks(gm1), group1, 'group 1 untouched');
    // While EXTRA-VPN's TEK was the newest, gm1's probes went out under it (one outbound TEK): wait until
    // they flow under group 1's again, so the next test counts from there.
    const flowing = await Promise.all(gm.map((m) => m.statistics()));
    await waitFor(async () => (await Promise.all(gm.map((m) => m.statistics()))).every((st, i) => st.probe.received >= flowing[i]!.probe.received + 10), 10_000, 'probes under group 1 again');
  });

  it('R-CHG member: server list changed', async () => {
    const [gm1, gm2] = gm as [MemberDaemon, MemberDaemon];
    const before = { kek: await memberKeks(gm1), stats: await gm1.statistics(), pid: gm1.child.pid };
    const base = await Promise.all(gm.map((m) => m.statistics()));
    const listed = await commit(gm1, memberTree(spec(M[0], [A, B], NEW_PSK)));
    assert.equal(listed.result, 'applied', JSON.stringify(listed));
    assert.ok(listed.applied.some((line) => /keys kept, the next registration uses the new list/.test(line)), JSON.stringify(listed.applied));
    await assertNoLoss(base, 'adding server B');
    assert.deepEqual(await memberKeks(gm1), before.kek, 'keys kept');
    assert.equal((await gm1.statistics()).registration['registrationAttempts'], before.stats.registration['registrationAttempts'], 'no PULL');

    // B takes the members' new PSK; then gm2's server is no longer listed: it registers with B at once.
    const serverB2 = await commit(serverB, `${JSON.stringify(serverConfig('server-b', B, NEW_PSK), null, 2)}\n`);
    assert.equal(serverB2.result, 'applied', JSON.stringify(serverB2));
    const moved = await commit(gm2, memberTree(spec(M[1], [B], NEW_PSK)));
    assert.equal(moved.result, 'applied', JSON.stringify(moved));
    assert.ok(moved.applied.some((line) => /server 127\.0\.12\.1 gone, registering again/.test(line)), JSON.stringify(moved.applied));
    // B rekeys its KEK every few seconds: compare with the one it has now.
    const kekB = async (): Promise<string> => (await serverKeks(serverB)).find((k) => k.group === GROUP)!.spi;
    await waitFor(async () => (await memberKeks(gm2))[0]?.spi === await kekB(), 10_000, 'gm2 registered with B');

    // A dies: gm1 holds A's keys until its KEK nears its end with no rekey, then goes down its new list.
    await serverA.stop();
    await waitFor(async () => {
      const k = (await memberKeks(gm1))[0];
      return k?.server === B && k.spi === await kekB();
    }, (KEK_LIFETIME_SECONDS + 10) * 1000, 'gm1 registered with B once A was gone');
    assert.equal(gm1.child.pid, before.pid);
    assert.ok(gm1.child.running, 'no restart');
    assert.ok((await gm1.statistics()).registration['failovers']! > before.stats.registration['failovers']!, 'gm1 moved on from A');
  });
});
