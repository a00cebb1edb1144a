/**
 * A group with two ipsec-sa of the same traffic selectors on a sub-server (the configuration allows it): the
 * root's two TEKs take one name each, in the order of the sub's ipsec-sa, as the root's own are (before, both
 * took the first one's name, so the sub's own commit deleting the second ended nothing and one deleting the
 * first ended both). Same in-process root+sub harness as sub-multi-sa.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '@gvpn/crypto';
import { GcksGroup, hex } from '@gvpn/gdoi';
import { groupPolicy } from '@gvpn/key-server';
import { loadConfig, type GroupIpsecSaConfig, type ServerDaemonConfig } from '@gvpn/runtime';
import { subWithRoot, withIpsecSas } from './sub-with-root.js';

const SUB1 = fileURLToPath(new URL('../../../../configs/lab/example/sub1.yaml', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../../configs/lab/example/root.yaml', import.meta.url));
const GROUP = 'GROUP_ID-0001';

/** The lab group with a second ipsec-sa TWIN of the same selectors (and proposal). */
const twins = (config: ServerDaemonConfig, sas = (first: GroupIpsecSaConfig): GroupIpsecSaConfig[] => [first, { ...first, name: 'TWIN' }]): ServerDaemonConfig =>
  withIpsecSas(config, sas);

const subConfig = twins((await loadConfig(SUB1)).config as ServerDaemonConfig);
const rootConfig = twins((await loadConfig(ROOT)).config as ServerDaemonConfig);
const rootGroupConfig = rootConfig.server.groups.find((x) => x.name === GROUP);
assert.ok(rootGroupConfig !== undefined);

interface TekRow { ipsecSa: string; spi: string }

describe('a sub-server serving a group with two ipsec-sa of the same selectors', () => {
  it('names each of the root\'s TEKs after one of its ipsec-sa; its commit deleting TWIN (R-CHG-1.5c) ends TWIN\'s TEK only', () => {
    const rootGroup = new GcksGroup(groupPolicy(rootGroupConfig, rootConfig.system.listen), seededRandom('root'));
    const l = subWithRoot({ subConfig, rootConfig, rootGroup, responder: {} });
    const [first, twin] = rootGroup.teks.map((t) => hex(t.spi));
    const shown = (l.gcks.handlers?.['show security group-vpn server ipsec security-associations']?.({}) as { sas: TekRow[] }).sas;
    assert.deepEqual(shown.map((r) => [r.ipsecSa, r.spi]), [[GROUP, first], ['TWIN', twin]]);
    const changes = [{ cell: '1.5c' as const, group: GROUP, ipsecSa: 'TWIN', kind: 'deleted' as const, detail: 'ipsec-sa TWIN deleted' }];
    const result = l.gcks.applyConfig?.(twins(subConfig, (f) => [f]), changes, l.clock.now());
    assert.ok(result !== undefined && !('refused' in result && result.refused !== undefined), JSON.stringify(result));
    assert.deepEqual(l.gcks.group(GROUP)?.gcks.teks.map((t) => hex(t.spi)), [first], 'TWIN\'s TEK ended, the other stays');
  });
});
