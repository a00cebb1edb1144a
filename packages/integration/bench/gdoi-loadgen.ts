/**
 * Load generator for bench/register.ts and bench/rekey.ts: its own process (pinned to a core by the
 * caller), simulating N group members against ONE real root-server daemon (standalone GCKS).
 *
 * Each member is the engine itself, as packages/root-server/test/member-client.ts builds one: an
 * @gvpn/ike IkeEndpoint (Main Mode initiator, PSK) and an @gvpn/gdoi PullInitiator over its own UDP socket
 * bound to its own loopback address (127.60.0.0/14 upwards: the server keeps one registration per member
 * address), then a PushReceiver that accepts pushes and ACKs them back (RFC 8263) from the same socket.
 * At most `concurrency` registrations are in flight; when one finishes the next member starts.
 *
 * Lean, as bench/ike-loadgen.ts is: in THIS process only, the DH group's key generation hands out one of
 * a small pool of pre-generated key pairs (POOL) instead of a fresh one, and each pool pair remembers the
 * shared secret per server public value (a server reusing its DH key pair, `dh-reuse-seconds`, offers the
 * same one for seconds), so the generator's one core is not spent on DH while the server's is measured:
 * every real member has a CPU of its own. Everything else (messages, hashes, encryption, pull, push
 * verification) is the engine's own code. Never do this outside a benchmark.
 *
 * argv[2]: JSON {server:{address,port}, psk, groupId, dhGroup, members, concurrency, memberOffset?, watchTeks?}
 * stdout, one JSON line each:
 *   {"event":"registered", n, wallMs, perS, p50Ms, p99Ms, retries, cpuMs, attempts}   after all N registered
 *   {"event":"tek", spi, installed, of, firstMono, p50Mono, lastMono, ...}  (with `watchTeks`) see below
 * Then it keeps listening (pushes are still ACKed) until killed.
 *
 * For bench/rekey.ts and bench/cluster.ts, which run several generators and start the rekey themselves:
 * `memberOffset` shifts the member addresses (generator g takes members offset..offset+N-1, so generators
 * never share an address); with `watchTeks` every member records, for each TEK it did not have, when it
 * accepted the push carrying it, on the host's monotonic clock (`monoMs`: CLOCK_MONOTONIC, the same in
 * every process, unlike performance.now()). Once all N members hold a TEK the generator prints a "tek" line
 * for it; SIGUSR2 prints one for every TEK seen so far, complete or not (`installed` < `of`).
 */
import { createSocket, type Socket } from 'node:dgram';
import { Secret, dhGroup, systemRandom, type DhKeyPair } from '@gvpn/crypto';
import { IkeEndpoint, type Endpoint, type IkeSa, type Logger } from '@gvpn/ike';
import { lookupLiteral } from '@gvpn/runtime';
// @gvpn/gdoi is not a dependency of this package: loaded by path from dist/bench at run time, typed here
// only as far as this file uses it.
/* eslint-disable @typescript-eslint/no-explicit-any */
const gdoi = (await import(new URL('../../../gdoi/dist/src/index.js', import.meta.url).href)) as any;
interface PullInitiator {
  readonly messageId: number;
  state: string;
  result: unknown;
  start(now: number): void;
  handle(d: Uint8Array, h: unknown, now: number): void;
  poll(now: number): void;
}
interface PushReceiver {
  readonly teks: Map<string, unknown>;
  handle(d: Uint8Array): { accepted: boolean; ack?: Uint8Array; newTeks?: { spi: Uint8Array }[] };
}
const { PullInitiator, PushReceiver, tryHeader, hex } = gdoi as {
  PullInitiator: new (c: unknown) => PullInitiator;
  PushReceiver: new (c: unknown) => PushReceiver;
  tryHeader(d: Uint8Array): { messageId: number } | undefined;
  hex(b: Uint8Array): string;
};

interface Args {
  server: Endpoint;
  psk: string;
  groupId: number;
  dhGroup: 14 | 19;
  members: number;
  concurrency: number;
  memberOffset?: number;
  watchTeks?: boolean;
}
const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const POOL = 16;
const GROUPKEY_PUSH = 33;
const quietLog: Logger = { info() {}, warn() {}, debug() {}, trace() {}, error() {}, child() { return quietLog; } };
const emit = (o: Record<string, unknown>): void => { process.stdout.write(`${JSON.stringify(o)}\n`); };
/** The host's monotonic clock in ms (CLOCK_MONOTONIC via libuv): comparable between processes. */
const monoMs = (): number => Number(process.hrtime.bigint()) / 1e6;

