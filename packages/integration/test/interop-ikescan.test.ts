// ike-scan (an independent IKEv1 initiator) against our responder on UDP 848: the SA our responder
// selects is our most preferred proposal among those offered, whatever order ike-scan offers them in;
// an offer with nothing we accept gets NO-PROPOSAL-CHOSEN. Then a second daemon of ours initiates with
// the GDOI DOI (2) in the phase-1 SA: tshark shows that framing (isakmp.sa.doi == 2) and finds nothing
// malformed, but cannot decrypt messages 5/6 even with our key log — the known Wireshark 4.0 limit.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Cleanup, IKE_NUMBERS, OurDaemon, Stage, encrypted, ikeScan, ikeScanTransform, isakmpRows, malformedGate, readIkeKeyLog,
  values, type Capture, type OurProposal,
} from '../src/index.js';

const PSK = 'interop-ikescan-psk';
/** our configuration, most preferred first */
const PREFERRED: readonly OurProposal[] = [
  { name: 'FIRST-AES256-SHA256-DH14', dhGroup: 'group14', hash: 'sha-256', encryption: 'aes-256-cbc' },
  { name: 'SECOND-AES128-SHA512-DH15', dhGroup: 'group15', hash: 'sha-512', encryption: 'aes-128-cbc' },
  { name: 'THIRD-AES192-SHA384-DH20', dhGroup: 'group20', hash: 'sha-384', encryption: 'aes-192-cbc' },
];
/** the same three in RFC 2409 numbers (AES-CBC 7; SHA2-256 4, SHA2-384 5, SHA2-512 6; PSK 1) */
const FIRST = ikeScanTransform({ encryption: 7, keyLength: 256, hash: 4, auth: 1, group: 14 });
const SECOND = ikeScanTransform({ encryption: 7, keyLength: 128, hash: 6, auth: 1, group: 15 });
const THIRD = ikeScanTransform({ encryption: 7, keyLength: 192, hash: 5, auth: 1, group: 20 });
/** configured nowhere: AES-256/SHA1/group 14, and 3DES/SHA1/group 2 */
const UNKNOWN_1 = ikeScanTransform({ encryption: 7, keyLength: 256, hash: 2, auth: 1, group: 14 });
const UNKNOWN_2 = ikeScanTransform({ encryption: 5, hash: 2, auth: 1, group: 2 });

const cleanup = new Cleanup();
let stage: Stage;
let responder: OurDaemon;
let capture: Capture;

before(async () => {
  stage = await Stage.create(cleanup, 'interop-ikescan');
  const { link, ours, workDir } = stage;
  capture = await stage.capture(workDir);
  responder = await OurDaemon.start({
    name: 'responder', workDir, namespace: ours, listen: { address: link.a.address, port: 848 },
    proposals: PREFERRED, psk: PSK, keyLog: true,
    gateways: [{ name: 'peer', address: link.b.address, port: 848 }],
  });
  stage.track(responder);
});
after(() => cleanup.run());

