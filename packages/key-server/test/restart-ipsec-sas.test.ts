/**
 * A standalone server or root restarted with a file whose ipsec-sa differ from what it stored (edited while it
 * was down: the usual way to change a lab box). It resumes its stored keys (gcks.ts `resume`), then serves the
 * file: at its first poll a TEK whose ipsec-sa is gone, or has other traffic selectors, ends with a delete push
 * (as R-CHG-1.5b/c would), and an ipsec-sa without a TEK gets one (as 1.5a); the other TEKs stay.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '@gvpn/crypto';
import { hex } from '@gvpn/gdoi';
import type { IkeEndpoint } from '@gvpn/ike';
import { ManualClock, createLogger, loadConfig, type GroupIpsecSaConfig, type RoleContext, type ServerDaemonConfig } from '@gvpn/runtime';
import { createGcks, type Gcks, type ResumedGroup } from '../src/index.js';

const ROOT = fileURLToPath(new URL('../../../../configs/lab/gdoi/root.yaml', import.meta.url));
const loaded = (await loadConfig(ROOT)).config as ServerDaemonConfig;
const noIke = { establishedSas: () => [], status: () => [], initiateGateway: () => true } as unknown as IkeEndpoint;
const base = loaded.server.groups[0]?.ipsecSas[0];
assert.ok(base !== undefined);

const sa = (name: string, prefix: string): GroupIpsecSaConfig => ({ ...base, name, matchPolicy: { ...base.matchPolicy, source: prefix, destination: prefix } });
function withSas(sas: GroupIpsecSaConfig[]): ServerDaemonConfig {
  const g = loaded.server.groups[0];
  assert.ok(g !== undefined);
  return { ...loaded, server: { ...loaded.server, groups: [{ ...g, ipsecSas: sas }] } };
}

function start(config: ServerDaemonConfig, clock: ManualClock, resume?: Map<string, ResumedGroup>): Gcks {
  const ctx: RoleContext = {
    config, log: createLogger({ level: 'fatal', name: 'restart-ipsec-sas-test' }), clock, random: seededRandom(`restart-${resume === undefined}`), ike: noIke,
    send: () => {}, rearm: () => {}, bind: async () => {}, unbind: async () => {},
  };
  return createGcks(ctx, resume === undefined ? {} : { resume });
}

/** What a restart takes over from `gcks` (the durable store's record, without members). */
function stored(gcks: Gcks): Map<string, ResumedGroup> {
  return new Map(gcks.groups().map((g) => [g.name, {
    kek: g.gcks.kek, teks: g.gcks.teks, seq: g.gcks.seq(), kekCreatedAt: g.kekCreatedAt, teksCreatedAt: g.teksCreatedAt, retired: [], registrations: [],
  }]));
}

describe('a server restarted with other ipsec-sa in its file', () => {
  it('ends the TEKs of ipsec-sa gone or given other selectors, makes TEKs for new ones, keeps the rest', () => {
    const clock = new ManualClock(10_000);
    const before = start(withSas([sa('KEPT', '10.1.0.0/16'), sa('GONE', '10.2.0.0/16'), sa('MOVED', '10.3.0.0/16')]), clock);
    const old = new Map(before.groups()[0]?.gcks.teks.map((t) => [t.policy.name, hex(t.spi)]));
    clock.advance(5_000);
    const after = start(withSas([sa('KEPT', '10.1.0.0/16'), sa('MOVED', '10.4.0.0/16'), sa('NEW', '10.5.0.0/16')]), clock, stored(before));
    const group = after.groups()[0];
    assert.ok(group !== undefined);
    const deadline = after.nextDeadline?.();
    assert.ok(deadline !== undefined && deadline <= clock.now(), 'due at once');
    after.poll?.(clock.now());
    const teks = group.gcks.teks;
    assert.deepEqual(teks.map((t) => t.policy.name).sort(), ['KEPT', 'MOVED', 'NEW']);
    assert.equal(hex(teks.find((t) => t.policy.name === 'KEPT')?.spi ?? new Uint8Array()), old.get('KEPT'), 'KEPT keeps its TEK');
    assert.notEqual(hex(teks.find((t) => t.policy.name === 'MOVED')?.spi ?? new Uint8Array()), old.get('MOVED'), 'MOVED has a new TEK');
    assert.equal(teks.find((t) => t.policy.name === 'MOVED')?.policy.source.prefix, '10.4.0.0/16');
  });
});