// The lean key generation and agreement (see the file comment).
{
  const group = dhGroup(args.dhGroup);
  const pool: DhKeyPair[] = Array.from({ length: POOL }, () => {
    const pair = group.generate(systemRandom);
    const secrets = new Map<string, Uint8Array>();
    return {
      publicValue: pair.publicValue,
      // The engine wipes what it is given once the keys are derived: hand out a copy.
      computeSecret: (peer: Uint8Array) => {
        const key = Buffer.from(peer).toString('hex');
        let secret = secrets.get(key);
        if (secret === undefined) {
          if (secrets.size >= 64) secrets.clear();
          secret = pair.computeSecret(peer);
          secrets.set(key, secret);
        }
        return Uint8Array.from(secret);
      },
      wipe: () => {},
    };
  });
  let next = 0;
  group.generate = () => pool[next++ % POOL] as DhKeyPair;
}

/** Member i's address: 127.(60+i/62500).(1+(i/250)%250).(1+i%250), never a .0 or .255. */
function memberAddress(i: number): string {
  return `127.${60 + Math.floor(i / 62_500)}.${1 + (Math.floor(i / 250) % 250)}.${1 + (i % 250)}`;
}

const psk = new TextEncoder().encode(args.psk);
const proposal = { encryption: 'aes-256-cbc' as const, hash: 'sha256' as const, dhGroup: args.dhGroup, lifetimeSeconds: 3600 };

class Member {
  readonly ike: IkeEndpoint;
  pull: PullInitiator | undefined;
  receiver: PushReceiver | undefined;
  startedAt = 0;
  registeredAt: number | undefined;
  acksSent = 0;
  pushDrops = 0;
  attempts = 0;

  constructor(readonly socket: Socket, readonly local: Endpoint, private readonly done: (m: Member) => void) {
    this.ike = new IkeEndpoint({
      local,
      gateways: [{ name: 'ks', peer: args.server, psk: Secret.copyOf(psk), initiate: true, proposals: [proposal] }],
      options: { maxHalfOpen: 4, retransmitInitialMs: 1000, retransmitTries: 3, allowLegacyGroups: false },
      random: systemRandom, log: quietLog,
      send: (bytes, to) => this.socket.send(bytes, to.port, to.address),
      events: {
        saUp: (sa) => this.startPull(sa),
        phase2: (_sa, d, now) => {
          const h = tryHeader(d);
          const pull = this.pull;
          if (h === undefined || pull === undefined || h.messageId !== pull.messageId) return;
          pull.handle(d, h, now);
          if (pull.state === 'done' && pull.result !== undefined && this.receiver === undefined) {
            this.receiver = new PushReceiver({ pull: pull.result, memberAddress: this.local.address });
            this.registeredAt = performance.now();
            this.done(this);
          }
        },
      },
    });
    socket.on('message', (msg, rinfo) => {
      const bytes = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
      if (bytes.length >= 28 && bytes[18] === GROUPKEY_PUSH) {
        if (this.receiver === undefined) return;
        // Pushes are queued and handled a few at a time, so that `arrivedAt` is close to when the datagram
        // reached this process rather than behind the verification of every push received before it.
        pushQueue.push({ member: this, bytes, to: { address: rinfo.address, port: rinfo.port }, arrivedMono: monoMs() });
        if (pushQueue.length === 1) setImmediate(drainPushes);
      } else {
        this.ike.handleDatagram(bytes, { address: rinfo.address, port: rinfo.port }, Date.now());
      }
    });
  }

  /** Accepts (or drops) one push and ACKs it, as a member does. */
  handlePush(bytes: Uint8Array, to: Endpoint, arrivedMono: number): void {
    const receiver = this.receiver as PushReceiver;
    const known = new Set(receiver.teks.keys());
    const t = performance.now();
    const out = receiver.handle(bytes);
    if (out.ack !== undefined) {
      this.socket.send(out.ack, to.port, to.address);
      this.acksSent++;
    }
    if (!out.accepted) this.pushDrops++;
    else {
      const fresh = (out.newTeks ?? []).map((x) => hex(x.spi)).filter((spi) => !known.has(spi));
      if (args.watchTeks === true) {
        const at = monoMs();
        for (const spi of fresh) tekInstalled(spi, { at, arrived: arrivedMono, workMs: performance.now() - t });
      }
    }
  }

  start(): void {
    this.attempts++;
    this.startedAt = performance.now();
    this.ike.start(Date.now());
  }

  private startPull(sa: IkeSa): void {
    this.pull = new PullInitiator({
      sa, groupId: args.groupId, random: systemRandom, send: (bytes: Uint8Array, to: Endpoint) => this.socket.send(bytes, to.port, to.address),
      retransmitInitialMs: 1000, retransmitTries: 3,
    });
    this.pull.start(Date.now());
  }

