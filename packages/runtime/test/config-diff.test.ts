// The configuration difference engine (issue 6 groundwork; spec config-changes.md Tables 1 and 2, R-CHG):
// every cell from two parsed YAML texts, the order of the changes, restart-only differences, and secrets.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { CHANGE_CELLS, diffConfigs, parseConfig, type ConfigChange, type ConfigDiff, type DaemonConfig } from '../src/index.js';

const fixtures = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const rootText = await readFile(`${fixtures}cluster-root.yaml`, 'utf8');
const subText = await readFile(`${fixtures}cluster-sub.yaml`, 'utf8');
const memberText = await readFile(`${fixtures}member-probe.yaml`, 'utf8');

/** Every pre-shared key of the fixtures and of the edits below: none may appear in a diff. */
const SECRETS = ['member-secret', 'other-secret', 'root-sub-secret', 'changed-secret', 'member-secreT', 'control-link-secret', 'control-link-secreT'];

/** A standalone key server: two groups, a dynamic gateway, every group key used somewhere. */
const standaloneText = `# standalone key server
system:
  host-name: ks
  platform: vsrx
  listen:
    address: 127.0.1.1
  state-directory: /run/gvpn/ks
  log-level: info

security:
  group-vpn:
    server:
      ike:
        proposal:
          P1:
            dh-group: group14
            authentication-algorithm: sha-256
            encryption-algorithm: aes-256-cbc
          P2:
            dh-group: group19
            authentication-algorithm: sha-256
            encryption-algorithm: aes-128-cbc
        policy:
          GMs:
            proposals: [P1]
            pre-shared-key:
              ascii-text: "member-secret"
          Others:
            proposals: [P2]
            pre-shared-key:
              ascii-text: "other-secret"
        gateway:
          GM-0001:
            ike-policy: GMs
            address: 127.0.3.1
          GM-0002:
            ike-policy: Others
            address: 127.0.3.2
          GM-ANY:
            ike-policy: Others
            address: dynamic
      ipsec:
        proposal:
          AES256-SHA256:
            encryption-algorithm: aes-256-cbc
            lifetime-seconds: 3600
          AES128-SHA256:
            encryption-algorithm: aes-128-cbc
            lifetime-seconds: 1800
      group:
        G1:
          group-id: 1
          ike-gateway: [GM-0001, GM-0002]
          member-threshold: 100
          anti-replay-time-window: 120
          server-member-communication:
            lifetime-seconds: 600
          ipsec-sa:
            SA1:
              proposal: AES256-SHA256
              match-policy:
                POL1:
                  source: 172.16.0.0/12
                  destination: 172.16.0.0/12
        G2:
          group-id: 2
          ike-gateway: [GM-ANY]
          no-anti-replay: true
          ipsec-sa:
            SA2:
              proposal: AES128-SHA256
              match-policy:
                POL2:
                  source: 10.0.0.0/8
                  destination: 10.0.0.0/8
`;

/** The root fixture's `server-cluster` block, to edit. */
const ROOT_CLUSTER = `          server-cluster:
            server-role: root-server
            ike-gateway: [SubSrv01, SubSrv02]`;

/** A third sub-server gateway for the root fixture. */
const SUB3 = `          SubSrv03:
            ike-policy: SubSrv
            address: 127.0.2.3
            dead-peer-detection:
              always-send: true
          GM-0001:`;

/**
 * The root fixture whose cluster group also has members of its own and no standalone group: it stays
 * valid without its server-cluster (a standalone group needs member gateways) and as a sub-server (which
 * may have no standalone group).
 */
const rootOnlyCluster = edit(
  rootText,
  ['          member-threshold: 2000\n', '          ike-gateway: [GM-0001]\n          member-threshold: 2000\n'],
  [rootText.slice(rootText.indexOf('        GROUP_ID-0002:\n')), ''],
);

/** A valid chassis-cluster section for the root fixture (it listens on 127.0.1.1). */
const CHASSIS = `chassis-cluster:
  node: 0
  control-link:
    local-address: 127.0.3.2
    peer-address: 127.0.3.3
    pre-shared-key: { ascii-text: "control-link-secret" }
`;

