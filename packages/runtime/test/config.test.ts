import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, parseConfig, type ConfigErrorCode } from '../src/index.js';

const fixtures = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const rootFile = `${fixtures}root-server.yaml`;
const rootText = await readFile(rootFile, 'utf8');
const GATEWAY = 'security.group-vpn.server.ike.gateway.SubSrv01';
const PROPOSAL = 'security.group-vpn.server.ike.proposal.PSK-SHA256-DH14-AES256';
const POLICY = 'security.group-vpn.server.ike.policy.SubSrv';

/** The root-server example with `from` replaced by `to`; fails loudly if `from` is not in it. */
function variant(from: string, to: string): string {
  assert.ok(rootText.includes(from), `fixture lacks ${JSON.stringify(from)}`);
  return rootText.replace(from, to);
}

async function rejection(text: string): Promise<ConfigError> {
  const error = await parseConfig(text, 'test.yaml').then(
    () => assert.fail('accepted an invalid configuration'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
  return error;
}

describe('loadConfig', () => {
  it('reads the documented root-server example into the normalised shape', async () => {
    const { config, warnings } = await loadConfig(rootFile);
    assert.deepEqual(warnings, []);
    assert.equal(config.role, 'server');
    assert.equal(config.system.hostName, 'root');
    assert.equal(config.system.platform.model, 'vSRX');
    assert.deepEqual(config.system.listen, { address: '127.0.1.1', port: 848 });
    assert.equal(config.system.stateDirectory, '/run/gvpn/root');
    const [gateway] = config.ike.gateways;
    assert.ok(gateway);
    assert.equal(gateway.name, 'SubSrv01');
    assert.deepEqual(gateway.remote, { address: '127.0.1.2', port: 848 });
    assert.equal(gateway.initiate, true);
    assert.deepEqual(gateway.dpd, { alwaysSend: true, intervalSeconds: 10, threshold: 5 });
    assert.deepEqual(
      gateway.policy.proposals.map((p) => [p.name, p.dhGroup, p.hash, p.encryptionKeyLength, p.lifetimeSeconds]),
      [['PSK-SHA256-DH14-AES256', 14, 'sha256', 32, 3600], ['PSK-SHA1-DH19-AES128', 19, 'sha1', 16, 3600]],
    );
    assert.deepEqual(gateway.policy.preSharedKey.reveal(), new TextEncoder().encode('lab-secret'));
  });

  it('applies defaults and resolves relative paths against the file', async () => {
    const { config } = await loadConfig(`${fixtures}member.yaml`);
    assert.equal(config.role, 'member');
    assert.equal(config.system.listen.port, 848);
    assert.equal(config.system.logLevel, 'info');
    assert.equal(config.system.debug.ikeKeyLog, null);
    assert.equal(config.system.stateDirectory, fileURLToPath(new URL('../../test/state/gm1', import.meta.url)));
    assert.deepEqual(config.ike.options, { allowLegacyGroups: false, maxHalfOpen: 512, retransmitInitialMs: 1000, retransmitTries: 5, dhReuseSeconds: 0 });
    const [sub1, sub2] = config.ike.gateways;
    assert.ok(sub1 && sub2);
    assert.deepEqual(sub1.dpd, { alwaysSend: false, intervalSeconds: 10, threshold: 5 });
    assert.equal(sub1.initiate, false);
    assert.equal(sub1.localAddress, '127.0.2.1');
    assert.equal(sub2.remote.port, 848);
    assert.equal(sub1.policy.proposals[0]?.lifetimeSeconds, 3600);
    assert.equal(sub1.policy.proposals[0]?.authenticationMethod, 'pre-shared-keys');
    assert.deepEqual(sub1.policy.preSharedKey.reveal(), Uint8Array.of(0x00, 0xff, 0x10, 0xab));
  });

  it('never lets the pre-shared key into JSON or inspect output', async () => {
    const { config } = await loadConfig(rootFile);
    const json = JSON.stringify(config);
    assert.ok(!json.includes('lab-secret'));
    assert.ok(json.includes('"preSharedKey":"[secret]"'));
    assert.ok(!inspect(config, { depth: 20 }).includes('lab-secret'));
    const member = (await loadConfig(`${fixtures}member.yaml`)).config;
    assert.ok(!JSON.stringify(member).includes('00ff10ab'));
  });

  it('reports an unreadable file as READ_FAILED naming the file', async () => {
    await assert.rejects(loadConfig(`${fixtures}absent.yaml`), (error: ConfigError) => {
      assert.equal(error.code, 'READ_FAILED');
      assert.ok(error.message.startsWith(`${fixtures}absent.yaml: `));
      return true;
    });
  });

  const cases: Array<{ name: string; text: () => string; code: ConfigErrorCode; path: string; line?: number; says?: RegExp }> = [
    { name: 'an unknown key', text: () => variant('  host-name: root', '  hostname: root'), code: 'UNKNOWN_KEY', path: 'system.hostname', line: 3 },
    { name: 'a misplaced member subtree', text: () => variant('      ike:\n', '      data-plane: {}\n      ike:\n'), code: 'UNKNOWN_KEY', path: 'security.group-vpn.server.data-plane' },
    { name: 'a string where a number belongs', text: () => variant('interval: 10', 'interval: "10"'), code: 'WRONG_TYPE', path: `${GATEWAY}.dead-peer-detection.interval`, line: 41 },
    { name: 'a map where a value belongs', text: () => variant('initiate: true', 'initiate: { yes: 1 }'), code: 'WRONG_TYPE', path: `${GATEWAY}.initiate` },
    { name: 'a DPD interval above 60', text: () => variant('interval: 10', 'interval: 61'), code: 'OUT_OF_RANGE', path: `${GATEWAY}.dead-peer-detection.interval`, line: 41 },
    { name: 'a DPD interval below 2', text: () => variant('interval: 10', 'interval: 1'), code: 'OUT_OF_RANGE', path: `${GATEWAY}.dead-peer-detection.interval` },
    { name: 'a DPD threshold of 0', text: () => variant('threshold: 5', 'threshold: 0'), code: 'OUT_OF_RANGE', path: `${GATEWAY}.dead-peer-detection.threshold` },
    { name: 'a lifetime below 180 s', text: () => variant('lifetime-seconds: 3600', 'lifetime-seconds: 179'), code: 'OUT_OF_RANGE', path: `${PROPOSAL}.lifetime-seconds` },
    { name: 'a port above 65535', text: () => variant('    port: 848', '    port: 65536'), code: 'OUT_OF_RANGE', path: 'system.listen.port', line: 7 },
    { name: 'an unknown algorithm', text: () => variant('aes-256-cbc', 'des-cbc'), code: 'INVALID_VALUE', path: `${PROPOSAL}.encryption-algorithm` },
    { name: 'an undefined proposal', text: () => variant('[PSK-SHA256-DH14-AES256,', '[PSK-MISSING,'), code: 'UNDEFINED_REFERENCE', path: `${POLICY}.proposals` },
    { name: 'an undefined policy', text: () => variant('ike-policy: SubSrv', 'ike-policy: Nope'), code: 'UNDEFINED_REFERENCE', path: `${GATEWAY}.ike-policy` },
    {
      name: 'certificate authentication (R-CONF-6)', text: () => variant('authentication-method: pre-shared-keys', 'authentication-method: rsa-signatures'),
      code: 'INVALID_VALUE', path: `${PROPOSAL}.authentication-method`, says: /certificates are not supported.*pre-shared keys only/,
    },
    { name: 'a legacy DH group', text: () => variant('dh-group: group14', 'dh-group: group2'), code: 'LEGACY_GROUP', path: `${PROPOSAL}.dh-group`, line: 18 },
    { name: 'a missing pre-shared key', text: () => variant('            pre-shared-key:\n              ascii-text: "lab-secret"\n', ''), code: 'MISSING', path: `${POLICY}.pre-shared-key` },
    { name: 'two pre-shared key forms', text: () => variant('ascii-text: "lab-secret"', 'ascii-text: "lab-secret"\n              hexadecimal: "00"'), code: 'INVALID_VALUE', path: `${POLICY}.pre-shared-key` },
    {
      name: 'a duplicate peer address',
      text: () => variant('        options:', '          SubSrv02:\n            ike-policy: SubSrv\n            address: 127.0.1.2\n        options:'),
      code: 'DUPLICATE_ADDRESS',
      path: 'security.group-vpn.server.ike.gateway.SubSrv02.address',
      line: 45,
    },
    { name: 'a gateway on our own socket', text: () => variant('address: 127.0.1.2', 'address: 127.0.1.1'), code: 'DUPLICATE_ADDRESS', path: `${GATEWAY}.address` },
    { name: 'an invalid IP address', text: () => variant('address: 127.0.1.2', 'address: 127.0.1.256'), code: 'INVALID_ADDRESS', path: `${GATEWAY}.address` },
    { name: 'an invalid listen address', text: () => variant('address: 127.0.1.1', 'address: localhost'), code: 'INVALID_ADDRESS', path: 'system.listen.address' },
    { name: 'a missing gateway address', text: () => variant('            address: 127.0.1.2\n', ''), code: 'MISSING', path: `${GATEWAY}.address` },
    { name: 'both roles', text: () => `${rootText.replace(/\s+$/, '')}\n    member: {}\n`, code: 'ROLE', path: 'security.group-vpn' },
    { name: 'no role', text: () => variant('    server:\n', '    unused:\n'), code: 'UNKNOWN_KEY', path: 'security.group-vpn.unused' },
    { name: 'an unknown platform', text: () => variant('platform: vsrx', 'platform: srx9999'), code: 'UNKNOWN_PLATFORM', path: 'system.platform', line: 4 },
    { name: 'a path-like platform name', text: () => variant('platform: vsrx', 'platform: ../platforms/vsrx'), code: 'UNKNOWN_PLATFORM', path: 'system.platform' },
    { name: 'an MX as a server', text: () => variant('platform: vsrx', 'platform: mx'), code: 'ROLE_NOT_SUPPORTED', path: 'security.group-vpn.server' },
    { name: 'a DH reuse window above 60 s', text: () => variant('retransmit-tries: 5\n', 'retransmit-tries: 5\n          dh-reuse-seconds: 61\n'), code: 'OUT_OF_RANGE', path: 'security.group-vpn.server.ike.options.dh-reuse-seconds', line: 48 },
    { name: 'a negative DH reuse window', text: () => variant('retransmit-tries: 5\n', 'retransmit-tries: 5\n          dh-reuse-seconds: -1\n'), code: 'OUT_OF_RANGE', path: 'security.group-vpn.server.ike.options.dh-reuse-seconds' },
    { name: 'a non-integer DH reuse window', text: () => variant('retransmit-tries: 5\n', 'retransmit-tries: 5\n          dh-reuse-seconds: 1.5\n'), code: 'WRONG_TYPE', path: 'security.group-vpn.server.ike.options.dh-reuse-seconds' },
    { name: 'a duplicate YAML key', text: () => variant('  host-name: root\n', '  host-name: root\n  host-name: again\n'), code: 'YAML_SYNTAX', path: '', line: 4 },
    { name: 'an alias with no anchor', text: () => variant('    port: 848', '    port: *typo'), code: 'UNDEFINED_REFERENCE', path: 'system.listen.port', line: 7 },
    { name: 'an alias with no anchor in a list', text: () => variant('[PSK-SHA256-DH14-AES256,', '[*typo,'), code: 'UNDEFINED_REFERENCE', path: `${POLICY}.proposals[0]`, line: 29 },
    { name: 'an IPv6 peer of an IPv4 listen address', text: () => variant('address: 127.0.1.2', 'address: "fd00::2"'), code: 'INVALID_ADDRESS', path: `${GATEWAY}.address`, line: 35 },
    { name: 'a gateway on our own socket, IPv4-mapped', text: () => variant('address: 127.0.1.2', 'address: "::FFFF:127.0.1.1"'), code: 'DUPLICATE_ADDRESS', path: `${GATEWAY}.address` },
  ];
  for (const testCase of cases) {
    it(`rejects ${testCase.name} with ${testCase.code} at ${testCase.path || 'the document'}`, async () => {
      const error = await rejection(testCase.text());
      assert.equal(error.code, testCase.code, error.message);
      assert.equal(error.path, testCase.path, error.message);
      assert.equal(error.file, 'test.yaml');
      assert.ok(error.message.startsWith(`test.yaml: ${testCase.path || '(document)'}: `), error.message);
      if (testCase.says !== undefined) assert.match(error.message, testCase.says);
      if (testCase.line !== undefined) {
        assert.equal(error.line, testCase.line, error.message);
        assert.ok(error.message.endsWith(`(line ${testCase.line})`), error.message);
      }
    });
  }

  it('says an alias has no anchor without repeating its name, which may be a pre-shared key', async () => {
    const error = await rejection(variant('ascii-text: "lab-secret"', 'ascii-text: *Zq7-new-member-psk'));
    assert.equal(error.code, 'UNDEFINED_REFERENCE');
    assert.equal(error.path, `${POLICY}.pre-shared-key.ascii-text`);
    assert.equal(error.line, 31);
    assert.match(error.message, /alias .*has no anchor/);
    assert.doesNotMatch(error.message, /Zq7/);
  });

  // The yaml library's own messages quote the source (`Block scalar header includes extra characters: >KEY`).
  for (const psk of ['>Zq7-new-member-psk', '|Zq7-new-member-psk', '@Zq7-new-member-psk', '"Zq7-new\\q-member-psk"', "'Zq7-new-member-psk"]) {
    it(`never quotes the source in a YAML syntax error (ascii-text: ${psk})`, async () => {
      const error = await rejection(variant('ascii-text: "lab-secret"', `ascii-text: ${psk}`));
      assert.equal(error.code, 'YAML_SYNTAX', error.message);
      assert.equal(error.path, '');
      assert.equal(typeof error.line, 'number');
      assert.match(error.problem, /^invalid YAML \([A-Z_]+\) at column \d+$/);
      assert.doesNotMatch(error.message, /Zq7|member-psk/);
    });
  }

  it('stores addresses in one canonical form: IPv6 lowercase and compressed, IPv4-mapped as IPv4', async () => {
    const v6 = variant('address: 127.0.1.1\n    port: 848', 'address: "0:0::0"\n    port: 848').replace('address: 127.0.1.2', 'address: "FD00:0:0::2"');
    const { config } = await parseConfig(v6, 'test.yaml');
    assert.equal(config.system.listen.address, '::');
    assert.equal(config.ike.gateways[0]?.remote.address, 'fd00::2');
    const mapped = (await parseConfig(variant('address: 127.0.1.2', 'address: "::ffff:127.0.1.2"'), 'test.yaml')).config;
    assert.equal(mapped.ike.gateways[0]?.remote.address, '127.0.1.2');
  });

  it('rejects an IPv4 peer of an IPv6 listen address, which the IPv6 socket cannot send to', async () => {
    const error = await rejection(variant('address: 127.0.1.1\n    port: 848', 'address: "::"\n    port: 848'));
    assert.equal(error.code, 'INVALID_ADDRESS');
    assert.equal(error.path, `${GATEWAY}.address`);
    assert.match(error.message, /IPv4 peer cannot be reached from the IPv6 listen address ::/);
  });

  it('explains the MX refusal in terms of the platform', async () => {
    const error = await rejection(variant('platform: vsrx', 'platform: mx'));
    assert.match(error.message, /system\.platform mx \(MX\) cannot be a group VPN server; it supports: member/);
  });

  it('never quotes a malformed hexadecimal key in the error', async () => {
    const error = await rejection(variant('ascii-text: "lab-secret"', 'hexadecimal: "deadbeef0"'));
    assert.equal(error.code, 'INVALID_VALUE');
    assert.equal(error.path, `${POLICY}.pre-shared-key.hexadecimal`);
    assert.ok(!error.message.includes('deadbeef0'));
  });

  it('accepts legacy groups only with allow-legacy-groups, and warns', async () => {
    const text = variant('dh-group: group14', 'dh-group: group5').replace('allow-legacy-groups: false', 'allow-legacy-groups: true');
    const { config, warnings } = await parseConfig(text, 'test.yaml');
    assert.equal(config.ike.proposals[0]?.dhGroup, 5);
    assert.deepEqual(warnings, [
      `test.yaml: ${PROPOSAL}.dh-group: legacy Diffie-Hellman group5 accepted because options.allow-legacy-groups is true`,
    ]);
  });

  it('reads ike options dh-reuse-seconds (0..60, default 0)', async () => {
    const { config } = await parseConfig(variant('retransmit-tries: 5\n', 'retransmit-tries: 5\n          dh-reuse-seconds: 60\n'), 'test.yaml');
    assert.equal(config.ike.options.dhReuseSeconds, 60);
    assert.equal((await parseConfig(rootText, 'test.yaml')).config.ike.options.dhReuseSeconds, 0);
  });

  it('warns when the IKE key log is switched on', async () => {
    const text = variant('  log-level: info\n', '  log-level: debug\n  debug:\n    ike-key-log: keys.txt\n');
    const { config, warnings } = await parseConfig(text, '/etc/gvpn/root.yaml');
    assert.equal(config.system.logLevel, 'debug');
    assert.equal(config.system.debug.ikeKeyLog, '/etc/gvpn/keys.txt');
    assert.deepEqual(warnings, ['/etc/gvpn/root.yaml: system.debug.ike-key-log: phase-1 keys will be written to a file; for testing only']);
  });

  it('lets an MX be a member', async () => {
    const { config } = await loadConfig(`${fixtures}member.yaml`);
    assert.equal(config.system.platform.name, 'mx');
    assert.deepEqual(config.system.platform.roles, ['member']);
  });
});

describe('system.state-key-file', () => {
  it('is resolved from the configuration file\'s directory, null when absent', async () => {
    const text = await readFile(fileURLToPath(new URL('../../../../configs/examples/member-srx.yaml', import.meta.url)), 'utf8');
    const plain = await parseConfig(text, '/etc/gvpn/member.yaml');
    assert.equal(plain.config.system.stateKeyFile, null);
    const keyed = await parseConfig(text.replace(/^(\s*)state-directory:(.*)$/m, '$1state-directory:$2\n$1state-key-file: keys/state.key'), '/etc/gvpn/member.yaml');
    assert.equal(keyed.config.system.stateKeyFile, '/etc/gvpn/keys/state.key');
  });
});

describe('YAML anchors and aliases', () => {
  it('a value may repeat an anchored node (one DPD setting for every cluster gateway)', async () => {
    const text = (await readFile(fileURLToPath(new URL('../../../../configs/examples/root-server.yaml', import.meta.url)), 'utf8'))
      .replace(/dead-peer-detection: \{ always-send: true, interval: 10, threshold: 5 \}/, 'dead-peer-detection: &dpd { always-send: true, interval: 10, threshold: 5 }')
      .replace(/(SubSrv02:[\s\S]*?)dead-peer-detection: \{ always-send: true, interval: 10, threshold: 5 \}/, '$1dead-peer-detection: *dpd');
    assert.match(text, /\*dpd/);
    const { config } = await parseConfig(text, '/etc/gvpn/root.yaml');
    const gw = config.ike.gateways.find((g) => g.name === 'SubSrv02');
    assert.deepEqual([gw?.dpd.alwaysSend, gw?.dpd.intervalSeconds, gw?.dpd.threshold], [true, 10, 5]);
  });
});
