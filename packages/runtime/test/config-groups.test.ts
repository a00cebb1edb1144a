// Server groups, the server cluster and their validation (issues 3 and 4; spec R-TOPO, R-CONF, R-REG).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import {
  ConfigError, DEFAULT_PLATFORM_MAX_MEMBERS, loadConfig, parseConfig, type ConfigErrorCode, type LoadConfigOptions, type ServerDaemonConfig,
} from '../src/index.js';

const fixtures = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const rootText = await readFile(`${fixtures}cluster-root.yaml`, 'utf8');
const subText = await readFile(`${fixtures}cluster-sub.yaml`, 'utf8');
const SERVER = 'security.group-vpn.server';
const GROUP1 = `${SERVER}.group.GROUP_ID-0001`;
const GROUP2 = `${SERVER}.group.GROUP_ID-0002`;

/** `base` with each [from, to] applied once; fails loudly if a `from` is not in it. */
function edit(base: string, ...changes: Array<[string, string]>): string {
  let text = base;
  for (const [from, to] of changes) {
    assert.ok(text.includes(from), `fixture lacks ${JSON.stringify(from)}`);
    text = text.replace(from, to);
  }
  return text;
}

async function server(text: string, options: LoadConfigOptions = {}): Promise<ServerDaemonConfig> {
  const { config } = await parseConfig(text, 'test.yaml', options);
  assert.equal(config.role, 'server');
  return config as ServerDaemonConfig;
}

