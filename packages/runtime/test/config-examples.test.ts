// configs/examples/: one commented configuration per role, mirroring the worked example (spec R-EX).
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { loadConfig, type DaemonConfig, type MemberDaemonConfig, type ServerDaemonConfig } from '../src/index.js';

const examples = fileURLToPath(new URL('../../../../configs/examples/', import.meta.url));
const EXPECTED = [
  'member-mx.yaml',
  'member-srx.yaml',
  'root-server-pair-node0.yaml',
  'root-server-pair-node1.yaml',
  'root-server.yaml',
  'standalone-server.yaml',
  'sub-server.yaml',
];

async function load(name: string): Promise<DaemonConfig> {
  const { config, warnings } = await loadConfig(`${examples}${name}`);
  assert.deepEqual(warnings, [], `${name} should load without warnings`);
  return config;
}

async function server(name: string): Promise<ServerDaemonConfig> {
  const config = await load(name);
  assert.ok(config.role === 'server', `${name} is a server configuration`);
  return config;
}

async function member(name: string): Promise<MemberDaemonConfig> {
  const config = await load(name);
  assert.ok(config.role === 'member', `${name} is a member configuration`);
  return config;
}

/** The R-EX group: GROUP_ID-0001, id 1, one TEK over 172.16.0.0/12 both ways. */
function assertExampleGroup(config: ServerDaemonConfig): void {
  const [group] = config.server.groups;
  assert.equal(config.server.groups.length, 1);
  assert.equal(group?.name, 'GROUP_ID-0001');
  assert.equal(group?.groupId, 1);
  assert.equal(group?.ipsecSas.length, 1);
  assert.equal(group?.ipsecSas[0]?.matchPolicy.source, '172.16.0.0/12');
  assert.equal(group?.ipsecSas[0]?.matchPolicy.destination, '172.16.0.0/12');
}