/** `base` with each [from, to] applied once; fails loudly if a `from` is not in it. */
function edit(base: string, ...changes: Array<[string, string]>): string {
  let text = base;
  for (const [from, to] of changes) {
    assert.ok(text.includes(from), `text lacks ${JSON.stringify(from)}`);
    text = text.replace(from, to);
  }
  return text;
}

async function parse(text: string, file = 'test.yaml'): Promise<DaemonConfig> {
  return (await parseConfig(text, file)).config;
}

/**
 * The diff of two texts, checked for what every diff must hold: no secret in it, the running
 * configuration untouched (its keys still readable), and the changes in table order.
 */
async function diff(runningText: string, nextText: string): Promise<ConfigDiff> {
  const running = await parse(runningText);
  const next = await parse(nextText, 'next.yaml');
  const before = JSON.stringify(running);
  const result = diffConfigs(running, next);
  assert.equal(JSON.stringify(running), before, 'the running configuration is not modified');
  for (const gateway of [...running.ike.gateways, ...next.ike.gateways]) assert.ok(gateway.policy.preSharedKey.reveal().length > 0);
  const text = JSON.stringify(result);
  for (const secret of SECRETS) assert.ok(!text.includes(secret), `the diff shows the secret ${secret}`);
  const ranks = result.changes.map((c) => CHANGE_CELLS.indexOf(c.cell));
  assert.ok(ranks.every((rank) => rank >= 0));
  assert.deepEqual(ranks, [...ranks].sort((a, b) => a - b), 'changes are in table order');
  return result;
}

/** The changes without their `detail`, for exact comparison. */
function bare(result: ConfigDiff): Array<Omit<ConfigChange, 'detail'>> {
  assert.deepEqual(result.restartRequired, [], 'no restart expected');
  return result.changes.map(({ detail, ...rest }) => {
    assert.ok(detail.length > 0 && !detail.includes('\n'), `one readable line: ${JSON.stringify(detail)}`);
    return rest;
  });
}

describe('diffConfigs: no difference', () => {
  it('the same text gives an empty diff (standalone, root, sub, member)', async () => {
    for (const text of [standaloneText, rootText, subText, memberText]) {
      assert.deepEqual(await diff(text, text), { changes: [], restartRequired: [] });
    }
  });

  it('comments, key order, another file name and an unused IKE proposal are no difference', async () => {
    const reordered = edit(
      standaloneText,
      ['# standalone key server', '# a comment only'],
      ['          member-threshold: 100\n          anti-replay-time-window: 120\n', '          anti-replay-time-window: 120   # seconds\n          member-threshold: 100\n'],
      ['        proposal:\n          P1:', '        proposal:\n          UNUSED:\n            dh-group: group14\n            authentication-algorithm: sha-256\n            encryption-algorithm: aes-256-cbc\n          P1:'],
    );
    assert.deepEqual(await diff(standaloneText, reordered), { changes: [], restartRequired: [] });
  });
});

