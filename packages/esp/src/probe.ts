/**
 * Traffic probe: small ESP packets between group members, to measure loss across rekeys.
 *
 * Every `intervalMs`, the probe sends one packet to each peer. Its inner IPv4/UDP header falls inside
 * the group policy: source = host `memberId` of policy.source, destination = host `peer.memberId` of
 * policy.destination (e.g. 172.16.0.0/12: member 3 -> 172.16.0.3), UDP port `probePort` both ways.
 * With several SAs (selectors) each member probes in one of them (`retarget` moves it to another), and a
 * receiver checks the sender id against the selector of the SA the probe came under.
 * The UDP payload (24 bytes, big-endian):
 *
 *   0      4        5          8          12           16                 24
 *   | GVPP | ver=1  | reserved | senderId | probe seq  | sent at (float64 ms) |
 *
 * The probe sequence counts per (sender, destination) from 1. A receiver keeps, per sender id, how many
 * distinct probes arrived and the highest sequence, so that
 *   loss(A -> B) = A.sentTo(B) - B.receivedFrom(A)
 * and `highest - received` is the number of gaps seen so far. A probe that could not even be sent (no
 * outbound TEK) counts in `sendFailures` for that peer: it is lost traffic too.
 *
 * Reordering is tracked over the last PROBE_REORDER_WINDOW sequences of each sender: a probe missing
 * further back is written off (it stays in the gaps), and if it arrives after all it counts as a
 * duplicate, since it cannot be told from one without keeping every sequence ever seen.
 */
import { type DeliveredPacket, type EspEndpoint, type PeerAddress, type SendResult } from './endpoint.js';
import { EspError } from './errors.js';
import { buildIpv4Udp, hostInPrefix, parseIpv4Udp } from './ipv4.js';
import { type TekPolicy } from './tek.js';

export const PROBE_MAGIC = 0x47565050; // "GVPP"
export const PROBE_VERSION = 1;
export const PROBE_PAYLOAD_LENGTH = 24;
export const DEFAULT_PROBE_PORT = 9; // discard
/** Sequences a receiver tracks below each sender's highest; bounds its state to this many entries. */
export const PROBE_REORDER_WINDOW = 1024;

export interface ProbePayload {
  senderId: number;
  seq: number;
  sentAt: number;
}

export function encodeProbePayload(probe: ProbePayload): Uint8Array {
  const out = new Uint8Array(PROBE_PAYLOAD_LENGTH);
  const view = new DataView(out.buffer);
  view.setUint32(0, PROBE_MAGIC);
  view.setUint8(4, PROBE_VERSION);
  view.setUint32(8, probe.senderId);
  view.setUint32(12, probe.seq);
  view.setFloat64(16, probe.sentAt);
  return out;
}

export function decodeProbePayload(payload: Uint8Array): ProbePayload {
  if (payload.length !== PROBE_PAYLOAD_LENGTH) throw new EspError('MALFORMED', `probe payload of ${payload.length} bytes`);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
  if (view.getUint32(0) !== PROBE_MAGIC || view.getUint8(4) !== PROBE_VERSION) throw new EspError('MALFORMED', 'not a probe');
  return { senderId: view.getUint32(8), seq: view.getUint32(12), sentAt: view.getFloat64(16) };
}

export interface ProbePeer extends PeerAddress {
  memberId: number;
}

export interface TrafficProbeOptions {
  endpoint: EspEndpoint;
  memberId: number;
  peers: readonly ProbePeer[];
  intervalMs: number;
  policy: TekPolicy;
  probePort?: number;
}

export interface ProbePeerStats extends ProbePeer {
  sent: number;
  sendFailures: number;
  lastResult: SendResult | undefined;
}

export interface ProbeSenderStats {
  senderId: number;
  received: number;
  highest: number;
  duplicates: number;
}

export interface ProbeStats {
  memberId: number;
  peers: ProbePeerStats[];
  senders: ProbeSenderStats[];
  /** delivered packets that were not probes, or whose inner source does not match their sender id */
  invalid: number;
}

interface SenderState {
  received: number;
  highest: number;
  duplicates: number;
  /** sequences above `contiguous` already seen (out of order), to count duplicates exactly */
  seen: Set<number>;
  /** every sequence up to this one was received or written off (>= highest - PROBE_REORDER_WINDOW) */
  contiguous: number;
}

export class TrafficProbe {
  readonly #options: TrafficProbeOptions;
  readonly #peers: ProbePeerStats[];
  readonly #senders = new Map<number, SenderState>();
  #policy: TekPolicy;
  #invalid = 0;
  #nextAt: number | undefined;

  constructor(options: TrafficProbeOptions) {
    if (!Number.isFinite(options.intervalMs) || options.intervalMs <= 0) throw new EspError('BAD_ARGUMENT', `probe interval ${options.intervalMs}`);
    checkFits(options.policy, options.memberId, options.peers);
    this.#options = options;
    this.#policy = options.policy;
    this.#peers = options.peers.map((peer) => ({ ...peer, sent: 0, sendFailures: 0, lastResult: undefined }));
  }

