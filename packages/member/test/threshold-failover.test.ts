/**
 * R-REG-5 and push authentication with real processes only, on 127.0.9.x (this file's addresses): two
 * standalone root-server daemons, A (member-threshold 2) and B, same group, each with its own keys, and
 * three member daemons that list [A, B] in that order.
 *   - gm1 and gm2 register with A; gm3's pull at A gets no answer (A is at its threshold), gm3 gives up
 *     after its registration-timeout and registers with B. Checked on A's and B's registered-members and
 *     statistics and on gm3's KEK SA.
 *   - pushes against gm2 (registered with the real A), sent from a test socket: a real PUSH of A's,
 *     captured by tshark on lo on its way to gm1 before gm2 registered, replayed to gm2 (old SEQ) from
 *     A's address (another port: the member checks the source address only) and from an address that is
 *     not A's; a PUSH under A's real KEK (encryption key and IV shown by A with showKeys) signed with a
 *     key that is not A's; one under A's KEK SPI encrypted with another key; one under a KEK no one holds.
 *     Each is dropped and counted, gm2's KEK/TEK state is unchanged, and A's next real rekey is accepted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { join } from 'node:path';
import { CLI_MAIN, Capture, Cleanup, assertIntegrationRequirements, runCommand, waitFor, workDirectory } from '@gvpn/integration';
import { Secret, systemRandom } from '@gvpn/crypto';
import { buildPush, generateSigningKey, generateTek, type Kek, type TekPolicy } from '@gvpn/gdoi';
import { RootServerDaemon, standaloneGcksConfig } from './daemons.js';
import { MemberDaemon, type MemberStatistics } from './harness.js';

const A = '127.0.9.1';
const B = '127.0.9.2';
/** Not a key server: pushes from here must be refused for their source. */
const STRANGER = '127.0.9.5';
const GROUP = 'GROUP_ID-0009';
const GROUP_ID = 9;
const PSK = 'member-threshold-psk';
const M = [
  { name: 'gm1', address: '127.0.9.11', memberId: 1 },
  { name: 'gm2', address: '127.0.9.12', memberId: 2 },
  { name: 'gm3', address: '127.0.9.13', memberId: 3 },
] as const;
const TEK_POLICY: TekPolicy = {
  name: GROUP, cipher: 'aes-256-cbc', integrity: 'hmac-sha-256-128', protocol: 0,
  source: { prefix: '172.16.0.0/12', port: 0 }, destination: { prefix: '172.16.0.0/12', port: 0 }, lifetimeSeconds: 3600,
};

function serverConfig(name: string, address: string, memberThreshold: number | undefined) {
  // Every member is an authorised gateway of both servers: A refuses gm3 for its threshold only.
  return standaloneGcksConfig({
    name, address, psk: PSK, members: M, group: GROUP, groupId: GROUP_ID,
    ...(memberThreshold === undefined ? {} : { memberThreshold }), kekLifetimeSeconds: 3600, retransmissionPeriod: 2,
  });
}

interface Registered { groups: { name: string; memberThreshold: number | null; memberCount: number; members: { address: string }[] }[] }
interface ServerKek { spi: string; seq: number; keys: { encryptionKey: string; iv: string; signaturePublicKey: string } }

