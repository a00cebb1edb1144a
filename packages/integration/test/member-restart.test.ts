/**
 * kill -9 and restart of a member with its durable state (issue 5; packages/member/src/durable.ts): root,
 * sub1, gm-0001 and gm-0002 (both on sub1, probing each other) in a ClusterLab (a network namespace of this
 * test). The member keeps its registration — server, KEK with its SEQ, TEKs with their times, the last
 * accepted PUSHes — and its outbound ESP sequence high-water marks in `<state-directory>/state.db`.
 *
 * - Restart in steady state: gm-0001 comes back registered with sub1 (no PULL at sub1: R-REG-1 is not run
 *   again), with the same KEK SPI and SEQ and the same TEK SPIs; its ESP traffic resumes above the sequence
 *   numbers it used before, so gm-0002 counts no replay drop and no authentication failure.
 * - The root's next rekey reaches gm-0001 through sub1 (R-MSG-4/5): accepted and acknowledged, no replay
 *   drop; a second restart brings back what that PUSH installed.
 * - A corrupt state file (garbage written over it and its WAL while gm-0001 is down): the store moves it aside, the
 *   member logs it, starts and registers again — one more registration at sub1, no crash loop.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup, ClusterLab, probeOnly, rootWithSubs, useServers, type ExampleNode } from '@gvpn/integration';

const GROUP = 'GROUP_ID-0001';
const MEMBERS: ExampleNode[] = ['gm-0001', 'gm-0002'];

interface KekView {
  sas: { spi: string; server: string; seq: number; restoredFromStore?: boolean }[];
  registrations: { registered: boolean; server: string | null; attempt: string | null }[];
}

interface MemberStatistics {
  esp: Record<string, number>;
  push: Record<string, number>;
  registration: Record<string, number>;
  probe: Record<string, number>;
}

const memberStatistics = (lab: ClusterLab, node: ExampleNode): Promise<MemberStatistics> => lab.show<MemberStatistics>(node, 'ipsec statistics');
const kekView = (lab: ClusterLab, node: ExampleNode): Promise<KekView> => lab.show<KekView>(node, 'kek security-associations');
const subGdoi = async (lab: ClusterLab): Promise<Record<string, number>> => (await lab.statistics('sub1')).gdoi ?? {};

/** Every installed TEK SPI of a member, retiring ones included. */
async function allTekSpis(lab: ClusterLab, node: ExampleNode): Promise<string[]> {
  const { sas } = await lab.show<{ sas: { spi: string }[] }>(node, 'ipsec security-associations');
  return sas.map((s) => s.spi).sort();
}

function stateDirectory(lab: ClusterLab, node: ExampleNode): string {
  return lab.configs.get(node).system['state-directory'] as string;
}

