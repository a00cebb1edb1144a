// Proves the harness on the real tools, with no code of ours on the wire: two namespaces joined by a veth
// pair, a charon in each, IKEv1 Main Mode PSK between them with DPD, captured by tshark, gated for
// malformed frames and decrypted with the keys charon logs; ike-scan reaches a charon on UDP 848 through
// the nftables redirect our daemons will need.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  Charon, Cleanup, IKE_NUMBERS, Stage, fields, ikeScan, ikeScanTransform, malformedGate, redirectUdpPort, type NetworkNamespace,
  type VethLink,
} from '../src/index.js';

const PSK = 'harness-test-psk';
const PROPOSAL = 'aes256-sha256-modp2048';
const { exchange, idType, notify } = IKE_NUMBERS;

const cleanup = new Cleanup();
let stage: Stage;
// Two charons and no code of ours: the stage's two namespaces are simply the left and right ends.
let left: NetworkNamespace;
let right: NetworkNamespace;
let link: VethLink;

before(async () => {
  stage = await Stage.create(cleanup, 'harness');
  ({ ours: left, theirs: right, link } = stage);
});

after(() => cleanup.run());

test('charon to charon: Main Mode PSK, DPD, tshark decrypts messages 5/6; ike-scan through 848 -> 500', async () => {
  const capture = await stage.capture(stage.workDir);
  // An IKEv1 charon probes only when it has heard nothing for dpd_delay, and a peer's R-U-THERE counts as
  // hearing something; so only the initiator probes, or either side could stay silent.
  const connection = { name: 'peer', proposals: [PROPOSAL], psk: PSK };
  const initiator = await Charon.start(left, {
    workDir: join(stage.workDir, 'left'),
    connections: [{ ...connection, localAddress: link.a.address, remoteAddress: link.b.address, dpdDelaySeconds: 1 }],
  });
  const responder = await Charon.start(right, {
    workDir: join(stage.workDir, 'right'),
    connections: [{ ...connection, localAddress: link.b.address, remoteAddress: link.a.address, dpdDelaySeconds: 0 }],
  });

  // ike-scan speaks to the responder on 848; nftables hands the datagram to charon on 500.
  stage.track(initiator, responder);
  await redirectUdpPort(right, 848, 500);
  const scan = await ikeScan({
    namespace: left,
    target: link.b.address,
    transforms: [
      ikeScanTransform({ encryption: 7, keyLength: 128, hash: 2, auth: 1, group: 2 }), // not in charon's config
      ikeScanTransform({ encryption: 7, keyLength: 256, hash: 4, auth: 1, group: 14 }),
    ],
  });
  assert.equal(scan.outcome, 'handshake', scan.output);
  assert.deepEqual(
    [scan.selected?.['Enc'], scan.selected?.['KeyLength'], scan.selected?.['Hash'], scan.selected?.['Auth'], scan.selected?.['Group']],
    ['AES', '256', 'SHA2-256', 'PSK', '14:modp2048'],
  );

  await initiator.initiate('peer');
  const established = new RegExp(`IKE_SA peer\\[\\d+\\] established between ${link.a.address}\\[`);
  await initiator.waitForLog(established, 5000);
  await responder.waitForLog(new RegExp(`IKE_SA peer\\[\\d+\\] established between ${link.b.address}\\[`), 5000);
  assert.match(await initiator.listSas(), /peer: #\d+, ESTABLISHED, IKEv1/);

  // Idle SA: the initiator probes every second, the responder acknowledges.
  await initiator.waitForLog(/sending DPD request/, 5000);
  await responder.waitForLog(/parsed INFORMATIONAL_V1 request \d+ \[ HASH N\(DPD\) \]/, 5000);
  await responder.waitForLog(/generating INFORMATIONAL_V1 request \d+ \[ HASH N\(DPD_ACK\) \]/, 5000);
  await initiator.waitForLog(/parsed INFORMATIONAL_V1 request \d+ \[ HASH N\(DPD_ACK\) \]/, 5000);
  // R-U-THERE and its ACK (encrypted, but the header still shows exchange type 5).
  await capture.waitForFrames(`isakmp.exchangetype == ${exchange.informational}`, 2, 5000);
  await capture.stop();
  await initiator.terminate('peer');

  const keyTable = await initiator.ikeKeys();
  assert.equal(keyTable.length, 1, 'one phase-1 key logged by the initiator');
  assert.deepEqual(await responder.ikeKeys(), keyTable, 'both charons log the same cookie and key');

  assert.deepEqual(await malformedGate(capture.pcapFile, { keyTable }), []);

  const names = ['frame.number', 'isakmp.ispi', 'isakmp.exchangetype', 'isakmp.id.type', 'isakmp.id.data.ipv4_addr', 'isakmp.hash', 'isakmp.notify.msgtype'];
  const decrypted = await fields(capture.pcapFile, names, { keyTable, filter: `isakmp.ispi == ${keyTable[0]?.icookie}` });
  const mainMode = decrypted.filter((row) => row['isakmp.exchangetype'] === exchange.identityProtection);
  assert.equal(mainMode.length, 6, 'six Main Mode messages captured');
  const [message5, message6] = mainMode.slice(4);
  assert.equal(message5?.['isakmp.id.type'], idType.ipv4Address);
  assert.equal(message5?.['isakmp.id.data.ipv4_addr'], link.a.address);
  assert.match(message5?.['isakmp.hash'] ?? '', /^[0-9a-f]{64}$/, 'HASH_I is a SHA-256 output');
  assert.equal(message6?.['isakmp.id.type'], idType.ipv4Address);
  assert.equal(message6?.['isakmp.id.data.ipv4_addr'], link.b.address);
  assert.match(message6?.['isakmp.hash'] ?? '', /^[0-9a-f]{64}$/, 'HASH_R is a SHA-256 output');
  const notifies = decrypted
    .filter((row) => row['isakmp.exchangetype'] === exchange.informational)
    .flatMap((row) => (row['isakmp.notify.msgtype'] ?? '').split(','));
  assert.ok(notifies.includes(notify.rUThere), `decrypted DPD R-U-THERE, got ${notifies.join(' ')}`);
  assert.ok(notifies.includes(notify.rUThereAck), `decrypted DPD R-U-THERE-ACK, got ${notifies.join(' ')}`);

  // ike-scan's exchange crossed the link on 848 both ways: the redirect to charon's 500 stayed inside `right`.
  const scanFrames = await fields(capture.pcapFile, ['udp.srcport', 'udp.dstport', 'isakmp.rspi'], { filter: 'udp.port == 848' });
  assert.ok(scanFrames.length >= 2, 'ike-scan request and answer captured');
  assert.ok(scanFrames.every((row) => row['udp.srcport'] === '848' && row['udp.dstport'] === '848'));
  assert.ok(scanFrames.some((row) => row['isakmp.rspi'] !== '0000000000000000'), 'an answer from the responder');

  // Control: without the key tshark sees only ciphertext, so the values above came from decryption.
  const opaque = await fields(capture.pcapFile, ['isakmp.id.type'], { filter: `isakmp.exchangetype == ${exchange.identityProtection}` });
  assert.ok(opaque.every((row) => row['isakmp.id.type'] === ''));
});

// charon's private mount namespace (and its /run tmpfs) lives exactly as long as its process.
test('cleanup leaves no namespace or process behind', () => stage.assertCleanupLeftNothing());
