/**
 * CLUSTER-INIT / CLUSTER-UPDATE / ACK between a root and two sub-servers: three real IkeEndpoints (Main
 * Mode, PSK, group 19, DPD always-send on the root's sub gateways) over an in-memory network with a manual
 * clock, after harness.ts. The root's group is the GcksGroup a member registered with through a real
 * GROUPKEY-PULL (harness.ts), so the member's checks are those of a member of the root.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret, seededRandom } from '@gvpn/crypto';
import { IkeEndpoint } from '@gvpn/ike';
import type { Endpoint, IkeSa } from '@gvpn/ike';
import {
  CLUSTER_INIT, CLUSTER_UPDATE, CLUSTER_UPDATE_ACK, ClusterInitClient, ClusterInitResponder, ClusterUpdateReceiver,
  ClusterUpdateSender, GcksGroup, PushReceiver, SubClusterState, buildPush, hex, tryHeader, verifyAck,
} from '../src/index.js';
import type { ClusterKeys, ClusterUpdate, Kek, SubAction, Tek } from '../src/index.js';
import { MEMBER, flipHash, policy, quietLog, setup } from './harness.js';
import { pcap } from './pcap.js';

const ROOT: Endpoint = { address: '127.0.0.10', port: 848 };
const SUBS: Record<string, Endpoint> = { sub1: { address: '127.0.0.11', port: 848 }, sub2: { address: '127.0.0.12', port: 848 } };
const RETRY_MS = 5000;
const PERIOD_MS = 3000;

interface Datagram { bytes: Uint8Array; from: Endpoint; to: Endpoint; at: number }

interface Sub {
  name: string;
  ike: IkeEndpoint;
  state: SubClusterState;
  client: ClusterInitClient;
  receiver: ClusterUpdateReceiver;
  /** What the sub holds for the group (its GcksGroup in a daemon). */
  keys: ClusterKeys | undefined;
  actions: SubAction[];
  installs: ClusterUpdate[];
  failInstall: boolean;
  /** The gateway the sub takes updates from (its root). */
  rootGateway: string;
  sa(): IkeSa | undefined;
}

interface Cluster {
  now: number;
  queue: Datagram[];
  sent: Datagram[];
  /** Datagrams for which this returns true are lost. */
  drop: (d: Datagram) => boolean;
  root: IkeEndpoint;
  group: GcksGroup;
  responder: ClusterInitResponder;
  sender: ClusterUpdateSender;
  subs: Record<string, Sub>;
  member: PushReceiver;
  deadPeers: string[];
  keyLog: string[];
  flush(): void;
  advance(ms: number): void;
  rootSa(sub: string): IkeSa | undefined;
}

function exchangeOf(d: Datagram): number | undefined {
  return tryHeader(d.bytes)?.exchangeType;
}

function applyUpdate(sub: Sub, u: ClusterUpdate): void {
  const k = sub.keys;
  assert.ok(k !== undefined);
  if (u.kind === 'update-keys') {
    if (u.keys.kek !== undefined) k.kek = u.keys.kek;
    if (u.keys.teks.length > 0) k.teks = u.keys.teks;
    if (u.keys.seq !== undefined) k.seq = u.keys.seq;
  } else if (u.kind === 'update-delete-sas') {
    if (u.all) {
      delete k.kek;
      k.teks = [];
    }
    k.teks = k.teks.filter((t) => !u.teks.some((s) => hex(s) === hex(t.spi)));
    if (u.seq !== undefined) k.seq = u.seq;
  }
}