describe('member-threshold failover and push authentication, real root-servers and members', () => {
  const cleanup = new Cleanup();
  let workDir: string;
  let serverA: RootServerDaemon;
  let serverB: RootServerDaemon;
  const members = new Map<string, MemberDaemon>();
  /** A's real TEK-rekey PUSH to gm1 (SEQ 1 of its KEK), as tshark captured it. */
  let capturedPush: Buffer;
  after(() => cleanup.run());

  const gdoi = async (server: RootServerDaemon): Promise<Record<string, number>> =>
    ((await server.request(['show', 'security', 'group-vpn', 'server', 'statistics'])) as { gdoi: Record<string, number> }).gdoi;
  const registered = async (server: RootServerDaemon): Promise<string[]> =>
    ((await server.request(['show', 'security', 'group-vpn', 'server', 'registered-members'])) as Registered).groups
      .find((g) => g.name === GROUP)!.members.map((m) => m.address).sort();
  const kekA = async (): Promise<ServerKek> =>
    ((await serverA.request(['show', 'security', 'group-vpn', 'server', 'kek', 'security-associations'], { showKeys: true })) as { sas: ServerKek[] }).sas[0]!;

  async function startMember(m: (typeof M)[number]): Promise<MemberDaemon> {
    const daemon = await MemberDaemon.start({
      name: m.name, address: m.address, servers: [A, B], psk: PSK, groupId: GROUP_ID, memberId: m.memberId, registrationTimeoutSeconds: 3,
      peers: M.filter((o) => o !== m).map((o) => ({ name: o.name, memberId: o.memberId, address: o.address })),
    }, workDir);
    cleanup.defer(`${m.name} daemon`, () => daemon.stop());
    members.set(m.name, daemon);
    return daemon;
  }
  async function registeredWith(member: MemberDaemon, server: string, withinMs: number): Promise<void> {
    let last = '';
    await waitFor(async () => {
      const k = await member.kek();
      last = JSON.stringify(k);
      return k.sas.length === 1 && k.sas[0]!.server === server;
    }, withinMs, () => `${member.spec.name} registered with ${server}; last seen: ${last}`);
  }

  before(async () => {
    await assertIntegrationRequirements();
    workDir = await workDirectory(cleanup, 'member-threshold');
    serverA = await RootServerDaemon.start('server-a', serverConfig('server-a', A, 2), workDir);
    cleanup.defer('server A', () => serverA.stop());
    serverB = await RootServerDaemon.start('server-b', serverConfig('server-b', B, undefined), workDir);
    cleanup.defer('server B', () => serverB.stop());

    // gm1 registers with A; A rekeys while tshark records what A sends gm1.
    const gm1 = await startMember(M[0]);
    await registeredWith(gm1, A, 10_000);
    const pcap = join(workDir, 'push.pcap');
    const capture = await Capture.start({
      namespace: undefined, iface: 'lo', pcapFile: pcap, logDir: workDir, filter: `udp port 848 and src host ${A} and dst host ${M[0].address}`,
    });
    let stopped = false;
    cleanup.defer('tshark capture', async () => { if (!stopped) await capture.stop(); });
    const accepted = (await gm1.statistics()).push['pushesAccepted']!;
    await serverA.request(['request', 'security', 'group-vpn', 'server', 'rekey', 'group'], { group: GROUP });
    await waitFor(async () => (await gm1.statistics()).push['pushesAccepted'] === accepted + 1, 10_000, 'gm1 accepted A\'s rekey');
    const pushFilter = 'isakmp.exchangetype == 33';
    await capture.waitForFrames(pushFilter, 1, 5000, {});
    await capture.stop();
    stopped = true;
    const { stdout } = await runCommand('tshark', [
      '-r', pcap, '-d', 'udp.port==848,isakmp', '-Y', `${pushFilter} && ip.src == ${A} && ip.dst == ${M[0].address}`, '-T', 'fields', '-e', 'udp.payload',
    ]);
    const payloads = stdout.split('\n').filter((l) => l !== '');
    assert.ok(payloads.length >= 1, `tshark found A's PUSH to gm1 in ${pcap}`);
    capturedPush = Buffer.from(payloads[0]!.replaceAll(':', ''), 'hex');

    // Then gm2 (A's second member), then gm3, which A must not answer.
    await registeredWith(await startMember(M[1]), A, 10_000);
    await startMember(M[2]);
  });

  it('the third member gets no answer from A at its threshold of 2 and registers with B', async () => {
    const gm3 = members.get('gm3')!;
    await registeredWith(gm3, B, 15_000);
    assert.deepEqual(await registered(serverA), [M[0].address, M[1].address]);
    assert.deepEqual(await registered(serverB), [M[2].address]);
    const a = await gdoi(serverA);
    assert.ok(a['refusedThreshold']! >= 1, `A refusedThreshold ${a['refusedThreshold']}`);
    assert.equal(a['refusedUnauthorizedGateway'], 0);
    assert.equal(a['newMembers'], 2);
    const view = (await serverA.request(['show', 'security', 'group-vpn', 'server', 'registered-members'])) as Registered;
    assert.equal(view.groups[0]?.memberThreshold, 2);
    assert.equal(view.groups[0]?.memberCount, 2);
    // gm3 timed out at A (no pull response: silent, not an error notify) and moved on to B.
    const s = await gm3.statistics();
    assert.ok(s.registration['serverTimeouts']! >= 1, `gm3 serverTimeouts ${s.registration['serverTimeouts']}`);
    assert.ok(s.registration['failovers']! >= 1, `gm3 failovers ${s.registration['failovers']}`);
    // Main Mode with A succeeded (A counted the refused pull) and no pull failed on an answer: A was silent.
    assert.equal(s.registration['ikeFailures'], 0);
    assert.equal(s.registration['pullFailures'], 0);
    // Via the CLI too: gm3's KEK SA names B as its server.
    const { stdout } = await runCommand(process.execPath, [
      CLI_MAIN, '--socket', gm3.socketPath, '--json',
      'show', 'security', 'group-vpn', 'member', 'kek', 'security-associations',
    ]);
    assert.equal((JSON.parse(stdout) as { sas: { server: string }[] }).sas[0]?.server, B);
    // gm3 holds B's KEK, not A's: two servers, two sets of keys.
    const kekB = ((await serverB.request(['show', 'security', 'group-vpn', 'server', 'kek', 'security-associations'])) as { sas: { spi: string }[] }).sas[0]!;
    assert.equal((await gm3.kek()).sas[0]?.spi, kekB.spi);
    assert.notEqual(kekB.spi, (await kekA()).spi);
  });

  it('drops replayed, misrouted, forged and wrong-KEK pushes against a member of the real server A; state unchanged', async () => {
    const gm2 = members.get('gm2')!;
    const kek = await kekA();
    assert.equal(Buffer.from(capturedPush.subarray(0, 16)).toString('hex'), kek.spi, 'the captured PUSH is under A\'s current KEK');
    assert.equal(capturedPush[18], 33, 'GROUPKEY-PUSH');
    const before = { k: await gm2.kek(), i: await gm2.ipsec(), s: await gm2.statistics() };
    assert.equal(before.k.sas[0]?.spi, kek.spi);

    // A test socket on A's address (A holds port 848; this one gets an ephemeral port) and one elsewhere.
    const open = async (address: string): Promise<Socket> => {
      const socket = createSocket('udp4');
      socket.bind(0, address);
      await once(socket, 'listening');
      cleanup.defer(`test socket on ${address}`, () => socket.close());
      return socket;
    };
    const asA = await open(A);
    const stranger = await open(STRANGER);
    const send = (socket: Socket, bytes: Uint8Array): void => { socket.send(bytes, 848, M[1].address); };

    // Under A's real KEK (key and IV as A shows them), but signed with a key that is not A's.
    const der = new Uint8Array(Buffer.from(kek.keys.signaturePublicKey, 'hex'));
    const signer = generateSigningKey(2048);
    const forgedKek = {
      spi: new Uint8Array(Buffer.from(kek.spi, 'hex')), cipher: 'aes-256-cbc', key: new Secret(new Uint8Array(Buffer.from(kek.keys.encryptionKey, 'hex'))),
      iv: new Uint8Array(Buffer.from(kek.keys.iv, 'hex')), sigHash: 'sha256', lifetimeSeconds: 3600, ackType: 1,
      publicKey: createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' }), publicKeyDer: der, sigBits: 2048,
      privateKey: signer.privateKey,
      // buildPush reads `sak` only from a new KEK; this push carries none.
      sak: undefined,
    } as unknown as Kek;
    const teks = [generateTek(TEK_POLICY, systemRandom)];
    const forged = buildPush({ kek: forgedKek, seq: kek.seq + 1, teks }).bytes;
    const wrongKey = buildPush({ kek: { ...forgedKek, key: new Secret(systemRandom.bytes(32)) }, seq: kek.seq + 1, teks }).bytes;
    const unknownKek = Uint8Array.from(capturedPush);
    unknownKek[0]! ^= 0xff;

    send(stranger, capturedPush); // a real PUSH of A's, not from A's address
    send(asA, capturedPush); // a real PUSH of A's, SEQ 1, from A's address: older than gm2's registration
    send(asA, forged);
    send(asA, wrongKey);
    send(asA, unknownKek);

    const grew = (s: MemberStatistics, name: string): number => s.push[name]! - before.s.push[name]!;
    let last = '';
    await waitFor(async () => {
      const s = await gm2.statistics();
      last = JSON.stringify(s.push);
      return grew(s, 'wrongSourceDropped') === 1 && grew(s, 'replayDropped') === 1 && grew(s, 'noRegistrationDropped') === 1 &&
        grew(s, 'badSignatureDropped') >= 1 &&
        grew(s, 'badSignatureDropped') + grew(s, 'decryptFailedDropped') + grew(s, 'invalidPayloadDropped') === 2;
    }, 5000, () => `misrouted, replayed, unknown-KEK, forged and wrong-key PUSHes counted; last seen: ${last}`);
    const s = await gm2.statistics();
    assert.equal(grew(s, 'pushesReceived'), 5);
    assert.equal(grew(s, 'pushesAccepted'), 0);
    assert.equal(grew(s, 'duplicateDropped'), 0, 'gm2 never accepted the captured PUSH: a replay, not a duplicate');
    assert.equal(grew(s, 'acksSent'), 0);
    const after = { k: await gm2.kek(), i: await gm2.ipsec() };
    assert.deepEqual(after.k.sas.map((x) => [x.spi, x.seq, x.key]), before.k.sas.map((x) => [x.spi, x.seq, x.key]));
    assert.deepEqual(after.i.sas.map((x) => [x.spi, x.encryptionKey, x.state]), before.i.sas.map((x) => [x.spi, x.encryptionKey, x.state]));

    // The member still takes A's next real rekey: the drops above were the pushes', not the member's fault.
    const oldTeks = new Set(before.i.sas.map((x) => x.spi));
    await serverA.request(['request', 'security', 'group-vpn', 'server', 'rekey', 'group'], { group: GROUP });
    await waitFor(async () => (await gm2.statistics()).push['pushesAccepted'] === before.s.push['pushesAccepted']! + 1, 10_000, 'gm2 accepted A\'s next rekey');
    assert.ok((await gm2.ipsec()).sas.some((x) => !oldTeks.has(x.spi)), 'gm2 installed the new TEK');
  });
});