  /** The selector the probes are sent in. */
  get policy(): TekPolicy {
    return this.#policy;
  }

  /**
   * Sends from now on inside `policy` (the SA of the old one is gone), counters kept; throws EspError,
   * changing nothing, when our or a peer's host number does not fit it.
   */
  retarget(policy: TekPolicy): void {
    checkFits(policy, this.#options.memberId, this.#peers);
    this.#policy = policy;
  }

  /** Sends the probes that are due at `now`; returns the time of the next round. */
  tick(now: number): number {
    if (this.#nextAt !== undefined && now < this.#nextAt) return this.#nextAt;
    const { endpoint, memberId } = this.#options;
    const policy = this.#policy;
    const port = this.#options.probePort ?? DEFAULT_PROBE_PORT;
    const source = hostInPrefix(policy.source, memberId);
    for (const peer of this.#peers) {
      const seq = peer.sent + peer.sendFailures + 1;
      const inner = buildIpv4Udp({
        source, destination: hostInPrefix(policy.destination, peer.memberId), sourcePort: port, destinationPort: port,
        payload: encodeProbePayload({ senderId: memberId, seq, sentAt: now }), identification: seq,
      });
      const result = endpoint.send(inner, peer, now);
      peer.lastResult = result;
      if (result === 'sent') peer.sent++;
      else peer.sendFailures++;
    }
    this.#nextAt = (this.#nextAt ?? now) + this.#options.intervalMs;
    if (this.#nextAt <= now) this.#nextAt = now + this.#options.intervalMs; // we fell behind: do not burst
    return this.#nextAt;
  }

  /** Counts a delivered packet (wire this to the endpoint's `deliver`); returns whether it was a probe. */
  receive(packet: DeliveredPacket): boolean {
    let probe: ProbePayload;
    try {
      const udp = parseIpv4Udp(packet.inner);
      probe = decodeProbePayload(udp.payload);
      // The sender probes in a selector of its choice (its own probe may be in another SA of ours): the one
      // of the SA the packet came under says which host number the sender id must be.
      const selector = this.#options.endpoint.sad.get(packet.spi)?.policy ?? this.#policy;
      if (udp.source !== hostInPrefix(selector.source, probe.senderId) || probe.seq === 0) throw new EspError('MALFORMED', 'probe source');
    } catch (error) {
      if (!(error instanceof EspError)) throw error;
      this.#invalid++;
      return false;
    }
    let state = this.#senders.get(probe.senderId);
    if (state === undefined) {
      state = { received: 0, highest: 0, duplicates: 0, seen: new Set(), contiguous: 0 };
      this.#senders.set(probe.senderId, state);
    }
    if (probe.seq <= state.contiguous || state.seen.has(probe.seq)) {
      state.duplicates++;
      return true;
    }
    state.received++;
    state.highest = Math.max(state.highest, probe.seq);
    state.seen.add(probe.seq);
    const floor = state.highest - PROBE_REORDER_WINDOW;
    if (floor > state.contiguous) {
      // write off what is still missing below the window; it stays counted in highest - received.
      // Cost: the smaller of the jump and the set, so a huge sequence jump stays cheap.
      if (floor - state.contiguous < state.seen.size) {
        for (let seq = state.contiguous + 1; seq <= floor; seq++) state.seen.delete(seq);
      } else {
        for (const seq of state.seen) if (seq <= floor) state.seen.delete(seq);
      }
      state.contiguous = floor;
    }
    while (state.seen.delete(state.contiguous + 1)) state.contiguous++;
    return true;
  }

  sentTo(memberId: number): number {
    return this.#peers.find((p) => p.memberId === memberId)?.sent ?? 0;
  }

  receivedFrom(memberId: number): number {
    return this.#senders.get(memberId)?.received ?? 0;
  }

  stats(): ProbeStats {
    return {
      memberId: this.#options.memberId,
      peers: this.#peers.map((p) => ({ ...p })),
      senders: [...this.#senders].map(([senderId, s]) => ({ senderId, received: s.received, highest: s.highest, duplicates: s.duplicates })),
      invalid: this.#invalid,
    };
  }
}

/** Throws EspError when our inner source or a peer's destination does not fit `policy`. */
function checkFits(policy: TekPolicy, memberId: number, peers: readonly ProbePeer[]): void {
  hostInPrefix(policy.source, memberId);
  for (const peer of peers) hostInPrefix(policy.destination, peer.memberId);
}

/** Probes A sent to B that B has not received (A.sentTo(B) - B.receivedFrom(A)). */
export function probeLoss(a: TrafficProbe, aId: number, b: TrafficProbe, bId: number): number {
  return a.sentTo(bId) - b.receivedFrom(aId);
}
