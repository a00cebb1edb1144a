// Dead-peer detection (RFC 3706) between our daemon and Debian's charon, one side probing at a time
// (charon's IKEv1 DPD is idle-driven: a peer's R-U-THERE counts as traffic, so two probers can starve one).
// (a) our daemon probes (always-send, 2 s) and charon acknowledges; (b) charon probes (dpd_delay 1 s) and
// we acknowledge. Proof: charon's log, our counters and SA status, and tshark decrypting the
// informational exchanges with our key log (notify types 36136/36137 with matching sequence numbers).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Capture, Charon, Cleanup, IKE_NUMBERS, INTEROP_SUITES, ISAKMP_FIELDS, OurDaemon, encrypted, fields, interopStage,
  malformedGate, pidAlive, readIkeKeyLog, runCommand, values, type InteropStage, type IsakmpRow,
} from '../src/index.js';

const PSK = 'interop-dpd-psk';
const SUITE = INTEROP_SUITES[0]!;
const PROBES = 2;

const cleanup = new Cleanup();
let stage: InteropStage;
const pids: number[] = [];

before(async () => {
  stage = await interopStage(cleanup, 'interop-dpd');
});
after(() => cleanup.run());

/** Informational frames of this SA, decrypted: the DPD notifies and their sequence numbers per sender. */
async function dpdFrames(pcapFile: string, icookie: string, keyTable: { icookie: string; key: string }[]) {
  assert.deepEqual(await malformedGate(pcapFile, { keyTable }), []);
  const rows = (await fields(pcapFile, ISAKMP_FIELDS, { keyTable })) as IsakmpRow[];
  const informational = rows.filter((r) => r['isakmp.ispi'] === icookie && r['isakmp.exchangetype'] === IKE_NUMBERS.exchange.informational);
  assert.ok(informational.every(encrypted), 'DPD travels encrypted under the phase-1 SA');
  assert.ok(informational.every((r) => values(r['isakmp.typepayload']).join() === `${IKE_NUMBERS.payload.hash},${IKE_NUMBERS.payload.notify}`), 'HASH then N');
  return informational;
}

test('our daemon probes with R-U-THERE, charon acknowledges', async () => {
  const { link, ours, theirs } = stage;
  const dir = join(stage.workDir, 'ours-probe');
  await mkdir(dir);
  const capture = await Capture.start({ namespace: ours, iface: link.a.ifname, pcapFile: join(dir, 'ike.pcap'), logDir: dir });
  const charon = await Charon.start(theirs, {
    workDir: join(dir, 'charon'),
    connections: [{ name: 'gw', localAddress: link.b.address, remoteAddress: link.a.address, proposals: [SUITE.strongswan], psk: PSK, dpdDelaySeconds: 0 }],
  });
  const daemon = await OurDaemon.start({
    name: 'ours', workDir: dir, namespace: ours, listen: { address: link.a.address, port: 848 },
    proposals: [SUITE.ours], psk: PSK, keyLog: true,
    gateways: [{ name: 'charon', address: link.b.address, port: 500, initiate: true, phase1Doi: 'ipsec', dpd: { alwaysSend: true, interval: 2, threshold: 3 } }],
  });
  pids.push(capture.child.pid, daemon.pid, charon.pid);
  try {
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

    await capture.waitForFrames(`isakmp.exchangetype == 5 && ip.src == ${link.b.address}`, PROBES, 5000);
    await capture.stop();
    const keyTable = await readIkeKeyLog(daemon.keyLogFile ?? '');
    const frames = await dpdFrames(capture.pcapFile, sa.icookie, keyTable);
    const probes = frames.filter((r) => r['ip.src'] === link.a.address);
    const acks = frames.filter((r) => r['ip.src'] === link.b.address);
    assert.ok(probes.length >= PROBES && acks.length >= PROBES);
    assert.ok(probes.every((r) => r['isakmp.notify.msgtype'] === IKE_NUMBERS.notify.rUThere), 'we send R-U-THERE');
    assert.ok(acks.every((r) => r['isakmp.notify.msgtype'] === IKE_NUMBERS.notify.rUThereAck), 'charon answers R-U-THERE-ACK');
    // Each ACK carries the sequence number of a probe we sent; our sequence numbers increase by one.
    const sent = probes.map((r) => Number(r['isakmp.notify.data.dpd.are_you_there']));
    const acked = acks.map((r) => Number(r['isakmp.notify.data.dpd.are_you_there_ack']));
    assert.ok(sent.every((n, i) => i === 0 || n === (sent[i - 1] ?? 0) + 1), `probe sequence ${sent.join(' ')}`);
    assert.ok(acked.every((n) => sent.includes(n)), `acks ${acked.join(' ')} for probes ${sent.join(' ')}`);
  } finally {
    await daemon.stop();
    await charon.stop();
  }
});

