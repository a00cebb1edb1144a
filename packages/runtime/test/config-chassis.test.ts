// The root pair's `chassis-cluster` section (issue 5; spec R-TOPO-3): parsing, defaults, and every refusal
// naming the file, the path in it and the line.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { ConfigError, DEFAULT_CONTROL_LINK_PORT, parseConfig, type ConfigErrorCode, type LoadConfigOptions } from '../src/index.js';

const fixtures = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const rootText = await readFile(`${fixtures}cluster-root.yaml`, 'utf8');
const subText = await readFile(`${fixtures}cluster-sub.yaml`, 'utf8');
const standaloneText = await readFile(`${fixtures}root-server.yaml`, 'utf8');
const memberText = await readFile(`${fixtures}member.yaml`, 'utf8');
const CC = 'chassis-cluster';
const LINK = `${CC}.control-link`;
const RG0 = `${CC}.redundancy-group-0`;
const PSK = 'control-link-secret';

/** Only the required keys; the root fixture listens on 127.0.1.1. */
const MINIMAL = [
  'chassis-cluster:',
  '  node: 0',
  '  control-link:',
  '    local-address: 127.0.3.2',
  '    peer-address: 127.0.3.3',
  `    pre-shared-key: { ascii-text: "${PSK}" }`,
  '',
].join('\n');

/** Every key set, none to its default. */
const FULL = [
  'chassis-cluster:',
  '  node: 1',
  '  control-link:',
  '    local-address: 127.0.3.3',
  '    peer-address: 127.0.3.2',
  '    port: 1849',
  '    pre-shared-key:',
  '      hexadecimal: "00ff10ab"',
  '  heartbeat-interval: 100',
  '  heartbeat-threshold: 8',
  '  redundancy-group-0:',
  '    node0-priority: 50',
  '    node1-priority: 150',
  '',
].join('\n');

/** `base` with `section` appended as a top-level key. */
function withSection(base: string, section: string): string {
  return `${base.replace(/\s+$/, '')}\n${section}`;
}

/** `base` with each [from, to] applied once; fails loudly if a `from` is not in it. */
function edit(base: string, ...changes: Array<[string, string]>): string {
  let text = base;
  for (const [from, to] of changes) {
    assert.ok(text.includes(from), `text lacks ${JSON.stringify(from)}`);
    text = text.replace(from, to);
  }
  return text;
}

/** The root fixture with the minimal section edited by `changes`. */
function rootWith(...changes: Array<[string, string]>): string {
  return withSection(rootText, edit(MINIMAL, ...changes));
}

/** 1-based line of the last occurrence of `needle` (the section is appended, so it comes last). */
function lineOf(text: string, needle: string): number {
  const at = text.lastIndexOf(needle);
  assert.ok(at >= 0, `text lacks ${JSON.stringify(needle)}`);
  return text.slice(0, at).split('\n').length;
}

