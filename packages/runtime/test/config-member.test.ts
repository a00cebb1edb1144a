// The member side of the configuration: gateways with ordered server lists, group membership, the data plane.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, parseConfig, type ConfigErrorCode, type MemberDaemonConfig } from '../src/index.js';

const fixtures = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const probeText = await readFile(`${fixtures}member-probe.yaml`, 'utf8');
const MEMBER = 'security.group-vpn.member';
const GATEWAY = `${MEMBER}.ike.gateway.GW-GROUP1`;
const VPN = `${MEMBER}.ipsec.vpn.GROUP_ID-0001-VPN`;
const DATA_PLANE = `${MEMBER}.data-plane`;

function edit(...changes: Array<[string, string]>): string {
  let text = probeText;
  for (const [from, to] of changes) {
    assert.ok(text.includes(from), `fixture lacks ${JSON.stringify(from)}`);
    text = text.replace(from, to);
  }
  return text;
}

async function member(text: string): Promise<MemberDaemonConfig> {
  const { config } = await parseConfig(text, 'test.yaml');
  assert.equal(config.role, 'member');
  return config as MemberDaemonConfig;
}

describe('member configuration: the typed result', () => {
  it('reads servers in order, the group, and the data plane with its probe', async () => {
    const config = await member(probeText);
    assert.equal(config.server, null);
    const [gateway] = config.member.gateways;
    assert.ok(gateway);
    assert.equal(gateway.name, 'GW-GROUP1');
    assert.equal(gateway.policy.name, 'SubSrv');
    assert.equal(gateway.localAddress, '127.0.3.1');
    assert.deepEqual(gateway.servers.map((s) => [s.name, s.remote.address, s.remote.port, s.initiate, s.phase1Doi, s.dpd.alwaysSend]), [
      ['GW-GROUP1/127.0.2.1', '127.0.2.1', 1848, false, 1, false],
      ['GW-GROUP1/127.0.2.2', '127.0.2.2', 1848, false, 1, false],
      ['GW-GROUP1/127.0.2.3', '127.0.2.3', 1848, false, 1, false],
      ['GW-GROUP1/127.0.2.4', '127.0.2.4', 1848, false, 1, false],
    ]);
    // The IKE engine gets the same four peers (one fixed-address gateway per server).
    assert.deepEqual(config.ike.gateways, gateway.servers);
    assert.equal(config.ike.gateways[2], gateway.servers[2]);
    assert.deepEqual(config.ike.dynamicGateways, []);
    const [vpn] = config.member.vpns;
    assert.ok(vpn);
    assert.equal(vpn.name, 'GROUP_ID-0001-VPN');
    assert.equal(vpn.gateway, gateway);
    assert.equal(vpn.groupId, 1);
    assert.equal(vpn.externalInterface, 'ge-0/0/1.0');
    assert.equal(vpn.registrationTimeoutSeconds, 2);
    assert.deepEqual(config.member.dataPlane, {
      listenAddress: '127.0.3.1',
      listenPort: 14500,
      memberId: 1,
      probe: {
        intervalMs: 200,
        peers: [
          { name: 'GM-0002', memberId: 2, address: '127.0.3.2', port: 14500 },
          { name: 'GM-0003', memberId: 3, address: '127.0.3.3', port: 24500 },
        ],
      },
    });
  });

  it('names each server by the canonical form of its address', async () => {
    const config = await member(edit(['address: 127.0.3.1\n', 'address: "::"\n'], ['[127.0.2.1, 127.0.2.2, 127.0.2.3, 127.0.2.4]', '["FD00:0:0::5", "fd00::6"]']));
    assert.deepEqual(config.member.gateways[0]?.servers.map((s) => [s.name, s.remote.address]), [['GW-GROUP1/fd00::5', 'fd00::5'], ['GW-GROUP1/fd00::6', 'fd00::6']]);
  });

  it('applies the member defaults', async () => {
    const { config } = await loadConfig(`${fixtures}member.yaml`);
    assert.ok(config.role === 'member');
    assert.deepEqual(config.member.gateways.map((g) => g.servers.map((s) => s.name)), [['Subs/127.0.1.2', 'Subs/127.0.1.3']]);
    assert.equal(config.member.gateways[0]?.servers[0]?.phase1Doi, 2);
    assert.deepEqual(config.member.vpns.map((v) => [v.groupId, v.externalInterface, v.registrationTimeoutSeconds]), [[1, null, 5]]);
    assert.deepEqual(config.member.dataPlane, { listenAddress: '127.0.2.1', listenPort: 4500, memberId: null, probe: null });
  });

  it('never lets the pre-shared key into JSON or inspect output', async () => {
    const config = await member(probeText);
    assert.ok(!JSON.stringify(config).includes('member-secret'));
    assert.ok(!inspect(config, { depth: 30 }).includes('member-secret'));
    assert.ok(JSON.stringify(config.member).includes('"preSharedKey":"[secret]"'));
  });
});