function cluster(opts: { doi?: 1 | 2 } = {}): Cluster {
  // The root's group, with a member registered through a real GROUPKEY-PULL.
  const gcks = setup({ groups: [policy()], seed: 'cluster-member' });
  const pull = gcks.startPull(1);
  gcks.flush();
  assert.equal(pull.state, 'done');
  assert.ok(pull.result !== undefined);
  const group = gcks.groups.get(1);
  assert.ok(group !== undefined);

  const random = seededRandom('cluster-test');
  const c = { now: 0, queue: [], sent: [], drop: () => false, subs: {}, deadPeers: [], keyLog: [] } as unknown as Cluster;
  const doi = opts.doi === undefined ? {} : { doi: opts.doi };
  c.group = group;
  c.member = new PushReceiver({ pull: pull.result, memberAddress: MEMBER.address });
  const net = (from: Endpoint) => (bytes: Uint8Array, to: Endpoint): void => {
    const d = { bytes: Uint8Array.from(bytes), from, to, at: c.now };
    c.queue.push(d);
    c.sent.push(d);
  };
  const psk = new Secret(new TextEncoder().encode('cluster-lab-secret'));
  const proposals = [{ encryption: 'aes-256-cbc', hash: 'sha256', dhGroup: 19, lifetimeSeconds: 3600 }] as const;
  const options = { maxHalfOpen: 16, retransmitInitialMs: 1000, retransmitTries: 3, allowLegacyGroups: false };
  c.rootSa = (sub) => c.root.establishedSas().find((sa) => sa.gateway.name === sub);
  c.sender = new ClusterUpdateSender({ sa: c.rootSa, random, send: net(ROOT), retransmissionPeriodMs: PERIOD_MS, log: quietLog });
  c.responder = new ClusterInitResponder({
    group: (id) => (id === 1 ? group : undefined),
    updateSeq: (id) => c.sender.updateSeq(id),
    answered: (sa, _groupId, now) => c.sender.markActive(sa.gateway.name, now),
    send: net(ROOT), log: quietLog,
  });
  for (const name of Object.keys(SUBS)) c.sender.addSub(name);
  c.root = new IkeEndpoint({
    local: ROOT,
    gateways: Object.entries(SUBS).map(([name, peer]) => ({ name, peer, psk, proposals: [...proposals], initiate: false, dpd: { interval: 2, threshold: 2 }, ...doi })),
    options, random: seededRandom('cluster-root'), log: quietLog, send: net(ROOT),
    events: {
      phase2: (sa, datagram, now) => {
        const h = tryHeader(datagram);
        if (h?.exchangeType === CLUSTER_INIT) c.responder.handle(sa, datagram, h, now);
        else if (h?.exchangeType === CLUSTER_UPDATE_ACK) c.sender.handle(sa, datagram, h, now);
      },
      peerDead: (gateway) => {
        c.deadPeers.push(gateway.name);
        c.sender.markInactive(gateway.name, c.now);
      },
    },
  });
  for (const [name, address] of Object.entries(SUBS)) {
    const state = new SubClusterState(1);
    const sub = { name, state, keys: undefined, actions: [], installs: [], failInstall: false, rootGateway: 'root' } as unknown as Sub;
    const ensureInit = (now: number, delay: number): void => {
      if (sub.state.initWanted && !sub.client.running) sub.client.start(now, delay);
    };
    sub.ike = new IkeEndpoint({
      local: address, gateways: [{ name: 'root', peer: ROOT, psk, proposals: [...proposals], initiate: true, ...doi }],
      options, random: seededRandom(`cluster-${name}`), log: quietLog, send: net(address), keyLog: (line) => c.keyLog.push(line),
      events: {
        phase2: (sa, datagram, now) => {
          const h = tryHeader(datagram);
          if (h?.exchangeType === CLUSTER_INIT) sub.client.handle(sa, datagram, h, now);
          else if (h?.exchangeType === CLUSTER_UPDATE) sub.receiver.handle(sa, datagram, h, now);
        },
      },
    });
    sub.sa = () => sub.ike.establishedSas()[0];
    sub.client = new ClusterInitClient({
      groupId: 1, sa: sub.sa, random, send: net(address), retryMs: RETRY_MS, log: quietLog,
      onResult: (result, now) => {
        sub.keys = { ...result.keys, teks: [...result.keys.teks] };
        sub.actions.push(...sub.state.initSucceeded(result, now));
        ensureInit(now, RETRY_MS);
      },
    });
    sub.receiver = new ClusterUpdateReceiver({
      authorize: (sa) => sa.gateway.name === sub.rootGateway,
      lastApplied: () => sub.state.updateSeq,
      install: (u, now) => {
        if (sub.failInstall) return false;
        applyUpdate(sub, u);
        sub.installs.push(u);
        sub.actions.push(...sub.state.updateInstalled(u, now));
        ensureInit(now, 0);
        return true;
      },
      gap: (_g, now) => {
        sub.actions.push(...sub.state.updateGap(now));
        ensureInit(now, 0);
      },
      send: net(address), log: quietLog,
    });
    c.subs[name] = sub;
  }
  const endpoints = (): { ike: IkeEndpoint; address: string }[] => [
    { ike: c.root, address: ROOT.address }, ...Object.values(c.subs).map((s) => ({ ike: s.ike, address: SUBS[s.name]?.address as string })),
  ];
  c.flush = () => {
    for (let n = 0; c.queue.length > 0; n++) {
      if (n > 500) throw new Error('message loop');
      const d = c.queue.shift() as Datagram;
      if (c.drop(d)) continue;
      endpoints().find((e) => e.address === d.to.address)?.ike.handleDatagram(d.bytes, d.from, c.now);
    }
  };
  const tasks = (): { nextDeadline(): number | undefined; poll(now: number): void }[] => [
    ...endpoints().map((e) => e.ike), c.sender, ...Object.values(c.subs).map((s) => s.client),
  ];
  c.advance = (ms) => {
    const end = c.now + ms;
    for (let n = 0; ; n++) {
      if (n > 10_000) throw new Error('timer loop');
      const deadlines = tasks().map((t) => t.nextDeadline()).filter((x): x is number => x !== undefined && x <= end);
      if (deadlines.length === 0) break;
      c.now = Math.max(c.now, Math.min(...deadlines));
      for (const t of tasks()) t.poll(c.now);
      c.flush();
    }
    c.now = end;
  };
  // Each sub starts in "root inactive" and wants a cluster-init (R-MSG-2a) before any IKE SA exists.
  for (const sub of Object.values(c.subs)) {
    assert.equal(sub.state.root, 'inactive');
    assert.equal(sub.state.initWanted, true);
    sub.client.start(0);
    sub.ike.start(0);
  }
  c.flush();
  return c;
}

