// Debian's charon initiates Main Mode (`swanctl --initiate`) towards our daemon as the responder, once
// per proposal suite. Our daemon listens on UDP 500 here (charon only speaks plain ISAKMP from and to 500).
// Proof from both sides: swanctl returns success, charon's log and --list-sas show the SA ESTABLISHED with
// our cookies and the suite, our control socket shows the UP responder SA; tshark finds no malformed frame,
// reads the transform we chose, and with our key log decrypts messages 5/6.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Cleanup, IKE_NUMBERS, INTEROP_SUITES, Stage, assertDecryptedIdentity, assertOneCleanSa, assertSuiteTransform, encrypted,
  mainModeFrames, values,
} from '../src/index.js';

const PSK = 'interop-responder-psk';

const cleanup = new Cleanup();
let stage: Stage;
before(async () => {
  stage = await Stage.create(cleanup, 'interop-resp');
});
after(() => cleanup.run());

for (const suite of INTEROP_SUITES) {
  test(`charon initiator, our responder: ${suite.strongswan}`, async () => {
    const { link } = stage;
    const scenario = await stage.scenario(suite.strongswan);
    try {
      const daemon = await scenario.ourDaemon({
        listenPort: 500, proposals: [suite.ours], psk: PSK, allowLegacyGroups: suite.legacy, keyLog: true,
      });
      const charon = await scenario.charon({ proposals: [suite.strongswan], psk: PSK });
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

      const { fromUs, fromCharon } = await mainModeFrames(scenario, daemon, sa);
      assert.ok(fromUs.length >= 3, 'messages 2, 4, 6 from us');
      assert.ok(fromUs.every((r) => r['udp.srcport'] === '500' && r['udp.dstport'] === '500'));
      const m2 = fromUs.find((r) => r['isakmp.sa.doi'] !== '');
      const m4 = fromUs.find((r) => values(r['isakmp.typepayload']).includes(IKE_NUMBERS.payload.ke));
      const m6 = fromUs.find(encrypted);
      assert.ok(m2 !== undefined && m4 !== undefined && m6 !== undefined, 'messages 2, 4, 6 from us');
      // Message 2: exactly one transform, the suite, in charon's DOI (1).
      assertSuiteTransform(m2, suite, 'message 2');
      assert.deepEqual(values(m4['isakmp.typepayload']).filter((t) => t !== IKE_NUMBERS.payload.vendorId), [IKE_NUMBERS.payload.ke, IKE_NUMBERS.payload.nonce]);
      // Message 6 decrypted with our key log: our ID and HASH_R; message 5 from charon with the same key.
      assertDecryptedIdentity(m6, link.a.address, suite, 'message 6 from us');
      assertDecryptedIdentity(fromCharon.find(encrypted), link.b.address, suite, 'message 5 from charon');

      assertOneCleanSa(await daemon.statistics());
    } finally {
      await scenario.end();
    }
  });
}

test('cleanup leaves no namespace or process behind', () => stage.assertCleanupLeftNothing());
