// Bad input against the real root-server daemon on P.1:848 (P a random 127.X.Y). A valid in-process
// initiator (IkeEndpoint from @gvpn/ike over a real UDP socket on P.2:848) records real Main Mode messages
// and a real DPD request; then >= 10,000 malformed and mutated datagrams go to the daemon from that
// known peer and from an unknown one (P.3). Asserted: the daemon stays up and answers its control
// socket, its RSS stays bounded, every datagram is counted (transport and IKE received, and the IKE
// outcome counters add up), and a valid initiator still completes Main Mode afterwards.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { Secret, seededRandom, systemRandom } from '@gvpn/crypto';
import { IkeEndpoint, type Logger } from '@gvpn/ike';
import { ExchangeType, PayloadType, encodeHeader, encodePayloads, type Payload } from '@gvpn/wire';
import { Cleanup, OurDaemon, pidAlive, randomLoopbackPrefix, waitFor, workDirectory } from '../src/index.js';

const LOOPBACK = randomLoopbackPrefix();
const ROOT = { address: `${LOOPBACK}.1`, port: 848 };
const PEER = { address: `${LOOPBACK}.2`, port: 848 };
const STRANGER = `${LOOPBACK}.3`;
const PSK = 'bad-input-test-only';
const TOTAL = 10_000;
// 100 datagrams (<= 600 bytes each, ~1.3 kB of kernel memory each) fit the default 208 kB receive buffer.
const BATCH = 100;
const RSS_BOUND_KB = 60 * 1024;

const cleanup = new Cleanup();
after(() => cleanup.run());

const quiet: Logger = { info() {}, warn() {}, debug() {}, trace() {}, error() {}, child: () => quiet };

async function bind(address: string, port: number): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((ok, fail) => { s.once('error', fail); s.bind(port, address, () => { s.off('error', fail); ok(); }); });
  cleanup.defer(`socket ${address}:${port}`, () => new Promise<void>((ok) => s.close(() => ok())));
  return s;
}

function sendTo(s: Socket, bytes: Uint8Array): Promise<void> {
  return new Promise((ok, fail) => s.send(bytes, ROOT.port, ROOT.address, (e) => (e ? fail(e) : ok())));
}

async function rssKb(pid: number): Promise<number> {
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, 'VmRSS in /proc/PID/status');
  return Number(m[1]);
}

/** A test initiator: an IkeEndpoint on a real socket, with hooks to record or hold back what it sends. */
class Initiator {
  readonly sent: Uint8Array[] = [];
  hold: ((b: Uint8Array) => boolean) | undefined;
  up = 0;
  private readonly ike: IkeEndpoint;
  private timer: NodeJS.Timeout;
  constructor(private readonly socket: Socket, dpd: boolean) {
    this.ike = new IkeEndpoint({
      local: PEER,
      gateways: [{
        name: 'root', peer: ROOT, psk: Secret.copyOf(new TextEncoder().encode(PSK)), initiate: true, doi: 2,
        proposals: [{ encryption: 'aes-256-cbc', hash: 'sha256', dhGroup: 14, lifetimeSeconds: 3600 }],
        ...(dpd ? { dpd: { interval: 2, threshold: 5 } } : {}),
      }],
      options: { maxHalfOpen: 16, retransmitInitialMs: 300, retransmitTries: 5, allowLegacyGroups: false },
      random: systemRandom,
      log: quiet,
      send: (bytes) => {
        const copy = Uint8Array.from(bytes);
        this.sent.push(copy);
        if (this.hold?.(copy) !== true) socket.send(copy, ROOT.port, ROOT.address);
      },
      events: { saUp: () => { this.up++; } },
    });
    this.timer = setInterval(() => this.ike.poll(performance.now()), 20);
    socket.on('message', this.onMessage);
    cleanup.defer('test initiator', () => this.detach());
    this.ike.start(performance.now());
  }
  private readonly onMessage = (msg: Buffer, rinfo: { address: string; port: number }): void => {
    this.ike.handleDatagram(new Uint8Array(msg), { address: rinfo.address, port: rinfo.port }, performance.now());
  };
  /** Stops driving the endpoint without sending anything more. */
  detach(): void {
    clearInterval(this.timer);
    this.socket.off('message', this.onMessage);
  }
  statistics(): Record<string, number> { return this.ike.statistics(); }
}