/** A cluster with both subs initialised. */
function initialised(opts: { doi?: 1 | 2 } = {}): Cluster {
  const c = cluster(opts);
  c.advance(RETRY_MS);
  for (const sub of Object.values(c.subs)) assert.equal(sub.state.root, 'active', sub.name);
  return c;
}

function sentTo(c: Cluster, sub: string, exchange: number, since = 0): Datagram[] {
  return c.sent.filter((d) => d.to.address === SUBS[sub]?.address && exchangeOf(d) === exchange && d.at >= since);
}

function sentFrom(c: Cluster, sub: string, exchange: number, since = 0): Datagram[] {
  return c.sent.filter((d) => d.from.address === SUBS[sub]?.address && exchangeOf(d) === exchange && d.at >= since);
}

function keyFingerprint(k: { kek?: Kek; teks: readonly Tek[] }): unknown {
  return {
    kek: k.kek === undefined ? null : {
      spi: hex(k.kek.spi), key: hex(k.kek.key.reveal()), iv: hex(k.kek.iv), cipher: k.kek.cipher, sigHash: k.kek.sigHash,
      lifetime: k.kek.lifetimeSeconds, ack: k.kek.ackType, spki: hex(k.kek.publicKeyDer),
      pkcs8: k.kek.privateKey === undefined ? null : hex(k.kek.privateKey.export({ format: 'der', type: 'pkcs8' })),
    },
    teks: k.teks.map((t) => ({
      spi: hex(t.spi), enc: hex(t.encKey.reveal()), auth: t.authKey === undefined ? null : hex(t.authKey.reveal()),
      salt: t.salt === undefined ? null : hex(t.salt), cipher: t.policy.cipher, integrity: t.policy.integrity ?? null,
      lifetime: t.policy.lifetimeSeconds, src: t.policy.source, dst: t.policy.destination, proto: t.policy.protocol,
      antiReplay: t.policy.antiReplayWindowSeconds ?? null,
    })),
  };
}

/** The root rekeys its TEKs (its own PUSH to its members) and tells the subs (R-MSG-4). */
function rootTekRekey(c: Cluster): { push: Uint8Array; seq: number; updateSeq: number } {
  const { push } = c.group.rekeyTeks();
  const updateSeq = c.sender.publish(1, {
    kind: 'update-keys', groupId: 1, lifetimes: [],
    keys: { teks: [...c.group.teks], seq: push.seq, activationDelaySeconds: 15, deactivationDelaySeconds: 30 },
  }, c.now);
  c.flush();
  return { push: push.bytes, seq: push.seq, updateSeq };
}

