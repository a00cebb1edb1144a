/**
 * A GCKS and a member in-process: two real IkeEndpoints (Main Mode, PSK) over an in-memory network with a
 * manual clock (after packages/ike/test/harness.ts). The phase-2 hook of each endpoint goes to this
 * package's tasks: the GCKS's to a PullResponder, the member's to its current PullInitiator. Datagrams
 * queue up and are delivered one at a time, so tests can drop, repeat or alter each message.
 */
import { Secret, seededRandom } from '@gvpn/crypto';
import type { RandomSource } from '@gvpn/crypto';
import { IkeEndpoint } from '@gvpn/ike';
import type { Endpoint, IkeSa, Logger } from '@gvpn/ike';
import { HEADER_LENGTH } from '@gvpn/wire';
import { GcksGroup, PullInitiator, PullResponder, signingKeyFrom, tryHeader } from '../src/index.js';
import type { Authorization, GroupPolicy, PullResponderConfig, SigningKey } from '../src/index.js';
import { generateKeyPairSync } from 'node:crypto';

export interface Datagram {
  bytes: Uint8Array;
  from: Endpoint;
  to: Endpoint;
}

export const quietLog: Logger = {
  info() {}, warn() {}, debug() {}, trace() {}, error() {},
  child() { return quietLog; },
};

export const SERVER: Endpoint = { address: '127.0.0.2', port: 848 };
export const MEMBER: Endpoint = { address: '127.0.0.1', port: 848 };

let cachedKey: SigningKey | undefined;
/** One RSA-2048 key per test process (generation costs ~100 ms). */
export function signingKey(): SigningKey {
  if (cachedKey === undefined) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    cachedKey = signingKeyFrom(privateKey, publicKey);
  }
  return cachedKey;
}

export function policy(overrides: Partial<GroupPolicy> = {}): GroupPolicy {
  return {
    groupId: 1,
    kek: {
      cipher: 'aes-256-cbc', lifetimeSeconds: 3600, sigHash: 'sha256', rsaBits: 2048, ackRequested: true,
      pushSource: { address: SERVER.address, port: 848 }, pushDestination: { address: MEMBER.address, port: 848 },
    },
    teks: [
      { name: 'ipsec-1', cipher: 'aes-256-cbc', integrity: 'hmac-sha-256-128', protocol: 0,
        source: { prefix: '172.16.0.0/12', port: 0 }, destination: { prefix: '172.16.0.0/12', port: 0 },
        lifetimeSeconds: 3600, antiReplayWindowSeconds: 100 },
      { name: 'ipsec-2', cipher: 'aes-gcm-256', protocol: 17,
        source: { prefix: '10.1.0.0/16', port: 0 }, destination: { prefix: '10.2.0.0/16', port: 5000 }, lifetimeSeconds: 1800 },
    ],
    activationDelaySeconds: 15, deactivationDelaySeconds: 30,
    ...overrides,
  };
}

export interface Setup {
  now: number;
  queue: Datagram[];
  sent: Datagram[];
  server: IkeEndpoint;
  member: IkeEndpoint;
  serverSa(): IkeSa;
  memberSa(): IkeSa;
  groups: Map<number, GcksGroup>;
  responder: PullResponder;
  committed: { groupId: number; at: number }[];
  authorizeCalls: number;
  pulls: PullInitiator[];
  random: RandomSource;
  /** `<icookie hex>,<encryption key hex>` lines of the IKE SAs (tshark's ikev1_decryption_table). */
  keyLog: string[];
  step(mutate?: (d: Datagram) => Datagram | undefined): Datagram | undefined;
  flush(): void;
  advance(ms: number): void;
  startPull(groupId?: number, options?: { littleEndian?: boolean }): PullInitiator;
}

export interface SetupOptions {
  groups?: GroupPolicy[];
  authorize?: (groupId: number) => Authorization;
  refusal?: PullResponderConfig['refusal'];
  seed?: string;
  /** DOI of both phase-1 SA payloads (1 lets tshark decrypt the exchanges). */
  doi?: 1 | 2;
  maxExchanges?: number;
  /** GroupSnapshot.teksLifetimeLeft of every group (seconds left of the current TEKs). */
  teksLifetimeLeft?: () => number;
  /** The responder's logger (default: quiet). */
  responderLog?: Logger;
}

