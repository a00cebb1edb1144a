// Dead-peer detection (RFC 3706) between our daemon and Debian's charon, one side probing at a time
// (charon's IKEv1 DPD is idle-driven: a peer's R-U-THERE counts as traffic, so two probers can starve one).
// (a) our daemon probes (always-send, 2 s) and charon acknowledges; (b) charon probes (dpd_delay 1 s) and
// we acknowledge. Proof: charon's log, our counters and SA status, and tshark decrypting the
// informational exchanges with our key log (notify types 36136/36137 with matching sequence numbers).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Cleanup, IKE_NUMBERS, INTEROP_SUITES, Stage, encrypted, isakmpRows, malformedGate, readIkeKeyLog, values,
  type IsakmpRow, type OurDaemon, type OurSa, type Scenario,
} from '../src/index.js';

const PSK = 'interop-dpd-psk';
const SUITE = INTEROP_SUITES[0]!;
const PROBES = 2;

const cleanup = new Cleanup();
let stage: Stage;
before(async () => {
  stage = await Stage.create(cleanup, 'interop-dpd');
});
after(() => cleanup.run());

/**
 * The DPD exchanges of `sa` as tshark decrypts them with our key log, once at least PROBES
 * acknowledgements from `ackFrom` are captured: nothing malformed, every informational encrypted and
 * HASH then N, at least PROBES probes (all R-U-THERE) and acks (all R-U-THERE-ACK).
 */
async function dpdExchanges(scenario: Scenario, daemon: OurDaemon, sa: OurSa, probeFrom: string, ackFrom: string): Promise<{ probes: IsakmpRow[]; acks: IsakmpRow[] }> {
  const { capture } = scenario;
  await capture.waitForFrames(`isakmp.exchangetype == 5 && ip.src == ${ackFrom}`, PROBES, 5000);
  await capture.stop();
  const keyTable = await readIkeKeyLog(daemon.keyLogFile ?? '');
  assert.deepEqual(await malformedGate(capture.pcapFile, { keyTable }), []);
  const informational = (await isakmpRows(capture.pcapFile, { keyTable }))
    .filter((r) => r['isakmp.ispi'] === sa.icookie && r['isakmp.exchangetype'] === IKE_NUMBERS.exchange.informational);
  assert.ok(informational.every(encrypted), 'DPD travels encrypted under the phase-1 SA');
  assert.ok(informational.every((r) => values(r['isakmp.typepayload']).join() === `${IKE_NUMBERS.payload.hash},${IKE_NUMBERS.payload.notify}`), 'HASH then N');
  const probes = informational.filter((r) => r['ip.src'] === probeFrom);
  const acks = informational.filter((r) => r['ip.src'] === ackFrom);
  assert.ok(probes.length >= PROBES && acks.length >= PROBES);
  assert.ok(probes.every((r) => r['isakmp.notify.msgtype'] === IKE_NUMBERS.notify.rUThere), `${probeFrom} sends R-U-THERE`);
  assert.ok(acks.every((r) => r['isakmp.notify.msgtype'] === IKE_NUMBERS.notify.rUThereAck), `${ackFrom} answers R-U-THERE-ACK`);
  return { probes, acks };
}