describe('CLUSTER-INIT (R-MSG-1/2/3)', () => {
  it('gives each sub exactly the root\'s KEK/TEK SPIs, keys, signing key, SEQ; retried every 5 s until an IKE SA exists', () => {
    const c = cluster();
    for (const sub of Object.values(c.subs)) {
      // The first attempt ran at t=0 with no IKE SA: failed, nothing sent (R-MSG intro, R-MSG-3).
      assert.equal(sub.client.counters.noIkeSa, 1);
      assert.equal(sub.client.counters.initSent, 0);
      assert.equal(sub.state.root, 'inactive');
      assert.ok(sub.sa() !== undefined, 'IKE SA up');
      assert.equal(sub.state.answersRegistrations(), false);
    }
    assert.equal(sentFrom(c, 'sub1', CLUSTER_INIT).length, 0);
    c.advance(RETRY_MS - 1);
    assert.equal(sentFrom(c, 'sub1', CLUSTER_INIT).length, 0, 'no retry before 5 s');
    c.advance(1);
    for (const name of ['sub1', 'sub2']) {
      const sub = c.subs[name] as Sub;
      const requests = sentFrom(c, name, CLUSTER_INIT);
      assert.equal(requests.length, 1);
      assert.equal(requests[0]?.at, RETRY_MS);
      assert.equal(sub.client.counters.initSucceeded, 1);
      assert.equal(sub.state.root, 'active');
      assert.equal(sub.state.initWanted, false);
      assert.equal(sub.state.answersRegistrations(), true);
      assert.equal(sub.state.mayPush(), true);
      assert.equal(sub.state.updateSeq, 0);
      assert.ok(sub.keys !== undefined);
      assert.deepEqual(keyFingerprint(sub.keys), keyFingerprint(c.group), `${name} holds the root's keys`);
      assert.equal(sub.keys.seq, c.group.seq());
      assert.equal(sub.keys.activationDelaySeconds, 15);
      assert.equal(sub.keys.deactivationDelaySeconds, 30);
      // Tracked lifetimes: the root's (full here), soft at 90 %.
      const tek = sub.state.sas.get(hex(c.group.teks[0]?.spi as Uint8Array));
      assert.equal(tek?.hardAt, RETRY_MS + 3600_000);
      assert.equal(c.sender.subs.get(name)?.state, 'active', 'root marks the sub active');
    }
    assert.equal(c.responder.counters.initAnswered, 2);
    // The messages are encrypted: no key byte appears in clear on the wire.
    const pkcs8 = Buffer.from(c.group.kek.privateKey?.export({ format: 'der', type: 'pkcs8' }) as Buffer);
    const teKey = Buffer.from(c.group.teks[0]?.encKey.reveal() as Uint8Array);
    for (const d of c.sent) {
      assert.equal(Buffer.from(d.bytes).indexOf(pkcs8.subarray(40, 72)), -1);
      assert.equal(Buffer.from(d.bytes).indexOf(teKey), -1);
    }
  });

  it('a cluster-init answer with a flipped HASH byte is dropped; the retry 5 s later succeeds', () => {
    const c = cluster();
    c.advance(RETRY_MS - 1);
    const sub = c.subs.sub1 as Sub;
    let tampered = 0;
    c.drop = (d) => {
      if (d.from.address !== ROOT.address || d.to.address !== SUBS.sub1?.address || exchangeOf(d) !== CLUSTER_INIT || tampered > 0) return false;
      tampered++;
      const sa = sub.sa() as IkeSa;
      // Re-encrypt with the IV the sub expects (last block of its request), HASH(2) changed.
      const request = sentFrom(c, 'sub1', CLUSTER_INIT).at(-1) as Datagram;
      const forged = flipHash(sa, d.bytes, request.bytes.slice(request.bytes.length - 16));
      sub.ike.handleDatagram(forged, d.from, c.now);
      return true;
    };
    c.advance(1);
    assert.equal(tampered, 1);
    assert.equal(sub.client.counters.hashMismatchDropped, 1);
    assert.equal(sub.state.root, 'inactive');
    assert.equal(sub.keys, undefined);
    c.advance(RETRY_MS);
    assert.equal(sub.client.counters.initFailed, 2, 'no-SA attempt + the tampered one');
    assert.equal(sub.client.counters.initSucceeded, 1);
    assert.equal(sub.state.root, 'active');
    assert.deepEqual(keyFingerprint(sub.keys as unknown as ClusterKeys), keyFingerprint(c.group));
  });

  it('a sub signs a PUSH with the received key that a member registered with the ROOT accepts', () => {
    const c = initialised();
    const { seq, updateSeq } = rootTekRekey(c);
    const sub = c.subs.sub1 as Sub;
    assert.equal(sub.state.updateSeq, updateSeq);
    assert.ok(sub.actions.some((a) => a.type === 'push-rekey'));
    const keys = sub.keys as ClusterKeys;
    assert.equal(keys.seq, seq);
    // The sub's own PUSH: the sub's copy of the KEK (private key included), the SEQ the root used.
    const push = buildPush({ kek: keys.kek as Kek, seq: keys.seq as number, teks: keys.teks, gap: { activationDelaySeconds: 15, deactivationDelaySeconds: 30 } });
    const out = c.member.handle(push.bytes);
    assert.equal(out.accepted, true, out.accepted ? '' : `${out.counter}: ${out.detail}`);
    if (!out.accepted) return;
    assert.deepEqual(out.newTeks.map((t) => hex(t.spi)).sort(), c.group.teks.map((t) => hex(t.spi)).sort());
    assert.equal(c.member.lastSeq, seq);
    // Its RFC 8263 ACK verifies at the root (same KEK).
    assert.ok(out.ack !== undefined);
    assert.equal(verifyAck(c.group.kek, out.ack).ok, true);
    // Root and subs share one SEQ line: the root's next PUSH (SEQ + 1) is accepted by the same member.
    const again = c.member.handle(rootTekRekey(c).push);
    assert.equal(again.accepted, true, 'next root PUSH (SEQ + 1) accepted too');
  });
});

