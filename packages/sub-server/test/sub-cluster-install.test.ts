/**
 * A cluster-update the sub's key server refuses is not acknowledged (R-MSG-5), not even on retransmission:
 * the sub-server's cluster layer (src/sub-cluster.ts) with its key server (key source `root`) and a real IKE
 * SA with a root, over an in-memory network with a manual clock. The root side is gdoi's cluster-init
 * responder and hand-sealed CLUSTER-UPDATEs, so a stale root (SEQ below the sub's) can be played exactly.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '@gvpn/crypto';
import {
  CLUSTER_INIT, CLUSTER_UPDATE_ACK, ClusterInitResponder, GcksGroup, hex, sealCluster, tryHeader, type ClusterUpdate, type Tek,
} from '@gvpn/gdoi';
import { IkeEndpoint, freshMessageId, type Endpoint, type IkeEvents, type IkeSa } from '@gvpn/ike';
import { createGcks, groupPolicy, type Gcks } from '@gvpn/key-server';
import {
  ManualClock, createLogger, ikeGatewayPolicies, loadConfig, type RoleContext, type ServerDaemonConfig,
} from '@gvpn/runtime';
import { createSubCluster, type SubCluster } from '../src/sub-cluster.js';

const SUB1 = fileURLToPath(new URL('../../../../configs/lab/example/sub1.yaml', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../../configs/lab/example/root.yaml', import.meta.url));
const GROUP = 'GROUP_ID-0001';

const silent = createLogger({ level: 'fatal', name: 'sub-cluster-install-test' });
const subConfig = (await loadConfig(SUB1)).config as ServerDaemonConfig;
const rootConfig = (await loadConfig(ROOT)).config as ServerDaemonConfig;
const groupConfig = subConfig.server.groups.find((g) => g.name === GROUP);
assert.ok(groupConfig !== undefined);
const groupId = groupConfig.groupId;

interface Datagram { bytes: Uint8Array; from: Endpoint; to: Endpoint }

interface Lab {
  clock: ManualClock;
  rootGroup: GcksGroup;
  gcks: Gcks;
  cluster: SubCluster;
  /** Every datagram the sub sent. */
  fromSub: Datagram[];
  /** The root's IKE SA with the sub. */
  rootSa(): IkeSa;
  /** Delivers queued datagrams, and runs timers up to `ms` from now. */
  run(ms: number): void;
  /** Sends `bytes` from the root to the sub and delivers what follows. */
  toSub(bytes: Uint8Array): void;
}

/** A sub that completed cluster-init with a root whose push SEQ is 3 and whose update number is 0. */
function lab(): Lab {
  const clock = new ManualClock(1_000);
  const queue: Datagram[] = [];
  const fromSub: Datagram[] = [];
  const rootAddress = rootConfig.system.listen;
  const subAddress = subConfig.system.listen;
  const net = (from: Endpoint, record?: Datagram[]) => (bytes: Uint8Array, to: Endpoint): void => {
    const d = { bytes: Uint8Array.from(bytes), from, to };
    queue.push(d);
    record?.push(d);
  };

  const rootGroup = new GcksGroup(groupPolicy(groupConfig as NonNullable<typeof groupConfig>, rootAddress), seededRandom('root'));
  rootGroup.rekeyTeks();
  rootGroup.rekeyTeks();
  rootGroup.rekeyTeks();
  assert.equal(rootGroup.seq(), 3);
  const responder = new ClusterInitResponder({
    group: (id) => (id === groupId ? rootGroup : undefined), updateSeq: () => 0, send: net(rootAddress), log: silent,
  });
  const rootIke = new IkeEndpoint({
    local: rootAddress, gateways: ikeGatewayPolicies(rootConfig), options: rootConfig.ike.options,
    random: seededRandom('root-ike'), log: silent, send: net(rootAddress),
    events: {
      phase2: (sa, datagram, now) => {
        const h = tryHeader(datagram);
        if (h?.exchangeType === CLUSTER_INIT) responder.handle(sa, datagram, h, now);
      },
    },
  });

  const subEvents: IkeEvents = {};
  const subIke = new IkeEndpoint({
    local: subAddress, gateways: ikeGatewayPolicies(subConfig), options: subConfig.ike.options,
    random: seededRandom('sub-ike'), log: silent, send: net(subAddress, fromSub), events: subEvents,
  });
  const ctx: RoleContext = {
    config: subConfig, log: silent, clock, random: seededRandom('sub'), ike: subIke, send: net(subAddress, fromSub),
    rearm: () => {}, bind: async () => {}, unbind: async () => {},
  };
  const cluster = createSubCluster(ctx, () => gcks);
  const gcks = createGcks(ctx, { keySource: 'root', accepting: (id) => cluster.accepting(id) });
  Object.assign(subEvents, cluster.ikeEvents);

  const flush = (): void => {
    for (let n = 0; queue.length > 0; n++) {
      if (n > 500) throw new Error('message loop');
      const d = queue.shift() as Datagram;
      const to = d.to.address === rootAddress.address ? rootIke : d.to.address === subAddress.address ? subIke : undefined;
      to?.handleDatagram(d.bytes, d.from, clock.now());
    }
  };
  const tasks = [rootIke, subIke, cluster];
  const run = (ms: number): void => {
    const end = clock.now() + ms;
    flush();
    for (let n = 0; n < 10_000; n++) {
      const due = tasks.map((t) => t.nextDeadline?.()).filter((d): d is number => d !== undefined && d <= end);
      if (due.length === 0) break;
      clock.set(Math.max(clock.now(), Math.min(...due)));
      for (const t of tasks) t.poll?.(clock.now());
      flush();
    }
    clock.set(end);
  };

  cluster.start?.(clock.now());
  subIke.start(clock.now());
  run(6_000);
  const rootSa = (): IkeSa => {
    const sa = rootIke.establishedSas()[0];
    assert.ok(sa !== undefined, 'IKE SA with the sub');
    return sa;
  };
  return {
    clock, rootGroup, gcks, cluster, fromSub, rootSa, run,
    toSub: (bytes) => {
      net(rootAddress)(bytes, subAddress);
      flush();
    },
  };
}

