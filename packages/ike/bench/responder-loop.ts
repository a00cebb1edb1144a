/**
 * CPU cost of the Main Mode responder alone, in process (no sockets, no other process): the tool to profile
 * the responder with.
 *   node packages/ike/dist/bench/responder-loop.js [group=19] [handshakes=3000] [established=0]
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof packages/ike/dist/bench/responder-loop.js 19 5000
 * One responder IkeEndpoint (gateway per initiator address, as the daemon has) answers fresh initiator
 * IkeEndpoints, one per handshake, each of which then deletes its SA. `established` SAs are set up first
 * and kept, so the responder works with a table of that size (timers, lookups). Only the time spent inside
 * the responder's handleDatagram/poll/nextDeadline is counted (process.hrtime around each call); the
 * machine is shared, so the figure is the median over batches of 100 handshakes. Ends with a RESULT line.
 */
import { Secret, dhGroup, systemRandom } from '@gvpn/crypto';
import { IkeEndpoint } from '../src/index.js';
import type { Endpoint, GatewayPolicy, IkeProposal, Logger } from '../src/index.js';

const group = Number(process.argv[2] ?? 19);
const handshakes = Number(process.argv[3] ?? 3000);
const established = Number(process.argv[4] ?? 0);
const BATCH = 100;

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];
/** Discards everything; reports `warn` and above as enabled, like the daemon at log level warn. */
const quiet: Logger = {
  info() {}, warn() {}, debug() {}, trace() {}, error() {}, child: () => quiet,
  isLevelEnabled: (level) => LEVELS.indexOf(level) >= LEVELS.indexOf('warn'),
};
const proposal: IkeProposal = { encryption: 'aes-256-cbc', hash: 'sha256', dhGroup: group, lifetimeSeconds: 3600 };
const psk = new Secret(new TextEncoder().encode('bench-only'));
const RESPONDER: Endpoint = { address: '10.0.0.1', port: 848 };
const PEERS = 64;
const peerAt = (i: number): Endpoint => ({ address: '10.0.1.1', port: 20000 + (i % PEERS) });
const kept = (i: number): Endpoint => ({ address: `10.1.${i >> 8}.${i & 255}`, port: 848 });

const queue: { bytes: Uint8Array; from: Endpoint; to: Endpoint }[] = [];
const gateways: GatewayPolicy[] = [
  ...Array.from({ length: PEERS }, (_, i) => ({ name: `g${i}`, peer: peerAt(i), psk, proposals: [proposal], initiate: false })),
  ...Array.from({ length: established }, (_, i) => ({
    name: `k${i}`, peer: kept(i), psk, proposals: [proposal], initiate: false, dpd: { interval: 10, threshold: 5 },
  })),
];
const responder = new IkeEndpoint({
  local: RESPONDER, gateways, options: { maxHalfOpen: 1024, retransmitInitialMs: 1000, retransmitTries: 3, allowLegacyGroups: false },
  random: systemRandom, log: quiet, send: (bytes, to) => queue.push({ bytes, from: RESPONDER, to }),
});

let inResponder = 0n;
let now = 0;
function timed<T>(f: () => T): T {
  const t0 = process.hrtime.bigint();
  try {
    return f();
  } finally {
    inResponder += process.hrtime.bigint() - t0;
  }
}

function handshake(local: Endpoint): IkeEndpoint {
  const initiator = new IkeEndpoint({
    local, gateways: [{ name: 'r', peer: RESPONDER, psk, proposals: [proposal], initiate: true, dpd: { interval: 10, threshold: 5 } }],
    options: { maxHalfOpen: 4, retransmitInitialMs: 1000, retransmitTries: 3, allowLegacyGroups: false },
    random: systemRandom, log: quiet, send: (bytes, to) => queue.push({ bytes, from: local, to }),
  });
  initiator.start(now);
  for (let d = queue.shift(); d !== undefined; d = queue.shift()) {
    if (d.to === RESPONDER || d.to.address === RESPONDER.address) {
      timed(() => {
        responder.handleDatagram(d.bytes, d.from, now);
        // What the daemon does after every datagram: re-arm its timer.
        responder.nextDeadline();
      });
    } else {
      initiator.handleDatagram(d.bytes, d.from, now);
    }
  }
  if (initiator.establishedSas().length !== 1) throw new Error('handshake failed');
  return initiator;
}

for (let i = 0; i < established; i++) {
  handshake(kept(i));
  now += 1;
}
const perBatch: number[] = [];
const before = responder.statistics().saEstablished;
for (let b = 0; b < handshakes / BATCH; b++) {
  inResponder = 0n;
  for (let i = 0; i < BATCH; i++) {
    const initiator = handshake(peerAt(i));
    initiator.clearSas(now); // Delete, as the bench's load generator does
    for (let d = queue.shift(); d !== undefined; d = queue.shift()) timed(() => responder.handleDatagram(d.bytes, d.from, now));
    now += 1;
    timed(() => {
      const deadline = responder.nextDeadline();
      if (deadline !== undefined && deadline <= now) responder.poll(now);
    });
  }
  perBatch.push(Number(inResponder) / 1000 / BATCH);
}
const done = responder.statistics().saEstablished - before;
perBatch.sort((a, b) => a - b);
const median = perBatch[perBatch.length >> 1] ?? NaN;
const best = perBatch[0] ?? NaN;
const dh = dhGroup(group);
const peerPublic = dh.generate(systemRandom).publicValue;
const t0 = process.hrtime.bigint();
for (let i = 0; i < 200; i++) dh.generate(systemRandom).computeSecret(peerPublic);
const dhPairUs = Number(process.hrtime.bigint() - t0) / 1000 / 200;
console.log(`group ${group}: ${done} responder handshakes with ${established} other SAs held; responder µs per handshake `
  + `(${perBatch.length} batches of ${BATCH}): median ${median.toFixed(0)}, best batch ${best.toFixed(0)}; `
  + `one keygen + compute ≈ ${dhPairUs.toFixed(0)} µs`);
console.log(`RESULT group=${group} responder_us_per_handshake=${median.toFixed(0)} best_batch_us=${best.toFixed(0)} held_sas=${established} dh_pair_us_approx=${dhPairUs.toFixed(0)}`);
