/**
 * The member daemon killed with SIGKILL and started again with its state directory (issue 5; src/durable.ts),
 * against the test key server (test/gcks.ts) on 127.0.8.61-63 (this file's addresses):
 *   - it takes up its stored registration: no PULL, the same KEK SPI and SEQ, the same TEKs and their states;
 *   - a PUSH it accepted before the crash, sent again (its ACK was lost, say), gets its ACK again and counts
 *     as a duplicate — not as a replay; a PUSH with an old SEQ is still a replay; the next rekey is accepted;
 *   - with GVPN_STATE_KEY the store is sealed: no key material in the file in the clear.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup, waitFor, workDirectory } from '@gvpn/integration';
import { systemRandom } from '@gvpn/crypto';
import { buildPush, generateTek, hex } from '@gvpn/gdoi';
import { TestGcks } from './gcks.js';
import { MemberDaemon, testGroupPolicy, type MemberSpec } from './harness.js';

const SERVER = '127.0.8.61';
const GM = '127.0.8.62';
const PSK = 'member-restart-psk';

const SPEC: MemberSpec = {
  name: 'gm-restart', address: GM, servers: [SERVER], psk: PSK, groupId: 7, memberId: 1,
  peers: [{ name: 'nobody', memberId: 2, address: '127.0.8.63' }],
};

describe('member daemon: kill -9 and restart with its state store', () => {
  const cleanup = new Cleanup();
  let gcks: TestGcks;
  let gm: MemberDaemon;
  let workDir: string;
  let acceptedPush: Uint8Array;
  const stateKey = 'a5'.repeat(32);
  after(() => cleanup.run());

  async function killAndStart(): Promise<void> {
    process.kill(gm.child.pid, 'SIGKILL');
    await gm.child.exited;
    gm = await MemberDaemon.start(SPEC, workDir, { GVPN_STATE_KEY: stateKey });
  }

  before(async () => {
    workDir = await workDirectory(cleanup, 'member-restart');
    gcks = new TestGcks({ listen: { address: SERVER, port: 848 }, psk: PSK, members: [GM], policy: testGroupPolicy(SERVER, 30) });
    await gcks.start();
    cleanup.defer('key server', () => gcks.stop());
    gm = await MemberDaemon.start(SPEC, workDir, { GVPN_STATE_KEY: stateKey });
    cleanup.defer('member daemon', () => gm.stop());
    await waitFor(async () => (await gm.kek()).sas.length === 1, 15_000, 'the member registered');
  });

  it('takes up its registration: no PULL, the same KEK SPI and SEQ, the same TEKs in the same states', async () => {
    acceptedPush = gcks.rekeyTeks();
    const newTek = hex(gcks.group.teks.at(-1)!.spi);
    await waitFor(async () => (await gm.ipsec()).sas.some((s) => s.spi === newTek) && gcks.acks.length === 1, 10_000, 'the rekey accepted and ACKed');
    const before = { k: await gm.kek(), i: await gm.ipsec(), pulls: gcks.registered.length };
    assert.deepEqual(before.i.sas.map((s) => s.state).sort(), ['active', 'retiring']);

    await killAndStart();

    const k = await gm.kek();
    assert.deepEqual(k.sas.map((s) => [s.spi, s.seq, s.server]), before.k.sas.map((s) => [s.spi, s.seq, s.server]));
    assert.equal((k.sas[0] as { restoredFromStore?: boolean }).restoredFromStore, true);
    const i = await gm.ipsec();
    assert.deepEqual(i.sas.map((s) => [s.spi, s.state, s.encryptionKey]).sort(), before.i.sas.map((s) => [s.spi, s.state, s.encryptionKey]).sort());
    assert.equal(gcks.registered.length, before.pulls, 'no PULL');
    assert.equal((await gm.statistics()).registration['registrationAttempts'], 0);
  });

  it('a PUSH accepted before the crash, sent again: its ACK again, a duplicate and not a replay; an old SEQ is a replay', async () => {
    const acks = gcks.acks.length;
    gcks.sendTo(acceptedPush, GM);
    await waitFor(async () => (await gm.statistics()).push['duplicateDropped'] === 1 && gcks.acks.length === acks + 1, 5000, 'the duplicate answered');
    const ack = gcks.acks.at(-1)!;
    assert.ok(ack.ok && ack.from === GM && ack.seq === gcks.group.seq(), 'the stored ACK verifies at the server');
    assert.equal((await gm.statistics()).push['replayDropped'], 0);

    const teks = gcks.group.policy.teks.map((t) => generateTek(t, systemRandom));
    gcks.sendTo(buildPush({ kek: gcks.group.kek, seq: gcks.group.seq(), teks }).bytes, GM);
    await waitFor(async () => (await gm.statistics()).push['replayDropped'] === 1, 5000, 'an old SEQ dropped as a replay');

    gcks.rekeyTeks();
    const newTek = hex(gcks.group.teks.at(-1)!.spi);
    await waitFor(async () => (await gm.ipsec()).sas.some((s) => s.spi === newTek) && gcks.acks.length === acks + 2, 10_000, 'the next rekey accepted');
    assert.equal((await gm.statistics()).push['pushesAccepted'], 1);
  });

  it('a KEK rekey survives a restart too: the next PUSH decrypts under the stored new KEK', async () => {
    gcks.rekeyKek();
    const kek = hex(gcks.group.kek.spi);
    await waitFor(async () => (await gm.kek()).sas[0]?.spi === kek, 10_000, 'the new KEK');
    await killAndStart();
    assert.equal((await gm.kek()).sas[0]?.spi, kek);
    gcks.rekeyTeks();
    const newTek = hex(gcks.group.teks.at(-1)!.spi);
    await waitFor(async () => (await gm.ipsec()).sas.some((s) => s.spi === newTek), 10_000, 'a TEK pushed under the new KEK');
    assert.equal((await gm.statistics()).push['pushesAccepted'], 1);
  });

  it('with GVPN_STATE_KEY the state file holds no key in the clear', async () => {
    const i = await gm.ipsec();
    const files = ['state.db', 'state.db-wal'].map((f) => join(workDir, `${SPEC.name}-state`, f));
    const bytes = Buffer.concat(files.map((f) => { try { return readFileSync(f); } catch { return Buffer.alloc(0); } }));
    for (const sa of i.sas) {
      const key = Buffer.from(sa.encryptionKey ?? '', 'hex');
      assert.ok(key.length > 0 && !bytes.includes(key), `TEK ${sa.spi} key not in the clear`);
      assert.ok(!bytes.includes(Buffer.from(key.toString('base64'))), `TEK ${sa.spi} key not in base64`);
    }
  });
});