export function setup(opts: SetupOptions = {}): Setup {
  const random = seededRandom(opts.seed ?? 'gdoi-test');
  const groups = new Map<number, GcksGroup>();
  for (const p of opts.groups ?? [policy()]) groups.set(p.groupId, new GcksGroup(p, random, signingKey()));
  const s = { now: 0, queue: [] as Datagram[], sent: [] as Datagram[], committed: [] as { groupId: number; at: number }[], authorizeCalls: 0, pulls: [] as PullInitiator[] } as Setup;
  s.groups = groups;
  s.random = random;
  s.keyLog = [];
  const doi = opts.doi === undefined ? {} : { doi: opts.doi };
  const net = (from: Endpoint) => (bytes: Uint8Array, to: Endpoint): void => {
    const d = { bytes: Uint8Array.from(bytes), from, to };
    s.queue.push(d);
    s.sent.push(d);
  };
  s.responder = new PullResponder({
    group: (id) => {
      const g = groups.get(id);
      const left = opts.teksLifetimeLeft;
      if (g === undefined || left === undefined) return g;
      return { policy: g.policy, kek: g.kek, teks: g.teks, seq: () => g.seq(), teksLifetimeLeft: left };
    },
    authorize: (_sa, groupId) => {
      s.authorizeCalls++;
      return opts.authorize?.(groupId) ?? { ok: true };
    },
    commit: (_sa, groupId, now) => { s.committed.push({ groupId, at: now }); },
    refusal: opts.refusal ?? 'silent',
    random, send: net(SERVER), log: opts.responderLog ?? quietLog,
    ...(opts.maxExchanges === undefined ? {} : { maxExchanges: opts.maxExchanges }),
  });
  const psk = new Secret(new TextEncoder().encode('gdoi-lab-secret'));
  const proposals = [{ encryption: 'aes-256-cbc', hash: 'sha256', dhGroup: 19, lifetimeSeconds: 3600 }] as const;
  const options = { maxHalfOpen: 16, retransmitInitialMs: 1000, retransmitTries: 3, allowLegacyGroups: false };
  s.server = new IkeEndpoint({
    local: SERVER, gateways: [{ name: 'gm', peer: MEMBER, psk, proposals: [...proposals], initiate: false, ...doi }], options,
    random: seededRandom(`${opts.seed ?? 'gdoi-test'}-server`), log: quietLog, send: net(SERVER),
    events: {
      phase2: (sa, datagram, now) => {
        const h = tryHeader(datagram);
        if (h !== undefined) s.responder.handle(sa, datagram, h, now);
      },
    },
  });
  s.member = new IkeEndpoint({
    local: MEMBER, gateways: [{ name: 'ks', peer: SERVER, psk, proposals: [...proposals], initiate: true, ...doi }], options,
    random: seededRandom(`${opts.seed ?? 'gdoi-test'}-member`), log: quietLog, send: net(MEMBER), keyLog: (line) => s.keyLog.push(line),
    events: {
      phase2: (_sa, datagram, now) => {
        const h = tryHeader(datagram);
        if (h === undefined) return;
        s.pulls.find((p) => p.messageId === h.messageId)?.handle(datagram, h, now);
      },
    },
  });
  s.serverSa = () => {
    const sa = s.server.establishedSas()[0];
    if (sa === undefined) throw new Error('server has no IKE SA');
    return sa;
  };
  s.memberSa = () => {
    const sa = s.member.establishedSas()[0];
    if (sa === undefined) throw new Error('member has no IKE SA');
    return sa;
  };
  s.step = (mutate) => {
    const d = s.queue.shift();
    if (d === undefined) return undefined;
    const delivered = mutate === undefined ? d : mutate(d);
    if (delivered !== undefined) {
      const target = delivered.to.address === SERVER.address ? s.server : s.member;
      target.handleDatagram(delivered.bytes, delivered.from, s.now);
    }
    return d;
  };
  s.flush = () => {
    for (let n = 0; s.queue.length > 0; n++) {
      if (n > 200) throw new Error('message loop');
      s.step();
    }
  };
  s.advance = (ms) => {
    const end = s.now + ms;
    for (;;) {
      const deadlines = [s.server.nextDeadline(), s.member.nextDeadline(), s.responder.nextDeadline(), ...s.pulls.map((p) => p.nextDeadline())]
        .filter((x): x is number => x !== undefined && x <= end);
      if (deadlines.length === 0) break;
      s.now = Math.max(s.now, Math.min(...deadlines));
      s.server.poll(s.now);
      s.member.poll(s.now);
      s.responder.poll(s.now);
      for (const p of s.pulls) p.poll(s.now);
      s.flush();
    }
    s.now = end;
  };
  s.startPull = (groupId = 1, o = {}) => {
    const p = new PullInitiator({
      sa: s.memberSa(), groupId, random, send: net(MEMBER), log: quietLog, groupIdLittleEndian: o.littleEndian ?? false,
      retransmitInitialMs: 1000, retransmitTries: 2,
    });
    s.pulls.push(p);
    p.start(s.now);
    return p;
  };
  s.member.start(0);
  s.flush();
  return s;
}

/**
 * Re-encrypts a PULL message with one HASH byte flipped, under the IV the receiver expects, so the
 * receiver sees a well-formed message whose HASH is wrong (not just garbage).
 */
export function flipHash(sa: IkeSa, datagram: Uint8Array, iv: Uint8Array): Uint8Array {
  const plain = sa.decrypt(datagram.subarray(HEADER_LENGTH), iv);
  const copy = Uint8Array.from(plain);
  copy[4] = (copy[4] as number) ^ 0x01;
  const ct = sa.encrypt(copy, iv);
  const out = Uint8Array.from(datagram);
  out.set(ct, HEADER_LENGTH);
  return out;
}

export function lastBlockOf(datagram: Uint8Array): Uint8Array {
  return datagram.slice(datagram.length - 16);
}

export function hexOf(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