const cases: Array<{ name: string; text: () => string; code: ConfigErrorCode; path: string; says?: RegExp }> = [
  {
    name: 'dead-peer detection on a member gateway (R-CONF-3)',
    text: () => edit(['            phase1-doi: ipsec\n', '            phase1-doi: ipsec\n            dead-peer-detection:\n              always-send: true\n']),
    code: 'INVALID_VALUE', path: `${GATEWAY}.dead-peer-detection`, says: /members never run dead-peer detection.*R-CONF-3/,
  },
  {
    name: 'a server gateway shape (address) on a member',
    text: () => edit(['            server-address: [127.0.2.1, 127.0.2.2, 127.0.2.3, 127.0.2.4]\n', '            address: 127.0.2.1\n']),
    code: 'UNKNOWN_KEY', path: `${GATEWAY}.address`, says: /server-address/,
  },
  { name: 'initiate on a member gateway', text: () => edit(['            port: 1848\n', '            port: 1848\n            initiate: true\n']), code: 'UNKNOWN_KEY', path: `${GATEWAY}.initiate` },
  {
    name: 'five server addresses (R-REG-4)',
    text: () => edit(['127.0.2.3, 127.0.2.4]', '127.0.2.3, 127.0.2.4, 127.0.2.5]']),
    code: 'INVALID_VALUE', path: `${GATEWAY}.server-address`, says: /at most 4 \(R-REG-4\)/,
  },
  { name: 'no server address', text: () => edit(['[127.0.2.1, 127.0.2.2, 127.0.2.3, 127.0.2.4]', '[]']), code: 'MISSING', path: `${GATEWAY}.server-address` },
  { name: 'a server listed twice', text: () => edit(['127.0.2.3, 127.0.2.4]', '127.0.2.3, 127.0.2.1]']), code: 'INVALID_VALUE', path: `${GATEWAY}.server-address[3]`, says: /listed twice/ },
  { name: 'an invalid server address', text: () => edit(['127.0.2.2, 127.0.2.3', '127.0.2.2, sub3.example']), code: 'INVALID_ADDRESS', path: `${GATEWAY}.server-address[2]` },
  { name: 'a dynamic server address', text: () => edit(['[127.0.2.1,', '[dynamic,']), code: 'INVALID_ADDRESS', path: `${GATEWAY}.server-address[0]` },
  {
    name: 'a server shared by two gateways',
    text: () => edit(['      ipsec:\n', '          GW-OTHER:\n            ike-policy: SubSrv\n            server-address: [127.0.2.9, 127.0.2.4]\n            port: 1848\n      ipsec:\n']),
    code: 'DUPLICATE_ADDRESS', path: `${MEMBER}.ike.gateway.GW-OTHER.server-address[1]`, says: /already gateway GW-GROUP1\/127\.0\.2\.4/,
  },
  { name: 'an undefined vpn gateway', text: () => edit(['ike-gateway: GW-GROUP1', 'ike-gateway: GW-NONE']), code: 'UNDEFINED_REFERENCE', path: `${VPN}.ike-gateway` },
  { name: 'a vpn without group', text: () => edit(['            group: 1\n', '']), code: 'MISSING', path: `${VPN}.group` },
  { name: 'a group of 65536', text: () => edit(['            group: 1\n', '            group: 65536\n']), code: 'OUT_OF_RANGE', path: `${VPN}.group` },
  {
    name: 'two vpns for one group',
    text: () => edit(['      data-plane:\n', '          AGAIN:\n            ike-gateway: GW-GROUP1\n            group: 1\n      data-plane:\n']),
    code: 'INVALID_VALUE', path: `${MEMBER}.ipsec.vpn.AGAIN.group`, says: /already joined by vpn GROUP_ID-0001-VPN/,
  },
  { name: 'an unknown key beside vpn', text: () => edit(['        vpn:\n', '        vpn: {}\n        unused:\n']), code: 'UNKNOWN_KEY', path: `${MEMBER}.ipsec.unused` },
  {
    name: 'an empty vpn map',
    text: () => {
      const start = probeText.indexOf('        vpn:\n');
      const end = probeText.indexOf('      data-plane:\n');
      return `${probeText.slice(0, start)}        vpn: {}\n${probeText.slice(end)}`;
    },
    code: 'MISSING', path: `${MEMBER}.ipsec.vpn`,
  },
  { name: 'a registration timeout of 0', text: () => edit(['registration-timeout-seconds: 2', 'registration-timeout-seconds: 0']), code: 'OUT_OF_RANGE', path: `${VPN}.registration-timeout-seconds` },
  { name: 'server groups on a member', text: () => edit(['      data-plane:\n', '      group: {}\n      data-plane:\n']), code: 'UNKNOWN_KEY', path: `${MEMBER}.group` },
  {
    name: 'a data plane on the IKE socket',
    text: () => edit(['        listen-port: 14500\n', '        listen-port: 848\n']),
    code: 'DUPLICATE_ADDRESS', path: `${DATA_PLANE}.listen-port`, says: /already system\.listen/,
  },
  { name: 'a probe without member-id', text: () => edit(['        member-id: 1\n', '']), code: 'MISSING', path: `${DATA_PLANE}.member-id` },
  { name: 'a probe peer without member-id', text: () => edit(['GM-0002: { member-id: 2, address', 'GM-0002: { address']), code: 'MISSING', path: `${DATA_PLANE}.probe.peers.GM-0002.member-id` },
  { name: 'a probe peer without address', text: () => edit(['{ member-id: 2, address: 127.0.3.2 }', '{ member-id: 2 }']), code: 'MISSING', path: `${DATA_PLANE}.probe.peers.GM-0002.address` },
  { name: 'a probe peer with our member-id', text: () => edit(['{ member-id: 2,', '{ member-id: 1,']), code: 'INVALID_VALUE', path: `${DATA_PLANE}.probe.peers.GM-0002.member-id`, says: /already the member-id of this member/ },
  { name: 'two probe peers with one member-id', text: () => edit(['{ member-id: 3,', '{ member-id: 2,']), code: 'INVALID_VALUE', path: `${DATA_PLANE}.probe.peers.GM-0003.member-id`, says: /peer GM-0002/ },
  { name: 'a probe interval of 9 ms', text: () => edit(['interval-ms: 200', 'interval-ms: 9']), code: 'OUT_OF_RANGE', path: `${DATA_PLANE}.probe.interval-ms` },
  { name: 'an unknown key beside peers', text: () => edit(['          peers:\n', '          peers: {}\n          unused:\n']), code: 'UNKNOWN_KEY', path: `${DATA_PLANE}.probe.unused` },
  {
    name: 'an empty probe peer map',
    text: () => `${probeText.slice(0, probeText.indexOf('          peers:\n'))}          peers: {}\n`,
    code: 'MISSING', path: `${DATA_PLANE}.probe.peers`,
  },
  {
    name: 'one IPv6 server written two ways',
    text: () => edit(['address: 127.0.3.1\n', 'address: "::"\n'], ['[127.0.2.1, 127.0.2.2, 127.0.2.3, 127.0.2.4]', '["fd00::5", "FD00:0:0::5"]']),
    code: 'INVALID_VALUE', path: `${GATEWAY}.server-address[1]`, says: /fd00::5 is listed twice/,
  },
  {
    name: 'one IPv4 server also written IPv4-mapped',
    text: () => edit(['[127.0.2.1, 127.0.2.2, 127.0.2.3, 127.0.2.4]', '[127.0.2.1, "::ffff:127.0.2.1"]']),
    code: 'INVALID_VALUE', path: `${GATEWAY}.server-address[1]`, says: /127\.0\.2\.1 is listed twice/,
  },
  {
    name: 'an IPv6 server with an IPv4 listen address',
    text: () => edit(['[127.0.2.1, 127.0.2.2, 127.0.2.3, 127.0.2.4]', '[127.0.2.2, "fd00::1"]']),
    code: 'INVALID_ADDRESS', path: `${GATEWAY}.server-address[1]`, says: /IPv6 peer cannot be reached from the IPv4 listen address 127\.0\.3\.1/,
  },
  {
    name: 'IPv4 servers with the IPv6 listen address ::',
    text: () => edit(['address: 127.0.3.1\n', 'address: "::"\n']),
    code: 'INVALID_ADDRESS', path: `${GATEWAY}.server-address[0]`, says: /IPv4 peer cannot be reached from the IPv6 listen address ::/,
  },
  { name: 'an invalid data-plane address', text: () => edit(['        listen-port: 14500\n', '        listen-port: 14500\n        listen-address: 127.0.3.300\n']), code: 'INVALID_ADDRESS', path: `${DATA_PLANE}.listen-address` },
];

describe('member configuration: each rule is an error naming file and path', () => {
  for (const testCase of cases) {
    it(`rejects ${testCase.name} with ${testCase.code} at ${testCase.path}`, async () => {
      const error = await parseConfig(testCase.text(), 'test.yaml').then(
        () => assert.fail('accepted an invalid configuration'),
        (caught: unknown) => caught,
      );
      assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
      assert.equal(error.code, testCase.code, error.message);
      assert.equal(error.path, testCase.path, error.message);
      assert.ok(error.message.startsWith(`test.yaml: ${testCase.path}: `), error.message);
      assert.equal(typeof error.line, 'number', `no line in: ${error.message}`);
      if (testCase.says !== undefined) assert.match(error.message, testCase.says);
    });
  }
});