test('ike-scan gets our most preferred proposal among those it offers', async () => {
  const { link, theirs } = stage;
  const scan = (transforms: string[]) => ikeScan({ namespace: theirs, target: link.a.address, transforms });

  // All three offered, ours last: we pick by our order, not the initiator's.
  const all = await scan([THIRD, UNKNOWN_1, SECOND, UNKNOWN_2, FIRST]);
  assert.equal(all.outcome, 'handshake', all.output);
  assert.deepEqual(all.selected && [all.selected['Enc'], all.selected['KeyLength'], all.selected['Hash'], all.selected['Auth'], all.selected['Group']],
    ['AES', '256', 'SHA2-256', 'PSK', '14:modp2048'], all.output);

  // Without our first choice: our second, though ike-scan offers our third before it.
  const later = await scan([UNKNOWN_2, THIRD, SECOND]);
  assert.equal(later.outcome, 'handshake', later.output);
  assert.deepEqual(later.selected && [later.selected['Enc'], later.selected['KeyLength'], later.selected['Hash'], later.selected['Group']],
    ['AES', '128', 'SHA2-512', '15:modp3072'], later.output);

  // Nothing we accept.
  const none = await scan([UNKNOWN_1, UNKNOWN_2]);
  assert.equal(none.outcome, 'notify', none.output);
  assert.match(none.notify ?? '', /^14 /, 'NO-PROPOSAL-CHOSEN');

  const counters = await responder.statistics();
  assert.equal(counters['noProposalChosen'], 1);
  assert.equal(counters['malformedDropped'], 0);

  // The same answers as tshark reads them: each reply carries exactly one transform, the selected one.
  await capture.waitForFrames(`ip.src == ${link.a.address}`, 3, 5000);
  const fromUs = (await isakmpRows(capture.pcapFile)).filter((r) => r['ip.src'] === link.a.address);
  // One reply per scan (ike-scan uses a fresh cookie each run; a retransmitted request would get a copy).
  const replies = fromUs.filter((r, i) => fromUs.findIndex((o) => o['isakmp.ispi'] === r['isakmp.ispi']) === i);
  assert.equal(replies.length, 3);
  const [first, second, refusal] = replies;
  for (const reply of [first, second]) {
    assert.equal(reply?.['isakmp.exchangetype'], IKE_NUMBERS.exchange.identityProtection);
    assert.equal(reply?.['isakmp.sa.doi'], '1', 'the DOI ike-scan offered');
    assert.equal(values(reply?.['isakmp.typepayload']).filter((t) => t === IKE_NUMBERS.payload.transform).length, 1, 'one transform');
  }
  assert.deepEqual([first?.['isakmp.ike.attr.key_length'], first?.['isakmp.ike.attr.hash_algorithm'], first?.['isakmp.ike.attr.group_description']], ['256', '4', '14']);
  assert.deepEqual([second?.['isakmp.ike.attr.key_length'], second?.['isakmp.ike.attr.hash_algorithm'], second?.['isakmp.ike.attr.group_description']], ['128', '6', '15']);
  assert.equal(refusal?.['isakmp.exchangetype'], IKE_NUMBERS.exchange.informational);
  assert.equal(refusal?.['isakmp.notify.msgtype'], IKE_NUMBERS.notify.noProposalChosen);
  assert.equal(refusal && encrypted(refusal), false);
});

test('DOI 2 in phase 1: tshark shows the framing, cannot decrypt (Wireshark 4.0 limit)', async () => {
  const { link, theirs, workDir } = stage;
  const initiator = await OurDaemon.start({
    name: 'initiator', workDir, namespace: theirs, listen: { address: link.b.address, port: 848 },
    proposals: [PREFERRED[0]!], psk: PSK,
    gateways: [{ name: 'responder', address: link.a.address, port: 848, initiate: true, phase1Doi: 'gdoi',
      dpd: { alwaysSend: true, interval: 2, threshold: 3 } }],
  });
  stage.track(initiator);
  try {
    const sa = await responder.waitForUpSa(10_000, (s) => s.remote.address === link.b.address && s.role === 'responder');
    await responder.waitForCounters((c) => (c['dpdAcksSent'] ?? 0) >= 1, 8000, 'a DPD exchange under the DOI 2 SA');
    await capture.waitForFrames(`isakmp.ispi == ${sa.icookie} && isakmp.exchangetype == 5`, 2, 5000);
    await capture.stop();

    const keyTable = (await readIkeKeyLog(responder.keyLogFile ?? '')).filter((k) => k.icookie === sa.icookie);
    assert.equal(keyTable.length, 1, 'our key log has the SA');
    assert.deepEqual(await malformedGate(capture.pcapFile, { keyTable }), []);
    const rows = (await isakmpRows(capture.pcapFile, { keyTable })).filter((r) => r['isakmp.ispi'] === sa.icookie);
    const withSa = rows.filter((r) => r['isakmp.sa.doi'] !== '');
    assert.deepEqual(withSa.map((r) => r['isakmp.sa.doi']), ['2', '2'], 'messages 1 and 2 carry DOI 2');
    assert.deepEqual(withSa.map((r) => r['ip.src']), [link.b.address, link.a.address]);
    const sealed = rows.filter(encrypted);
    assert.ok(sealed.length >= 4, 'messages 5/6 and the DPD exchange');
    // The limit: even with the right key, nothing inside is dissected.
    assert.ok(sealed.every((r) => r['isakmp.id.type'] === '' && r['isakmp.hash'] === '' && r['isakmp.notify.msgtype'] === ''));
  } finally {
    await initiator.stop();
  }
});

test('cleanup leaves no namespace or process behind', () => stage.assertCleanupLeftNothing());
