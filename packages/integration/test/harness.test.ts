// Proves the harness on the real tools, with no code of ours on the wire: two namespaces joined by a veth
// pair, a charon in each, IKEv1 Main Mode PSK between them with DPD, captured by tshark, gated for
// malformed frames and decrypted with the keys charon logs; ike-scan reaches a charon on UDP 848 through
// the nftables redirect our daemons will need.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Capture, Charon, Cleanup, NetworkNamespace, assertIntegrationRequirements, connect, fields, ikeScan,
  ikeScanTransform, malformedGate, pidAlive, redirectUdpPort, runCommand, sweepStaleNamespaces, type VethLink,
} from '../src/index.js';

const PSK = 'harness-test-psk';
const PROPOSAL = 'aes256-sha256-modp2048';
/** ISAKMP exchange types and notify types as tshark prints them (RFC 2408, RFC 3706) */
const IDENTITY_PROTECTION = '2';
const INFORMATIONAL = '5';
const ID_IPV4_ADDR = '1';
const R_U_THERE = '36136';
const R_U_THERE_ACK = '36137';

const cleanup = new Cleanup();
let workDir = '';
let left: NetworkNamespace;
let right: NetworkNamespace;
let link: VethLink;
const startedPids: number[] = [];

before(async () => {
  assertIntegrationRequirements();
  await sweepStaleNamespaces();
  workDir = await mkdtemp(join(tmpdir(), 'gvpn-harness-'));
  // GVPN_KEEP_ARTIFACTS=1 keeps the capture, configurations and logs for a look after a failure.
  if (process.env['GVPN_KEEP_ARTIFACTS'] === '1') console.log(`keeping ${workDir}`);
  else cleanup.defer('work directory', () => rm(workDir, { recursive: true, force: true }));
  left = await NetworkNamespace.create();
  cleanup.defer('left namespace', () => left.destroy());
  right = await NetworkNamespace.create();
  cleanup.defer('right namespace', () => right.destroy());
  link = await connect(left, right);
});

after(() => cleanup.run());

test('charon to charon: Main Mode PSK, DPD, tshark decrypts messages 5/6; ike-scan through 848 -> 500', async () => {
  const capture = await Capture.start({
    namespace: left, iface: link.a.ifname, pcapFile: join(workDir, 'ike.pcap'), logDir: workDir,
  });
  // An IKEv1 charon probes only when it has heard nothing for dpd_delay, and a peer's R-U-THERE counts as
  // hearing something; so only the initiator probes, or either side could stay silent.
  const connection = { name: 'peer', proposals: [PROPOSAL], psk: PSK };
  const initiator = await Charon.start(left, {
    workDir: join(workDir, 'left'),
    connections: [{ ...connection, localAddress: link.a.address, remoteAddress: link.b.address, dpdDelaySeconds: 1 }],
  });
  const responder = await Charon.start(right, {
    workDir: join(workDir, 'right'),
    connections: [{ ...connection, localAddress: link.b.address, remoteAddress: link.a.address, dpdDelaySeconds: 0 }],
  });

  // ike-scan speaks to the responder on 848; nftables hands the datagram to charon on 500.
  startedPids.push(capture.child.pid, initiator.pid, responder.pid);
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
  await capture.waitForFrames(`isakmp.exchangetype == ${INFORMATIONAL}`, 2, 5000);
  await capture.stop();
  await initiator.terminate('peer');

  const keyTable = await initiator.ikeKeys();
  assert.equal(keyTable.length, 1, 'one phase-1 key logged by the initiator');
  assert.deepEqual(await responder.ikeKeys(), keyTable, 'both charons log the same cookie and key');

  assert.deepEqual(await malformedGate(capture.pcapFile, { keyTable }), []);

  const names = ['frame.number', 'isakmp.ispi', 'isakmp.exchangetype', 'isakmp.id.type', 'isakmp.id.data.ipv4_addr', 'isakmp.hash', 'isakmp.notify.msgtype'];
  const decrypted = await fields(capture.pcapFile, names, { keyTable, filter: `isakmp.ispi == ${keyTable[0]?.icookie}` });
  const mainMode = decrypted.filter((row) => row['isakmp.exchangetype'] === IDENTITY_PROTECTION);
  assert.equal(mainMode.length, 6, 'six Main Mode messages captured');
  const [message5, message6] = mainMode.slice(4);
  assert.equal(message5?.['isakmp.id.type'], ID_IPV4_ADDR);
  assert.equal(message5?.['isakmp.id.data.ipv4_addr'], link.a.address);
  assert.match(message5?.['isakmp.hash'] ?? '', /^[0-9a-f]{64}$/, 'HASH_I is a SHA-256 output');
  assert.equal(message6?.['isakmp.id.type'], ID_IPV4_ADDR);
  assert.equal(message6?.['isakmp.id.data.ipv4_addr'], link.b.address);
  assert.match(message6?.['isakmp.hash'] ?? '', /^[0-9a-f]{64}$/, 'HASH_R is a SHA-256 output');
  const notifies = decrypted
    .filter((row) => row['isakmp.exchangetype'] === INFORMATIONAL)
    .flatMap((row) => (row['isakmp.notify.msgtype'] ?? '').split(','));
  assert.ok(notifies.includes(R_U_THERE), `decrypted DPD R-U-THERE, got ${notifies.join(' ')}`);
  assert.ok(notifies.includes(R_U_THERE_ACK), `decrypted DPD R-U-THERE-ACK, got ${notifies.join(' ')}`);

  // ike-scan's exchange crossed the link on 848 both ways: the redirect to charon's 500 stayed inside `right`.
  const scanFrames = await fields(capture.pcapFile, ['udp.srcport', 'udp.dstport', 'isakmp.rspi'], { filter: 'udp.port == 848' });
  assert.ok(scanFrames.length >= 2, 'ike-scan request and answer captured');
  assert.ok(scanFrames.every((row) => row['udp.srcport'] === '848' && row['udp.dstport'] === '848'));
  assert.ok(scanFrames.some((row) => row['isakmp.rspi'] !== '0000000000000000'), 'an answer from the responder');

  // Control: without the key tshark sees only ciphertext, so the values above came from decryption.
  const opaque = await fields(capture.pcapFile, ['isakmp.id.type'], { filter: 'isakmp.exchangetype == 2' });
  assert.ok(opaque.every((row) => row['isakmp.id.type'] === ''));
});

test('cleanup leaves no namespace or process behind', async () => {
  const namespaces = [left.name, right.name];
  await cleanup.run();
  const { stdout: remaining } = await runCommand('ip', ['netns', 'list']);
  for (const name of namespaces) assert.ok(!remaining.includes(name), `${name} deleted`);
  // charon's private mount namespace (and its /run tmpfs) lives exactly as long as its process.
  for (const pid of startedPids) assert.ok(!pidAlive(pid), `pid ${pid} stopped`);
});
