// Our daemon initiates Main Mode (gateway `initiate: true`, `port: 500`) towards Debian's charon as the
// responder, once per proposal suite. Proof from both sides: charon's log and `swanctl --list-sas` show
// the IKE SA ESTABLISHED with the same cookies and suite as our control socket's UP SA; tshark finds no
// malformed frame, reads the transform we offered, and with our key log decrypts messages 5/6.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Cleanup, IKE_NUMBERS, INTEROP_SUITES, Stage, assertDecryptedIdentity, assertOneCleanSa, assertSuiteTransform, encrypted,
  mainModeFrames, values,
} from '../src/index.js';

const PSK = 'interop-initiator-psk';

const cleanup = new Cleanup();
let stage: Stage;
before(async () => {
  stage = await Stage.create(cleanup, 'interop-init');
});
after(() => cleanup.run());

for (const suite of INTEROP_SUITES) {
  test(`our initiator, charon responder: ${suite.strongswan}`, async () => {
    const { link } = stage;
    const scenario = await stage.scenario(suite.strongswan);
    try {
      const charon = await scenario.charon({ proposals: [suite.strongswan], psk: PSK });
      const daemon = await scenario.ourDaemon({
        listenPort: 848, proposals: [suite.ours], psk: PSK, allowLegacyGroups: suite.legacy, keyLog: true,
        gateway: { initiate: true, phase1Doi: 'ipsec' },
      });
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

      const { fromUs, fromCharon } = await mainModeFrames(scenario, daemon, sa);
      assert.ok(fromUs.every((r) => r['udp.srcport'] === '848' && r['udp.dstport'] === '500'), 'we send from 848 to charon on 500');
      const m1 = fromUs.find((r) => r['isakmp.sa.doi'] !== '');
      const m3 = fromUs.find((r) => values(r['isakmp.typepayload']).includes(IKE_NUMBERS.payload.ke));
      const m5 = fromUs.find(encrypted);
      assert.ok(m1 !== undefined && m3 !== undefined && m5 !== undefined, 'messages 1, 3, 5 from us');
      assertSuiteTransform(m1, suite, 'message 1 (phase1-doi: ipsec)');
      assert.ok(values(m3['isakmp.typepayload']).includes(IKE_NUMBERS.payload.ke), 'message 3 carries KE');
      assert.ok(values(m3['isakmp.typepayload']).includes(IKE_NUMBERS.payload.nonce), 'message 3 carries NONCE');
      // Message 5, decrypted with our key log: our ID and HASH_I; message 6 from charon with the same key.
      assertDecryptedIdentity(m5, link.a.address, suite, 'message 5 from us');
      assertDecryptedIdentity(fromCharon.find(encrypted), link.b.address, suite, 'message 6 from charon');

      assertOneCleanSa(await daemon.statistics());
    } finally {
      await scenario.end();
    }
  });
}

test('cleanup leaves no namespace or process behind', () => stage.assertCleanupLeftNothing());
