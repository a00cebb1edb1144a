// A wrong pre-shared key fails on both sides and leaves no SA, in both directions between our daemon and
// Debian's charon: charon's log shows the failure, `swanctl --list-sas` has nothing ESTABLISHED, our
// control socket shows no UP SA and the failure counted. tshark finds nothing malformed in what we sent
// and reads our clear AUTHENTICATION-FAILED notify (type 24).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  Cleanup, CommandError, IKE_NUMBERS, INTEROP_SUITES, Stage, encrypted, isakmpRows, malformedGate,
} from '../src/index.js';

const SUITE = INTEROP_SUITES[0]!;
const AUTHENTICATION_FAILED = IKE_NUMBERS.notify.authenticationFailed;

const cleanup = new Cleanup();
let stage: Stage;
before(async () => {
  stage = await Stage.create(cleanup, 'interop-psk');
});
after(() => cleanup.run());

test('our initiator with a wrong PSK: charon refuses, no SA on either side', async () => {
  const { link } = stage;
  const scenario = await stage.scenario('ours-initiates');
  const { capture } = scenario;
  try {
    const charon = await scenario.charon({ proposals: [SUITE.strongswan], psk: 'charon-knows-this-one' });
    const daemon = await scenario.ourDaemon({
      listenPort: 848, proposals: [SUITE.ours], psk: 'we-were-told-another', retransmitInitialMs: 200, retransmitTries: 2,
      gateway: { initiate: true, phase1Doi: 'ipsec' },
    });
    // We retransmit message 5 until we give up; charon cannot decrypt it with its key and answers each
    // copy with an informational encrypted under that key, which we cannot read and drop.
    const counters = await daemon.waitForCounters((c) => (c['negotiationTimeouts'] ?? 0) > 0, 10_000, 'our negotiation to time out');
    assert.equal(counters['saEstablished'], 0);
    // (the gateway re-initiates after a back-off, so later negotiations may already add to these)
    assert.ok((counters['negotiationsFailed'] ?? 0) >= 1);
    assert.ok((counters['retransmissions'] ?? 0) >= 2);
    assert.ok((counters['unexpectedMessageDropped'] ?? 0) >= 1, 'charon\'s encrypted refusal dropped unread');
    assert.deepEqual((await daemon.sas()).filter((sa) => sa.state === 'UP'), []);
    await charon.waitForLog(/message parsing failed/, 2000);
    await charon.waitForLog(/generating INFORMATIONAL_V1 request \d+ \[ HASH N\(PLD_MAL\) \]/, 2000);
    assert.doesNotMatch(await readFile(charon.files.logFile, 'utf8'), /IKE_SA .* established between/);
    assert.doesNotMatch(await charon.listSas(), /ESTABLISHED/);

    await capture.waitForFrames(`isakmp.exchangetype == 5 && ip.src == ${link.b.address}`, 3, 5000);
    await capture.stop();
    assert.deepEqual(await malformedGate(capture.pcapFile), []);
    const fromUs = (await isakmpRows(capture.pcapFile)).filter((r) => r['ip.src'] === link.a.address);
    assert.ok(fromUs.every((r) => r['isakmp.exchangetype'] === IKE_NUMBERS.exchange.identityProtection), 'we sent only Main Mode');
    // The gateway keeps initiating after a failure; the first negotiation's cookie picks out its frames.
    const first = fromUs.filter((r) => r['isakmp.ispi'] === fromUs[0]?.['isakmp.ispi']);
    assert.equal(first.filter(encrypted).length, 3, 'message 5 and its two retransmissions');
    assert.equal(new Set(first.filter(encrypted).map((r) => r['frame.len'])).size, 1, 'retransmitted as is');
  } finally {
    await scenario.end();
  }
});

test('charon initiator with a wrong PSK: we refuse with AUTHENTICATION-FAILED, no SA on either side', async () => {
  const { link } = stage;
  const scenario = await stage.scenario('charon-initiates');
  const { capture } = scenario;
  try {
    const daemon = await scenario.ourDaemon({ listenPort: 500, proposals: [SUITE.ours], psk: 'we-know-this-one' });
    const charon = await scenario.charon({ proposals: [SUITE.strongswan], psk: 'charon-was-told-another' });
    await assert.rejects(charon.initiate('gw', 2), (e: unknown) => e instanceof CommandError && /not established/.test(e.stderr));
    const counters = await daemon.waitForCounters((c) => (c['authFailed'] ?? 0) > 0, 5000, 'authFailed');
    assert.equal(counters['authFailed'], 1);
    assert.equal(counters['saEstablished'], 0);
    assert.deepEqual((await daemon.sas()).filter((sa) => sa.state === 'UP'), []);
    // charon received our clear AUTHENTICATION-FAILED (and, rightly, does not trust an unprotected notify).
    await charon.waitForLog(/parsed INFORMATIONAL_V1 request \d+ \[ N\(AUTH_FAILED\) \]/, 2000);
    assert.doesNotMatch(await readFile(charon.files.logFile, 'utf8'), /IKE_SA .* established between/);
    assert.doesNotMatch(await charon.listSas(), /ESTABLISHED/);

    await capture.waitForFrames(`isakmp.notify.msgtype == ${AUTHENTICATION_FAILED}`, 1, 5000);
    await capture.stop();
    assert.deepEqual(await malformedGate(capture.pcapFile), []);
    const fromUs = (await isakmpRows(capture.pcapFile)).filter((r) => r['ip.src'] === link.a.address);
    const refusal = fromUs.filter((r) => r['isakmp.exchangetype'] === IKE_NUMBERS.exchange.informational);
    assert.equal(refusal.length, 1, 'one refusal');
    assert.equal(encrypted(refusal[0]!), false, 'in clear: the peer has no key it could check it with');
    assert.equal(refusal[0]!['isakmp.typepayload'], IKE_NUMBERS.payload.notify);
    assert.equal(refusal[0]!['isakmp.notify.msgtype'], AUTHENTICATION_FAILED);
    assert.ok(fromUs.filter((r) => r['isakmp.exchangetype'] === IKE_NUMBERS.exchange.identityProtection).every((r) => !encrypted(r)), 'no message 6');
  } finally {
    await scenario.end();
  }
});

test('cleanup leaves no namespace or process behind', () => stage.assertCleanupLeftNothing());