test('charon probes with R-U-THERE, our daemon acknowledges', async () => {
  const { link, ours, theirs } = stage;
  const dir = join(stage.workDir, 'charon-probe');
  await mkdir(dir);
  const capture = await Capture.start({ namespace: ours, iface: link.a.ifname, pcapFile: join(dir, 'ike.pcap'), logDir: dir });
  // No dead-peer-detection on our side: charon sees an idle SA and probes every second.
  const daemon = await OurDaemon.start({
    name: 'ours', workDir: dir, namespace: ours, listen: { address: link.a.address, port: 500 },
    proposals: [SUITE.ours], psk: PSK, keyLog: true,
    gateways: [{ name: 'charon', address: link.b.address, port: 500 }],
  });
  const charon = await Charon.start(theirs, {
    workDir: join(dir, 'charon'),
    connections: [{ name: 'gw', localAddress: link.b.address, remoteAddress: link.a.address, proposals: [SUITE.strongswan], psk: PSK, dpdDelaySeconds: 1 }],
  });
  pids.push(capture.child.pid, daemon.pid, charon.pid);
  try {
    await charon.initiate('gw');
    const sa = await daemon.waitForUpSa(5000);
    await charon.waitForLog(/sending DPD request/, 5000);
    const counters = await daemon.waitForCounters((c) => (c['dpdAcksSent'] ?? 0) >= PROBES, 10_000, `${PROBES} DPD ACKs sent to charon`);
    assert.ok((counters['dpdRequestsReceived'] ?? 0) >= PROBES);
    assert.equal(counters['dpdRequestsSent'], 0, 'we do not probe in this scenario');
    // charon parsed our ACK (decrypted, HASH verified).
    await charon.waitForLog(/parsed INFORMATIONAL_V1 request \d+ \[ HASH N\(DPD_ACK\) \]/, 3000);
    assert.match(await charon.listSas(), /gw: #\d+, ESTABLISHED, IKEv1/);

    await capture.waitForFrames(`isakmp.exchangetype == 5 && ip.src == ${link.a.address}`, PROBES, 5000);
    await capture.stop();
    const keyTable = await readIkeKeyLog(daemon.keyLogFile ?? '');
    const frames = await dpdFrames(capture.pcapFile, sa.icookie, keyTable);
    const probes = frames.filter((r) => r['ip.src'] === link.b.address);
    const acks = frames.filter((r) => r['ip.src'] === link.a.address);
    assert.ok(probes.length >= PROBES && acks.length >= PROBES);
    assert.ok(probes.every((r) => r['isakmp.notify.msgtype'] === IKE_NUMBERS.notify.rUThere));
    assert.ok(acks.every((r) => r['isakmp.notify.msgtype'] === IKE_NUMBERS.notify.rUThereAck), 'we answer R-U-THERE-ACK');
    const sent = probes.map((r) => r['isakmp.notify.data.dpd.are_you_there']);
    const acked = acks.map((r) => r['isakmp.notify.data.dpd.are_you_there_ack']);
    assert.deepEqual(acked, sent.slice(0, acked.length), 'each ACK echoes the probe sequence number, in order');
  } finally {
    await charon.stop();
    await daemon.stop();
  }
});

test('cleanup leaves no namespace or process behind', async () => {
  const names = [stage.ours.name, stage.theirs.name];
  await cleanup.run();
  const { stdout } = await runCommand('ip', ['netns', 'list']);
  for (const name of names) assert.ok(!stdout.includes(name), `${name} deleted`);
  for (const pid of pids) assert.ok(!pidAlive(pid), `pid ${pid} stopped`);
});
