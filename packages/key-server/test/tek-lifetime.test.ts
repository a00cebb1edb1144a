/**
 * The lifetime a group's TEKs are counted by (GroupState.tekLifetimeMs): the one they were made with. A pull
 * hands out the seconds the TEKs have left from it, and the TEK rekey is timed by it (rekey.ts), all TEKs of
 * the group together.
 * - A commit that shortens the IPsec proposal's lifetime (R-CHG-1.2) takes effect at the next rekey: until
 *   then pulls hand out what the current TEK has left, not 1 second (its age past the new lifetime).
 * - An ipsec-sa added (R-CHG-1.5a) with a lifetime shorter than the group's TEKs have run brings the group's
 *   TEK rekey forward (here: at once), rather than leaving members a TEK that ends before the next rekey.
 * - Likewise a proposal's algorithms (R-CHG-1.2): `show ... ipsec security-associations` names the current
 *   TEK's own until the rekey makes one with the new ones.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '@gvpn/crypto';
import type { IkeEndpoint } from '@gvpn/ike';
import {
  ManualClock, createLogger, diffConfigs, loadConfig, type GroupIpsecSaConfig, type RoleContext, type ServerDaemonConfig,
} from '@gvpn/runtime';
import { createGcks, type Gcks, type GroupState } from '../src/index.js';

const ROOT = fileURLToPath(new URL('../../../../configs/lab/gdoi/root.yaml', import.meta.url));
const loaded = (await loadConfig(ROOT)).config as ServerDaemonConfig;
const noIke = { establishedSas: () => [], status: () => [], initiateGateway: () => true } as unknown as IkeEndpoint;

/** The lab configuration, its first group's ipsec-sa list made by `sas` from the first one (others dropped). */
function withSas(sas: (first: GroupIpsecSaConfig) => GroupIpsecSaConfig[]): ServerDaemonConfig {
  const g = loaded.server.groups[0];
  assert.ok(g !== undefined && g.ipsecSas[0] !== undefined);
  return { ...loaded, server: { ...loaded.server, groups: [{ ...g, ipsecSas: sas(g.ipsecSas[0]) }] } };
}
const lifetime = (sa: GroupIpsecSaConfig, seconds: number): GroupIpsecSaConfig => ({ ...sa, proposal: { ...sa.proposal, lifetimeSeconds: seconds } });

function server(config: ServerDaemonConfig): { gcks: Gcks; group: GroupState; clock: ManualClock } {
  const clock = new ManualClock(10_000);
  const ctx: RoleContext = {
    config, log: createLogger({ level: 'fatal', name: 'tek-lifetime-test' }), clock, random: seededRandom('tek-lifetime'), ike: noIke,
    send: () => {}, rearm: () => {}, bind: async () => {}, unbind: async () => {},
  };
  const gcks = createGcks(ctx);
  const group = gcks.groups()[0];
  assert.ok(group !== undefined);
  return { gcks, group, clock };
}

const left = (g: GroupState): number | undefined => g.snapshot().teksLifetimeLeft?.();

/** Applies the change from `running` to `next` (one cell, `cell`); what the commit says it did. */
function commit(s: ReturnType<typeof server>, running: ServerDaemonConfig, next: ServerDaemonConfig, cell: string): string[] {
  const { changes } = diffConfigs(running, next);
  assert.deepEqual(changes.map((c) => c.cell), [cell]);
  const result = s.gcks.applyConfig?.(next, changes, s.clock.now());
  assert.ok(result !== undefined && 'applied' in result, JSON.stringify(result));
  return result.applied;
}

describe('TEK lifetime of a running group', () => {
  it('R-CHG-1.2 lifetime shortened: pulls hand out what the current TEK has left until the next rekey', () => {
    const running = withSas((sa) => [lifetime(sa, 600)]);
    const s = server(running);
    s.clock.advance(100_000);
    s.gcks.rekeyOf(s.group).poll(s.clock.now());
    commit(s, running, withSas((sa) => [lifetime(sa, 60)]), '1.2');
    assert.equal(left(s.group), 500, 'the current TEK was made for 600 s');
  });

  it('R-CHG-1.5a an ipsec-sa with a shorter lifetime than the TEKs have run: the group\'s TEKs are rekeyed, pulls get the new lifetime', () => {
    const running = withSas((sa) => [lifetime(sa, 600)]);
    const s = server(running);
    s.clock.advance(300_000);
    const rekey = s.gcks.rekeyOf(s.group);
    rekey.poll(s.clock.now());
    const extra = (sa: GroupIpsecSaConfig): GroupIpsecSaConfig => ({
      ...lifetime(sa, 120), name: 'EXTRA', matchPolicy: { ...sa.matchPolicy, source: '10.20.0.0/16', destination: '10.20.0.0/16' },
    });
    commit(s, running, withSas((sa) => [lifetime(sa, 600), extra(sa)]), '1.5a');
    rekey.poll(s.clock.now());
    assert.equal(s.group.teksCreatedAt, s.clock.now(), 'the TEKs were rekeyed');
    assert.equal(left(s.group), 120);
    assert.deepEqual(s.group.gcks.teks.map((t) => t.policy.name), [s.group.config.ipsecSas[0]?.name, 'EXTRA']);
  });

  it('R-CHG-1.2 CBC to GCM: the server shows each TEK\'s own algorithms, the old ones until the rekey', async () => {
    const running = withSas((sa) => [sa]);
    const s = server(running);
    const gcm = withSas((sa) => [{ ...sa, proposal: { ...sa.proposal, encryptionAlgorithm: 'aes-256-gcm', encryptionKeyLength: 36, authenticationAlgorithm: null } }]);
    assert.match(commit(s, running, gcm, '1.2').join('\n'), /R-CHG-1\.2 .*: in effect at the next TEK rekey$/);
    const show = async (): Promise<{ state: string; algorithm: string; authentication: string | null }[]> =>
      ((await s.gcks.handlers!['show security group-vpn server ipsec security-associations']!({})) as { sas: { state: string; algorithm: string; authentication: string | null }[] }).sas;
    assert.deepEqual((await show()).map((t) => [t.state, t.algorithm, t.authentication]), [['active', 'aes-256-cbc', 'hmac-sha-256-128']]);
    await s.gcks.handlers!['request security group-vpn server rekey group']!({ group: s.group.name });
    assert.deepEqual((await show()).map((t) => [t.state, t.algorithm, t.authentication]),
      [['active', 'aes-256-gcm', null], ['deactivating', 'aes-256-cbc', 'hmac-sha-256-128']]);
  });
});
