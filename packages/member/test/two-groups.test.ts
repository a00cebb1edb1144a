/**
 * Members of two groups (two vpns, group ids 1 and 2, each with its own key server: test/gcks.ts), real
 * processes on 127.0.8.75-79 (this file's addresses). The members list the vpns in opposite orders, so
 * each may start its probe in another group's SA than its peer:
 *   - both register for both groups, each group's KEK from its own server, and probes flow both ways;
 *   - a TEK rekey of group 2 leaves group 1's TEK and SEQ as they were;
 *   - a "delete all" of group 2 drops group 2's TEKs only, and the member pulls group 2 again;
 *   - after kill -9 both registrations are taken up from the state store, with no PULL at either server.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanup, waitFor, workDirectory } from '@gvpn/integration';
import type { GroupPolicy } from '@gvpn/gdoi';
import { hex } from '@gvpn/gdoi';
import { TestGcks } from './gcks.js';
import { MemberDaemon, testGroupPolicy, type IpsecSa, type KekSa, type MemberSpec, type MemberStatistics } from './harness.js';

const S1 = '127.0.8.75';
const S2 = '127.0.8.77';
const PSK = 'member-two-groups-psk';
const A = { name: 'gm-a', address: '127.0.8.78', memberId: 1 } as const;
const B = { name: 'gm-b', address: '127.0.8.79', memberId: 2 } as const;

function groupPolicy(groupId: number, server: string, prefix: string): GroupPolicy {
  const p = testGroupPolicy(server, 2);
  p.groupId = groupId;
  p.teks = p.teks.map((t) => ({ ...t, name: `GROUP${groupId}`, source: { prefix, port: 0 }, destination: { prefix, port: 0 } }));
  return p;
}

function spec(m: typeof A | typeof B, other: typeof A | typeof B, first: 1 | 2): MemberSpec {
  const servers = { 1: S1, 2: S2 };
  const second = first === 1 ? 2 : 1;
  return {
    name: m.name, address: m.address, servers: [servers[first]], psk: PSK, groupId: first, memberId: m.memberId,
    peers: [{ name: other.name, memberId: other.memberId, address: other.address }],
    moreVpns: [{ name: 'SECOND-VPN', groupId: second, servers: [servers[second]] }],
  };
}

describe('members of two groups', () => {
  const cleanup = new Cleanup();
  const gcks: Record<1 | 2, TestGcks> = {} as never;
  const specs = [spec(A, B, 1), spec(B, A, 2)];
  const members: MemberDaemon[] = [];
  let workDir: string;
  after(() => cleanup.run());

  before(async () => {
    workDir = await workDirectory(cleanup, 'member-two-groups');
    gcks[1] = new TestGcks({ listen: { address: S1, port: 848 }, psk: PSK, members: [A.address, B.address], policy: groupPolicy(1, S1, '172.16.0.0/12') });
    gcks[2] = new TestGcks({ listen: { address: S2, port: 848 }, psk: PSK, members: [A.address, B.address], policy: groupPolicy(2, S2, '10.20.0.0/16') });
    for (const g of [gcks[1], gcks[2]]) {
      await g.start();
      cleanup.defer(`key server ${g.options.listen.address}`, () => g.stop());
    }
    for (const s of specs) {
      const daemon = await MemberDaemon.start(s, workDir);
      cleanup.defer(`${s.name} daemon`, () => members.find((m) => m.spec.name === s.name)!.stop());
      members.push(daemon);
    }
  });

  const kekOf = async (m: MemberDaemon, groupId: number): Promise<KekSa | undefined> => (await m.kek()).sas.find((k) => k.groupId === groupId);
  const teksOf = async (m: MemberDaemon, groupId: number) => (await m.ipsec()).sas.filter((s) => (s as { groupId?: number }).groupId === groupId);

  async function bothGroupsRegistered(what: string): Promise<void> {
    let last = '';
    await waitFor(async () => {
      for (const m of members) {
        for (const id of [1, 2] as const) {
          const k = await kekOf(m, id);
          const t = await teksOf(m, id);
          last = `${m.spec.name} group ${id}: KEK ${k?.spi ?? '-'} from ${k?.server ?? '-'}, TEKs ${t.map((s) => `${s.spi}:${s.state}`).join(' ')}`;
          if (k?.spi !== hex(gcks[id].group.kek.spi) || k.server !== gcks[id].options.listen.address) return false;
          const want = hex(gcks[id].group.teks.at(-1)!.spi);
          if (!t.some((s) => s.spi === want && s.state === 'active')) return false;
        }
      }
      return true;
    }, 15_000, () => `${what} (last: ${last})`);
  }

  async function probesGrow(base: MemberStatistics[] | undefined, by: number): Promise<MemberStatistics[]> {
    let last = '';
    return await waitFor(async () => {
      const stats = await Promise.all(members.map((m) => m.statistics()));
      last = stats.map((s) => JSON.stringify(s.probe)).join(' / ');
      return stats.every((s, i) => s.probe.received >= (base?.[i]?.probe.received ?? 0) + by) ? stats : false;
    }, 10_000, () => `probes received by both members (last: ${last})`);
  }

  it('registers both groups, each with its own server, and probes flow between the members', async () => {
    await bothGroupsRegistered('both members registered for both groups');
    const base = await probesGrow(undefined, 1);
    const stats = await probesGrow(base, 20);
    for (const [i, s] of stats.entries()) {
      assert.equal(s.probe.invalid - base[i]!.probe.invalid, 0, `${specs[i]!.name}: probes refused as invalid`);
      assert.equal(s.probe.sendFailures - base[i]!.probe.sendFailures, 0, `${specs[i]!.name}: probes not sent`);
    }
  });

  it('applies a TEK rekey of group 2 to group 2 only', async () => {
    const before = await Promise.all(members.map(async (m) => ({ kek: await kekOf(m, 1), teks: await teksOf(m, 1) })));
    const old = hex(gcks[2].group.teks[0]!.spi);
    gcks[2].rekeyTeks();
    await bothGroupsRegistered('group 2 on its new TEK');
    for (const [i, m] of members.entries()) {
      const two = await teksOf(m, 2);
      assert.notEqual(two.find((s) => s.spi === old)?.state, 'active', `${m.spec.name}: group 2's old TEK retiring or gone`);
      const shape = (sas: IpsecSa[]) => sas.map((s) => [s.spi, s.state, s.outbound, s.encryptionKey]);
      assert.deepEqual(shape(await teksOf(m, 1)), shape(before[i]!.teks), `${m.spec.name}: group 1's TEKs untouched`);
      assert.equal((await kekOf(m, 1))?.seq, before[i]!.kek?.seq, `${m.spec.name}: group 1's SEQ untouched`);
    }
  });

  it('drops only group 2 on its "delete all", and pulls group 2 again', async () => {
    const before = await Promise.all(members.map(async (m) => ({ one: await teksOf(m, 1) })));
    const pullsBefore = gcks[2].registered.length;
    gcks[2].push(gcks[2].group.deleteAll().bytes);
    await waitFor(() => gcks[2].registered.length >= pullsBefore + 2, 10_000, 'both members pulled group 2 again');
    await bothGroupsRegistered('group 2 back after the delete');
    for (const [i, m] of members.entries()) {
      const one = await teksOf(m, 1);
      assert.deepEqual(one.map((s) => s.spi), before[i]!.one.map((s) => s.spi), `${m.spec.name}: group 1's TEKs untouched`);
      assert.ok(one.every((s) => s.state === 'active'));
    }
  });

  it('takes up both registrations after kill -9, with no PULL', async () => {
    const pulls = [gcks[1].registered.length, gcks[2].registered.length];
    const before = await Promise.all(members.map(async (m) => ({ k: (await m.kek()).sas.map((s) => `${s.groupId}:${s.spi}:${s.seq}`).sort(), i: (await m.ipsec()).sas.map((s) => s.spi).sort() })));
    for (const [i, m] of [...members.entries()]) {
      process.kill(m.child.pid, 'SIGKILL');
      await m.child.exited;
      members[i] = await MemberDaemon.start(specs[i]!, workDir);
    }
    for (const [i, m] of members.entries()) {
      const k = await m.kek();
      assert.deepEqual(k.sas.map((s) => `${s.groupId}:${s.spi}:${s.seq}`).sort(), before[i]!.k, `${m.spec.name}: KEKs`);
      assert.deepEqual((await m.ipsec()).sas.map((s) => s.spi).sort(), before[i]!.i, `${m.spec.name}: TEKs`);
    }
    assert.deepEqual([gcks[1].registered.length, gcks[2].registered.length], pulls);
    await probesGrow(await Promise.all(members.map((m) => m.statistics())), 10);
  });
});