describe('CLUSTER-UPDATE and ACK (R-MSG-4/5)', () => {
  it('a TEK rekey reaches both subs; each installs it and acknowledges', () => {
    const c = initialised();
    const since = c.now;
    const { updateSeq } = rootTekRekey(c);
    assert.equal(updateSeq, 1);
    for (const name of ['sub1', 'sub2']) {
      const sub = c.subs[name] as Sub;
      assert.equal(sentTo(c, name, CLUSTER_UPDATE, since).length, 1);
      assert.equal(sentFrom(c, name, CLUSTER_UPDATE_ACK, since).length, 1);
      assert.equal(sub.receiver.counters.updatesInstalled, 1);
      assert.deepEqual(keyFingerprint(sub.keys as ClusterKeys), keyFingerprint(c.group));
      assert.equal(c.sender.pending(name), 0);
    }
    assert.equal(c.sender.counters.updatesSent, 2);
    assert.equal(c.sender.counters.updatesAcked, 2);
    c.advance(PERIOD_MS * 3);
    assert.equal(sentTo(c, 'sub1', CLUSTER_UPDATE, since).length, 1, 'acked: never retransmitted');
    assert.equal(c.sender.counters.retransmissions, 0);
  });

  it('an update under an IKE SA that is not the root\'s gateway is dropped: nothing installed, no ACK', () => {
    const c = initialised();
    const sub = c.subs['sub1'] as Sub;
    sub.rootGateway = 'some-member-gateway';
    const since = c.now;
    rootTekRekey(c);
    assert.equal(sub.receiver.counters.unauthorizedDropped, 1);
    assert.equal(sub.receiver.counters.updatesInstalled, 0);
    assert.equal(sentFrom(c, 'sub1', CLUSTER_UPDATE_ACK, since).length, 0);
    sub.rootGateway = 'root';
    c.advance(PERIOD_MS);
    assert.equal(sub.receiver.counters.updatesInstalled, 1, 'the retransmission, under the root\'s gateway again, is installed');
  });

  it('an unacknowledged update is retransmitted every retransmission-period until acked; installed once', () => {
    const c = initialised();
    c.drop = (d) => d.from.address === SUBS.sub1?.address && exchangeOf(d) === CLUSTER_UPDATE_ACK;
    const t0 = c.now;
    rootTekRekey(c);
    c.advance(PERIOD_MS * 4 + 1);
    const times = sentTo(c, 'sub1', CLUSTER_UPDATE, t0).map((d) => d.at - t0);
    assert.deepEqual(times, [0, PERIOD_MS, 2 * PERIOD_MS, 3 * PERIOD_MS, 4 * PERIOD_MS]);
    const bytes = sentTo(c, 'sub1', CLUSTER_UPDATE, t0).map((d) => hex(d.bytes));
    assert.equal(new Set(bytes).size, 1, 'retransmissions are the same bytes');
    const sub1 = c.subs.sub1 as Sub;
    assert.equal(sub1.receiver.counters.updatesInstalled, 1);
    assert.equal(sub1.receiver.counters.duplicateUpdates, 4);
    assert.equal(sub1.installs.length, 1);
    assert.equal(c.sender.pending('sub1'), 1);
    assert.equal(sentTo(c, 'sub2', CLUSTER_UPDATE, t0).length, 1, 'sub2 acked at once');
    // The path heals: the next retransmission's ACK arrives and retransmission stops.
    c.drop = () => false;
    c.advance(PERIOD_MS);
    assert.equal(c.sender.pending('sub1'), 0);
    const count = sentTo(c, 'sub1', CLUSTER_UPDATE, t0).length;
    assert.equal(count, 6);
    c.advance(PERIOD_MS * 3);
    assert.equal(sentTo(c, 'sub1', CLUSTER_UPDATE, t0).length, count);
    assert.equal(c.sender.counters.retransmissions, 5);
  });

  it('no retransmission to a sub DPD reports down; updates published afterwards skip it', () => {
    const c = initialised();
    // sub2 vanishes: everything to and from it is lost.
    c.drop = (d) => d.to.address === SUBS.sub2?.address || d.from.address === SUBS.sub2?.address;
    const t0 = c.now;
    rootTekRekey(c);
    assert.equal(sentTo(c, 'sub2', CLUSTER_UPDATE, t0).length, 1);
    // DPD interval 2 s, threshold 2: dead within ~6 s of the last exchange.
    c.advance(8000);
    assert.deepEqual(c.deadPeers, ['sub2']);
    assert.equal(c.sender.subs.get('sub2')?.state, 'inactive');
    const deadAt = c.now;
    const before = sentTo(c, 'sub2', CLUSTER_UPDATE, t0).length;
    assert.ok(before >= 2, 'retransmitted while it was still believed alive');
    c.advance(PERIOD_MS * 5);
    rootTekRekey(c);
    c.advance(PERIOD_MS * 5);
    assert.equal(sentTo(c, 'sub2', CLUSTER_UPDATE, deadAt).length, 0, 'nothing to a dead sub');
    assert.equal(c.sender.counters.skippedInactive, 1);
    assert.equal(c.sender.pending('sub2'), 0);
    // sub1 kept getting its updates.
    assert.equal((c.subs.sub1 as Sub).receiver.counters.updatesInstalled, 2);
  });

  it('a sub whose install fails sends no ACK; the retransmission is acked once install works (R-MSG-5)', () => {
    const c = initialised();
    const sub1 = c.subs.sub1 as Sub;
    sub1.failInstall = true;
    const t0 = c.now;
    rootTekRekey(c);
    assert.equal(sub1.receiver.counters.installFailed, 1);
    assert.equal(sentFrom(c, 'sub1', CLUSTER_UPDATE_ACK, t0).length, 0);
    assert.equal(sub1.state.updateSeq, 0, 'not recorded');
    c.advance(PERIOD_MS);
    assert.equal(sub1.receiver.counters.installFailed, 2);
    assert.equal(sentFrom(c, 'sub1', CLUSTER_UPDATE_ACK, t0).length, 0);
    sub1.failInstall = false;
    c.advance(PERIOD_MS);
    assert.equal(sentFrom(c, 'sub1', CLUSTER_UPDATE_ACK, t0).length, 1);
    assert.equal(sub1.receiver.counters.updatesInstalled, 1);
    assert.equal(c.sender.pending('sub1'), 0);
    assert.deepEqual(keyFingerprint(sub1.keys as ClusterKeys), keyFingerprint(c.group));
  });

  it('an update with a flipped HASH byte is dropped without state change or ACK; the genuine one then works', () => {
    const c = initialised();
    const sub1 = c.subs.sub1 as Sub;
    const before = keyFingerprint(sub1.keys as ClusterKeys);
    let forged = 0;
    c.drop = (d) => {
      if (d.to.address !== SUBS.sub1?.address || exchangeOf(d) !== CLUSTER_UPDATE) return false;
      const h = tryHeader(d.bytes);
      const sa = sub1.sa() as IkeSa;
      sub1.ike.handleDatagram(flipHash(sa, d.bytes, sa.phase2Iv(h?.messageId as number)), d.from, c.now);
      forged++;
      return true; // the genuine datagram is lost
    };
    const t0 = c.now;
    rootTekRekey(c);
    assert.equal(forged, 1);
    assert.equal(sub1.receiver.counters.hashMismatchDropped, 1);
    assert.equal(sub1.receiver.counters.updatesReceived, 0);
    assert.deepEqual(keyFingerprint(sub1.keys as ClusterKeys), before);
    assert.equal(sentFrom(c, 'sub1', CLUSTER_UPDATE_ACK, t0).length, 0);
    c.drop = () => false;
    c.advance(PERIOD_MS);
    assert.equal(sub1.receiver.counters.updatesInstalled, 1);
    assert.equal(c.sender.pending('sub1'), 0);
  });

  it('a forged ACK (flipped HASH) does not stop retransmission', () => {
    const c = initialised();
    let forged = 0;
    c.drop = (d) => {
      if (d.from.address !== SUBS.sub1?.address || exchangeOf(d) !== CLUSTER_UPDATE_ACK || forged > 0) return false;
      const update = sentTo(c, 'sub1', CLUSTER_UPDATE).at(-1) as Datagram;
      const sa = c.rootSa('sub1') as IkeSa;
      c.root.handleDatagram(flipHash(sa, d.bytes, update.bytes.slice(update.bytes.length - 16)), d.from, c.now);
      forged++;
      return true;
    };
    rootTekRekey(c);
    assert.equal(forged, 1);
    assert.equal(c.sender.counters.hashMismatchDropped, 1);
    assert.equal(c.sender.pending('sub1'), 1);
    c.advance(PERIOD_MS);
    assert.equal(c.sender.pending('sub1'), 0);
    assert.equal(c.sender.counters.retransmissions, 1);
  });

  it('a duplicated update datagram is installed once and acknowledged twice with the same ACK', () => {
    const c = initialised();
    const sub1 = c.subs.sub1 as Sub;
    const t0 = c.now;
    let copy: Datagram | undefined;
    const origDrop = c.drop;
    c.drop = (d) => {
      if (copy === undefined && d.to.address === SUBS.sub1?.address && exchangeOf(d) === CLUSTER_UPDATE) copy = d;
      return origDrop(d);
    };
    rootTekRekey(c);
    assert.ok(copy !== undefined);
    sub1.ike.handleDatagram(copy.bytes, copy.from, c.now);
    c.flush();
    assert.equal(sub1.receiver.counters.updatesInstalled, 1);
    assert.equal(sub1.receiver.counters.duplicateUpdates, 1);
    assert.equal(sub1.installs.length, 1);
    const acks = sentFrom(c, 'sub1', CLUSTER_UPDATE_ACK, t0);
    assert.equal(acks.length, 2);
    assert.equal(hex(acks[0]?.bytes as Uint8Array), hex(acks[1]?.bytes as Uint8Array));
    assert.equal(c.sender.counters.updatesAcked, 2, 'one per sub');
    assert.equal(c.sender.counters.duplicateAcksDropped, 1);
  });

  it('updates reach a sub in order, one at a time; delete-SA, delete-members, delete-all -> cluster-init (R-MSG-8)', () => {
    const c = initialised();
    const sub1 = c.subs.sub1 as Sub;
    const old = c.group.teks.map((t) => Uint8Array.from(t.spi));
    c.drop = (d) => d.from.address === SUBS.sub1?.address && exchangeOf(d) === CLUSTER_UPDATE_ACK;
    rootTekRekey(c);
    const delSeq = c.group.deleteTeks([old[0] as Uint8Array]).seq;
    c.sender.publish(1, { kind: 'update-delete-sas', groupId: 1, seq: delSeq, teks: [old[0] as Uint8Array], kek: false, all: false }, c.now);
    c.sender.publish(1, { kind: 'update-delete-members', groupId: 1, all: false, members: ['172.16.1.1', '10.9.8.7'] }, c.now);
    c.flush();
    assert.equal(c.sender.pending('sub1'), 3);
    assert.equal(sub1.installs.length, 1, 'the second waits for the first ACK');
    c.drop = () => false;
    c.advance(PERIOD_MS);
    assert.deepEqual(sub1.installs.map((u) => [u.kind, u.updateSeq]), [['update-keys', 1], ['update-delete-sas', 2], ['update-delete-members', 3]]);
    assert.deepEqual(sub1.actions.filter((a) => a.type === 'push-delete').map((a) => a.type === 'push-delete' && a.teks.map(hex)), [[hex(old[0] as Uint8Array)]]);
    assert.deepEqual(sub1.actions.filter((a) => a.type === 'delete-local-members'), [{ type: 'delete-local-members', groupId: 1, all: false, members: ['172.16.1.1', '10.9.8.7'] }]);
    assert.equal((sub1.keys as ClusterKeys).seq, delSeq);
    assert.equal(c.sender.pending('sub1'), 0);
    // Delete all SAs: both subs delete and start a cluster-init at once (R-MSG-2c).
    const t1 = c.now;
    const allSeq = c.group.deleteAll().seq;
    c.sender.publish(1, { kind: 'update-delete-sas', groupId: 1, seq: allSeq, teks: [], kek: true, all: true }, c.now);
    c.flush();
    for (const name of ['sub1', 'sub2']) {
      const sub = c.subs[name] as Sub;
      const from = sub.actions.findIndex((a) => a.type === 'push-delete' && a.all);
      assert.ok(from >= 0);
      assert.deepEqual(sub.actions.slice(from + 1).map((a) => a.type), ['start-cluster-init', 'stop-cluster-init']);
      assert.equal(sentFrom(c, name, CLUSTER_INIT, t1).length, 1, 'cluster-init after delete-all');
      assert.deepEqual(keyFingerprint(sub.keys as ClusterKeys), keyFingerprint(c.group), 'the answer is the root\'s current state');
      assert.equal(sub.state.updateSeq, c.sender.updateSeq(1));
    }
  });
});

