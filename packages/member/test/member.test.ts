/**
 * The member daemon as a real process, against a key server built from the real IKE engine and GDOI
 * tasks on a real UDP socket (test/gcks.ts), on 127.0.8.x (this file's addresses):
 *   - three members register; one whose first server address is dead registers with the second (R-REG-4);
 *   - every member holds the server's KEK and TEK SPIs and keys;
 *   - ESP probes flow between all members through three TEK rekeys and one KEK rekey with zero loss;
 *   - a replayed PUSH and a PUSH under a KEK no one holds are dropped and counted, state unchanged;
 *   - both clear commands make a member register again; `member policy` is refused on an MX.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanup, runCommand, waitFor, workDirectory, CLI_MAIN } from '@gvpn/integration';
import { Secret, systemRandom } from '@gvpn/crypto';
import { buildPush, generateSigningKey, generateTek, hex } from '@gvpn/gdoi';
import { TestGcks } from './gcks.js';
import { MemberDaemon, testGroupPolicy, type MemberSpec, type MemberStatistics } from './harness.js';

const SERVER = '127.0.8.1';
const DEAD_SERVER = '127.0.8.2';
const M = [
  { name: 'gm1', address: '127.0.8.11', memberId: 1, platform: 'vsrx', servers: [SERVER] },
  { name: 'gm2', address: '127.0.8.12', memberId: 2, platform: 'mx', servers: [DEAD_SERVER, SERVER] },
  { name: 'gm3', address: '127.0.8.13', memberId: 3, platform: 'srx340', servers: [SERVER] },
] as const;
const PSK = 'member-test-psk';
/** A member of a group whose server never rekeys 4-second TEKs: it must pull again before they end. */
const DRIFT = { name: 'gm5', address: '127.0.8.15', memberId: 5, server: '127.0.8.5' } as const;
/** A member none of whose servers answers: it must go round its list and back off (R-REG-4). */
const LONELY = { name: 'gm9', address: '127.0.8.19', memberId: 9, servers: ['127.0.8.3', '127.0.8.4'] } as const;

