/**
 * A group with two SAs of different lifetimes whose server never rekeys (as when no push reaches the
 * member, or the group has no KEK), real member process on 127.0.8.7x against test/gcks.ts: the member
 * must pull again before the SHORTER-lived SA ends, not only before the newest TEK of the group ends, so
 * both SAs stay usable.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanup, waitFor, workDirectory } from '@gvpn/integration';
import { hex } from '@gvpn/gdoi';
import { TestGcks } from './gcks.js';
import { MemberDaemon, testGroupPolicy } from './harness.js';

const SERVER = '127.0.8.73';
const MEMBER = { name: 'gm74', address: '127.0.8.74', memberId: 4 } as const;
const PSK = 'member-multi-sa-refresh-psk';
const SHORT_LIFETIME_S = 4;

describe('a group with two SAs of different lifetimes and no rekey', () => {
  const cleanup = new Cleanup();
  let gcks: TestGcks;
  let member: MemberDaemon;
  after(() => cleanup.run());

  before(async () => {
    const workDir = await workDirectory(cleanup, 'member-multi-sa-refresh');
    const policy = testGroupPolicy(SERVER, 2);
    policy.kek.pushSource = { address: SERVER, port: 848 };
    // The long-lived SA first: the group's newest TEK is then not the one that ends first.
    policy.teks = [
      { ...policy.teks[0]!, lifetimeSeconds: 3600 },
      { ...policy.teks[0]!, name: 'VOICE', source: { prefix: '10.20.0.0/16', port: 0 }, destination: { prefix: '10.20.0.0/16', port: 0 }, lifetimeSeconds: SHORT_LIFETIME_S },
    ];
    gcks = new TestGcks({ listen: { address: SERVER, port: 848 }, psk: PSK, members: [MEMBER.address], policy });
    await gcks.start();
    cleanup.defer('key server', () => gcks.stop());
    member = await MemberDaemon.start({
      name: MEMBER.name, address: MEMBER.address, servers: [SERVER], psk: PSK, groupId: 7, memberId: MEMBER.memberId,
      peers: [{ name: 'nobody', memberId: 6, address: '127.0.8.76' }],
    }, workDir);
    cleanup.defer(`${MEMBER.name} daemon`, () => member.stop());
  });

  it('pulls again before the shorter-lived SA ends and keeps both SAs', async () => {
    const short = hex(gcks.group.teks[1]!.spi);
    const long = hex(gcks.group.teks[0]!.spi);
    await waitFor(async () => (await member.kek()).sas.length === 1, 10_000, 'registered');
    let last = '';
    // Two short lifetimes: without a pull before each end the short SA is gone after the first.
    await waitFor(async () => {
      const s = await member.statistics();
      const sas = (await member.ipsec()).sas;
      last = `reRegistrations ${s.registration['reRegistrations']}, SAs ${sas.map((t) => `${t.spi}:${t.state}`).join(' ')}`;
      if (!sas.some((t) => t.spi === short)) throw new Error(`the ${SHORT_LIFETIME_S}-s SA lapsed (${last})`);
      return s.registration['reRegistrations']! >= 2;
    }, 4 * SHORT_LIFETIME_S * 1000, () => `two pulls before the short SA's ends (last: ${last})`);
    const sas = (await member.ipsec()).sas;
    assert.deepEqual(sas.map((t) => t.spi).sort(), [long, short].sort());
    assert.ok(sas.every((t) => t.state === 'active' && t.outbound), JSON.stringify(sas));
    assert.match(member.log(), /keys near expiry without a rekey/);
  });
});
