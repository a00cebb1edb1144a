// Our daemon initiates Main Mode (gateway `initiate: true`, `port: 500`) towards Debian's charon as the
// responder, once per proposal suite. Proof from both sides: charon's log and `swanctl --list-sas` show
// the IKE SA ESTABLISHED with the same cookies and suite as our control socket's UP SA; tshark finds no
// malformed frame, reads the transform we offered, and with our key log decrypts messages 5/6.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Capture, Charon, Cleanup, IKE_NUMBERS, INTEROP_SUITES, ISAKMP_FIELDS, OurDaemon, encrypted, fields, interopStage,
  malformedGate, pidAlive, readIkeKeyLog, runCommand, values, type InteropStage, type IsakmpRow,
} from '../src/index.js';

const PSK = 'interop-initiator-psk';
/** RFC 2409 Appendix A: AES-CBC = 7; SHA = 2, SHA2-256 = 4; pre-shared key = 1 */
const HASH_ATTR: Record<string, string> = { sha1: '2', sha256: '4' };
const HASH_HEX_LENGTH: Record<string, number> = { sha1: 40, sha256: 64 };

const cleanup = new Cleanup();
let stage: InteropStage;
const pids: number[] = [];

before(async () => {
  stage = await interopStage(cleanup, 'interop-init');
});
after(() => cleanup.run());