describe('diffConfigs: Table 1', () => {
  it('R-CHG-1.1 a pre-shared key change gives 1.1 for the gateways of that policy, without the key', async () => {
    // The same length: the bytes themselves are compared.
    const result = await diff(standaloneText, edit(standaloneText, ['ascii-text: "member-secret"', 'ascii-text: "member-secreT"']));
    assert.deepEqual(bare(result), [{ cell: '1.1', gateway: 'GM-0001', kind: 'changed' }]);
    assert.equal(result.changes[0]?.detail, 'ike gateway GM-0001: policy GMs changed (pre-shared-key changed)');
  });

  it('R-CHG-1.1 the same key written in hexadecimal is no difference (bytes compared, not text)', async () => {
    const hex = Buffer.from('member-secret').toString('hex');
    assert.deepEqual(await diff(standaloneText, edit(standaloneText, ['ascii-text: "member-secret"', `hexadecimal: "${hex}"`])), { changes: [], restartRequired: [] });
  });

  it('R-CHG-1.1 an IKE proposal change reaches every gateway whose policy uses it, dynamic ones too', async () => {
    const result = await diff(standaloneText, edit(standaloneText, ['encryption-algorithm: aes-128-cbc\n', 'encryption-algorithm: aes-256-cbc\n            lifetime-seconds: 7200\n']));
    assert.deepEqual(bare(result), [
      { cell: '1.1', gateway: 'GM-0002', kind: 'changed' },
      { cell: '1.1', gateway: 'GM-ANY', kind: 'changed' },
    ]);
    assert.match(result.changes[0]?.detail ?? '', /^ike gateway GM-0002: policy Others changed \(proposal P2 changed \(encryption-algorithm aes-128-cbc -> aes-256-cbc, lifetime-seconds 3600 -> 7200\)\)$/);
  });

  it('R-CHG-1.1 gateway settings, another policy, and a gateway added or deleted', async () => {
    const next = edit(
      standaloneText,
      ['          GM-0001:\n            ike-policy: GMs\n            address: 127.0.3.1', '          GM-0001:\n            ike-policy: Others\n            address: 127.0.3.9\n            dead-peer-detection:\n              interval: 20'],
      ['          GM-0002:\n            ike-policy: Others\n            address: 127.0.3.2\n', '          GM-0003:\n            ike-policy: Others\n            address: 127.0.3.3\n'],
      ['ike-gateway: [GM-0001, GM-0002]', 'ike-gateway: [GM-0001, GM-0003]'],
    );
    const result = await diff(standaloneText, next);
    assert.deepEqual(bare(result), [
      { cell: '1.1', gateway: 'GM-0001', kind: 'changed' },
      { cell: '1.1', gateway: 'GM-0003', kind: 'added' },
      { cell: '1.1', gateway: 'GM-0002', kind: 'deleted' },
      { cell: '1.3c', group: 'G1', gateway: 'GM-0002', kind: 'deleted' },
      { cell: '1.3c', group: 'G1', gateway: 'GM-0003', kind: 'added' },
    ]);
    assert.equal(result.changes[0]?.detail, 'ike gateway GM-0001: address 127.0.3.1 -> 127.0.3.9; dead-peer-detection changed (interval 10 -> 20); ike-policy GMs -> Others');
  });

  it('R-CHG-1.1 root: a member gateway gives 1.1, a cluster peer gateway gives 2.1', async () => {
    const result = await diff(rootText, edit(rootText, ['address: 127.0.3.1', 'address: 127.0.3.7'], ['ascii-text: "root-sub-secret"', 'ascii-text: "changed-secret"']));
    assert.deepEqual(bare(result), [
      { cell: '1.1', gateway: 'GM-0001', kind: 'changed' },
      { cell: '2.1', gateway: 'SubSrv01', kind: 'changed' },
      { cell: '2.1', gateway: 'SubSrv02', kind: 'changed' },
    ]);
    assert.equal(result.changes[1]?.detail, 'cluster peer ike gateway SubSrv01: policy SubSrv changed (pre-shared-key changed)');
  });

  it('R-CHG-1.2 an IPsec proposal change gives 1.2 for the groups whose ipsec-sa uses it', async () => {
    const result = await diff(standaloneText, edit(standaloneText, ['lifetime-seconds: 1800', 'lifetime-seconds: 900']));
    assert.deepEqual(bare(result), [{ cell: '1.2', group: 'G2', kind: 'changed' }]);
    assert.equal(result.changes[0]?.detail, 'group G2: ipsec proposal AES128-SHA256 changed (lifetime-seconds 1800 -> 900)');
  });

  it('R-CHG-1.2 an unused IPsec proposal change is no difference', async () => {
    const unused = '        proposal:\n          UNUSED:\n            encryption-algorithm: aes-256-gcm\n          AES256-SHA256:';
    const running = edit(standaloneText, ['        proposal:\n          AES256-SHA256:', unused]);
    const next = edit(running, ['encryption-algorithm: aes-256-gcm', 'encryption-algorithm: aes-128-gcm']);
    assert.deepEqual(await diff(running, next), { changes: [], restartRequired: [] });
  });

  it('R-CHG-1.3a a deleted group gives 1.3a', async () => {
    const next = edit(standaloneText, [standaloneText.slice(standaloneText.indexOf('        G2:\n')), '']);
    assert.deepEqual(bare(await diff(standaloneText, next)), [{ cell: '1.3a', group: 'G2', kind: 'deleted' }]);
  });

  it('R-CHG-1.3b a group-id change gives 1.3b alone for that group: the group is rebuilt from the configuration', async () => {
    const next = edit(standaloneText, ['group-id: 1', 'group-id: 11'], ['member-threshold: 100', 'member-threshold: 50'], ['source: 172.16.0.0/12', 'source: 172.17.0.0/16']);
    const result = await diff(standaloneText, next);
    assert.deepEqual(bare(result), [{ cell: '1.3b', group: 'G1', kind: 'changed' }]);
    assert.equal(result.changes[0]?.detail, 'group G1: group-id 1 -> 11');
  });

  it('R-CHG-1.3b sub: the group-id change keeps the Table 2 cells of the group', async () => {
    const next = edit(subText, ['group-id: 1', 'group-id: 5'], ['retransmission-period: 5\n', 'retransmission-period: 7\n']);
    // The first `retransmission-period: 5` is server-member-communication's, which 1.3b covers.
    assert.deepEqual(bare(await diff(subText, next)), [{ cell: '1.3b', group: 'GROUP_ID-0001', kind: 'changed' }]);
    const both = edit(subText, ['group-id: 1', 'group-id: 5'], ['ike-gateway: [RootSrv]\n            retransmission-period: 5', 'ike-gateway: [RootSrv]\n            retransmission-period: 7']);
    assert.deepEqual(bare(await diff(subText, both)), [
      { cell: '1.3b', group: 'GROUP_ID-0001', kind: 'changed' },
      { cell: '2.2e', group: 'GROUP_ID-0001', kind: 'changed' },
    ]);
  });

  it('R-CHG-1.3c a gateway added to and removed from a group gives 1.3c with the kind; list order is no difference', async () => {
    const removed = await diff(standaloneText, edit(standaloneText, ['ike-gateway: [GM-0001, GM-0002]', 'ike-gateway: [GM-0001]']));
    assert.deepEqual(bare(removed), [{ cell: '1.3c', group: 'G1', gateway: 'GM-0002', kind: 'deleted' }]);
    assert.equal(removed.changes[0]?.detail, 'group G1: ike-gateway GM-0002 removed');
    const added = await diff(standaloneText, edit(standaloneText, ['ike-gateway: [GM-ANY]', 'ike-gateway: [GM-ANY, GM-0001]']));
    assert.deepEqual(bare(added), [{ cell: '1.3c', group: 'G2', gateway: 'GM-0001', kind: 'added' }]);
    const reordered = await diff(standaloneText, edit(standaloneText, ['ike-gateway: [GM-0001, GM-0002]', 'ike-gateway: [GM-0002, GM-0001]']));
    assert.deepEqual(reordered.changes, []);
  });

  it('R-CHG-1.3d anti-replay-time-window changed, added or removed gives 1.3d', async () => {
    const changed = await diff(standaloneText, edit(standaloneText, ['anti-replay-time-window: 120', 'anti-replay-time-window: 180']));
    assert.deepEqual(bare(changed), [{ cell: '1.3d', group: 'G1', kind: 'changed' }]);
    assert.equal(changed.changes[0]?.detail, 'group G1: anti-replay-time-window 120 -> 180');
    const removed = await diff(standaloneText, edit(standaloneText, ['          anti-replay-time-window: 120\n', '']));
    assert.deepEqual(bare(removed), [{ cell: '1.3d', group: 'G1', kind: 'deleted' }]);
    const added = await diff(standaloneText, edit(standaloneText, ['          no-anti-replay: true\n', '          anti-replay-time-window: 60\n']));
    assert.deepEqual(bare(added), [
      { cell: '1.3d', group: 'G2', kind: 'added' },
      { cell: '1.3e', group: 'G2', kind: 'deleted' },
    ]);
  });

  it('R-CHG-1.3e no-anti-replay set or cleared gives 1.3e', async () => {
    const cleared = await diff(standaloneText, edit(standaloneText, ['no-anti-replay: true', 'no-anti-replay: false']));
    assert.deepEqual(bare(cleared), [{ cell: '1.3e', group: 'G2', kind: 'deleted' }]);
    const set = await diff(standaloneText, edit(standaloneText, ['          anti-replay-time-window: 120\n', '          no-anti-replay: true\n']));
    assert.deepEqual(bare(set), [
      { cell: '1.3d', group: 'G1', kind: 'deleted' },
      { cell: '1.3e', group: 'G1', kind: 'added' },
    ]);
  });

  it('R-CHG-1.4a server-member-communication added gives 1.4a', async () => {
    const next = edit(standaloneText, ['          no-anti-replay: true\n', '          no-anti-replay: true\n          server-member-communication:\n            sig-hash-algorithm: sha-384\n']);
    assert.deepEqual(bare(await diff(standaloneText, next)), [{ cell: '1.4a', group: 'G2', kind: 'added' }]);
  });

  it('R-CHG-1.4b server-member-communication changed gives 1.4b', async () => {
    const result = await diff(standaloneText, edit(standaloneText, ['            lifetime-seconds: 600\n', '            lifetime-seconds: 900\n            number-of-retransmission: 4\n']));
    assert.deepEqual(bare(result), [{ cell: '1.4b', group: 'G1', kind: 'changed' }]);
    assert.equal(result.changes[0]?.detail, 'group G1: server-member-communication changed (lifetime-seconds 600 -> 900, number-of-retransmission 2 -> 4)');
  });

  it('R-CHG-1.4c server-member-communication deleted gives 1.4c', async () => {
    const next = edit(standaloneText, ['          server-member-communication:\n            lifetime-seconds: 600\n', '']);
    assert.deepEqual(bare(await diff(standaloneText, next)), [{ cell: '1.4c', group: 'G1', kind: 'deleted' }]);
  });

  it('R-CHG-1.5a an ipsec-sa added gives 1.5a', async () => {
    const next = edit(standaloneText, [
      '          ipsec-sa:\n            SA1:',
      '          ipsec-sa:\n            SA3:\n              proposal: AES128-SHA256\n              match-policy:\n                POL3: { source: 192.168.0.0/16, destination: 192.168.0.0/16 }\n            SA1:',
    ]);
    assert.deepEqual(bare(await diff(standaloneText, next)), [{ cell: '1.5a', group: 'G1', ipsecSa: 'SA3', kind: 'added' }]);
  });

  it('R-CHG-1.5b an ipsec-sa changed: another proposal (matchPolicyChanged false) or other selectors (true)', async () => {
    const proposal = await diff(standaloneText, edit(standaloneText, ['proposal: AES256-SHA256', 'proposal: AES128-SHA256']));
    assert.deepEqual(bare(proposal), [{ cell: '1.5b', group: 'G1', ipsecSa: 'SA1', kind: 'changed', matchPolicyChanged: false }]);
    assert.equal(proposal.changes[0]?.detail, 'group G1: ipsec-sa SA1: proposal AES256-SHA256 -> AES128-SHA256');

    const selectors = await diff(standaloneText, edit(standaloneText, ['destination: 10.0.0.0/8', 'destination: 10.0.0.0/8\n                  protocol: 17']));
    assert.deepEqual(bare(selectors), [{ cell: '1.5b', group: 'G2', ipsecSa: 'SA2', kind: 'changed', matchPolicyChanged: true }]);
    assert.equal(selectors.changes[0]?.detail, 'group G2: ipsec-sa SA2: match-policy changed (protocol 0 -> 17)');

    // Only the name: the TEK's selectors are the same, so it can wait for the rekey.
    const renamed = await diff(standaloneText, edit(standaloneText, ['POL2:', 'POL2-RENAMED:']));
    assert.deepEqual(bare(renamed), [{ cell: '1.5b', group: 'G2', ipsecSa: 'SA2', kind: 'changed', matchPolicyChanged: false }]);
  });

  it('R-CHG-1.5c an ipsec-sa deleted gives 1.5c (a renamed one: 1.5a then 1.5c)', async () => {
    const next = edit(standaloneText, [
      '          ipsec-sa:\n            SA1:',
      '          ipsec-sa:\n            SA3:\n              proposal: AES128-SHA256\n              match-policy:\n                POL3: { source: 192.168.0.0/16, destination: 192.168.0.0/16 }\n            SA1:',
    ]);
    const deleted = await diff(next, standaloneText);
    assert.deepEqual(bare(deleted), [{ cell: '1.5c', group: 'G1', ipsecSa: 'SA3', kind: 'deleted' }]);
    const renamed = await diff(standaloneText, edit(standaloneText, ['            SA2:', '            SA2-NEW:']));
    assert.deepEqual(bare(renamed), [
      { cell: '1.5a', group: 'G2', ipsecSa: 'SA2-NEW', kind: 'added' },
      { cell: '1.5c', group: 'G2', ipsecSa: 'SA2', kind: 'deleted' },
    ]);
  });

  it('group-added for a new group; a renamed group is 1.3a then group-added', async () => {
    const renamed = await diff(standaloneText, edit(standaloneText, ['        G2:\n', '        G3:\n']));
    assert.deepEqual(bare(renamed), [
      { cell: '1.3a', group: 'G2', kind: 'deleted' },
      { cell: 'group-added', group: 'G3', kind: 'added' },
    ]);
    assert.equal(renamed.changes[1]?.detail, 'group G3: added (group-id 2)');
  });

  it('group-other for member-threshold and activation-time-delay, one change per group', async () => {
    const result = await diff(standaloneText, edit(standaloneText, ['member-threshold: 100', 'member-threshold: 50\n          activation-time-delay: 30']));
    assert.deepEqual(bare(result), [{ cell: 'group-other', group: 'G1', kind: 'changed' }]);
    assert.equal(result.changes[0]?.detail, 'group G1: member-threshold 100 -> 50, activation-time-delay 15 -> 30');
  });
});