/** A CLUSTER-UPDATE as the root seals it under its IKE SA with the sub (fresh M-ID). */
function sealed(l: Lab, update: ClusterUpdate): Uint8Array {
  const sa = l.rootSa();
  const messageId = freshMessageId(seededRandom(`mid-${update.updateSeq}-${update.kind}-${l.clock.now()}`));
  return sealCluster(sa, update, messageId, sa.phase2Iv(messageId)).bytes;
}

const acks = (l: Lab): number => l.fromSub.filter((d) => tryHeader(d.bytes)?.exchangeType === CLUSTER_UPDATE_ACK).length;
const updateSeq = (l: Lab): number | undefined => l.cluster.exportState().find((s) => s.group === GROUP)?.state.updateSeq;
const teksHeld = (l: Lab): string[] => l.gcks.group(GROUP)?.gcks.teks.map((t) => hex(t.spi)) ?? [];
const freshTeks = (seed: string, group: GcksGroup): Tek[] => new GcksGroup(group.policy, seededRandom(seed), group.signing).teks;

describe('sub-server cluster-update install', () => {
  it('an update the key server refuses (SEQ not above its own) is not acknowledged, nor its retransmission; a good one then is', () => {
    const l = lab();
    assert.equal(updateSeq(l), 0, 'cluster-init done');
    assert.equal(l.gcks.group(GROUP)?.gcks.seq(), 3);
    const before = teksHeld(l);
    assert.deepEqual(before, l.rootGroup.teks.map((t) => hex(t.spi)));

    // A root that lost its state (or a stale standby) announces TEKs with SEQ 2, below the sub's 3.
    const stale: ClusterUpdate = {
      kind: 'update-keys', groupId, updateSeq: 1, lifetimes: [],
      keys: { teks: freshTeks('stale', l.rootGroup), seq: 2, activationDelaySeconds: 2, deactivationDelaySeconds: 30 },
    };
    const bytes = sealed(l, stale);
    l.toSub(bytes);
    assert.equal(acks(l), 0, 'not installed: no ACK');
    assert.equal(updateSeq(l), 0, 'update number unchanged');
    assert.deepEqual(teksHeld(l), before);
    l.toSub(bytes); // the root's retransmission: same bytes
    assert.equal(acks(l), 0, 'the retransmission is not taken for a duplicate of an installed update');
    assert.equal(updateSeq(l), 0);

    // The root caught up: the same update number with a SEQ above the sub's is installed and acknowledged.
    const teks = freshTeks('good', l.rootGroup);
    l.toSub(sealed(l, { ...stale, keys: { ...stale.keys, teks, seq: 4 } }));
    assert.equal(acks(l), 1);
    assert.equal(updateSeq(l), 1);
    assert.deepEqual(teksHeld(l), teks.map((t) => hex(t.spi)));
    assert.equal(l.gcks.group(GROUP)?.gcks.seq(), 4);
  });
});