describe('configs/examples', () => {
  it('holds one example per role', async () => {
    assert.deepEqual((await readdir(examples)).filter((f) => f.endsWith('.yaml')).sort(), EXPECTED);
  });

  it('root-server.yaml: a root with four sub-servers, DPD on each, no member gateway', async () => {
    const config = await server('root-server.yaml');
    assert.equal(config.server.clusterRole, 'root-server');
    assert.ok(config.system.platform.roles.includes('root-server'));
    assertExampleGroup(config);
    const group = config.server.groups[0];
    assert.deepEqual(group?.serverCluster?.peers.map((p) => [p.name, p.remote.address, p.dpd.alwaysSend, p.initiate]), [
      ['SubSrv01', '127.0.2.1', true, false],
      ['SubSrv02', '127.0.2.2', true, false],
      ['SubSrv03', '127.0.2.3', true, false],
      ['SubSrv04', '127.0.2.4', true, false],
    ]);
    assert.deepEqual(group?.memberGateways, []);
    assert.equal(group?.memberThreshold, 2000);
    assert.deepEqual(config.ike.policies.map((p) => p.name), ['SubSrv']);
  });

  it('root-server-pair-node0.yaml and -node1.yaml: the root of root-server.yaml as a pair on one shared address', async () => {
    const single = await server('root-server.yaml');
    const nodes = [await server('root-server-pair-node0.yaml'), await server('root-server-pair-node1.yaml')];
    assert.equal(single.chassisCluster, null);
    nodes.forEach((config, index) => {
      assert.equal(config.server.clusterRole, 'root-server');
      assert.equal(config.system.hostName, `root-node${index}`);
      assert.ok(config.system.platform.chassisClusterRoot);
      // The shared cluster address is the single root's address, so subs and members need no change.
      assert.deepEqual(config.system.listen, { address: '127.0.1.1', port: 848 });
      assert.equal(config.chassisCluster?.node, index);
      assert.equal(config.chassisCluster?.heartbeatIntervalMs, 250);
      assert.equal(config.chassisCluster?.heartbeatThreshold, 4);
      assert.deepEqual(config.chassisCluster?.priorities, [200, 100]);
      // Same groups, gateways and keys as the single root (compared, never printed).
      assert.equal(JSON.stringify(config.server), JSON.stringify(single.server));
      assert.deepEqual(config.ike.gateways.map((g) => [g.name, g.remote.address, g.localAddress]), single.ike.gateways.map((g) => [g.name, g.remote.address, g.localAddress]));
      const psk = (c: ServerDaemonConfig) => Buffer.from(c.ike.policies[0]?.preSharedKey.reveal() ?? []);
      assert.ok(psk(config).equals(psk(single)));
    });
    const [node0, node1] = nodes.map((config) => config.chassisCluster);
    assert.ok(node0 && node1);
    assert.equal(node0.controlLink.localAddress, '127.0.1.2');
    assert.equal(node0.controlLink.peerAddress, '127.0.1.3');
    assert.equal(node1.controlLink.localAddress, node0.controlLink.peerAddress);
    assert.equal(node1.controlLink.peerAddress, node0.controlLink.localAddress);
    assert.equal(node0.controlLink.port, node1.controlLink.port);
    assert.ok(Buffer.from(node0.controlLink.preSharedKey.reveal()).equals(Buffer.from(node1.controlLink.preSharedKey.reveal())));
    // Each node its own state directory: two processes cannot share a control socket.
    assert.notEqual(nodes[0]?.system.stateDirectory, nodes[1]?.system.stateDirectory);
  });

  it('sub-server.yaml: policies RootSrv and GMs, the root as its one cluster peer, a gateway per member', async () => {
    const config = await server('sub-server.yaml');
    assert.equal(config.server.clusterRole, 'sub-server');
    assertExampleGroup(config);
    const group = config.server.groups[0];
    assert.deepEqual(config.ike.policies.map((p) => p.name), ['RootSrv', 'GMs']);
    const [root] = group?.serverCluster?.peers ?? [];
    assert.equal(root?.name, 'RootSrv');
    assert.equal(root?.remote.address, '127.0.1.1');
    assert.equal(root?.initiate, true);
    // R-DPD-6: interval x threshold towards the root above 150 s.
    assert.ok((root?.dpd.intervalSeconds ?? 0) * (root?.dpd.threshold ?? 0) > 150);
    assert.deepEqual(group?.memberGateways.map((g) => g.name), ['GM-0001', 'GM-0002', 'GM-0003', 'GM-0004']);
    // R-CONF-4 / R-CONF-5: the group matches the root's.
    const rootGroup = (await server('root-server.yaml')).server.groups[0];
    for (const key of ['groupId', 'memberThreshold', 'activationTimeDelaySeconds', 'antiReplayTimeWindowSeconds', 'serverMemberCommunication', 'ipsecSas'] as const) {
      assert.deepEqual(group?.[key], rootGroup?.[key], key);
    }
    // The root's SubSrv key and the sub's RootSrv key agree (compared, never printed).
    const rootPsk = (await server('root-server.yaml')).ike.policies[0]?.preSharedKey.reveal();
    assert.ok(rootPsk !== undefined && Buffer.from(rootPsk).equals(Buffer.from(config.ike.policies[0]?.preSharedKey.reveal() ?? [])));
  });

  it('standalone-server.yaml: no server-cluster, a dynamic member gateway, a GCM TEK', async () => {
    const config = await server('standalone-server.yaml');
    assert.equal(config.server.clusterRole, 'standalone');
    assertExampleGroup(config);
    const group = config.server.groups[0];
    assert.equal(group?.serverCluster, null);
    assert.deepEqual(group?.memberGateways.map((g) => [g.name, g.dynamic]), [['GM-0001', false], ['GM-0002', false], ['GM-ANY', true]]);
    assert.equal(group?.ipsecSas[0]?.proposal.encryptionAlgorithm, 'aes-256-gcm');
    assert.equal(group?.ipsecSas[0]?.proposal.authenticationAlgorithm, null);
    assert.equal(group?.noAntiReplay, true);
    assert.equal(group?.serverMemberCommunication?.sigHashAlgorithm, 'sha384');
  });

  for (const [file, platformFamily, memberId, firstServer] of [
    ['member-srx.yaml', 'srx', 1, '127.0.2.1'],
    ['member-mx.yaml', 'mx', 3, '127.0.2.3'],
  ] as const) {
    it(`${file}: group 1 through the four sub-servers, the ${platformFamily} profile, a probe to the other members`, async () => {
      const config = await member(file);
      assert.equal(config.system.platform.family, platformFamily);
      const [vpn] = config.member.vpns;
      assert.equal(vpn?.groupId, 1);
      assert.deepEqual([...(vpn?.gateway.servers.map((s) => s.remote.address) ?? [])].sort(), ['127.0.2.1', '127.0.2.2', '127.0.2.3', '127.0.2.4']);
      assert.equal(vpn?.gateway.servers[0]?.remote.address, firstServer);
      assert.equal(config.member.dataPlane.memberId, memberId);
      assert.deepEqual(config.member.dataPlane.probe?.peers.map((p) => p.memberId).sort(), [1, 2, 3, 4].filter((id) => id !== memberId));
      // The member's key matches policy GMs on the sub-servers.
      const sub = await server('sub-server.yaml');
      const gms = sub.ike.policies.find((p) => p.name === 'GMs')?.preSharedKey.reveal();
      assert.ok(gms !== undefined && Buffer.from(gms).equals(Buffer.from(vpn?.gateway.policy.preSharedKey.reveal() ?? [])));
    });
  }

  it('never lets a pre-shared key of any example into JSON or inspect output', async () => {
    for (const name of EXPECTED) {
      const text = await readFile(`${examples}${name}`, 'utf8');
      const secrets = [...text.matchAll(/ascii-text: "([^"]+)"/g)].map((m) => m[1] ?? '');
      assert.ok(secrets.length > 0, `${name} has pre-shared keys`);
      const config = await load(name);
      const shown = `${JSON.stringify(config)}\n${inspect(config, { depth: 30 })}`;
      for (const secret of secrets) assert.ok(!shown.includes(secret), `${name}: a pre-shared key leaked`);
    }
  });
});
