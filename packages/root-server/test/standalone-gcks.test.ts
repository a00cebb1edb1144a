/**
 * The real root-server daemon as a standalone key server (GCKS), on 127.0.7.1:848, against in-process test
 * members (IkeEndpoint + gdoi PullInitiator/PushReceiver, test/member-client.ts) on 127.0.7.11-14, over
 * real UDP. What the members install is compared with what the daemon's control socket reports (the same
 * data `gvpn ... --json` prints), and every refusal with the daemon's counters.
 *
 * Groups: G1 (101): gateways GM1..GM3, member-threshold 2, long lifetimes, retransmission 1 s x 2.
 *         G2 (102): gateway GM4 only, TEK and KEK lifetimes of 10 s (short-timers) so rekeys happen by timer.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hex } from '@gvpn/gdoi';
import { controlRequest } from '@gvpn/runtime';
import { MemberClient } from './member-client.js';

const SERVER = { address: '127.0.7.1', port: 848 };
const PSK = 'gcks-test-psk';
const MEMBERS = { GM1: '127.0.7.11', GM2: '127.0.7.12', GM3: '127.0.7.13', GM4: '127.0.7.14' } as const;
/** Pulls expected to get no answer give up after 0.2 + 0.4 s. */
const QUICK = { retransmitInitialMs: 200, retransmitTries: 1 };
const DAEMON = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'main.js');
const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'cli', 'dist', 'src', 'main.js');
const execFileAsync = promisify(execFile);

const config = (stateDir: string): string => `
system:
  host-name: gcks-test
  platform: vsrx
  listen: { address: ${SERVER.address}, port: ${SERVER.port} }
  state-directory: ${stateDir}
  log-level: debug
  debug: { short-timers: true }
security:
  group-vpn:
    server:
      ike:
        proposal:
          P19:
            authentication-method: pre-shared-keys
            dh-group: group19
            authentication-algorithm: sha-256
            encryption-algorithm: aes-256-cbc
            lifetime-seconds: 3600
        policy:
          GMs:
            mode: main
            proposals: [P19]
            pre-shared-key: { ascii-text: "${PSK}" }
        gateway:
${Object.entries(MEMBERS).map(([name, address]) => `          ${name}: { ike-policy: GMs, address: ${address} }`).join('\n')}
      ipsec:
        proposal:
          CBC256:
            encryption-algorithm: aes-256-cbc
            authentication-algorithm: hmac-sha-256-128
            lifetime-seconds: 3600
          GCM128-SHORT:
            encryption-algorithm: aes-128-gcm
            lifetime-seconds: 10
      group:
        G1:
          group-id: 101
          ike-gateway: [GM1, GM2, GM3]
          member-threshold: 2
          activation-time-delay: 1
          anti-replay-time-window: 100
          server-member-communication:
            encryption-algorithm: aes-256-cbc
            lifetime-seconds: 3600
            retransmission-period: 1
            number-of-retransmission: 2
            sig-hash-algorithm: sha-256
          ipsec-sa:
            SA1:
              proposal: CBC256
              match-policy: { M1: { source: 10.10.0.0/16, destination: 10.20.0.0/16, protocol: 17, destination-port: 5000 } }
        G2:
          group-id: 102
          ike-gateway: [GM4]
          activation-time-delay: 1
          no-anti-replay: true
          server-member-communication:
            encryption-algorithm: aes-128-cbc
            lifetime-seconds: 10
            retransmission-period: 1
            number-of-retransmission: 2
            sig-hash-algorithm: sha-384
          ipsec-sa:
            SA2:
              proposal: GCM128-SHORT
              match-policy: { M2: { source: 172.16.0.0/12, destination: 172.16.0.0/12 } }
`;

