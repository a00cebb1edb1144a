/**
 * A group with two ipsec-sa (two TEKs) on a sub-server: the sub's cluster layer (src/sub-cluster.ts) and key
 * server (key source `root`) with a real IKE SA with a root, over an in-memory network with a manual clock.
 * The root side is gdoi's cluster-init responder (keys 30 s old) and hand-sealed CLUSTER-UPDATEs.
 * - The TEKs a sub takes from its root are its own ipsec-sa's (matched by traffic selectors): shown under
 *   their names, and a commit on the sub that deletes one (R-CHG-1.5c) ends that TEK at once.
 * - The TEKs' age is taken from the root's lifetimes whatever their order and lifetimes: pulls at the sub
 *   hand out what the root's TEKs have left.
 * - An ipsec-sa added on the root (R-CHG-1.5a) reaches the sub as the whole TEK set: the TEK that stays is
 *   neither shown as deactivating nor made younger.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '@gvpn/crypto';
import { GcksGroup, hex, type ClusterUpdate, type Tek } from '@gvpn/gdoi';
import { groupPolicy } from '@gvpn/key-server';
import { loadConfig, type GroupIpsecSaConfig, type ServerDaemonConfig, type ServerGroupConfig } from '@gvpn/runtime';
import { sealed, subWithRoot, withIpsecSas, type SubWithRoot } from './sub-with-root.js';

const SUB1 = fileURLToPath(new URL('../../../../configs/lab/example/sub1.yaml', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../../configs/lab/example/root.yaml', import.meta.url));
const GROUP = 'GROUP_ID-0001';
/** How old the root's keys are when the sub asks for them. */
const AGE_S = 30;

/** The lab group with a second ipsec-sa LONG (10.20.0.0/16, twice the lifetime), listed first. */
const twoSas = (config: ServerDaemonConfig, sas = (first: GroupIpsecSaConfig): GroupIpsecSaConfig[] => [{
  ...first, name: 'LONG', proposal: { ...first.proposal, lifetimeSeconds: 2 * first.proposal.lifetimeSeconds },
  matchPolicy: { ...first.matchPolicy, source: '10.20.0.0/16', destination: '10.20.0.0/16' },
}, first]): ServerDaemonConfig => withIpsecSas(config, sas);

const subConfig = twoSas((await loadConfig(SUB1)).config as ServerDaemonConfig);
const rootConfig = twoSas((await loadConfig(ROOT)).config as ServerDaemonConfig);
const groupOf = (c: ServerDaemonConfig): ServerGroupConfig => {
  const g = c.server.groups.find((x) => x.name === GROUP);
  assert.ok(g !== undefined);
  return g;
};
const groupId = groupOf(subConfig).groupId;

/** The root's group (keys AGE_S old when the sub asks); the sub has completed cluster-init with it. */
function lab(): SubWithRoot & { rootGroup: GcksGroup; initAt: number } {
  const rootGroup = new GcksGroup(groupPolicy(groupOf(rootConfig), rootConfig.system.listen), seededRandom('root'));
  let initAt = Number.NaN;
  const sub = subWithRoot({
    subConfig, rootConfig, rootGroup,
    responder: {
      answered: (_sa, _id, now) => { initAt = now; },
      remainingSeconds: (_id, spi) => {
        const life = spi.length === 16 ? rootGroup.kek.lifetimeSeconds : rootGroup.teks.find((t) => hex(t.spi) === hex(spi))?.policy.lifetimeSeconds;
        return life === undefined ? undefined : life - AGE_S;
      },
    },
  });
  return { ...sub, rootGroup, initAt };
}
type Lab = ReturnType<typeof lab>;

interface TekRow { ipsecSa: string; spi: string; state: string; expiresInSeconds: number }
const shown = (l: Lab): TekRow[] =>
  (l.gcks.handlers?.['show security group-vpn server ipsec security-associations']?.({}) as { sas: TekRow[] }).sas;
const lifetimeLeft = (l: Lab): number | undefined => l.gcks.group(GROUP)?.snapshot().teksLifetimeLeft?.();
/** Whole seconds left now of an SA of `lifetime` seconds with AGE_S seconds gone at the cluster-init. */
const leftOf = (l: Lab, lifetime: number): number => Math.floor((l.initAt + (lifetime - AGE_S) * 1000 - l.clock.now()) / 1000);

describe('a sub-server serving a group with two ipsec-sa', () => {
  it('holds the root\'s TEKs under its own ipsec-sa names; its own commit deleting one (R-CHG-1.5c) ends that TEK at once, the other stays', () => {
    const l = lab();
    const [long, short] = l.rootGroup.teks.map((t) => hex(t.spi));
    assert.deepEqual(shown(l).map((r) => [r.ipsecSa, r.spi]), [['LONG', long], [GROUP, short]]);
    const next = twoSas(subConfig, (first) => [first]);
    const changes = [{ cell: '1.5c' as const, group: GROUP, ipsecSa: 'LONG', kind: 'deleted' as const, detail: 'ipsec-sa LONG deleted' }];
    const result = l.gcks.applyConfig?.(next, changes, l.clock.now());
    assert.ok(result !== undefined && !('refused' in result && result.refused !== undefined), JSON.stringify(result));
    assert.deepEqual(l.gcks.group(GROUP)?.gcks.teks.map((t) => hex(t.spi)), [short], 'LONG\'s TEK ended, the other stays');
  });

  it('takes the TEKs\' age from the root whatever their order: pulls hand out what the root\'s shortest TEK has left', () => {
    const l = lab();
    const shortest = Math.min(...l.rootGroup.teks.map((t) => t.policy.lifetimeSeconds));
    assert.equal(lifetimeLeft(l), leftOf(l, shortest));
    for (const r of shown(l)) {
      const life = l.rootGroup.teks.find((t) => hex(t.spi) === r.spi)?.policy.lifetimeSeconds ?? 0;
      assert.equal(r.expiresInSeconds, leftOf(l, life), `${r.ipsecSa} expires as on the root`);
    }
  });

  it('an ipsec-sa added on the root (R-CHG-1.5a) comes as the whole TEK set: the TEK that stays is neither deactivating nor younger', () => {
    const l = lab();
    const kept = l.rootGroup.teks;
    const added: Tek[] = new GcksGroup(l.rootGroup.policy, seededRandom('added'), l.rootGroup.signing).teks.slice(0, 1);
    const teks = [...kept, ...added];
    // As the root sends it: each TEK with what it has left (the one added as old as the rest: they are rekeyed together).
    const age = AGE_S + Math.floor((l.clock.now() - l.initAt) / 1000);
    const lifetimes = teks.map((t) => ({ spi: t.spi, remainingSeconds: t.policy.lifetimeSeconds - age }));
    l.toSub(sealed(l, {
      kind: 'update-keys', groupId, updateSeq: 1, lifetimes,
      keys: { teks, seq: l.rootGroup.seq() + 1, activationDelaySeconds: 2, deactivationDelaySeconds: 8 },
    }));
    assert.equal(l.gcks.group(GROUP)?.gcks.teks.length, 3, 'installed');
    const rows = shown(l);
    for (const t of kept) assert.deepEqual(rows.filter((r) => r.spi === hex(t.spi)).map((r) => r.state), ['active'], `${hex(t.spi)} shown once, active`);
    assert.equal(lifetimeLeft(l), leftOf(l, Math.min(...kept.map((t) => t.policy.lifetimeSeconds))), 'the kept TEKs are as old as before');
  });
});