  /** Retransmissions and timeouts: only members still registering need it. */
  poll(now: number): void {
    this.ike.poll(now);
    this.pull?.poll(now);
  }

  /** Registering has failed: give up on this attempt and start again (new IKE SA). */
  get failed(): boolean {
    return this.pull?.state === 'failed';
  }

  restart(): void {
    this.ike.stop(Date.now());
    this.pull = undefined;
    this.start();
  }
}

const pushQueue: { member: Member; bytes: Uint8Array; to: Endpoint; arrivedMono: number }[] = [];
function drainPushes(): void {
  for (const p of pushQueue.splice(0, 8)) p.member.handlePush(p.bytes, p.to, p.arrivedMono);
  if (pushQueue.length > 0) setImmediate(drainPushes);
}

/** With `watchTeks`: per TEK SPI, when each member accepted the push carrying it (see the file comment). */
const tekInstalls = new Map<string, { at: number; arrived: number; workMs: number }[]>();
function tekInstalled(spi: string, install: { at: number; arrived: number; workMs: number }): void {
  const list = tekInstalls.get(spi) ?? [];
  tekInstalls.set(spi, list);
  list.push(install);
  if (list.length === args.members) emitTek(spi);
}
function emitTek(spi: string): void {
  const list = tekInstalls.get(spi) ?? [];
  const at = list.map((x) => x.at).sort((x, y) => x - y);
  const work = list.map((x) => x.workMs).sort((x, y) => x - y);
  emit({
    event: 'tek', spi, installed: list.length, of: args.members,
    firstMono: at[0] ?? null, p50Mono: at[Math.floor(at.length / 2)] ?? null, lastMono: at[at.length - 1] ?? null,
    lastArrivalMono: list.length === 0 ? null : Math.max(...list.map((x) => x.arrived)),
    // Each real member has its own CPU: it would have installed one push's work after the push arrived.
    ownCpuLastMono: list.length === 0 ? null : Math.max(...list.map((x) => x.arrived + x.workMs)),
    memberWorkMedianMs: work[Math.floor(work.length / 2)] ?? null,
    acksSent: members.reduce((n, m) => n + m.acksSent, 0), pushDrops: members.reduce((n, m) => n + m.pushDrops, 0),
  });
}
process.on('SIGUSR2', () => { for (const spi of tekInstalls.keys()) emitTek(spi); });
// A normal exit on SIGTERM, so that `--cpu-prof` (GVPN_BENCH_PROFILE) writes its profile.
process.on('SIGTERM', () => process.exit(0));

const members: Member[] = [];
const offset = args.memberOffset ?? 0;
for (let i = 0; i < args.members; i++) {
  // Sends to an address without the resolver's deferred callback, as the daemons' transport does.
  const socket = createSocket({ type: 'udp4', lookup: lookupLiteral });
  // The callback is attached before the (here synchronous) lookup, so 'listening' cannot be missed.
  await new Promise<void>((resolve) => socket.bind(0, memberAddress(offset + i), resolve));
  members.push(new Member(socket, { address: memberAddress(offset + i), port: socket.address().port }, (m) => finished(m)));
}

const inFlight = new Set<Member>();
let nextIndex = 0;
let registered = 0;
let retries = 0;
const latencies: number[] = [];
let allRegistered: () => void;
const registeredPromise = new Promise<void>((r) => { allRegistered = r; });

function launch(): void {
  while (inFlight.size < args.concurrency && nextIndex < members.length) {
    const m = members[nextIndex++] as Member;
    inFlight.add(m);
    m.start();
  }
}
function finished(m: Member): void {
  inFlight.delete(m);
  registered++;
  latencies.push((m.registeredAt as number) - m.startedAt);
  if (registered === members.length) allRegistered();
  else launch();
}
// One timer for all registering members (an established SA needs no polling within a run).
const poller = setInterval(() => {
  const now = Date.now();
  for (const m of inFlight) {
    m.poll(now);
    if (m.failed) { retries++; m.restart(); }
  }
}, 20);

const cpu0 = process.cpuUsage();
const t0 = performance.now();
launch();
await registeredPromise;
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
clearInterval(poller);
latencies.sort((a, b) => a - b);
const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] as number;
emit({
  event: 'registered', n: registered, wallMs: Math.round(wallMs), perS: registered / (wallMs / 1000),
  p50Ms: pct(50), p99Ms: pct(99), retries, cpuMs: Math.round((cpu.user + cpu.system) / 1000), attempts: members.reduce((s, m) => s + m.attempts, 0),
});