describe('missed updates', () => {
  it('an update sequence gap makes the sub drop it and cluster-init; the retransmission is then acked as contained', () => {
    const c = initialised();
    const sub1 = c.subs.sub1 as Sub;
    c.drop = (d) => d.to.address === SUBS.sub1?.address && exchangeOf(d) === CLUSTER_UPDATE;
    rootTekRekey(c); // update 1 never reaches sub1
    // The root loses track of sub1 for a moment (as after a DPD flap) and it is back before sub1 noticed.
    c.sender.markInactive('sub1', c.now);
    c.sender.markActive('sub1', c.now);
    c.drop = () => false;
    const initsBefore = sentFrom(c, 'sub1', CLUSTER_INIT).length;
    rootTekRekey(c); // update 2
    assert.equal(sub1.receiver.counters.gapDropped, 1);
    assert.equal(sub1.receiver.counters.updatesInstalled, 0);
    assert.equal(sentFrom(c, 'sub1', CLUSTER_INIT).length, initsBefore + 1, 'cluster-init at once');
    assert.equal(sub1.state.updateSeq, 2, 'the answer contains update 2');
    assert.deepEqual(keyFingerprint(sub1.keys as ClusterKeys), keyFingerprint(c.group));
    assert.equal(c.sender.pending('sub1'), 1);
    c.advance(PERIOD_MS);
    assert.equal(sub1.receiver.counters.duplicateUpdates, 1);
    assert.equal(sub1.receiver.counters.updatesInstalled, 0, 'never installed twice');
    assert.equal(c.sender.pending('sub1'), 0);
  });

  it('a delete all goes at once past updates still queued or unacknowledged, and the sub takes it across the gap', () => {
    const c = initialised();
    const sub1 = c.subs.sub1 as Sub;
    c.drop = (d) => d.to.address === SUBS.sub1?.address && exchangeOf(d) === CLUSTER_UPDATE;
    rootTekRekey(c); // update 1 in flight to sub1, never received
    rootTekRekey(c); // update 2 queued behind it
    assert.equal(c.sender.pending('sub1'), 2);
    c.drop = () => false;
    const sentBefore = sentTo(c, 'sub1', CLUSTER_UPDATE).length;
    const allSeq = c.group.deleteAll().seq;
    const updateSeq = c.sender.publish(1, { kind: 'update-delete-sas', groupId: 1, seq: allSeq, teks: [], kek: true, all: true }, c.now);
    c.flush();
    assert.equal(updateSeq, 3);
    assert.deepEqual(sub1.installs.map((u) => [u.kind, u.updateSeq]), [['update-delete-sas', 3]], 'installed without waiting for 1 and 2');
    assert.equal(sub1.receiver.counters.gapDropped, 0);
    assert.ok(sub1.actions.some((a) => a.type === 'push-delete' && a.all), 'passed on to its members');
    assert.equal(sentTo(c, 'sub1', CLUSTER_UPDATE).length, sentBefore + 1, 'nothing of updates 1 and 2 sent again');
    assert.equal(c.sender.pending('sub1'), 0, 'acknowledged; the superseded updates are gone');
    c.advance(PERIOD_MS);
    assert.equal(sentTo(c, 'sub1', CLUSTER_UPDATE).length, sentBefore + 1);
  });
});