describe('issue 5: a member killed with SIGKILL and restarted takes up its stored registration', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;

  before(async () => {
    lab = await ClusterLab.start(cleanup, {
      label: 'member-restart', nodes: ['root', 'sub1', ...MEMBERS], start: false,
      edit: (node, doc) => {
        if (node === 'root') rootWithSubs(doc, ['sub1']);
        if (node.startsWith('gm-')) {
          useServers(doc, ['sub1']);
          probeOnly(doc, MEMBERS);
          doc.security['group-vpn'].member['data-plane'].probe['interval-ms'] = 200;
        }
      },
    });
    for (const node of ['root', 'sub1'] as const) await lab.startNode(node);
    await lab.clusterUp(30_000);
    for (const m of MEMBERS) await lab.startNode(m);
    await lab.membersUp(30_000);
  });
  after(() => cleanup.run());

  it('restart in steady state: no new PULL at sub1, the same KEK, SEQ and TEK SPIs, ESP resumes with no replay drop', async () => {
    const kekBefore = (await kekView(lab, 'gm-0001')).sas[0];
    const teksBefore = await allTekSpis(lab, 'gm-0001');
    assert.ok(kekBefore !== undefined && teksBefore.length > 0);
    // Enough packets sent under the TEK that a restart from sequence number 1 would fall in gm-0002's window.
    await lab.until('gm-0001 has sent some probes', 10_000, async () => ((await memberStatistics(lab, 'gm-0001')).esp.sent ?? 0) >= 10);
    const sub = await subGdoi(lab);
    const peer = (await memberStatistics(lab, 'gm-0002')).esp;

    await lab.restart('gm-0001');

    const file = join(stateDirectory(lab, 'gm-0001'), 'state.db');
    assert.equal(statSync(file).mode & 0o777, 0o600, 'state.db is mode 0600');
    const after = await kekView(lab, 'gm-0001');
    assert.equal(after.sas[0]?.spi, kekBefore.spi, 'same KEK SPI');
    assert.equal(after.sas[0]?.seq, kekBefore.seq, 'same SEQ');
    assert.equal(after.sas[0]?.server, kekBefore.server, 'same key server');
    assert.equal(after.sas[0]?.restoredFromStore, true);
    assert.deepEqual(after.registrations.map((r) => [r.registered, r.server, r.attempt]), [[true, kekBefore.server, null]]);
    assert.deepEqual(await allTekSpis(lab, 'gm-0001'), teksBefore, 'same TEK SPIs');
    assert.match(lab.log('gm-0001'), /registration restored from the state store/);

    // gm-0001's packets reach gm-0002 again (ESP level: its probe numbering starts over, its ESP numbering does not).
    await lab.until('gm-0002 receiving from gm-0001 again', 15_000, async () => ((await memberStatistics(lab, 'gm-0002')).esp.received ?? 0) >= (peer.received ?? 0) + 10);
    await lab.until('gm-0001 receiving from gm-0002', 15_000, async () => ((await memberStatistics(lab, 'gm-0001')).esp.received ?? 0) >= 10);
    const peerAfter = (await memberStatistics(lab, 'gm-0002')).esp;
    assert.equal(peerAfter.replayDropped, peer.replayDropped, 'gm-0002 dropped none of gm-0001\'s packets as replays');
    assert.equal(peerAfter.authFailures, peer.authFailures, 'gm-0002 authentication failures');
    assert.equal(peerAfter.noSa, peer.noSa, 'gm-0002 packets without an SA');
    const own = await memberStatistics(lab, 'gm-0001');
    assert.equal(own.esp.authFailures, 0);
    assert.equal(own.registration.registrationAttempts, 0, 'gm-0001 did not try to register');
    const subAfter = await subGdoi(lab);
    assert.equal(subAfter.pullsStarted, sub.pullsStarted, 'no GROUPKEY-PULL started at sub1');
    assert.equal(subAfter.registrations, sub.registrations, 'no registration at sub1');
  });

  it('R-MSG-4/5 after the restart: the root\'s rekey reaches gm-0001 through sub1, accepted and ACKed; a second restart keeps it', async () => {
    const push = (await memberStatistics(lab, 'gm-0001')).push;
    const acks = (await subGdoi(lab)).acksReceived ?? 0;
    const peer = (await memberStatistics(lab, 'gm-0002')).esp;
    const r = (await lab.request('root', ['request', 'security', 'group-vpn', 'server', 'rekey', 'group'], { group: GROUP })) as { spis: string[] };
    const newTek = r.spis[0];
    assert.ok(newTek !== undefined);
    for (const m of MEMBERS) await lab.until(`${m} holding the new TEK`, 15_000, async () => (await lab.tekSpis(m)).includes(newTek));
    await lab.until('both ACKs at sub1', 10_000, async () => ((await subGdoi(lab)).acksReceived ?? 0) >= acks + 2);
    const pushAfter = (await memberStatistics(lab, 'gm-0001')).push;
    assert.ok((pushAfter.pushesAccepted ?? 0) >= (push.pushesAccepted ?? 0) + 1, 'gm-0001 accepted the PUSH');
    assert.equal(pushAfter.replayDropped, push.replayDropped, 'no PUSH dropped as a replay');
    const kek = (await kekView(lab, 'gm-0001')).sas[0];
    const teks = await allTekSpis(lab, 'gm-0001');
    assert.ok(teks.includes(newTek));

    // What the PUSH installed (the new TEK, the SEQ, the old TEK retiring) was written before its ACK.
    const sub = await subGdoi(lab);
    await lab.restart('gm-0001');
    const again = (await kekView(lab, 'gm-0001')).sas[0];
    assert.deepEqual([again?.spi, again?.seq, again?.restoredFromStore], [kek?.spi, kek?.seq, true]);
    const teksAgain = await allTekSpis(lab, 'gm-0001');
    assert.ok(teksAgain.includes(newTek), `the pushed TEK is back (${teksAgain.join(', ')})`);
    assert.ok(teksAgain.every((spi) => teks.includes(spi)), 'no TEK it did not hold');
    await lab.until('gm-0002 receiving from gm-0001 after the second restart', 15_000,
      async () => ((await memberStatistics(lab, 'gm-0002')).esp.received ?? 0) >= (peer.received ?? 0) + 20);
    const peerAfter = (await memberStatistics(lab, 'gm-0002')).esp;
    assert.equal(peerAfter.replayDropped, peer.replayDropped, 'gm-0002 replay drops');
    assert.equal(peerAfter.authFailures, peer.authFailures, 'gm-0002 authentication failures');
    const subAfter = await subGdoi(lab);
    assert.equal(subAfter.pullsStarted, sub.pullsStarted, 'no GROUPKEY-PULL started at sub1');
    assert.equal(subAfter.registrations, sub.registrations, 'no registration at sub1');
  });

  it('a corrupt state file: moved aside and logged, gm-0001 starts and registers again (sub1 registrations +1)', async () => {
    const sub = await subGdoi(lab);
    const dir = stateDirectory(lab, 'gm-0001');
    await lab.kill('gm-0001');
    // Over the WAL too: until a checkpoint, every page gm-0001 wrote is in state.db-wal, and SQLite would read
    // them from there (a garbled main file alone is no loss).
    const junk = Buffer.alloc(8192, 0x5a);
    writeFileSync(join(dir, 'state.db'), junk);
    if (existsSync(join(dir, 'state.db-wal'))) writeFileSync(join(dir, 'state.db-wal'), junk);
    await lab.startNode('gm-0001');
    await lab.until('gm-0001 registered again', 30_000, async () => (await kekView(lab, 'gm-0001')).registrations[0]?.registered === true);
    const kek = (await kekView(lab, 'gm-0001')).sas[0];
    assert.equal(kek?.restoredFromStore, undefined, 'keys from a PULL, not from the store');
    const subAfter = await subGdoi(lab);
    assert.equal(subAfter.registrations, (sub.registrations ?? 0) + 1, 'one registration at sub1');
    const log = lab.log('gm-0001');
    assert.match(log, /state store unusable: moved aside, starting empty/);
    assert.match(log, /state store was unusable and started empty: registering/);
    assert.ok(readdirSync(dir).some((f) => f.startsWith('state.db.corrupt-')), 'the bad file is kept aside');
    assert.ok(existsSync(join(dir, 'state.db')));
    assert.ok(lab.running('gm-0001'));
    // And the fresh store is in use: the new registration is there for the next restart.
    await lab.restart('gm-0001');
    assert.equal((await kekView(lab, 'gm-0001')).sas[0]?.restoredFromStore, true);
    assert.equal((await subGdoi(lab)).registrations, subAfter.registrations, 'no registration at sub1');
  });
});