const isMm = (b: Uint8Array): boolean => b[18] === ExchangeType.IdentityProtection;
const isEncrypted = (b: Uint8Array): boolean => ((b[19] ?? 0) & 1) === 1;
const isInfo = (b: Uint8Array): boolean => b[18] === ExchangeType.Informational;

test('10,000 bad datagrams: the daemon stays up, bounded, counts every one, and still completes Main Mode', async () => {
  const dir = await workDirectory(cleanup, 'bad-input');
  // A responder only (no gateway initiates), so the retransmission options play no part.
  const daemon = await OurDaemon.start({
    name: 'root', workDir: dir, listen: ROOT, psk: PSK, logLevel: 'warn',
    gateways: [{ name: 'Peer', address: PEER.address, port: PEER.port }],
  });
  cleanup.defer('root daemon', () => daemon.stop(2000));
  const stats = () => daemon.allStatistics();

  // 1. a real Main Mode and a real DPD request
  const peerSocket = await bind(PEER.address, PEER.port);
  const first = new Initiator(peerSocket, true);
  await waitFor(() => first.up === 1, 10_000, 'the test initiator to complete Main Mode');
  await waitFor(() => first.statistics().dpdRequestsSent! >= 1 && first.statistics().dpdAcksReceived! >= 1, 6000, 'a DPD request answered');
  first.detach();
  const mm = first.sent.filter(isMm);
  const mm1 = mm.find((b) => !isEncrypted(b) && b.subarray(8, 16).every((x) => x === 0));
  const mm3 = mm.find((b) => !isEncrypted(b) && b.subarray(8, 16).some((x) => x !== 0));
  const mm5 = mm.find(isEncrypted);
  const dpd = first.sent.find(isInfo);
  assert.ok(mm1 && mm3 && mm5 && dpd, 'recorded MM1, MM3, MM5 and a DPD request');

  // 2. a negotiation held at message 5, so corrupted message 5 bodies meet a responder that waits for one
  const second = new Initiator(peerSocket, false);
  let heldMm5: Uint8Array | undefined;
  second.hold = (b) => { if (isMm(b) && isEncrypted(b)) { heldMm5 = b; return true; } return false; };
  await waitFor(() => heldMm5, 10_000, 'the second initiator to produce message 5');
  second.detach();
  const heldMm5Bytes = heldMm5 as Uint8Array;

  // 3. the flood
  const stranger = await bind(STRANGER, 0);
  peerSocket.on('message', () => {}); // answers to the flood land here and are ignored
  const rnd = seededRandom('bad-input');
  const rint = (n: number): number => (rnd.bytes(4).reduce((a, b) => a * 256 + b, 0) >>> 0) % n;
  const realMessages = [mm1, mm3, mm5, dpd, heldMm5Bytes];
  const kinds: Record<string, number> = {};
  function header(exchangeType: number, body: Uint8Array, firstPayload: number, flags = 0, length?: number): Uint8Array {
    const out = new Uint8Array(28 + body.length);
    encodeHeader({
      icookie: rnd.bytes(8), rcookie: rint(2) === 0 ? new Uint8Array(8) : rnd.bytes(8), nextPayload: firstPayload, version: 0x10,
      exchangeType, flags, messageId: rint(2) === 0 ? 0 : rint(0xffffffff), length: length ?? out.length,
    }, out, 0);
    out.set(body, 28);
    return out;
  }
  function randomChain(): { first: number; body: Uint8Array } {
    const payloads: Payload[] = [];
    const n = 1 + rint(5);
    for (let i = 0; i < n; i++) {
      const data = rnd.bytes(8 + rint(240));
      switch (rint(6)) {
        case 0: payloads.push({ type: PayloadType.NONCE, data }); break;
        case 1: payloads.push({ type: PayloadType.KE, data }); break;
        case 2: payloads.push({ type: PayloadType.HASH, data: data.subarray(0, 64) }); break;
        case 3: payloads.push({ type: PayloadType.VID, data }); break;
        case 4: payloads.push({ type: PayloadType.N, doi: 1, protocolId: 1, spi: rnd.bytes(16), notifyType: [24, 14, 36136, 36137, 1][rint(5)]!, data: rnd.bytes(4) } as Payload); break;
        default: payloads.push({ type: PayloadType.D, doi: 1, protocolId: 1, spiSize: 16, spis: [rnd.bytes(16)] } as Payload);
      }
    }
    const exchangeType = [2, 5, 32, 33, 4][rint(5)]!;
    return { first: payloads[0]!.type, body: encodePayloads(payloads, { exchangeType }) };
  }
  function mutate(m: Uint8Array): Uint8Array {
    const b = Uint8Array.from(m);
    const flips = 1 + rint(4);
    for (let i = 0; i < flips; i++) { const at = rint(b.length); b[at] = b[at]! ^ (1 << rint(8)); }
    return b;
  }
  let corrupted = 0;
  function corruptBody(m: Uint8Array): Uint8Array {
    const b = Uint8Array.from(m);
    // The first one flips a byte of ciphertext block 1: plaintext block 1 (inside HASH_I, after the 12-byte
    // IPv4 ID and the HASH header in block 0) is garbled and block 2 gets one flipped byte, so the chain still
    // decodes: a well-formed message 5 with a wrong HASH. The rest land anywhere in the body.
    const at = corrupted++ === 0 ? 28 + 16 + 5 : 28 + rint(b.length - 28);
    b[at] = b[at]! ^ (1 + rint(255));
    return b;
  }
  function wrongLength(m: Uint8Array): Uint8Array {
    const b = Uint8Array.from(m);
    const view = new DataView(b.buffer);
    if (rint(2) === 0) view.setUint32(24, [0, 27, 28, b.length - 1, b.length + 1, 0xffffffff][rint(6)]!);
    else if (b.length >= 32) view.setUint16(30, [0, 1, 3, 4, 0xffff, view.getUint16(30) + 1, view.getUint16(30) - 1][rint(7)]! & 0xffff);
    return b;
  }
  function next(i: number): { bytes: Uint8Array; from: Socket; kind: string } {
    const real = realMessages[rint(realMessages.length)]!;
    switch (i % 10) {
      case 0: return { bytes: real.subarray(0, rint(real.length)), from: peerSocket, kind: 'truncated real message' };
      case 1: return { bytes: wrongLength(real), from: peerSocket, kind: 'wrong length field' };
      case 2: { const c = randomChain(); return { bytes: header([2, 5, 32, 33][rint(4)]!, c.body, c.first, rint(3) === 0 ? 1 : 0), from: peerSocket, kind: 'random payload chain' }; }
      case 3: { const c = randomChain(); return { bytes: header(2, c.body, c.first), from: stranger, kind: 'unknown peer' }; }
      case 4: { const b = Uint8Array.from(real); b.set(rnd.bytes(8), 0); return { bytes: b, from: peerSocket, kind: 'unknown cookies' }; }
      case 5: return { bytes: [mm1, mm3, mm5, dpd][rint(4)]!, from: peerSocket, kind: 'replayed MM1/MM3/MM5/DPD' };
      case 6: return { bytes: corruptBody(heldMm5Bytes), from: peerSocket, kind: 'MM5 with corrupted encrypted body' };
      case 7: return { bytes: mutate(real), from: peerSocket, kind: 'bit-flipped real message' };
      case 8: return { bytes: rnd.bytes(rint(600)), from: rint(2) === 0 ? peerSocket : stranger, kind: 'random bytes' };
      default: return { bytes: mutate(real), from: stranger, kind: 'bit-flipped, unknown peer' };
    }
  }

  const pid = daemon.pid;
  const rssBefore = await rssKb(pid);
  const s0 = await stats();
  const started = performance.now();
  let sent = 0;
  while (sent < TOTAL) {
    for (let k = 0; k < BATCH && sent < TOTAL; k++, sent++) {
      const d = next(sent);
      kinds[d.kind] = (kinds[d.kind] ?? 0) + 1;
      await sendTo(d.from, d.bytes);
    }
    // bounded batches: let the daemon take each batch before the next (no kernel drops, no fixed sleep)
    const target = s0.transport.datagramsReceived! + sent;
    let seen = 0;
    try {
      await waitFor(async () => (seen = (await stats()).transport.datagramsReceived!) >= target, 5000, `the daemon to receive ${sent} datagrams`);
    } catch (e) {
      throw new Error(`daemon received ${seen - s0.transport.datagramsReceived!} of ${sent} (alive ${pidAlive(pid)}); kinds ${JSON.stringify(kinds)}`, { cause: e });
    }
    await new Promise((r) => setImmediate(r));
  }
  const floodSeconds = (performance.now() - started) / 1000;
  const s1 = await stats();
  const rssAfter = await rssKb(pid);
  const d = (k: string): number => (s1.ike[k] ?? 0) - (s0.ike[k] ?? 0);

  assert.ok(pidAlive(pid) && daemon.child.running, 'the daemon is alive');
  assert.equal(s1.transport.datagramsReceived! - s0.transport.datagramsReceived!, TOTAL, 'transport received every datagram');
  assert.equal(s1.transport.handlerErrors ?? 0, s0.transport.handlerErrors ?? 0, 'no handler errors');
  assert.equal(d('datagramsReceived'), TOTAL, 'IKE received every datagram');

  // Every datagram ends in exactly one outcome: a drop counter, or one of the "acted on" counters.
  const dropNames = Object.keys(s1.ike).filter((k) => k.endsWith('Dropped') || k === 'duplicateRequests' || k === 'halfOpenRejected');
  // Drops that can only follow a successfully opened informational (which already counted informationalReceived).
  const afterInformational = ['dpdSpiMismatchDropped', 'dpdAckMismatchDropped', 'dpdStaleSequenceDropped', 'initialContactSpiMismatchDropped'];
  const drops = dropNames.reduce((a, k) => a + d(k), 0);
  // phase2Routed: an exchange other than 2/5 under an established SA, handed to the daemon's phase-2 (GDOI) handler.
  const handled = d('negotiationsStarted') + d('informationalReceived') + d('noProposalChosen') + d('authFailed') + d('saEstablished')
    + d('phase2Routed');
  const overlap = afterInformational.reduce((a, k) => a + d(k), 0);
  const breakdown = Object.fromEntries(Object.keys(s1.ike).map((k) => [k, d(k)]).filter(([, v]) => v !== 0));
  console.log(`# flood: ${TOTAL} datagrams in ${floodSeconds.toFixed(1)} s; kinds ${JSON.stringify(kinds)}`);
  console.log(`# counter deltas ${JSON.stringify(breakdown)}`);
  console.log(`# VmRSS before ${rssBefore} kB, after ${rssAfter} kB, growth ${rssAfter - rssBefore} kB (bound ${RSS_BOUND_KB} kB)`);
  console.log(`# accounting: drops ${drops} + handled ${handled} - overlap ${overlap} = ${drops + handled - overlap} vs received ${TOTAL}`);
  assert.equal(drops + handled - overlap, TOTAL, `every datagram accounted for: ${JSON.stringify(breakdown)}`);
  assert.ok(rssAfter - rssBefore < RSS_BOUND_KB, `RSS grew ${rssAfter - rssBefore} kB`);
  assert.ok(d('duplicateRequests') > 0 && d('malformedDropped') > 0 && d('unknownPeerDropped') > 0 && d('unknownCookieDropped') > 0,
    'the flood reached the duplicate cache and the malformed, unknown-peer and unknown-cookie checks');
  // the negotiation held at message 5 ended at the first message 5 with a wrong HASH, and only then
  assert.equal(d('authFailed'), 1, 'one AUTHENTICATION-FAILED: the held negotiation, at the wrong HASH');
  assert.ok(d('decryptFailedDropped') > 0 && d('hashMismatchDropped') > 0, 'corrupted encrypted bodies reached decryption and HASH checks');

  // 4. a valid initiator still completes Main Mode
  const third = new Initiator(peerSocket, false);
  await waitFor(() => third.up === 1, 10_000, 'a valid initiator to complete Main Mode after the flood');
  assert.ok((await daemon.sas()).some((s) => s.state === 'UP'));
  assert.ok(pidAlive(pid));
});