describe('diffConfigs: Table 2', () => {
  it('R-CHG-2.1 a cluster peer gateway added, changed or deleted gives 2.1 (sub: the root gateway)', async () => {
    const changed = await diff(subText, edit(subText, ['interval: 60', 'interval: 30']));
    assert.deepEqual(bare(changed), [{ cell: '2.1', gateway: 'RootSrv', kind: 'changed' }]);
    assert.equal(changed.changes[0]?.detail, 'cluster peer ike gateway RootSrv: dead-peer-detection changed (interval 60 -> 30)');
    const added = await diff(rootText, edit(rootText, ['          GM-0001:', SUB3], ['ike-gateway: [SubSrv01, SubSrv02]', 'ike-gateway: [SubSrv01, SubSrv02, SubSrv03]']));
    assert.deepEqual(bare(added), [
      { cell: '2.1', gateway: 'SubSrv03', kind: 'added' },
      { cell: '2.2c', group: 'GROUP_ID-0001', gateway: 'SubSrv03', kind: 'added' },
    ]);
  });

  it('R-CHG-2.2a server-cluster added (standalone becomes root) gives 2.2a', async () => {
    const standalone = edit(rootOnlyCluster, [ROOT_CLUSTER, '']);
    const result = await diff(standalone, rootOnlyCluster);
    assert.deepEqual(bare(result), [{ cell: '2.2a', group: 'GROUP_ID-0001', kind: 'added' }]);
    assert.equal(result.changes[0]?.detail, 'group GROUP_ID-0001: server-cluster added (root-server)');
  });

  it('R-CHG-2.2b server-role changed gives 2.2b and no peer cells for that group', async () => {
    const sub = edit(
      rootOnlyCluster,
      [ROOT_CLUSTER, '          server-cluster:\n            server-role: sub-server\n            ike-gateway: [SubSrv01]'],
      ['            address: 127.0.2.1\n', '            address: 127.0.2.1\n            initiate: true\n'],
    );
    const result = await diff(rootOnlyCluster, sub);
    assert.deepEqual(bare(result), [
      { cell: '2.1', gateway: 'SubSrv01', kind: 'changed' },
      { cell: '2.2b', group: 'GROUP_ID-0001', kind: 'changed' },
    ]);
    assert.equal(result.changes[1]?.detail, 'group GROUP_ID-0001: server-cluster server-role root-server -> sub-server');
    assert.deepEqual(bare(await diff(sub, rootOnlyCluster)).map((c) => c.cell), ['2.1', '2.2b']);
  });

  it('R-CHG-2.2c a peer added to the cluster list gives 2.2c', async () => {
    const running = edit(rootText, ['          GM-0001:', SUB3]);
    const result = await diff(running, edit(running, ['ike-gateway: [SubSrv01, SubSrv02]', 'ike-gateway: [SubSrv01, SubSrv02, SubSrv03]']));
    assert.deepEqual(bare(result), [{ cell: '2.2c', group: 'GROUP_ID-0001', gateway: 'SubSrv03', kind: 'added' }]);
  });

  it('R-CHG-2.2d a peer removed from the cluster list gives 2.2d (and 2.1 when its gateway goes too)', async () => {
    const listOnly = await diff(rootText, edit(rootText, ['ike-gateway: [SubSrv01, SubSrv02]', 'ike-gateway: [SubSrv01]']));
    assert.deepEqual(bare(listOnly), [{ cell: '2.2d', group: 'GROUP_ID-0001', gateway: 'SubSrv02', kind: 'deleted' }]);
    const both = await diff(rootText, edit(
      rootText,
      ['ike-gateway: [SubSrv01, SubSrv02]', 'ike-gateway: [SubSrv01]'],
      ['          SubSrv02:\n            ike-policy: SubSrv\n            address: 127.0.2.2\n            dead-peer-detection:\n              always-send: true\n', ''],
    ));
    assert.deepEqual(bare(both), [
      { cell: '2.1', gateway: 'SubSrv02', kind: 'deleted' },
      { cell: '2.2d', group: 'GROUP_ID-0001', gateway: 'SubSrv02', kind: 'deleted' },
    ]);
  });

  it('R-CHG-2.2e retransmission-period changed gives 2.2e', async () => {
    const result = await diff(rootText, edit(rootText, [ROOT_CLUSTER, `${ROOT_CLUSTER}\n            retransmission-period: 4`]));
    assert.deepEqual(bare(result), [{ cell: '2.2e', group: 'GROUP_ID-0001', kind: 'changed' }]);
    assert.equal(result.changes[0]?.detail, 'group GROUP_ID-0001: server-cluster retransmission-period 10 -> 4');
  });

  it('R-CHG-2.2f server-cluster deleted gives 2.2f (sub: then a standalone server)', async () => {
    const sub = await diff(subText, edit(subText, ['          server-cluster:\n            server-role: sub-server\n            ike-gateway: [RootSrv]\n            retransmission-period: 5\n', '']));
    assert.deepEqual(bare(sub), [{ cell: '2.2f', group: 'GROUP_ID-0001', kind: 'deleted' }]);
    // The former peer's gateway still counts as a cluster gateway when it changes in the same commit.
    const withGateway = await diff(rootOnlyCluster, edit(rootOnlyCluster, [ROOT_CLUSTER, ''], ['address: 127.0.2.2', 'address: 127.0.2.9']));
    assert.deepEqual(bare(withGateway), [
      { cell: '2.1', gateway: 'SubSrv02', kind: 'changed' },
      { cell: '2.2f', group: 'GROUP_ID-0001', kind: 'deleted' },
    ]);
  });
});

