/**
 * `clear security group-vpn server group` on a group without a KEK (no server-member-communication): no push
 * can reach its members, so they keep their TEKs until they pull again. The answer (`pushed: false`) and the
 * log say so; before, both read as a delete-all sent to N members. The old TEKs are no longer handed out.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '@gvpn/crypto';
import { hex } from '@gvpn/gdoi';
import type { IkeEndpoint } from '@gvpn/ike';
import { ManualClock, createLogger, loadConfig, type RoleContext, type ServerDaemonConfig } from '@gvpn/runtime';
import { createGcks } from '../src/index.js';

const ROOT = fileURLToPath(new URL('../../../../configs/lab/gdoi/root.yaml', import.meta.url));
const labConfig = (await loadConfig(ROOT)).config as ServerDaemonConfig;
const noIke = { establishedSas: () => [], status: () => [], initiateGateway: () => true } as unknown as IkeEndpoint;

function server(withKek: boolean): { gcks: ReturnType<typeof createGcks>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const config: ServerDaemonConfig = withKek ? labConfig : {
    ...labConfig,
    server: { ...labConfig.server, groups: labConfig.server.groups.map((g) => ({ ...g, serverMemberCommunication: null })) },
  };
  const ctx: RoleContext = {
    config, log: createLogger({ level: 'info', name: 'clear-test', destination: { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) } }),
    clock: new ManualClock(10_000), random: seededRandom('clear-without-kek'), ike: noIke,
    send: () => {}, rearm: () => {}, bind: async () => {}, unbind: async () => {},
  };
  const gcks = createGcks(ctx);
  const g = gcks.groups()[0]!;
  gcks.registrations.upsert({
    group: g.name, groupId: g.groupId, address: '127.0.9.141', endpoint: { address: '127.0.9.141', port: 848 }, gateway: 'GM-0001',
    icookie: '0102030405060708', rcookie: '1112131415161718', registeredAt: 1_700_000_000_000, registeredAtMono: 10_000,
    lastAckedSeq: null, pendingSeq: null, pushesSent: 0, retransmissions: 0,
  });
  return { gcks, lines };
}

describe('clear security group-vpn server group', () => {
  it('without a KEK: answers pushed false, logs that nothing was pushed, hands out only the new TEKs', async () => {
    const { gcks, lines } = server(false);
    const g = gcks.groups()[0]!;
    assert.equal(g.hasKek, false);
    const old = g.gcks.teks.map((t) => hex(t.spi));
    const answer = (await gcks.handlers!['clear security group-vpn server group']!({ group: g.name })) as Record<string, unknown>;
    assert.equal(answer['pushed'], false);
    assert.equal(answer['kekSpi'], null);
    const launched = lines.filter((l) => l['kind'] === 'delete-all').map((l) => l['msg']);
    assert.deepEqual(launched, ['keys changed, no KEK: nothing pushed, members get the new keys at their next pull']);
    const handedOut = g.snapshot().teks.map((t) => hex(t.spi));
    assert.equal(handedOut.filter((s) => old.includes(s)).length, 0, 'old TEKs are not handed out');
    assert.equal(gcks.registrations.count(g.name), 0, 'members forgotten: they register again');
  });

  it('with a KEK: answers pushed true', async () => {
    const { gcks, lines } = server(true);
    const g = gcks.groups()[0]!;
    const answer = (await gcks.handlers!['clear security group-vpn server group']!({ group: g.name })) as Record<string, unknown>;
    assert.equal(answer['pushed'], true);
    assert.deepEqual(lines.filter((l) => l['kind'] === 'delete-all').map((l) => l['msg']), ['rekey started']);
  });
});