for (const suite of INTEROP_SUITES) {
  test(`our initiator, charon responder: ${suite.strongswan}`, async () => {
    const { link, ours, theirs } = stage;
    const dir = join(stage.workDir, suite.strongswan);
    await mkdir(dir);
    const capture = await Capture.start({ namespace: ours, iface: link.a.ifname, pcapFile: join(dir, 'ike.pcap'), logDir: dir });
    const charon = await Charon.start(theirs, {
      workDir: join(dir, 'charon'),
      connections: [{ name: 'gw', localAddress: link.b.address, remoteAddress: link.a.address, proposals: [suite.strongswan], psk: PSK }],
    });
    const daemon = await OurDaemon.start({
      name: 'ours', workDir: dir, namespace: ours,
      listen: { address: link.a.address, port: 848 },
      proposals: [suite.ours], psk: PSK, allowLegacyGroups: suite.legacy, keyLog: true,
      gateways: [{ name: 'charon', address: link.b.address, port: 500, initiate: true, phase1Doi: 'ipsec' }],
    });
    pids.push(capture.child.pid, daemon.pid, charon.pid);
    try {
      await charon.waitForLog(new RegExp(`IKE_SA gw\\[\\d+\\] established between ${link.b.address}\\[${link.b.address}\\]\\.\\.\\.${link.a.address}\\[${link.a.address}\\]`), 10_000);
      const sa = await daemon.waitForUpSa(5000);
      assert.equal(sa.role, 'initiator');
      assert.equal(sa.gateway, 'charon');
      assert.deepEqual({ encryption: sa.encryption, hash: sa.hash, dhGroup: sa.dhGroup }, suite.expected);
      assert.deepEqual(sa.remote, { address: link.b.address, port: 500 });
      assert.deepEqual(sa.local, { address: link.a.address, port: 848 });
      // The same through the `gvpn` CLI, as an operator would look.
      const shown = (await daemon.cli(['show', 'security', 'group-vpn', 'server', 'ike', 'security-associations'])) as { sas: typeof sa[] };
      assert.deepEqual(shown.sas.map((s) => [s.state, s.icookie, s.encryption, s.hash, s.dhGroup]),
        [['UP', sa.icookie, suite.expected.encryption, suite.expected.hash, suite.expected.dhGroup]]);

      const listed = await charon.listSas();
      assert.match(listed, /gw: #\d+, ESTABLISHED, IKEv1/);
      assert.match(listed, suite.charonSuite, listed);
      // charon's SPIs are our cookies: the same SA, seen from both sides.
      assert.ok(listed.includes(`${sa.icookie}_i ${sa.rcookie}_r*`), `charon lists cookies ${sa.icookie}/${sa.rcookie}:\n${listed}`);

      await capture.waitForFrames(`isakmp.exchangetype == 2 && isakmp.ispi == ${sa.icookie}`, 6, 5000);
      await capture.stop();

      const keyTable = await readIkeKeyLog(daemon.keyLogFile ?? '');
      assert.deepEqual(keyTable.map((k) => k.icookie), [sa.icookie], 'our key log has this SA');
      assert.deepEqual(await malformedGate(capture.pcapFile, { keyTable }), []);
      const rows = (await fields(capture.pcapFile, ISAKMP_FIELDS, { keyTable })) as IsakmpRow[];
      const mainMode = rows.filter((r) => r['isakmp.ispi'] === sa.icookie && r['isakmp.exchangetype'] === IKE_NUMBERS.exchange.identityProtection);
      const fromUs = mainMode.filter((r) => r['ip.src'] === link.a.address);
      const fromCharon = mainMode.filter((r) => r['ip.src'] === link.b.address);
      assert.ok(fromUs.every((r) => r['udp.srcport'] === '848' && r['udp.dstport'] === '500'), 'we send from 848 to charon on 500');

      const m1 = fromUs.find((r) => r['isakmp.sa.doi'] !== '');
      const m3 = fromUs.find((r) => values(r['isakmp.typepayload']).includes(IKE_NUMBERS.payload.ke));
      const m5 = fromUs.find(encrypted);
      assert.ok(m1 !== undefined && m3 !== undefined && m5 !== undefined, 'messages 1, 3, 5 from us');
      assert.equal(m1['isakmp.sa.doi'], '1', 'phase1-doi: ipsec');
      assert.equal(m1['isakmp.ike.attr.encryption_algorithm'], '7');
      assert.equal(m1['isakmp.ike.attr.key_length'], suite.expected.encryption.slice(4, 7));
      assert.equal(m1['isakmp.ike.attr.hash_algorithm'], HASH_ATTR[suite.expected.hash]);
      assert.equal(m1['isakmp.ike.attr.authentication_method'], '1');
      assert.equal(m1['isakmp.ike.attr.group_description'], String(suite.expected.dhGroup));
      assert.ok(values(m3['isakmp.typepayload']).includes(IKE_NUMBERS.payload.ke), 'message 3 carries KE');
      assert.ok(values(m3['isakmp.typepayload']).includes(IKE_NUMBERS.payload.nonce), 'message 3 carries NONCE');
      // Message 5, decrypted with our key log: our ID and HASH_I.
      assert.ok(encrypted(m5));
      assert.equal(m5['isakmp.id.type'], IKE_NUMBERS.idType.ipv4Address);
      assert.equal(m5['isakmp.id.data.ipv4_addr'], link.a.address);
      assert.equal(m5['isakmp.hash'].length, HASH_HEX_LENGTH[suite.expected.hash]);
      // Message 6 from charon, decrypted with the same key: its ID and HASH_R.
      const m6 = fromCharon.find(encrypted);
      assert.ok(m6 !== undefined, 'message 6 from charon');
      assert.equal(m6['isakmp.id.data.ipv4_addr'], link.b.address);
      assert.equal(m6['isakmp.hash'].length, HASH_HEX_LENGTH[suite.expected.hash]);

      const counters = await daemon.statistics();
      assert.equal(counters['saEstablished'], 1);
      assert.equal(counters['authFailed'], 0);
      assert.equal(counters['malformedDropped'], 0);
    } finally {
      await daemon.stop();
      await charon.stop();
    }
  });
}

test('cleanup leaves no namespace or process behind', async () => {
  const names = [stage.ours.name, stage.theirs.name];
  await cleanup.run();
  const { stdout } = await runCommand('ip', ['netns', 'list']);
  for (const name of names) assert.ok(!stdout.includes(name), `${name} deleted`);
  for (const pid of pids) assert.ok(!pidAlive(pid), `pid ${pid} stopped`);
});