test('our daemon probes with R-U-THERE, charon acknowledges', async () => {
  const { link } = stage;
  const scenario = await stage.scenario('ours-probe');
  try {
    const charon = await scenario.charon({ proposals: [SUITE.strongswan], psk: PSK, dpdDelaySeconds: 0 });
    const daemon = await scenario.ourDaemon({
      listenPort: 848, proposals: [SUITE.ours], psk: PSK, keyLog: true,
      gateway: { initiate: true, phase1Doi: 'ipsec', dpd: { alwaysSend: true, interval: 2, threshold: 3 } },
    });
    const sa = await daemon.waitForUpSa(10_000);
    assert.equal(sa.dpd.peerSupportsDpd, true, 'charon sent the RFC 3706 vendor ID');
    assert.equal(sa.dpd.interval, 2);
    const counters = await daemon.waitForCounters((c) => (c['dpdAcksReceived'] ?? 0) >= PROBES, 12_000, `${PROBES} DPD ACKs from charon`);
    assert.ok((counters['dpdRequestsSent'] ?? 0) >= PROBES);
    assert.equal(counters['dpdRequestsReceived'], 0, 'charon does not probe in this scenario');
    assert.equal(counters['dpdAckMismatchDropped'], 0);
    assert.equal(counters['peersDead'], 0);
    const now = (await daemon.sas()).find((s) => s.icookie === sa.icookie);
    assert.equal(now?.state, 'UP');
    assert.ok((now?.dpd.sentSeq ?? 0) >= PROBES);
    assert.ok(now?.dpd.lastAckSeq !== null && (now?.dpd.lastAckSeq ?? 0) >= (now?.dpd.sentSeq ?? 0) - 1);

    // charon received our R-U-THERE (decrypted and HASH-verified) and answered it.
    await charon.waitForLog(/parsed INFORMATIONAL_V1 request \d+ \[ HASH N\(DPD\) \]/, 2000);
    await charon.waitForLog(/generating INFORMATIONAL_V1 request \d+ \[ HASH N\(DPD_ACK\) \]/, 2000);
    assert.match(await charon.listSas(), /gw: #\d+, ESTABLISHED, IKEv1/);

    const { probes, acks } = await dpdExchanges(scenario, daemon, sa, link.a.address, link.b.address);
    // Each ACK carries the sequence number of a probe we sent; our sequence numbers increase by one.
    const sent = probes.map((r) => Number(r['isakmp.notify.data.dpd.are_you_there']));
    const acked = acks.map((r) => Number(r['isakmp.notify.data.dpd.are_you_there_ack']));
    assert.ok(sent.every((n, i) => i === 0 || n === (sent[i - 1] ?? 0) + 1), `probe sequence ${sent.join(' ')}`);
    assert.ok(acked.every((n) => sent.includes(n)), `acks ${acked.join(' ')} for probes ${sent.join(' ')}`);
  } finally {
    await scenario.end();
  }
});

test('charon probes with R-U-THERE, our daemon acknowledges', async () => {
  const { link } = stage;
  const scenario = await stage.scenario('charon-probe');
  try {
    // No dead-peer-detection on our side: charon sees an idle SA and probes every second.
    const daemon = await scenario.ourDaemon({ listenPort: 500, proposals: [SUITE.ours], psk: PSK, keyLog: true });
    const charon = await scenario.charon({ proposals: [SUITE.strongswan], psk: PSK, dpdDelaySeconds: 1 });
    await charon.initiate('gw');
    const sa = await daemon.waitForUpSa(5000);
    await charon.waitForLog(/sending DPD request/, 5000);
    const counters = await daemon.waitForCounters((c) => (c['dpdAcksSent'] ?? 0) >= PROBES, 10_000, `${PROBES} DPD ACKs sent to charon`);
    assert.ok((counters['dpdRequestsReceived'] ?? 0) >= PROBES);
    assert.equal(counters['dpdRequestsSent'], 0, 'we do not probe in this scenario');
    // charon parsed our ACK (decrypted, HASH verified).
    await charon.waitForLog(/parsed INFORMATIONAL_V1 request \d+ \[ HASH N\(DPD_ACK\) \]/, 3000);
    assert.match(await charon.listSas(), /gw: #\d+, ESTABLISHED, IKEv1/);

    const { probes, acks } = await dpdExchanges(scenario, daemon, sa, link.b.address, link.a.address);
    const sent = probes.map((r) => r['isakmp.notify.data.dpd.are_you_there']);
    const acked = acks.map((r) => r['isakmp.notify.data.dpd.are_you_there_ack']);
    assert.deepEqual(acked, sent.slice(0, acked.length), 'each ACK echoes the probe sequence number, in order');
  } finally {
    await scenario.end();
  }
});

test('cleanup leaves no namespace or process behind', () => stage.assertCleanupLeftNothing());