describe('diffConfigs: order, restarts, members', () => {
  it('lists many changes in the order of Table 1 rows, then Table 2', async () => {
    const next = edit(
      rootText,
      ['address: 127.0.2.2', 'address: 127.0.2.8'],
      ['lifetime-seconds: 3600', 'lifetime-seconds: 1200'],
      ['group-id: 2', 'group-id: 3'],
      ['member-threshold: 2000', 'member-threshold: 1000\n          anti-replay-time-window: 90'],
      ['          server-member-communication:\n            encryption-algorithm: aes-256-cbc\n', ''],
      ['address: 127.0.3.1', 'address: 127.0.3.5'],
      [ROOT_CLUSTER, `${ROOT_CLUSTER}\n            retransmission-period: 3`],
    );
    const result = await diff(rootText, next);
    assert.deepEqual(bare(result).map((c) => [c.cell, c.group ?? c.gateway]), [
      ['1.1', 'GM-0001'],
      ['1.2', 'GROUP_ID-0001'],
      ['1.3b', 'GROUP_ID-0002'],
      ['1.3d', 'GROUP_ID-0001'],
      ['1.4c', 'GROUP_ID-0001'],
      ['group-other', 'GROUP_ID-0001'],
      ['2.1', 'SubSrv02'],
      ['2.2e', 'GROUP_ID-0001'],
    ]);
  });

  it('system.* changes need a restart, one line each; log-level too', async () => {
    const next = edit(standaloneText, ['host-name: ks', 'host-name: ks2'], ['log-level: info', 'log-level: debug'], ['    address: 127.0.1.1\n', '    address: 127.0.1.1\n    port: 1848\n']);
    const result = await diff(standaloneText, next);
    assert.deepEqual(result.changes, []);
    assert.deepEqual(result.restartRequired, [
      'system.host-name changed (ks -> ks2)',
      'system.listen changed (127.0.1.1:848 -> 127.0.1.1:1848)',
      'system.log-level changed (info -> debug)',
    ]);
    const platform = await diff(standaloneText, edit(standaloneText, ['platform: vsrx', 'platform: srx1500'], ['member-threshold: 100', 'member-threshold: 50']));
    assert.deepEqual(platform.restartRequired, ['system.platform changed (vsrx -> srx1500)']);
    assert.deepEqual(platform.changes.map((c) => c.cell), ['group-other'], 'the changes are still listed');
    const debug = await diff(standaloneText, edit(standaloneText, ['  log-level: info\n', '  log-level: info\n  debug:\n    short-timers: true\n']));
    assert.deepEqual(debug.restartRequired, ['system.debug.short-timers changed (false -> true)']);
  });

  it('ike.options and chassis-cluster changes need a restart; the control-link key is not shown', async () => {
    const options = await diff(standaloneText, edit(standaloneText, ['            address: dynamic\n', '            address: dynamic\n        options:\n          retransmit-tries: 3\n']));
    assert.deepEqual(options.restartRequired, ['ike.options changed (retransmit-tries 5 -> 3)']);
    const pair = `${rootText.trimEnd()}\n${CHASSIS}`;
    assert.deepEqual((await diff(rootText, pair)).restartRequired, ['chassis-cluster added']);
    assert.deepEqual((await diff(pair, rootText)).restartRequired, ['chassis-cluster deleted']);
    const key = await diff(pair, edit(pair, ['control-link-secret', 'control-link-secreT'], ['node: 0', 'node: 1']));
    assert.deepEqual(key.restartRequired, ['chassis-cluster changed (node 0 -> 1, control-link.pre-shared-key)']);
    assert.deepEqual(await diff(pair, pair), { changes: [], restartRequired: [] });
  });

  it('a server becoming a member needs a restart and lists no changes', async () => {
    const result = await diff(standaloneText, memberText);
    assert.deepEqual(result.changes, []);
    assert.ok(result.restartRequired.includes('role changed (server -> member)'), result.restartRequired.join('\n'));
  });

  it('member: gateway, policy and server list changes give 1.1 for the member gateway', async () => {
    const result = await diff(memberText, edit(memberText, ['ascii-text: "member-secret"', 'ascii-text: "changed-secret"'], ['127.0.2.3, 127.0.2.4]', '127.0.2.4]'], ['phase1-doi: ipsec', 'phase1-doi: gdoi']));
    assert.deepEqual(bare(result), [{ cell: '1.1', gateway: 'GW-GROUP1', kind: 'changed' }]);
    assert.equal(
      result.changes[0]?.detail,
      'ike gateway GW-GROUP1: server-address [127.0.2.1, 127.0.2.2, 127.0.2.3, 127.0.2.4] -> [127.0.2.1, 127.0.2.2, 127.0.2.4]; phase1-doi ipsec -> gdoi; policy SubSrv changed (pre-shared-key changed)',
    );
  });

  it('member: vpn and data-plane changes give group-other (group: the vpn name; none for the data plane)', async () => {
    const result = await diff(memberText, edit(memberText, ['registration-timeout-seconds: 2', 'registration-timeout-seconds: 3'], ['interval-ms: 200', 'interval-ms: 100']));
    assert.deepEqual(bare(result), [
      { cell: 'group-other', group: 'GROUP_ID-0001-VPN', kind: 'changed' },
      { cell: 'group-other', kind: 'changed' },
    ]);
    assert.equal(result.changes[0]?.detail, 'vpn GROUP_ID-0001-VPN: registration-timeout-seconds 2 -> 3');
    assert.equal(result.changes[1]?.detail, 'data-plane: probe changed');
    const vpn = await diff(memberText, edit(memberText, ['GROUP_ID-0001-VPN:', 'OTHER-VPN:']));
    assert.deepEqual(bare(vpn), [
      { cell: 'group-other', group: 'OTHER-VPN', kind: 'added' },
      { cell: 'group-other', group: 'GROUP_ID-0001-VPN', kind: 'deleted' },
    ]);
  });
});
