// Debian's charon initiates Main Mode (`swanctl --initiate`) towards our daemon as the responder, once
// per proposal suite. Our daemon listens on UDP 500 here (charon only speaks plain ISAKMP from and to 500).
// Proof from both sides: swanctl returns success, charon's log and --list-sas show the SA ESTABLISHED with
// our cookies and the suite, our control socket shows the UP responder SA; tshark finds no malformed frame,
// reads the transform we chose, and with our key log decrypts messages 5/6.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Capture, Charon, Cleanup, IKE_NUMBERS, INTEROP_SUITES, ISAKMP_FIELDS, OurDaemon, encrypted, fields, interopStage,
  malformedGate, pidAlive, readIkeKeyLog, runCommand, values, type InteropStage, type IsakmpRow,
} from '../src/index.js';

const PSK = 'interop-responder-psk';
const HASH_ATTR: Record<string, string> = { sha1: '2', sha256: '4' };
const HASH_HEX_LENGTH: Record<string, number> = { sha1: 40, sha256: 64 };

const cleanup = new Cleanup();
let stage: InteropStage;
const pids: number[] = [];

before(async () => {
  stage = await interopStage(cleanup, 'interop-resp');
});
after(() => cleanup.run());

for (const suite of INTEROP_SUITES) {
  test(`charon initiator, our responder: ${suite.strongswan}`, async () => {
    const { link, ours, theirs } = stage;
    const dir = join(stage.workDir, suite.strongswan);
    await mkdir(dir);
    const capture = await Capture.start({ namespace: ours, iface: link.a.ifname, pcapFile: join(dir, 'ike.pcap'), logDir: dir });
    const daemon = await OurDaemon.start({
      name: 'ours', workDir: dir, namespace: ours,
      listen: { address: link.a.address, port: 500 },
      proposals: [suite.ours], psk: PSK, allowLegacyGroups: suite.legacy, keyLog: true,
      gateways: [{ name: 'charon', address: link.b.address, port: 500 }],
    });
    const charon = await Charon.start(theirs, {
      workDir: join(dir, 'charon'),
      connections: [{ name: 'gw', localAddress: link.b.address, remoteAddress: link.a.address, proposals: [suite.strongswan], psk: PSK }],
    });
    pids.push(capture.child.pid, daemon.pid, charon.pid);
    try {
      // swanctl --initiate exits non-zero unless the IKE SA came up.
      const initiated = await charon.initiate('gw');
      assert.match(initiated, /initiate completed successfully/);
      await charon.waitForLog(new RegExp(`IKE_SA gw\\[\\d+\\] established between ${link.b.address}\\[${link.b.address}\\]\\.\\.\\.${link.a.address}\\[${link.a.address}\\]`), 5000);
      const sa = await daemon.waitForUpSa(5000);
      assert.equal(sa.role, 'responder');
      assert.equal(sa.gateway, 'charon');
      assert.deepEqual({ encryption: sa.encryption, hash: sa.hash, dhGroup: sa.dhGroup }, suite.expected);
      assert.deepEqual(sa.remote, { address: link.b.address, port: 500 });

      const listed = await charon.listSas();
      assert.match(listed, /gw: #\d+, ESTABLISHED, IKEv1/);
      assert.match(listed, suite.charonSuite, listed);
      // charon is the initiator: its own SPI carries the `*`.
      assert.ok(listed.includes(`${sa.icookie}_i* ${sa.rcookie}_r`), `charon lists cookies ${sa.icookie}/${sa.rcookie}:\n${listed}`);

      await capture.waitForFrames(`isakmp.exchangetype == 2 && isakmp.ispi == ${sa.icookie}`, 6, 5000);
      await capture.stop();

      const keyTable = await readIkeKeyLog(daemon.keyLogFile ?? '');
      assert.deepEqual(keyTable.map((k) => k.icookie), [sa.icookie], 'our key log has this SA');
      assert.deepEqual(await malformedGate(capture.pcapFile, { keyTable }), []);
      const rows = (await fields(capture.pcapFile, ISAKMP_FIELDS, { keyTable })) as IsakmpRow[];
      const mainMode = rows.filter((r) => r['isakmp.ispi'] === sa.icookie && r['isakmp.exchangetype'] === IKE_NUMBERS.exchange.identityProtection);
      const fromUs = mainMode.filter((r) => r['ip.src'] === link.a.address);
      const fromCharon = mainMode.filter((r) => r['ip.src'] === link.b.address);
      assert.ok(fromUs.length >= 3, 'messages 2, 4, 6 from us');
      assert.ok(fromUs.every((r) => r['udp.srcport'] === '500' && r['udp.dstport'] === '500'));

      const m2 = fromUs.find((r) => r['isakmp.sa.doi'] !== '');
      const m4 = fromUs.find((r) => values(r['isakmp.typepayload']).includes(IKE_NUMBERS.payload.ke));
      const m6 = fromUs.find(encrypted);
      assert.ok(m2 !== undefined && m4 !== undefined && m6 !== undefined, 'messages 2, 4, 6 from us');
      // Message 2: exactly one transform, the suite, in charon's DOI (1).
      assert.equal(m2['isakmp.sa.doi'], '1');
      assert.equal(m2['isakmp.ike.attr.encryption_algorithm'], '7');
      assert.equal(m2['isakmp.ike.attr.key_length'], suite.expected.encryption.slice(4, 7));
      assert.equal(m2['isakmp.ike.attr.hash_algorithm'], HASH_ATTR[suite.expected.hash]);
      assert.equal(m2['isakmp.ike.attr.authentication_method'], '1');
      assert.equal(m2['isakmp.ike.attr.group_description'], String(suite.expected.dhGroup));
      assert.equal(m2['isakmp.typepayload'].split(',').filter((t) => t === '3').length, 1, 'one transform chosen');
      assert.deepEqual(m4['isakmp.typepayload'].split(',').filter((t) => t !== IKE_NUMBERS.payload.vendorId), [IKE_NUMBERS.payload.ke, IKE_NUMBERS.payload.nonce]);
      // Message 6 decrypted with our key log: our ID and HASH_R.
      assert.ok(encrypted(m6));
      assert.equal(m6['isakmp.id.type'], IKE_NUMBERS.idType.ipv4Address);
      assert.equal(m6['isakmp.id.data.ipv4_addr'], link.a.address);
      assert.equal(m6['isakmp.hash'].length, HASH_HEX_LENGTH[suite.expected.hash]);
      // Message 5 from charon decrypts with the same key.
      const m5 = fromCharon.find(encrypted);
      assert.ok(m5 !== undefined, 'message 5 from charon');
      assert.equal(m5['isakmp.id.data.ipv4_addr'], link.b.address);
      assert.equal(m5['isakmp.hash'].length, HASH_HEX_LENGTH[suite.expected.hash]);

      const counters = await daemon.statistics();
      assert.equal(counters['saEstablished'], 1);
      assert.equal(counters['authFailed'], 0);
      assert.equal(counters['malformedDropped'], 0);
    } finally {
      await charon.stop();
      await daemon.stop();
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