describe('member daemon', () => {
  const cleanup = new Cleanup();
  let gcks: TestGcks;
  const members: MemberDaemon[] = [];
  let lonely: MemberDaemon;
  let drift: MemberDaemon;
  let driftGcks: TestGcks;
  let driftStartedAt: number;
  after(() => cleanup.run());

  before(async () => {
    const workDir = await workDirectory(cleanup, 'member');
    gcks = new TestGcks({ listen: { address: SERVER, port: 848 }, psk: PSK, members: M.map((m) => m.address), policy: testGroupPolicy(SERVER, 2) });
    await gcks.start();
    cleanup.defer('key server', () => gcks.stop());
    for (const m of M) {
      const spec: MemberSpec = {
        name: m.name, address: m.address, platform: m.platform, servers: [...m.servers], psk: PSK, groupId: 7, memberId: m.memberId,
        peers: M.filter((o) => o !== m).map((o) => ({ name: o.name, memberId: o.memberId, address: o.address })),
      };
      const daemon = await MemberDaemon.start(spec, workDir);
      cleanup.defer(`${m.name} daemon`, () => daemon.stop());
      members.push(daemon);
    }
    lonely = await MemberDaemon.start({
      name: LONELY.name, address: LONELY.address, servers: [...LONELY.servers], psk: PSK, groupId: 7, memberId: LONELY.memberId,
      peers: [{ name: 'gm1', memberId: 1, address: M[0].address }],
    }, workDir);
    cleanup.defer('gm9 daemon', () => lonely.stop());
    const shortLived = testGroupPolicy(SERVER, 2);
    shortLived.teks = shortLived.teks.map((t) => ({ ...t, lifetimeSeconds: 4 }));
    shortLived.kek.pushSource = { address: DRIFT.server, port: 848 };
    driftGcks = new TestGcks({ listen: { address: DRIFT.server, port: 848 }, psk: PSK, members: [DRIFT.address], policy: shortLived });
    await driftGcks.start();
    cleanup.defer('short-lived key server', () => driftGcks.stop());
    driftStartedAt = Date.now();
    drift = await MemberDaemon.start({
      name: DRIFT.name, address: DRIFT.address, servers: [DRIFT.server], psk: PSK, groupId: 7, memberId: DRIFT.memberId,
      peers: [{ name: 'nobody', memberId: 6, address: '127.0.8.16' }],
    }, workDir);
    cleanup.defer('gm5 daemon', () => drift.stop());
  });

  async function allRegistered(): Promise<void> {
    await waitFor(async () => {
      for (const m of members) if ((await m.kek()).sas.length !== 1) return false;
      return true;
    }, 15_000, 'every member registered');
  }

  /** Every member holds exactly the server's current TEKs as active (old ones gone), and the server's KEK. */
  async function inSyncWithServer(withinMs: number): Promise<void> {
    const kek = hex(gcks.group.kek.spi);
    const teks = gcks.group.teks.map((t) => hex(t.spi)).sort();
    await waitFor(async () => {
      for (const m of members) {
        const k = await m.kek();
        const i = await m.ipsec();
        if (k.sas[0]?.spi !== kek) return false;
        if (JSON.stringify(i.sas.map((s) => s.spi).sort()) !== JSON.stringify(teks)) return false;
        if (!i.sas.every((s) => s.state === 'active' && s.outbound)) return false;
      }
      return true;
    }, withinMs, `members in sync with the server (KEK ${kek}, TEKs ${teks.join(',')})`);
  }

  async function probesFlowing(minimum: number): Promise<MemberStatistics[]> {
    return await waitFor(async () => {
      const stats = await Promise.all(members.map((m) => m.statistics()));
      return stats.every((s) => s.probePeers.every((p) => p.received >= minimum && p.sent >= minimum)) ? stats : false;
    }, 10_000, `probes (at least ${minimum}) in both directions between every pair of members`);
  }

  /**
   * No probe lost between two snapshots: no new gap in any sender's sequence, no probe that found no
   * outbound TEK, no ESP packet under an SPI the receiver did not hold, no authentication failure.
   * (Probes sent before a member registered are lost by design; the baseline excludes them.)
   */
  function assertNoLoss(base: MemberStatistics[], stats: MemberStatistics[]): void {
    for (const [i, s] of stats.entries()) {
      const who = M[i]?.name;
      const b = base[i]!.probe;
      assert.equal(s.probe.gaps - b.gaps, 0, `${who}: probes missing between received ones`);
      assert.equal(s.probe.sendFailures - b.sendFailures, 0, `${who}: probes that found no outbound TEK`);
      assert.equal(s.probe.noSa - b.noSa, 0, `${who}: ESP packets under an SPI it did not hold`);
      assert.equal(s.probe.authFailures - b.authFailures, 0, `${who}: ESP authentication failures`);
      assert.equal(s.probe.invalid - b.invalid, 0, `${who}: invalid probes`);
      assert.ok(s.probe.received - b.received > 100, `${who}: probes received during the rekeys: ${s.probe.received - b.received}`);
    }
  }

  it('registers every member; the one whose first server is dead registers with the second', async () => {
    await allRegistered();
    assert.deepEqual(new Set(gcks.registered.map((r) => r.address)), new Set(M.map((m) => m.address)));
    const gm2 = await members[1]!.statistics();
    assert.ok(gm2.registration['failovers']! >= 1, 'gm2 moved on from its first server address');
    assert.ok(gm2.registration['serverTimeouts']! + gm2.registration['ikeFailures']! >= 1);
    assert.match(members[1]!.log(), /registration: key server did not register us.*127\.0\.8\.2|127\.0\.8\.2.*registration: key server did not register us/);
    for (const m of members) assert.equal((await m.kek()).sas[0]?.server, SERVER);
  });

  it('holds the KEK and TEKs of the server, keys included', async () => {
    await inSyncWithServer(5000);
    const tek = gcks.group.teks[0]!;
    for (const m of members) {
      const k = (await m.kek()).sas[0]!;
      assert.equal(k.key, hex(gcks.group.kek.key.reveal()));
      assert.equal(k.algorithm, 'aes-256-cbc');
      const i = (await m.ipsec()).sas[0]!;
      assert.equal(i.encryptionKey, hex(tek.encKey.reveal()));
      assert.equal(i.salt, hex(tek.salt!), 'AES-GCM salt (RFC 4106)');
      assert.equal(i.integrityKey, null);
      assert.equal(i.algorithm, 'aes-gcm-256');
    }
    const plain = await members[0]!.request(['show', 'security', 'group-vpn', 'member', 'ipsec', 'security-associations']) as { sas: Record<string, unknown>[] };
    assert.equal(plain.sas[0]?.['encryptionKey'], undefined, 'no keys without showKeys');
  });

  it('carries probes between all members with zero loss through three TEK rekeys and one KEK rekey', async () => {
    const base = await probesFlowing(5);
    const acksBefore = gcks.acks.length;
    for (let round = 1; round <= 4; round++) {
      if (round === 3) {
        gcks.rekeyKek();
        await inSyncWithServer(5000);
      }
      gcks.rekeyTeks();
      // Activation delay 1 s, old TEK retired 2 s after the push: in sync once the old TEK is gone.
      await inSyncWithServer(8000);
      const before = await Promise.all(members.map((m) => m.statistics()));
      await waitFor(async () => {
        const now = await Promise.all(members.map((m) => m.statistics()));
        return now.every((s, i) => s.probe.received >= before[i]!.probe.received + 10);
      }, 5000, `probes after rekey round ${round}`);
    }
    const stats = await Promise.all(members.map((m) => m.statistics()));
    assertNoLoss(base, stats);
    for (const s of stats) {
      assert.equal(s.push['pushesAccepted'], 5, 'four TEK rekeys and one KEK rekey accepted');
      assert.equal(s.push['kekRekeys'], 1);
    }
    // Every PUSH asked for an ACK; every member acknowledged each one, verified by the server.
    assert.equal(gcks.acks.length - acksBefore, 5 * members.length);
    assert.ok(gcks.acks.every((a) => a.ok && M.some((m) => m.address === a.memberAddress && a.from === m.address)));
  });

  it('drops a replayed PUSH and a PUSH under an unknown KEK, counted, state unchanged', async () => {
    const replay = gcks.rekeyTeks();
    await inSyncWithServer(8000);
    const gm1 = members[0]!;
    const before = { k: await gm1.kek(), i: await gm1.ipsec(), s: await gm1.statistics() };
    gcks.sendTo(replay, M[0].address); // byte-identical: duplicate (its ACK is offered again)
    const tampered = Uint8Array.from(replay);
    tampered[0]! ^= 0xff; // cookies = a KEK no registration holds
    gcks.sendTo(tampered, M[0].address);
    // New TEKs under the current KEK, but: signed with another key / an old SEQ / encrypted with another
    // key under the same cookies.
    const kek = gcks.group.kek;
    const teks = gcks.group.policy.teks.map((t) => generateTek(t, systemRandom));
    const seq = gcks.group.seq();
    const forged = buildPush({ kek: { ...kek, privateKey: generateSigningKey(2048).privateKey }, seq: seq + 1, teks }).bytes;
    const replayed = buildPush({ kek, seq, teks }).bytes;
    const wrongKek = buildPush({ kek: { ...kek, key: new Secret(systemRandom.bytes(32)) }, seq: seq + 1, teks }).bytes;
    for (const bytes of [forged, replayed, wrongKek]) gcks.sendTo(bytes, M[0].address);
    const grew = (s: MemberStatistics, name: string): number => s.push[name]! - before.s.push[name]!;
    await waitFor(async () => {
      const s = await gm1.statistics();
      return grew(s, 'duplicateDropped') === 1 && grew(s, 'noRegistrationDropped') === 1 && grew(s, 'badSignatureDropped') >= 1 &&
        grew(s, 'replayDropped') === 1 && grew(s, 'decryptFailedDropped') + grew(s, 'badSignatureDropped') + grew(s, 'invalidPayloadDropped') === 2;
    }, 5000, 'duplicate, unknown-KEK, forged, replayed and wrong-key PUSHes counted');
    const s = await gm1.statistics();
    assert.equal(grew(s, 'pushesAccepted'), 0);
    assert.equal(grew(s, 'acksSent'), 1, 'only the duplicate of an accepted PUSH gets its ACK again');
    const after = { k: await gm1.kek(), i: await gm1.ipsec() };
    assert.deepEqual(after.k.sas.map((s) => [s.spi, s.seq]), before.k.sas.map((s) => [s.spi, s.seq]));
    assert.deepEqual(after.i.sas.map((s) => s.spi), before.i.sas.map((s) => s.spi));
  });

  it('R-OPS-1: clear ipsec security-associations and clear group make members register again', async () => {
    const gm1 = members[0]!;
    const gm2 = members[1]!;
    const regs1 = (await gm1.statistics()).registration['registrations']!;
    const regs2 = (await gm2.statistics()).registration['registrations']!;
    const serverRegs = gcks.registered.length;
    const cleared = await gm1.request(['clear', 'security', 'group-vpn', 'member', 'ipsec', 'security-associations']) as { cleared: { tekCount: number }[] };
    assert.equal(cleared.cleared[0]?.tekCount, 1);
    const group = await gm2.request(['clear', 'security', 'group-vpn', 'member', 'group']);
    assert.ok(group !== null);
    await waitFor(async () => (await gm1.statistics()).registration['registrations'] === regs1 + 1, 10_000, 'gm1 registered again');
    await waitFor(async () => (await gm2.statistics()).registration['registrations'] === regs2 + 1, 10_000, 'gm2 registered again');
    assert.equal(gcks.registered.length, serverRegs + 2);
    await inSyncWithServer(5000);
    // After the clear, traffic flows again between everyone.
    const before = await Promise.all(members.map((m) => m.statistics()));
    await waitFor(async () => {
      const now = await Promise.all(members.map((m) => m.statistics()));
      return now.every((s, i) => s.probePeers.every((p, j) => p.received >= before[i]!.probePeers[j]!.received + 5));
    }, 5000, 'probes after the clear commands');
  });

  it('answers the CLI: kek and ipsec security associations, statistics, and policy only where the platform has it', async () => {
    const cli = async (member: MemberDaemon, ...words: string[]) => runCommand(process.execPath, [CLI_MAIN, '--socket', member.socketPath, ...words], { okCodes: [0, 1] });
    const kek = await cli(members[0]!, 'show', 'security', 'group-vpn', 'member', 'kek', 'security-associations', 'detail');
    assert.equal(kek.exitCode, 0, kek.stderr);
    assert.match(kek.stdout, new RegExp(hex(gcks.group.kek.spi)));
    const ipsec = await cli(members[0]!, 'show', 'security', 'group-vpn', 'member', 'ipsec', 'security-associations');
    assert.equal(ipsec.exitCode, 0, ipsec.stderr);
    assert.match(ipsec.stdout, new RegExp(hex(gcks.group.teks[0]!.spi)));
    const withKeys = await cli(members[0]!, '--json', '--show-keys', 'show', 'security', 'group-vpn', 'member', 'ipsec', 'security-associations');
    assert.equal((JSON.parse(withKeys.stdout) as { sas: { encryptionKey?: string }[] }).sas[0]?.encryptionKey, hex(gcks.group.teks[0]!.encKey.reveal()));
    const withoutKeys = await cli(members[0]!, '--json', 'show', 'security', 'group-vpn', 'member', 'kek', 'security-associations');
    assert.doesNotMatch(withoutKeys.stdout, new RegExp(hex(gcks.group.kek.key.reveal())));
    assert.doesNotMatch(withoutKeys.stdout, /"key"|"iv"/);
    const stats = await cli(members[0]!, 'show', 'security', 'group-vpn', 'member', 'ipsec', 'statistics');
    assert.equal(stats.exitCode, 0, stats.stderr);
    assert.match(stats.stdout, /Probe/);
    const srxPolicy = await cli(members[2]!, '--json', 'show', 'security', 'group-vpn', 'member', 'policy');
    assert.equal(srxPolicy.exitCode, 0, srxPolicy.stderr);
    assert.equal((JSON.parse(srxPolicy.stdout) as { policies: { source: string }[] }).policies[0]?.source, '172.16.0.0/12');
    const mxPolicy = await cli(members[1]!, 'show', 'security', 'group-vpn', 'member', 'policy');
    assert.equal(mxPolicy.exitCode, 1);
    assert.match(mxPolicy.stderr, /not available on this platform/);
  });

  it('with no server answering, tries each address in order, then backs off 1 s, 2 s ... and starts over', async () => {
    type Line = { time: number; msg: string; server?: string; retryInMs?: number };
    const lines = (): Line[] => lonely.log().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line);
    await waitFor(() => lines().filter((l) => l.msg === 'registration: no key server answered; backing off').length >= 2, 15_000, 'two rounds over both servers');
    const log = lines();
    const tries = log.filter((l) => l.msg === 'registration: trying key server').map((l) => l.server);
    assert.deepEqual(tries.slice(0, 4), [...LONELY.servers, ...LONELY.servers]);
    const backoffs = log.filter((l) => l.msg === 'registration: no key server answered; backing off');
    assert.deepEqual(backoffs.slice(0, 2).map((l) => l.retryInMs), [1000, 2000]);
    // The third try (second round) starts only after the first back-off. Log times are wall-clock and
    // taken after the handling that set the monotonic timer, so allow a little slack (CI saw 989 ms).
    const secondRound = log.filter((l) => l.msg === 'registration: trying key server')[2]!;
    assert.ok(secondRound.time - backoffs[0]!.time >= 900, `second round ${secondRound.time - backoffs[0]!.time} ms after the back-off`);
    const k = await lonely.kek();
    assert.equal(k.sas.length, 0);
    assert.equal(k.registrations[0]?.registered, false);
  });

  it('pulls again when its TEK nears expiry without a rekey, and keeps the TEK the server still uses', async () => {
    await waitFor(async () => (await drift.statistics()).registration['reRegistrations']! >= 2, 15_000, 'two re-registrations of gm5');
    const elapsedS = (Date.now() - driftStartedAt) / 1000;
    const regs = driftGcks.registered.filter((r) => r.address === DRIFT.address).length;
    // Registered, then again about 2 s before each 4-s lifetime ends: no tight loop of pulls.
    assert.ok(regs >= 3 && regs <= Math.ceil(elapsedS / 2) + 1, `${regs} registrations in ${elapsedS} s`);
    const sas = (await drift.ipsec()).sas;
    assert.deepEqual(sas.map((t) => t.spi), [hex(driftGcks.group.teks[0]!.spi)]);
    assert.equal(sas[0]?.state, 'active');
    assert.match(drift.log(), /keys near expiry without a rekey/);
    const s = await drift.statistics();
    assert.equal(s.probe.sendFailures, 0, 'the TEK never lapsed');
  });
});