async function waitFor<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface KekSa { group: string; groupId: number; spi: string; algorithm: string; seq: number; sigHash: string; keys?: { encryptionKey: string; iv: string } }
interface TekSa { group: string; spi: string; state: string; algorithm: string; authentication: string | null; source: string; destination: string; keys?: { encryptionKey: string; salt?: string; authenticationKey?: string } }
interface Members { groups: { name: string; groupId: number; members: { address: string; gateway: string; lastAckedSeq: number | null }[] }[] }
type Gdoi = Record<string, number>;

describe('root-server daemon as a standalone GCKS over real UDP', () => {
  let dir: string;
  let daemon: ChildProcess | undefined;
  let socketPath: string;
  const clients: MemberClient[] = [];
  const ask = (words: string, options: Record<string, unknown> = {}) => controlRequest(socketPath, words.split(' '), { options });
  const keks = async () => ((await ask('show security group-vpn server kek security-associations')) as { sas: KekSa[] }).sas;
  const teks = async (showKeys = false) => ((await ask('show security group-vpn server ipsec security-associations', { showKeys })) as { sas: TekSa[] }).sas;
  const gdoi = async () => ((await ask('show security group-vpn server statistics')) as { gdoi: Gdoi }).gdoi;
  const members = async (group: string) =>
    ((await ask('show security group-vpn server registered-members')) as Members).groups.find((g) => g.name === group)?.members ?? [];

  async function member(name: keyof typeof MEMBERS): Promise<MemberClient> {
    const client = await MemberClient.open(MEMBERS[name], SERVER, PSK);
    clients.push(client);
    client.connect();
    await waitFor(() => client.sa?.established, 5000, `${name}: Main Mode`);
    return client;
  }

  async function register(name: keyof typeof MEMBERS, groupId: number): Promise<MemberClient> {
    const client = await member(name);
    const pull = client.pull(groupId);
    await waitFor(() => pull.state === 'done' || pull.state === 'failed', 5000, `${name}: pull`);
    assert.equal(pull.state, 'done', `${name}: pull ${pull.failure ?? ''}`);
    return client;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gvpn-gcks-'));
    socketPath = join(dir, 'state', 'control.sock');
    writeFileSync(join(dir, 'gcks.yaml'), config(join(dir, 'state')));
    const out = openSync(join(dir, 'daemon.log'), 'w');
    daemon = spawn(process.execPath, [DAEMON, '--config', join(dir, 'gcks.yaml')], { stdio: ['ignore', out, out] });
    closeSync(out);
    await waitFor(async () => {
      if (daemon?.exitCode !== null) throw new Error(`daemon exited: ${readFileSync(join(dir, 'daemon.log'), 'utf8')}`);
      return ask('request system ping').then(() => true, () => false);
    }, 10_000, 'daemon control socket');
  });

  after(async () => {
    for (const c of clients) c.close();
    if (daemon !== undefined && daemon.exitCode === null) {
      const exited = new Promise((r) => daemon?.once('exit', r));
      daemon.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => { timer = setTimeout(r, 3000); })]);
      clearTimeout(timer);
      if (daemon.exitCode === null) daemon.kill('SIGKILL');
    }
    if (process.env.GVPN_KEEP_TEST_DIR === undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('a member registers and holds the KEK and TEK SPIs and keys the daemon reports', async () => {
    const m1 = await register('GM1', 101);
    const [kek] = (await keks()).filter((k) => k.group === 'G1');
    assert.ok(kek, 'G1 KEK shown');
    assert.match(kek.spi, /^[0-9a-f]{32}$/);
    assert.equal(kek.keys, undefined, 'no keys without showKeys');
    assert.equal(m1.kekSpi(), kek.spi);
    assert.deepEqual([kek.algorithm, kek.sigHash, kek.groupId], ['aes-256-cbc', 'sha256', 101]);
    const g1Teks = (await teks(true)).filter((t) => t.group === 'G1');
    assert.equal(g1Teks.length, 1);
    assert.deepEqual(m1.tekSpis(), g1Teks.map((t) => t.spi));
    const tek = g1Teks[0]!;
    assert.deepEqual([tek.algorithm, tek.authentication, tek.source, tek.destination], ['aes-256-cbc', 'hmac-sha-256-128', '10.10.0.0/16', '10.20.0.0/16']);
    const installed = m1.receiver!.teks.get(tek.spi)!;
    assert.equal(tek.keys?.encryptionKey, hex(installed.encKey.reveal()), 'same TEK encryption key');
    assert.equal(tek.keys?.authenticationKey, hex(installed.authKey!.reveal()), 'same TEK integrity key');
    const withKeys = (await ask('show security group-vpn server kek security-associations', { showKeys: true })) as { sas: KekSa[] };
    assert.equal(withKeys.sas.find((k) => k.group === 'G1')?.keys?.encryptionKey, hex(m1.receiver!.kek!.key.reveal()), 'same KEK key');
    const listed = await members('G1');
    assert.deepEqual(listed.map((m) => [m.address, m.gateway]), [[MEMBERS.GM1, 'GM1']]);
    assert.equal((await gdoi()).registrations, 1);
  });

  it('an operator rekey reaches the member by push and is acknowledged', async () => {
    const m1 = clients[0]!;
    const before = await gdoi();
    const oldSpis = m1.tekSpis();
    const answer = (await ask('request security group-vpn server rekey group', { group: 'G1' })) as { seq: number; spis: string[] };
    assert.equal(answer.seq, 1);
    await waitFor(() => m1.accepted() >= 1, 5000, 'push accepted by the member');
    const daemonTeks = (await teks()).filter((t) => t.group === 'G1');
    const active = daemonTeks.filter((t) => t.state === 'active').map((t) => t.spi);
    assert.deepEqual(active, answer.spis);
    assert.notDeepEqual(active, oldSpis);
    for (const spi of active) assert.ok(m1.receiver!.teks.has(spi), `member installed TEK ${spi}`);
    assert.deepEqual(daemonTeks.filter((t) => t.state === 'deactivating').map((t) => t.spi), oldSpis, 'old TEK kept until its DTD');
    const after = await waitFor(async () => { const s = await gdoi(); return s.acksReceived! > before.acksReceived! && s; }, 5000, 'ACK counted');
    assert.equal(after.pushesSent! - before.pushesSent!, 1);
    assert.equal(after.ackInvalid, before.ackInvalid);
    assert.equal((await members('G1'))[0]?.lastAckedSeq, 1);
    assert.equal((await keks()).find((k) => k.group === 'G1')?.seq, 1);

    // The same ACK with one bit of its HASH flipped is refused and counted; nothing else changes.
    const forged = Uint8Array.from(m1.lastAck!);
    forged[28 + 4] = forged[28 + 4]! ^ 1;
    m1.sendRaw(forged, SERVER);
    const s2 = await waitFor(async () => { const s = await gdoi(); return s.ackInvalid! > after.ackInvalid! && s; }, 3000, 'forged ACK counted');
    assert.equal(s2.acksReceived, after.acksReceived);
  });

  it('member-threshold 2: the third member gets no pull response and is counted', async () => {
    await register('GM2', 101);
    const m3 = await member('GM3');
    const before = await gdoi();
    const pull = m3.pull(101, QUICK);
    await waitFor(() => pull.state === 'failed' || pull.state === 'done', 6000, 'third pull to end');
    assert.equal(pull.state, 'failed');
    assert.equal(pull.failure, 'timeout');
    assert.equal(m3.receiver, undefined, 'no keys');
    const s = await waitFor(async () => { const x = await gdoi(); return x.refusedThreshold! > before.refusedThreshold! && x; }, 3000, 'refusedThreshold counted');
    assert.equal(s.registrations, before.registrations);
    assert.deepEqual((await members('G1')).map((m) => m.address).sort(), [MEMBERS.GM1, MEMBERS.GM2]);
  });

  it('a wrong group number gets no keys and is counted', async () => {
    const m1 = clients[0]!;
    const before = await gdoi();
    const pull = m1.pull(999, QUICK);
    await waitFor(() => pull.state === 'failed' || pull.state === 'done', 6000, 'pull to end');
    assert.equal(pull.state, 'failed');
    assert.equal(pull.result, undefined);
    await waitFor(async () => (await gdoi()).refusedUnknownGroup! > before.refusedUnknownGroup!, 3000, 'refusedUnknownGroup counted');
  });

  it('a member authenticated through a gateway not in the group is refused and counted', async () => {
    const m1 = clients[0]!;
    const before = await gdoi();
    const pull = m1.pull(102, QUICK);
    await waitFor(() => pull.state === 'failed' || pull.state === 'done', 6000, 'pull to end');
    assert.equal(pull.state, 'failed');
    await waitFor(async () => (await gdoi()).refusedUnauthorizedGateway! > before.refusedUnauthorizedGateway!, 3000, 'refusedUnauthorizedGateway counted');
    assert.deepEqual(await members('G2'), []);
  });

  it('a rekey between pull messages 2 and 3 refuses that pull (no stale keys), and the next pull gets the new keys', async () => {
    const m1 = clients[0]!;
    const before = await gdoi();
    m1.hold = (bytes) => bytes.length >= 28 && bytes[18] === 32;
    const pull = m1.pull(101, QUICK);
    await waitFor(() => m1.held.length >= 1, 3000, 'message 2 held');
    await ask('request security group-vpn server rekey group', { group: 'G1' });
    await waitFor(() => m1.accepted() === 2, 3000, 'rekey push accepted by the registered member');
    m1.release();
    await waitFor(() => pull.state === 'failed' || pull.state === 'done', 6000, 'pull to end');
    assert.equal(pull.state, 'failed', 'the pull that started before the rekey got no keys');
    await waitFor(async () => (await gdoi()).refusedKeysChanged! === before.refusedKeysChanged! + 1, 3000, 'refusedKeysChanged counted');
    const again = m1.pull(101);
    await waitFor(() => again.state === 'done' || again.state === 'failed', 5000, 'second pull');
    assert.equal(again.state, 'done');
    const active = (await teks()).filter((t) => t.group === 'G1' && t.state === 'active').map((t) => t.spi);
    assert.deepEqual(again.result?.teks.map((t) => hex(t.spi)), active);
    assert.equal(again.result?.seq, (await keks()).find((k) => k.group === 'G1')?.seq);
  });

  it('a member that never acknowledges gets the retransmissions, then is removed', async () => {
    const m2 = clients[1]!;
    m2.mute = true;
    const before = await gdoi();
    await ask('request security group-vpn server rekey group', { group: 'G1' });
    // retransmission-period 1 s, number-of-retransmission 2: gone after about 3 s.
    await waitFor(async () => (await members('G1')).length === 1, 6000, 'unacknowledging member removed');
    const s = await gdoi();
    assert.equal(s.pushRetransmissions! - before.pushRetransmissions!, 2);
    assert.equal(s.membersRemovedUnacknowledged! - before.membersRemovedUnacknowledged!, 1);
    assert.deepEqual((await members('G1')).map((m) => m.address), [MEMBERS.GM1]);
    assert.equal(clients[0]!.accepted(), 3, 'the acknowledging member got its push');
  });

  it('timer-driven TEK and KEK rekeys (10 s lifetimes) reach the member and are acknowledged', async () => {
    const m4 = await register('GM4', 102);
    const firstKek = m4.kekSpi();
    const firstTeks = m4.tekSpis();
    assert.equal(firstKek, (await keks()).find((k) => k.group === 'G2')?.spi);
    await waitFor(() => m4.kekSpi() !== firstKek && m4.tekSpis().some((s) => !firstTeks.includes(s)) && m4.acksSent >= 2, 12_000, 'KEK and TEK rekeys');
    const kek = await waitFor(async () => (await keks()).find((k) => k.group === 'G2' && k.spi === m4.kekSpi()), 2000, 'daemon KEK equals member KEK');
    assert.deepEqual([kek.algorithm, kek.sigHash], ['aes-128-cbc', 'sha384']);
    // The daemon's active G2 TEK is installed on the member (retry: a rekey may be in flight right now).
    const active = await waitFor(async () => {
      const sas = (await teks()).filter((t) => t.group === 'G2' && t.state === 'active');
      return sas.length === 1 && sas.every((t) => m4.receiver!.teks.has(t.spi)) && sas;
    }, 3000, 'member holds the daemon\'s active TEK');
    assert.equal(active[0]?.algorithm, 'aes-128-gcm');
    assert.ok(m4.outcomes.every((o) => o.accepted), 'every push accepted');
    const s = await gdoi();
    assert.ok(s.tekRekeys! >= 1 && s.kekRekeys! >= 1);
    assert.ok(s.acksReceived! >= 3);
  });

  it('the gvpn CLI shows the same data, keys only with --show-keys, and runs the rekey command', async () => {
    const cli = (...args: string[]) => execFileAsync(process.execPath, [CLI, '--socket', socketPath, ...args]);
    const plain = JSON.parse((await cli('--json', 'show', 'security', 'group-vpn', 'server', 'kek', 'security-associations')).stdout) as { sas: KekSa[] };
    assert.deepEqual(plain.sas.map((k) => k.spi), (await keks()).map((k) => k.spi));
    assert.ok(plain.sas.every((k) => k.keys === undefined), 'no keys without --show-keys');
    const keyed = JSON.parse((await cli('--json', '--show-keys', 'show', 'security', 'group-vpn', 'server', 'ipsec', 'security-associations')).stdout) as { sas: TekSa[] };
    assert.ok(keyed.sas.length > 0 && keyed.sas.every((t) => /^[0-9a-f]+$/.test(t.keys?.encryptionKey ?? '')), 'keys with --show-keys');
    const text = (await cli('show', 'security', 'group-vpn', 'server', 'registered-members')).stdout;
    assert.match(text, new RegExp(`Group: G1, Group ID: 101, Members: 1 \\(threshold 2\\)`));
    assert.match(text, new RegExp(MEMBERS.GM1.replaceAll('.', '\\.')));
    const seqBefore = (await keks()).find((k) => k.group === 'G1')!.seq;
    const rekeyed = (await cli('request', 'security', 'group-vpn', 'server', 'rekey', 'group', 'G1')).stdout;
    assert.match(rekeyed, /^Group G1 \(ID 101\): TEK rekey started; TEK SPI\(s\) [0-9a-f]{8}, KEK SPI [0-9a-f]{32}, seq \d+\n$/);
    assert.equal((await keks()).find((k) => k.group === 'G1')!.seq, seqBefore + 1);
    await waitFor(() => clients[0]!.accepted() === 4, 5000, 'CLI-triggered push accepted');
    await assert.rejects(cli('request', 'security', 'group-vpn', 'server', 'rekey', 'group', 'NOPE'), /no group named NOPE/);
  });

  it('clear group: delete-all reaches the member, the group starts over with fresh keys', async () => {
    const m1 = clients[0]!;
    const oldKek = (await keks()).find((k) => k.group === 'G1')!.spi;
    const acceptedBefore = m1.accepted();
    await ask('clear security group-vpn server group', { group: 'G1' });
    await waitFor(() => m1.accepted() > acceptedBefore, 5000, 'delete-all accepted');
    const last = m1.outcomes.at(-1);
    assert.ok(last?.accepted === true && last.kekDeleted, 'KEK deleted on the member');
    assert.equal(m1.receiver?.kek, undefined);
    assert.deepEqual(await members('G1'), []);
    const fresh = (await keks()).find((k) => k.group === 'G1')!;
    assert.notEqual(fresh.spi, oldKek);
    const again = m1.pull(101);
    await waitFor(() => again.state === 'done' || again.state === 'failed', 5000, 're-registration');
    assert.equal(again.state, 'done');
    assert.equal(m1.kekSpi(), fresh.spi);
  });
});