async function rejection(text: string, options: LoadConfigOptions = {}): Promise<ConfigError> {
  const error = await parseConfig(text, 'test.yaml', options).then(
    () => assert.fail('accepted an invalid configuration'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
  return error;
}

describe('server groups: the typed result', () => {
  it('R-CONF-1: reads a root with a cluster group and a standalone group, defaults applied and references resolved', async () => {
    const config = await server(rootText);
    assert.equal(config.member, null);
    assert.equal(config.server.clusterRole, 'root-server');
    assert.deepEqual(config.server.ipsecProposals.map((p) => [p.name, p.encryptionAlgorithm, p.encryptionKeyLength, p.authenticationAlgorithm, p.lifetimeSeconds]), [
      ['AES256-SHA256', 'aes-256-cbc', 32, 'hmac-sha-256-128', 3600],
      ['GCM256', 'aes-256-gcm', 32, null, 3600],
    ]);
    const [cluster, standalone] = config.server.groups;
    assert.ok(cluster && standalone);
    assert.equal(cluster.name, 'GROUP_ID-0001');
    assert.equal(cluster.groupId, 1);
    assert.deepEqual(cluster.memberGateways, []);
    assert.equal(cluster.memberThreshold, 2000);
    assert.equal(cluster.activationTimeDelaySeconds, 15);
    assert.equal(cluster.antiReplayTimeWindowSeconds, null);
    assert.equal(cluster.noAntiReplay, false);
    assert.deepEqual(cluster.serverMemberCommunication, {
      communicationType: 'unicast',
      encryptionAlgorithm: 'aes-256-cbc',
      encryptionKeyLength: 32,
      lifetimeSeconds: 3600,
      retransmissionPeriodSeconds: 10,
      numberOfRetransmission: 2,
      sigHashAlgorithm: 'sha256',
    });
    assert.equal(cluster.ipsecSas[0]?.proposal, config.server.ipsecProposals[0]);
    assert.deepEqual(cluster.ipsecSas[0]?.matchPolicy, {
      name: 'POL1', source: '172.16.0.0/12', destination: '172.16.0.0/12', sourcePort: 0, destinationPort: 0, protocol: 0,
    });
    assert.equal(cluster.serverCluster?.serverRole, 'root-server');
    assert.equal(cluster.serverCluster?.retransmissionPeriodSeconds, 10);
    // The peers are the very gateway objects the IKE engine gets.
    assert.deepEqual(cluster.serverCluster?.peers.map((p) => p.name), ['SubSrv01', 'SubSrv02']);
    assert.equal(cluster.serverCluster?.peers[0], config.ike.gateways[0]);

    assert.equal(standalone.serverCluster, null);
    assert.equal(standalone.memberThreshold, null);
    assert.equal(standalone.noAntiReplay, true);
    assert.equal(standalone.serverMemberCommunication, null);
    assert.deepEqual(standalone.memberGateways.map((g) => [g.name, g.dynamic]), [['GM-0001', false], ['GM-ANY', true]]);
    assert.deepEqual(standalone.ipsecSas[0]?.matchPolicy, {
      name: 'POL2', source: '10.0.0.0/8', destination: '10.0.0.0/8', sourcePort: 4000, destinationPort: 4001, protocol: 17,
    });
  });

  it('keeps a dynamic member gateway out of the fixed-address gateways the IKE engine is given', async () => {
    const config = await server(rootText);
    assert.deepEqual(config.ike.gateways.map((g) => g.name), ['SubSrv01', 'SubSrv02', 'GM-0001']);
    assert.ok(config.ike.gateways.every((g) => !g.dynamic));
    assert.equal(config.ike.dynamicGateways.length, 1);
    const [anyMember] = config.ike.dynamicGateways;
    assert.equal(anyMember?.name, 'GM-ANY');
    assert.equal(anyMember?.localAddress, '127.0.1.1');
    assert.equal(anyMember?.policy.name, 'GMs');
    assert.ok(!('remote' in (anyMember ?? {})));
  });

  it('reads every explicit group key of a sub-server', async () => {
    const config = await server(subText);
    assert.equal(config.server.clusterRole, 'sub-server');
    const [group] = config.server.groups;
    assert.ok(group);
    assert.deepEqual(group.memberGateways.map((g) => g.name), ['GM-0001', 'GM-0002']);
    assert.equal(group.memberThreshold, 2);
    assert.equal(group.activationTimeDelaySeconds, 20);
    assert.equal(group.antiReplayTimeWindowSeconds, 120);
    assert.deepEqual(group.serverMemberCommunication, {
      communicationType: 'unicast',
      encryptionAlgorithm: 'aes-192-cbc',
      encryptionKeyLength: 24,
      lifetimeSeconds: 600,
      retransmissionPeriodSeconds: 5,
      numberOfRetransmission: 3,
      sigHashAlgorithm: 'sha384',
    });
    assert.equal(group.ipsecSas[0]?.proposal.lifetimeSeconds, 1800);
    assert.equal(group.ipsecSas[0]?.proposal.encryptionKeyLength, 16);
    assert.deepEqual(group.serverCluster?.peers.map((p) => [p.name, p.initiate, p.dpd]), [['RootSrv', true, { alwaysSend: true, intervalSeconds: 60, threshold: 3 }]]);
    assert.equal(group.serverCluster?.retransmissionPeriodSeconds, 5);
  });

  it('calls a server without any server-cluster standalone, and one without groups too', async () => {
    const standalone = edit(rootText, [
      '          server-cluster:\n            server-role: root-server\n            ike-gateway: [SubSrv01, SubSrv02]\n',
      '          ike-gateway: [GM-0001]\n',
    ]);
    assert.equal((await server(standalone)).server.clusterRole, 'standalone');
    const demo = await loadConfig(`${fixtures}root-server.yaml`);
    assert.equal(demo.config.server?.clusterRole, 'standalone');
    assert.deepEqual(demo.config.server?.groups, []);
  });

  it('accepts a member-threshold up to the maximum the key server enforces when the platform publishes none', async () => {
    assert.equal(DEFAULT_PLATFORM_MAX_MEMBERS, 10_000);
    const config = await server(edit(subText, ['member-threshold: 2', `member-threshold: ${DEFAULT_PLATFORM_MAX_MEMBERS}`]));
    assert.equal(config.system.platform.maxMembers, null);
    assert.equal(config.server.groups[0]?.memberThreshold, DEFAULT_PLATFORM_MAX_MEMBERS);
  });

  it('canonicalises a match-policy prefix and accepts /0 and /32', async () => {
    const config = await server(edit(rootText, ['source: 10.0.0.0/8', 'source: 0.0.0.0/0'], ['destination: 10.0.0.0/8', 'destination: 10.1.2.3/32']));
    assert.equal(config.server.groups[1]?.ipsecSas[0]?.matchPolicy.source, '0.0.0.0/0');
    assert.equal(config.server.groups[1]?.ipsecSas[0]?.matchPolicy.destination, '10.1.2.3/32');
  });

  it('allows a root in one group and a standalone group beside it, and one cluster gateway in several groups (R-DPD-2)', async () => {
    const text = edit(rootText, [
      '          ike-gateway: [GM-0001, GM-ANY]\n',
      '          ike-gateway: [GM-0001, GM-ANY]\n          member-threshold: 10\n          server-cluster:\n            server-role: root-server\n            ike-gateway: [SubSrv02]\n',
    ]);
    const config = await server(text);
    assert.equal(config.server.groups[1]?.serverCluster?.peers[0], config.server.groups[0]?.serverCluster?.peers[1]);
  });

  it('never lets a pre-shared key into JSON or inspect output', async () => {
    for (const text of [rootText, subText]) {
      const config = await server(text);
      for (const shown of [JSON.stringify(config), inspect(config, { depth: 30 })]) {
        assert.ok(!shown.includes('root-sub-secret') && !shown.includes('member-secret'));
      }
      assert.ok(JSON.stringify(config.server).includes('"preSharedKey":"[secret]"'));
    }
  });

  it('lowers the minimum lifetimes and delays with system.debug.short-timers, and warns', async () => {
    const text = edit(
      subText,
      ['  state-directory: /run/gvpn/sub1\n', '  state-directory: /run/gvpn/sub1\n  debug:\n    short-timers: true\n'],
      ['lifetime-seconds: 1800', 'lifetime-seconds: 10'],
      ['lifetime-seconds: 600', 'lifetime-seconds: 10'],
      ['activation-time-delay: 20', 'activation-time-delay: 1'],
      ['            retransmission-period: 5\n            number', '            retransmission-period: 1\n            number'],
      ['          P1:\n', '          P1:\n            lifetime-seconds: 10\n'],
    );
    const { config, warnings } = await parseConfig(text, 'test.yaml');
    assert.ok(config.role === 'server');
    assert.equal(config.system.debug.shortTimers, true);
    assert.equal(config.ike.proposals[0]?.lifetimeSeconds, 10);
    const [group] = config.server.groups;
    assert.equal(group?.ipsecSas[0]?.proposal.lifetimeSeconds, 10);
    assert.equal(group?.serverMemberCommunication?.lifetimeSeconds, 10);
    assert.equal(group?.serverMemberCommunication?.retransmissionPeriodSeconds, 1);
    assert.equal(group?.activationTimeDelaySeconds, 1);
    assert.deepEqual(warnings, ['test.yaml: system.debug.short-timers: minimum lifetimes and delays are lowered below the Junos ranges; for testing only']);
    // ...and without the flag the same values are refused.
    const strict = await rejection(text.replace('    short-timers: true\n', ''));
    assert.equal(strict.code, 'OUT_OF_RANGE');
  });
});

interface Case {
  name: string;
  text: () => string;
  code: ConfigErrorCode;
  path: string;
  /** A fragment the message must contain (the rule, the other party...). */
  says?: RegExp;
  line?: number;
  options?: LoadConfigOptions;
}

const ROOT_CLUSTER = '            server-role: root-server\n            ike-gateway: [SubSrv01, SubSrv02]\n';
const moreSubs = (count: number): string =>
  Array.from({ length: count }, (_, i) => `          Sub${i}:\n            ike-policy: SubSrv\n            address: 127.0.9.${i + 1}\n            dead-peer-detection:\n              always-send: true\n`).join('');

const cases: Case[] = [
  // unknown references
  {
    name: 'a group gateway that is not defined',
    text: () => edit(rootText, ['ike-gateway: [GM-0001, GM-ANY]', 'ike-gateway: [GM-0001, GM-9999]']),
    code: 'UNDEFINED_REFERENCE', path: `${GROUP2}.ike-gateway[1]`, says: /gateway "GM-9999" is not defined under ike\.gateway/,
  },
  {
    name: 'a cluster gateway that is not defined',
    text: () => edit(rootText, ['ike-gateway: [SubSrv01, SubSrv02]', 'ike-gateway: [SubSrv01, SubSrv07]']),
    code: 'UNDEFINED_REFERENCE', path: `${GROUP1}.server-cluster.ike-gateway[1]`,
  },
  {
    name: 'an ipsec-sa proposal that is not defined',
    text: () => edit(rootText, ['proposal: AES256-SHA256\n', 'proposal: AES-NONE\n']),
    code: 'UNDEFINED_REFERENCE', path: `${GROUP1}.ipsec-sa.SA1.proposal`, says: /not defined under ipsec\.proposal/,
  },
  { name: 'a gateway listed twice in a group', text: () => edit(rootText, ['[GM-0001, GM-ANY]', '[GM-0001, GM-0001]']), code: 'INVALID_VALUE', path: `${GROUP2}.ike-gateway[1]` },
  // R-TOPO-5 / R-TOPO-2
  {
    name: 'a root in one group and a sub in another (R-TOPO-5)',
    text: () => edit(rootText,
      ['          GM-ANY:\n', '          RootSrv:\n            ike-policy: SubSrv\n            address: 127.0.2.9\n            initiate: true\n            dead-peer-detection:\n              always-send: true\n          GM-ANY:\n'],
      ['          no-anti-replay: true\n', '          no-anti-replay: true\n          member-threshold: 5\n          server-cluster:\n            server-role: sub-server\n            ike-gateway: [RootSrv]\n']),
    code: 'ROLE', path: `${GROUP2}.server-cluster.server-role`, says: /root-server in group GROUP_ID-0001.*R-TOPO-5/,
  },
  {
    name: 'a group without server-cluster on a sub-server (R-TOPO-2)',
    text: () => edit(subText, ['      group:\n', '      group:\n        LOCAL:\n          group-id: 9\n          ike-gateway: [GM-0001]\n          ipsec-sa:\n            SA9:\n              proposal: AES128-SHA256\n              match-policy:\n                P9: { source: 10.0.0.0/8, destination: 10.0.0.0/8 }\n']),
    code: 'ROLE', path: `${SERVER}.group.LOCAL`, says: /sub-servers never generate group keys \(R-TOPO-2\)/,
  },
  // R-CONF-2
  {
    name: 'a root with five sub-server gateways (R-CONF-2)',
    text: () => edit(rootText, ['          GM-0001:\n', `${moreSubs(3)}          GM-0001:\n`], ['ike-gateway: [SubSrv01, SubSrv02]', 'ike-gateway: [SubSrv01, SubSrv02, Sub0, Sub1, Sub2]']),
    code: 'INVALID_VALUE', path: `${GROUP1}.server-cluster.ike-gateway`, says: /1 to 4 gateways, found 5 \(R-CONF-2\)/,
  },
  { name: 'a root with no sub-server gateway', text: () => edit(rootText, ['ike-gateway: [SubSrv01, SubSrv02]', 'ike-gateway: []']), code: 'MISSING', path: `${GROUP1}.server-cluster.ike-gateway` },
  {
    name: 'a sub-server with two cluster gateways',
    text: () => edit(subText, ['ike-gateway: [RootSrv]', 'ike-gateway: [RootSrv, GM-0002]']),
    code: 'INVALID_VALUE', path: `${GROUP1}.server-cluster.ike-gateway`, says: /exactly one gateway here, the root; found 2/,
  },
  { name: 'an unknown server role', text: () => edit(subText, ['server-role: sub-server', 'server-role: leaf-server']), code: 'INVALID_VALUE', path: `${GROUP1}.server-cluster.server-role` },
  // R-CONF-3
  {
    name: 'a cluster gateway without dead-peer-detection (R-CONF-3)',
    text: () => edit(rootText, ['            address: 127.0.2.2\n            dead-peer-detection:\n              always-send: true\n', '            address: 127.0.2.2\n']),
    code: 'MISSING', path: `${SERVER}.ike.gateway.SubSrv02.dead-peer-detection`, says: /server-cluster peer of group GROUP_ID-0001 \(R-CONF-3\)/,
  },
  {
    name: 'a cluster gateway whose DPD is not always-send (R-CONF-3)',
    text: () => edit(subText, ['              always-send: true\n', '              always-send: false\n']),
    code: 'INVALID_VALUE', path: `${SERVER}.ike.gateway.RootSrv.dead-peer-detection.always-send`, line: 33,
  },
  {
    name: 'a dynamic cluster gateway (R-CONF-3)',
    text: () => edit(rootText, ['            address: dynamic\n', '            address: 127.0.3.9\n'], ['            address: 127.0.2.2\n', '            address: dynamic\n']),
    code: 'INVALID_VALUE', path: `${SERVER}.ike.gateway.SubSrv02.address`, says: /cannot be dynamic/,
  },
  {
    name: 'a cluster gateway that is also a member gateway',
    text: () => edit(rootText, ['ike-gateway: [GM-0001, GM-ANY]', 'ike-gateway: [GM-0001, SubSrv02]']),
    code: 'INVALID_VALUE', path: `${GROUP1}.server-cluster.ike-gateway[1]`, says: /SubSrv02 is a member gateway of group GROUP_ID-0002/,
  },
  {
    name: 'a sub-server that does not initiate towards its root',
    text: () => edit(subText, ['            initiate: true\n', '']),
    code: 'INVALID_VALUE', path: `${SERVER}.ike.gateway.RootSrv.initiate`, says: /sub-server starts the IKE SA with its root/,
  },
  // R-CONF-5
  {
    name: 'a cluster group without member-threshold (R-CONF-5)',
    text: () => edit(rootText, ['          member-threshold: 2000\n', '']),
    code: 'MISSING', path: `${GROUP1}.member-threshold`, says: /R-CONF-5/,
  },
  { name: 'a member-threshold of 0', text: () => edit(subText, ['member-threshold: 2', 'member-threshold: 0']), code: 'OUT_OF_RANGE', path: `${GROUP1}.member-threshold` },
  {
    name: 'a member-threshold above the platform maximum',
    text: () => edit(subText, ['platform: vsrx', 'platform: sub-only'], ['member-threshold: 2', 'member-threshold: 101']),
    options: { profilesDirectory: `${fixtures}platforms` },
    code: 'OUT_OF_RANGE', path: `${GROUP1}.member-threshold`, says: /out of range 1\.\.100/,
  },
  {
    // vsrx publishes no max-members: the key server then admits DEFAULT_PLATFORM_MAX_MEMBERS across all groups.
    name: 'a member-threshold above the maximum the key server enforces when the platform publishes none',
    text: () => edit(subText, ['member-threshold: 2', `member-threshold: ${DEFAULT_PLATFORM_MAX_MEMBERS + 1}`]),
    code: 'OUT_OF_RANGE', path: `${GROUP1}.member-threshold`, says: /10001 is out of range 1\.\.10000/,
  },
  // R-TOPO-7: the platform must allow the role
  {
    name: 'a root-server on a platform that cannot be a root (R-TOPO-7)',
    text: () => edit(rootText, ['platform: vsrx', 'platform: sub-only']),
    options: { profilesDirectory: `${fixtures}platforms` },
    code: 'ROLE_NOT_SUPPORTED', path: `${GROUP1}.server-cluster.server-role`, says: /sub-only \(SubOnly\) cannot be a root-server; it supports: sub-server, member/,
  },
  // groups
  { name: 'a duplicate group-id', text: () => edit(rootText, ['group-id: 2', 'group-id: 1']), code: 'INVALID_VALUE', path: `${GROUP2}.group-id`, says: /already the group-id of group GROUP_ID-0001/ },
  { name: 'a group-id of 0', text: () => edit(rootText, ['group-id: 2', 'group-id: 0']), code: 'OUT_OF_RANGE', path: `${GROUP2}.group-id` },
  { name: 'a group-id of 65536', text: () => edit(rootText, ['group-id: 2', 'group-id: 65536']), code: 'OUT_OF_RANGE', path: `${GROUP2}.group-id` },
  { name: 'a group without group-id', text: () => edit(rootText, ['          group-id: 2\n', '']), code: 'MISSING', path: `${GROUP2}.group-id` },
  {
    name: 'a group without ipsec-sa',
    text: () => {
      const start = rootText.indexOf('          ipsec-sa:\n            SA2:');
      assert.ok(start > 0 && !/\n {0,10}\S/.test(rootText.slice(start + 1)), 'SA2 is the last block of the fixture');
      return rootText.slice(0, start);
    },
    code: 'MISSING', path: `${GROUP2}.ipsec-sa`, says: /at least one ipsec-sa/,
  },
  {
    name: 'a group whose ipsec-sa map is empty',
    text: () => edit(subText, ['          ipsec-sa:\n            SA1:\n              proposal: AES128-SHA256\n              match-policy:\n                POL1:\n                  source: 172.16.0.0/12\n                  destination: 172.16.0.0/12\n', '          ipsec-sa: {}\n']),
    code: 'MISSING', path: `${GROUP1}.ipsec-sa`, says: /at least one ipsec-sa/,
  },
  {
    name: 'a standalone group nobody can join',
    text: () => edit(rootText, ['          ike-gateway: [GM-0001, GM-ANY]\n', '']),
    code: 'MISSING', path: `${GROUP2}.ike-gateway`,
  },
  { name: 'both anti-replay settings', text: () => edit(rootText, ['no-anti-replay: true', 'no-anti-replay: true\n          anti-replay-time-window: 100']), code: 'INVALID_VALUE', path: `${GROUP2}.no-anti-replay` },
  { name: 'an anti-replay window of 59 s', text: () => edit(subText, ['anti-replay-time-window: 120', 'anti-replay-time-window: 59']), code: 'OUT_OF_RANGE', path: `${GROUP1}.anti-replay-time-window` },
  { name: 'an activation-time-delay of 9 s', text: () => edit(subText, ['activation-time-delay: 20', 'activation-time-delay: 9']), code: 'OUT_OF_RANGE', path: `${GROUP1}.activation-time-delay` },
  { name: 'an activation-time-delay of 901 s', text: () => edit(subText, ['activation-time-delay: 20', 'activation-time-delay: 901']), code: 'OUT_OF_RANGE', path: `${GROUP1}.activation-time-delay` },
  { name: 'an unknown group key', text: () => edit(subText, ['member-threshold: 2', 'member-threshold: 2\n          heartbeat: 10']), code: 'UNKNOWN_KEY', path: `${GROUP1}.heartbeat` },
  // ipsec proposals and match policies
  {
    name: 'GCM with an authentication algorithm',
    text: () => edit(rootText, ['encryption-algorithm: aes-256-gcm', 'encryption-algorithm: aes-256-gcm\n            authentication-algorithm: hmac-sha-256-128']),
    code: 'INVALID_VALUE', path: `${SERVER}.ipsec.proposal.GCM256.authentication-algorithm`, says: /GCM authenticates the packets itself/,
  },
  { name: 'an unsupported ESP cipher', text: () => edit(rootText, ['aes-256-gcm', 'aes-192-gcm']), code: 'INVALID_VALUE', path: `${SERVER}.ipsec.proposal.GCM256.encryption-algorithm` },
  { name: 'an unsupported ESP integrity', text: () => edit(subText, ['authentication-algorithm: hmac-sha-256-128', 'authentication-algorithm: hmac-md5-96']), code: 'INVALID_VALUE', path: `${SERVER}.ipsec.proposal.AES128-SHA256.authentication-algorithm` },
  { name: 'a TEK lifetime of 179 s', text: () => edit(subText, ['lifetime-seconds: 1800', 'lifetime-seconds: 179']), code: 'OUT_OF_RANGE', path: `${SERVER}.ipsec.proposal.AES128-SHA256.lifetime-seconds` },
  { name: 'a prefix with host bits set', text: () => edit(rootText, ['source: 10.0.0.0/8', 'source: 10.1.0.0/8']), code: 'INVALID_ADDRESS', path: `${GROUP2}.ipsec-sa.SA2.match-policy.POL2.source`, says: /did you mean 10\.0\.0\.0\/8\?/ },
  { name: 'a prefix without a length', text: () => edit(rootText, ['destination: 10.0.0.0/8', 'destination: 10.0.0.0']), code: 'INVALID_ADDRESS', path: `${GROUP2}.ipsec-sa.SA2.match-policy.POL2.destination` },
  { name: 'an IPv6 prefix', text: () => edit(rootText, ['destination: 10.0.0.0/8', 'destination: "fd00::/8"']), code: 'INVALID_ADDRESS', path: `${GROUP2}.ipsec-sa.SA2.match-policy.POL2.destination` },
  { name: 'a prefix length of 33', text: () => edit(rootText, ['destination: 10.0.0.0/8', 'destination: 10.0.0.0/33']), code: 'INVALID_ADDRESS', path: `${GROUP2}.ipsec-sa.SA2.match-policy.POL2.destination` },
  { name: 'a port above 65535', text: () => edit(rootText, ['source-port: 4000', 'source-port: 65536']), code: 'OUT_OF_RANGE', path: `${GROUP2}.ipsec-sa.SA2.match-policy.POL2.source-port` },
  { name: 'a protocol above 255', text: () => edit(rootText, ['protocol: 17', 'protocol: 256']), code: 'OUT_OF_RANGE', path: `${GROUP2}.ipsec-sa.SA2.match-policy.POL2.protocol` },
  {
    name: 'two match-policies in one ipsec-sa',
    text: () => edit(rootText, ['                POL2:\n', '                POL3: { source: 10.0.0.0/8, destination: 10.0.0.0/8 }\n                POL2:\n']),
    code: 'INVALID_VALUE', path: `${GROUP2}.ipsec-sa.SA2.match-policy`, says: /exactly one match-policy \(found 2\)/,
  },
  // server-member-communication
  {
    name: 'a KEK certificate',
    text: () => edit(subText, ['communication-type: unicast', 'communication-type: unicast\n            certificate: kek-cert']),
    code: 'INVALID_VALUE', path: `${GROUP1}.server-member-communication.certificate`, says: /not supported: the server signs pushes with an RSA key it generates itself/,
  },
  { name: 'multicast', text: () => edit(subText, ['communication-type: unicast', 'communication-type: multicast']), code: 'INVALID_VALUE', path: `${GROUP1}.server-member-communication.communication-type` },
  { name: 'a KEK lifetime of 299 s', text: () => edit(subText, ['lifetime-seconds: 600', 'lifetime-seconds: 299']), code: 'OUT_OF_RANGE', path: `${GROUP1}.server-member-communication.lifetime-seconds` },
  { name: 'a KEK lifetime above 86400 s', text: () => edit(subText, ['lifetime-seconds: 600', 'lifetime-seconds: 86401']), code: 'OUT_OF_RANGE', path: `${GROUP1}.server-member-communication.lifetime-seconds` },
  { name: 'a push retransmission period of 1 s', text: () => edit(subText, ['            retransmission-period: 5\n            number', '            retransmission-period: 1\n            number']), code: 'OUT_OF_RANGE', path: `${GROUP1}.server-member-communication.retransmission-period` },
  { name: '61 push retransmissions', text: () => edit(subText, ['number-of-retransmission: 3', 'number-of-retransmission: 61']), code: 'OUT_OF_RANGE', path: `${GROUP1}.server-member-communication.number-of-retransmission` },
  { name: 'a SHA-1 push signature', text: () => edit(subText, ['sig-hash-algorithm: sha-384', 'sig-hash-algorithm: sha1']), code: 'INVALID_VALUE', path: `${GROUP1}.server-member-communication.sig-hash-algorithm` },
  { name: 'a DES KEK', text: () => edit(subText, ['encryption-algorithm: aes-192-cbc', 'encryption-algorithm: des-cbc']), code: 'INVALID_VALUE', path: `${GROUP1}.server-member-communication.encryption-algorithm` },
  { name: 'a cluster retransmission period of 61 s', text: () => edit(subText, ['ike-gateway: [RootSrv]\n            retransmission-period: 5', 'ike-gateway: [RootSrv]\n            retransmission-period: 61']), code: 'OUT_OF_RANGE', path: `${GROUP1}.server-cluster.retransmission-period` },
  // dynamic member gateways
  {
    name: 'a second dynamic gateway',
    text: () => edit(rootText, ['            address: 127.0.3.1\n', '            address: dynamic\n']),
    code: 'INVALID_VALUE', path: `${SERVER}.ike.gateway.GM-ANY.address`, says: /only one gateway may be dynamic \(GM-0001 already is\)/,
  },
  { name: 'a dynamic gateway that initiates', text: () => edit(rootText, ['            address: dynamic\n', '            address: dynamic\n            initiate: true\n']), code: 'INVALID_VALUE', path: `${SERVER}.ike.gateway.GM-ANY.initiate` },
  { name: 'a dynamic gateway with a port', text: () => edit(rootText, ['            address: dynamic\n', '            address: dynamic\n            port: 848\n']), code: 'INVALID_VALUE', path: `${SERVER}.ike.gateway.GM-ANY.port` },
  { name: 'ipsec under the server with an unknown key', text: () => edit(rootText, ['      ipsec:\n', '      ipsec:\n        vpn: {}\n']), code: 'UNKNOWN_KEY', path: `${SERVER}.ipsec.vpn` },
];

describe('server groups: each rule is an error naming file and path', () => {
  for (const testCase of cases) {
    it(`rejects ${testCase.name} with ${testCase.code} at ${testCase.path}`, async () => {
      const error = await rejection(testCase.text(), testCase.options);
      assert.equal(error.code, testCase.code, error.message);
      assert.equal(error.path, testCase.path, error.message);
      assert.equal(error.file, 'test.yaml');
      assert.ok(error.message.startsWith(`test.yaml: ${testCase.path}: `), error.message);
      if (testCase.says !== undefined) assert.match(error.message, testCase.says);
      if (testCase.line !== undefined) assert.equal(error.line, testCase.line, error.message);
      else assert.equal(typeof error.line, 'number', `no line in: ${error.message}`);
    });
  }
});