describe('tshark 4.0 decrypts our private exchanges (external checker)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gvpn-cluster-tshark-'));
  before(() => {
    const probe = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
    if (probe.error !== undefined || probe.status !== 0) {
      throw new Error(`tshark is required for this test (Debian package "tshark"; ./scripts/test installs it): ${probe.error?.message ?? probe.stderr}`);
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function tshark(args: string[]): string {
    const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (r.error !== undefined || r.status !== 0) throw new Error(`tshark ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
    return r.stdout;
  }

  it('CLUSTER-INIT, CLUSTER-UPDATE and ACK: decrypted from the IKE key log alone, our values read back, nothing Malformed', () => {
    const c = initialised({ doi: 1 });
    const initTeks = c.group.teks.map((t) => hex(t.spi));
    const { seq } = rootTekRekey(c);
    c.sender.publish(1, { kind: 'update-delete-members', groupId: 1, all: false, members: ['172.16.1.1'] }, c.now);
    c.flush();
    const file = join(dir, 'cluster.pcap');
    writeFileSync(file, pcap(c.sent));
    assert.equal(c.keyLog.length, 2);
    const base = ['-r', file, '-d', 'udp.port==848,isakmp', ...c.keyLog.flatMap((l) => ['-o', `uat:ikev1_decryption_table:${l}`])];
    assert.equal(tshark([...base, '-Y', '_ws.malformed || _ws.expert.severity >= warning']).trim(), '', 'no Malformed or warning item');
    const names = ['isakmp.exchangetype', 'isakmp.messageid', 'isakmp.notify.msgtype', 'isakmp.notify.data', 'isakmp.id.data.key_id',
      'isakmp.id.data.ipv4_addr', 'isakmp.seq.seq', 'isakmp.kd.payload.spi', 'isakmp.nonce'];
    const rows = tshark([...base, '-Y', 'isakmp.exchangetype >= 240', '-T', 'fields', '-E', 'separator=/t', '-E', 'aggregator=,', ...names.flatMap((n) => ['-e', n])])
      .split('\n').filter((l) => l !== '').map((l) => Object.fromEntries(l.split('\t').map((v, k) => [names[k], v])));
    const ours = c.sent.filter((d) => (exchangeOf(d) ?? 0) >= 240);
    assert.equal(rows.length, ours.length);
    assert.equal(rows.length, 12, '2 x (init request, answer, update, ack, update, ack)');
    rows.forEach((r, k) => {
      const h = tryHeader((ours[k] as Datagram).bytes);
      assert.equal(Number(r['isakmp.exchangetype']), h?.exchangeType);
      assert.equal(Number(r['isakmp.messageid']), h?.messageId);
      // Decrypted: only possible with our IVs (hash(last phase-1 block | M-ID), then chaining).
      assert.equal(r['isakmp.notify.msgtype'], '32800', `frame ${k}: decrypted, CLUSTER-INFO found`);
      assert.equal(r['isakmp.id.data.key_id'], '00000001');
    });
    const kinds = rows.map((r) => `${r['isakmp.exchangetype']}:${r['isakmp.notify.data']?.slice(0, 2)}:${parseInt(r['isakmp.notify.data']?.slice(8, 16) ?? '', 16)}`);
    assert.deepEqual(kinds, ['240:01:0', '240:01:0', '240:02:0', '240:02:0', '241:03:1', '241:03:1', '242:06:1', '242:06:1', '241:05:2', '241:05:2', '242:06:2', '242:06:2']);
    const answer = rows[2] as Record<string, string>;
    assert.equal(answer['isakmp.seq.seq'], '0');
    // KEK packet, our private-use signing-key packet (same SPI), the TEK packets.
    assert.deepEqual(answer['isakmp.kd.payload.spi']?.split(','), [hex(c.group.kek.spi), hex(c.group.kek.spi), ...initTeks]);
    const update = rows[4] as Record<string, string>;
    assert.equal(update['isakmp.seq.seq'], String(seq));
    assert.deepEqual(update['isakmp.kd.payload.spi']?.split(','), c.group.teks.map((t) => hex(t.spi)));
    assert.equal((rows[8] as Record<string, string>)['isakmp.id.data.ipv4_addr'], '172.16.1.1');
    assert.ok(((rows[0] as Record<string, string>)['isakmp.nonce'] ?? '').length === 32);
  });
});