async function rejection(text: string, options: LoadConfigOptions = {}): Promise<ConfigError> {
  const error = await parseConfig(text, 'test.yaml', options).then(
    () => assert.fail('accepted an invalid configuration'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
  return error;
}

describe('chassis-cluster: the typed result', () => {
  it('reads the minimal section with every default applied', async () => {
    const { config, warnings } = await parseConfig(withSection(rootText, MINIMAL), 'test.yaml');
    assert.deepEqual(warnings, []);
    assert.equal(config.role, 'server');
    assert.equal(config.server?.clusterRole, 'root-server');
    const chassis = config.chassisCluster;
    assert.ok(chassis !== null);
    assert.equal(chassis.node, 0);
    assert.equal(chassis.controlLink.localAddress, '127.0.3.2');
    assert.equal(chassis.controlLink.peerAddress, '127.0.3.3');
    assert.equal(chassis.controlLink.port, DEFAULT_CONTROL_LINK_PORT);
    assert.equal(DEFAULT_CONTROL_LINK_PORT, 849);
    assert.deepEqual(chassis.controlLink.preSharedKey.reveal(), new TextEncoder().encode(PSK));
    assert.equal(chassis.heartbeatIntervalMs, 250);
    assert.equal(chassis.heartbeatThreshold, 4);
    assert.deepEqual(chassis.priorities, [200, 100]);
    // The shared address stays system.listen: what sub-servers and members use.
    assert.deepEqual(config.system.listen, { address: '127.0.1.1', port: 848 });
  });

  it('reads the full section, hexadecimal key included', async () => {
    const { config } = await parseConfig(withSection(rootText, FULL), 'test.yaml');
    const chassis = config.chassisCluster;
    assert.ok(chassis !== null);
    assert.equal(chassis.node, 1);
    assert.equal(chassis.controlLink.localAddress, '127.0.3.3');
    assert.equal(chassis.controlLink.peerAddress, '127.0.3.2');
    assert.equal(chassis.controlLink.port, 1849);
    assert.deepEqual(chassis.controlLink.preSharedKey.reveal(), Uint8Array.of(0x00, 0xff, 0x10, 0xab));
    assert.equal(chassis.heartbeatIntervalMs, 100);
    assert.equal(chassis.heartbeatThreshold, 8);
    assert.deepEqual(chassis.priorities, [50, 150]);
  });

  it('accepts each range at both ends', async () => {
    for (const [from, to] of [
      ['heartbeat-interval: 100', 'heartbeat-interval: 2000'],
      ['heartbeat-threshold: 8', 'heartbeat-threshold: 3'],
      ['node0-priority: 50', 'node0-priority: 1'],
      ['node1-priority: 150', 'node1-priority: 254'],
      ['port: 1849', 'port: 1'],
      ['port: 1849', 'port: 65535'],
    ] as const) {
      await parseConfig(withSection(rootText, edit(FULL, [from, to])), 'test.yaml');
    }
  });

  it('is null on every configuration without the section: root, sub-server, standalone, member', async () => {
    for (const text of [rootText, subText, standaloneText, memberText]) {
      const { config } = await parseConfig(text, 'test.yaml');
      assert.equal(config.chassisCluster, null);
    }
  });

  it('treats an empty chassis-cluster key as absent', async () => {
    const { config } = await parseConfig(withSection(rootText, 'chassis-cluster:\n'), 'test.yaml');
    assert.equal(config.chassisCluster, null);
  });

  it('never lets the control-link key into JSON or inspect output', async () => {
    const { config } = await parseConfig(withSection(rootText, MINIMAL), 'test.yaml');
    const json = JSON.stringify(config);
    assert.ok(!json.includes(PSK));
    assert.ok(json.includes('"chassisCluster":{'));
    assert.ok(json.includes('"preSharedKey":"[secret]"'));
    assert.ok(!inspect(config, { depth: 20 }).includes(PSK));
    const hex = (await parseConfig(withSection(rootText, FULL), 'test.yaml')).config;
    assert.ok(!JSON.stringify(hex).includes('00ff10ab'));
    assert.ok(!inspect(hex, { depth: 20 }).includes('00ff10ab'));
  });

  it('never quotes a malformed hexadecimal control-link key in the error', async () => {
    const error = await rejection(rootWith([`ascii-text: "${PSK}"`, 'hexadecimal: "deadbeef0"']));
    assert.equal(error.code, 'INVALID_VALUE');
    assert.equal(error.path, `${LINK}.pre-shared-key.hexadecimal`);
    assert.ok(!error.message.includes('deadbeef0'), error.message);
  });
});

describe('chassis-cluster: refusals name the file, the path and the line', () => {
  const cases: Array<{
    name: string;
    text: () => string;
    options?: LoadConfigOptions;
    code: ConfigErrorCode;
    path: string;
    /** The text on the line the error must point at. */
    at: string;
    says?: RegExp;
  }> = [
    // Where the section may appear (R-TOPO-3)
    {
      name: 'the section on a standalone server',
      text: () => withSection(standaloneText, MINIMAL),
      code: 'ROLE', path: CC, at: '  node: 0', says: /only a root server runs as a pair, and this server is standalone.*R-TOPO-3/,
    },
    {
      name: 'the section on a sub-server (R-TOPO-3)',
      text: () => withSection(subText, edit(MINIMAL, ['127.0.3.2', '127.0.2.2'], ['127.0.3.3', '127.0.2.3'])),
      code: 'ROLE', path: CC, at: '  node: 0', says: /sub-servers are single devices that cannot be a pair \(R-TOPO-3\)/,
    },
    {
      name: 'the section on a member',
      text: () => withSection(memberText, MINIMAL),
      code: 'ROLE', path: CC, at: '  node: 0', says: /a group member cannot be a chassis cluster node/,
    },
    {
      name: 'the section on a platform whose profile has chassis-cluster-root: false',
      text: () => withSection(edit(rootText, ['platform: vsrx', 'platform: root-no-pair']), MINIMAL),
      options: { profilesDirectory: `${fixtures}platforms` },
      code: 'ROLE_NOT_SUPPORTED', path: CC, at: '  node: 0', says: /system\.platform root-no-pair \(RootNoPair\) cannot run a root server as a chassis cluster/,
    },
    // node
    { name: 'node 2', text: () => rootWith(['node: 0', 'node: 2']), code: 'OUT_OF_RANGE', path: `${CC}.node`, at: 'node: 2', says: /2 is out of range 0\.\.1/ },
    { name: 'node -1', text: () => rootWith(['node: 0', 'node: -1']), code: 'OUT_OF_RANGE', path: `${CC}.node`, at: 'node: -1' },
    { name: 'a missing node', text: () => rootWith(['  node: 0\n', '']), code: 'MISSING', path: `${CC}.node`, at: '  control-link:' },
    { name: 'an unknown key', text: () => rootWith(['  node: 0\n', '  node: 0\n  rg1: {}\n']), code: 'UNKNOWN_KEY', path: `${CC}.rg1`, at: 'rg1: {}' },
    // control-link
    {
      name: 'a missing control-link',
      text: () => withSection(rootText, 'chassis-cluster:\n  node: 0\n'),
      code: 'MISSING', path: LINK, at: '  node: 0',
    },
    {
      name: 'the same local and peer address',
      text: () => rootWith(['peer-address: 127.0.3.3', 'peer-address: 127.0.3.2']),
      code: 'DUPLICATE_ADDRESS', path: `${LINK}.peer-address`, at: 'peer-address: 127.0.3.2', says: /is local-address too/,
    },
    {
      name: 'a local address equal to system.listen.address',
      text: () => rootWith(['local-address: 127.0.3.2', 'local-address: 127.0.1.1']),
      code: 'DUPLICATE_ADDRESS', path: `${LINK}.local-address`, at: 'local-address: 127.0.1.1', says: /is system\.listen\.address, the shared cluster address/,
    },
    {
      name: 'a peer address equal to system.listen.address',
      text: () => rootWith(['peer-address: 127.0.3.3', 'peer-address: 127.0.1.1']),
      code: 'DUPLICATE_ADDRESS', path: `${LINK}.peer-address`, at: 'peer-address: 127.0.1.1', says: /is system\.listen\.address/,
    },
    { name: 'a missing local address', text: () => rootWith(['    local-address: 127.0.3.2\n', '']), code: 'MISSING', path: `${LINK}.local-address`, at: 'peer-address: 127.0.3.3' },
    { name: 'a missing peer address', text: () => rootWith(['    peer-address: 127.0.3.3\n', '']), code: 'MISSING', path: `${LINK}.peer-address`, at: 'local-address: 127.0.3.2' },
    { name: 'an IPv6 control address', text: () => rootWith(['peer-address: 127.0.3.3', 'peer-address: "::1"']), code: 'INVALID_ADDRESS', path: `${LINK}.peer-address`, at: 'peer-address: "::1"', says: /not an IPv4 address/ },
    { name: 'a name as control address', text: () => rootWith(['local-address: 127.0.3.2', 'local-address: node0']), code: 'INVALID_ADDRESS', path: `${LINK}.local-address`, at: 'local-address: node0' },
    { name: 'port 0', text: () => rootWith(['    pre-shared-key', '    port: 0\n    pre-shared-key']), code: 'OUT_OF_RANGE', path: `${LINK}.port`, at: 'port: 0' },
    { name: 'port 65536', text: () => rootWith(['    pre-shared-key', '    port: 65536\n    pre-shared-key']), code: 'OUT_OF_RANGE', path: `${LINK}.port`, at: 'port: 65536' },
    {
      name: 'a missing pre-shared key',
      text: () => rootWith([`    pre-shared-key: { ascii-text: "${PSK}" }\n`, '']),
      code: 'MISSING', path: `${LINK}.pre-shared-key`, at: 'local-address: 127.0.3.2', says: /required \(ascii-text or hexadecimal\)/,
    },
    {
      name: 'an empty pre-shared key map',
      text: () => rootWith([`{ ascii-text: "${PSK}" }`, '{}']),
      code: 'MISSING', path: `${LINK}.pre-shared-key`, at: 'pre-shared-key: {}',
    },
    {
      name: 'two pre-shared key forms',
      text: () => rootWith([`ascii-text: "${PSK}"`, `ascii-text: "${PSK}", hexadecimal: "00"`]),
      code: 'INVALID_VALUE', path: `${LINK}.pre-shared-key`, at: 'pre-shared-key:',
    },
    // heartbeats
    { name: 'a heartbeat interval of 99 ms', text: () => withSection(rootText, edit(FULL, ['heartbeat-interval: 100', 'heartbeat-interval: 99'])), code: 'OUT_OF_RANGE', path: `${CC}.heartbeat-interval`, at: 'heartbeat-interval: 99', says: /99 is out of range 100\.\.2000/ },
    { name: 'a heartbeat interval of 2001 ms', text: () => withSection(rootText, edit(FULL, ['heartbeat-interval: 100', 'heartbeat-interval: 2001'])), code: 'OUT_OF_RANGE', path: `${CC}.heartbeat-interval`, at: 'heartbeat-interval: 2001' },
    { name: 'a heartbeat threshold of 2', text: () => withSection(rootText, edit(FULL, ['heartbeat-threshold: 8', 'heartbeat-threshold: 2'])), code: 'OUT_OF_RANGE', path: `${CC}.heartbeat-threshold`, at: 'heartbeat-threshold: 2', says: /2 is out of range 3\.\.8/ },
    { name: 'a heartbeat threshold of 9', text: () => withSection(rootText, edit(FULL, ['heartbeat-threshold: 8', 'heartbeat-threshold: 9'])), code: 'OUT_OF_RANGE', path: `${CC}.heartbeat-threshold`, at: 'heartbeat-threshold: 9' },
    { name: 'a heartbeat interval in quotes', text: () => withSection(rootText, edit(FULL, ['heartbeat-interval: 100', 'heartbeat-interval: "100"'])), code: 'WRONG_TYPE', path: `${CC}.heartbeat-interval`, at: 'heartbeat-interval: "100"' },
    // redundancy-group-0
    {
      name: 'equal priorities',
      text: () => withSection(rootText, edit(FULL, ['node1-priority: 150', 'node1-priority: 50'])),
      code: 'INVALID_VALUE', path: `${RG0}.node1-priority`, at: 'node1-priority: 50', says: /equals node0-priority \(50\); the two priorities must differ/,
    },
    {
      name: 'a node1 priority equal to the node0 default',
      text: () => rootWith(['  node: 0\n', '  node: 0\n  redundancy-group-0: { node1-priority: 200 }\n']),
      code: 'INVALID_VALUE', path: `${RG0}.node1-priority`, at: 'node1-priority: 200',
    },
    {
      name: 'a node0 priority equal to the node1 default',
      text: () => rootWith(['  node: 0\n', '  node: 0\n  redundancy-group-0:\n    node0-priority: 100\n']),
      code: 'INVALID_VALUE', path: `${RG0}.node0-priority`, at: 'node0-priority: 100', says: /equals node1-priority \(100\)/,
    },
    { name: 'a priority of 0', text: () => withSection(rootText, edit(FULL, ['node0-priority: 50', 'node0-priority: 0'])), code: 'OUT_OF_RANGE', path: `${RG0}.node0-priority`, at: 'node0-priority: 0' },
    { name: 'a priority of 255', text: () => withSection(rootText, edit(FULL, ['node1-priority: 150', 'node1-priority: 255'])), code: 'OUT_OF_RANGE', path: `${RG0}.node1-priority`, at: 'node1-priority: 255' },
  ];
  for (const testCase of cases) {
    it(`rejects ${testCase.name} with ${testCase.code} at ${testCase.path}`, async () => {
      const text = testCase.text();
      const error = await rejection(text, testCase.options);
      assert.equal(error.code, testCase.code, error.message);
      assert.equal(error.path, testCase.path, error.message);
      assert.equal(error.file, 'test.yaml');
      assert.ok(error.message.startsWith(`test.yaml: ${testCase.path}: `), error.message);
      const line = lineOf(text, testCase.at);
      assert.equal(error.line, line, error.message);
      assert.ok(error.message.endsWith(`(line ${line})`), error.message);
      if (testCase.says !== undefined) assert.match(error.message, testCase.says);
      assert.ok(!error.message.includes(PSK), 'the message quotes the key');
    });
  }
});
