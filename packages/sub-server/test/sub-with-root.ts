/**
 * A sub-server's cluster layer (src/sub-cluster.ts) and key server (key source `root`) with a real IKE SA
 * with a root, over an in-memory network with a manual clock, for the sub-cluster tests. The root side is
 * gdoi's cluster-init responder over a GcksGroup the test makes, and CLUSTER-UPDATEs the test seals itself
 * (`sealed`), so any root behaviour can be played exactly.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '@gvpn/crypto';
import { CLUSTER_INIT, ClusterInitResponder, sealCluster, tryHeader, type ClusterInitResponderConfig, type ClusterUpdate, type GcksGroup } from '@gvpn/gdoi';
import { IkeEndpoint, freshMessageId, type Endpoint, type IkeEvents, type IkeSa } from '@gvpn/ike';
import { createGcks, type Gcks } from '@gvpn/key-server';
import { ManualClock, createLogger, ikeGatewayPolicies, loadConfig, type GroupIpsecSaConfig, type RoleContext, type ServerDaemonConfig, type ServerGroupConfig } from '@gvpn/runtime';
import { createSubCluster, type SubCluster } from '../src/sub-cluster.js';

/** The worked example's cluster group, served by its root and sub1 (configs/lab/example). */
export const EXAMPLE_GROUP = 'GROUP_ID-0001';

export async function exampleConfig(node: 'root' | 'sub1'): Promise<ServerDaemonConfig> {
  return (await loadConfig(fileURLToPath(new URL(`../../../../configs/lab/example/${node}.yaml`, import.meta.url)))).config as ServerDaemonConfig;
}

/** `config`'s settings of EXAMPLE_GROUP. */
export function exampleGroup(config: ServerDaemonConfig): ServerGroupConfig {
  const g = config.server.groups.find((x) => x.name === EXAMPLE_GROUP);
  assert.ok(g !== undefined, `${EXAMPLE_GROUP} in ${config.file}`);
  return g;
}

export interface Datagram { bytes: Uint8Array; from: Endpoint; to: Endpoint }

export interface SubWithRoot {
  clock: ManualClock;
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
  /** The root stops as a daemon does (its IKE SAs deleted, with Delete notifications) and stays down. */
  rootStops(): void;
  /** The stopped root runs again (no IKE SA: the sub's keeper makes a new one). */
  rootStarts(): void;
}

export interface SubWithRootOptions {
  subConfig: ServerDaemonConfig;
  rootConfig: ServerDaemonConfig;
  /** The group the root's cluster-init responder answers for. */
  rootGroup: GcksGroup;
  /** More of the responder's configuration (remaining lifetimes, the answered hook). */
  responder?: Pick<ClusterInitResponderConfig, 'remainingSeconds' | 'answered'>;
}

const silent = createLogger({ level: 'fatal', name: 'sub-with-root' });

/** A sub that completed cluster-init with the root (6 s of the manual clock run). */
export function subWithRoot(o: SubWithRootOptions): SubWithRoot {
  const clock = new ManualClock(1_000);
  const queue: Datagram[] = [];
  const fromSub: Datagram[] = [];
  const rootAddress = o.rootConfig.system.listen;
  const subAddress = o.subConfig.system.listen;
  const net = (from: Endpoint, record?: Datagram[]) => (bytes: Uint8Array, to: Endpoint): void => {
    const d = { bytes: Uint8Array.from(bytes), from, to };
    queue.push(d);
    record?.push(d);
  };

  const groupId = o.rootGroup.policy.groupId;
  const responder = new ClusterInitResponder({
    group: (id) => (id === groupId ? o.rootGroup : undefined), updateSeq: () => 0, send: net(rootAddress), log: silent, ...o.responder,
  });
  const rootIke = new IkeEndpoint({
    local: rootAddress, gateways: ikeGatewayPolicies(o.rootConfig), options: o.rootConfig.ike.options,
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
    local: subAddress, gateways: ikeGatewayPolicies(o.subConfig), options: o.subConfig.ike.options,
    random: seededRandom('sub-ike'), log: silent, send: net(subAddress, fromSub), events: subEvents,
  });
  const ctx: RoleContext = {
    config: o.subConfig, log: silent, clock, random: seededRandom('sub'), ike: subIke, send: net(subAddress, fromSub),
    rearm: () => {}, bind: async () => {}, unbind: async () => {},
  };
  const cluster = createSubCluster(ctx, () => gcks);
  const gcks = createGcks(ctx, { keySource: 'root', accepting: (id) => cluster.accepting(id) });
  Object.assign(subEvents, cluster.ikeEvents);

  let rootDown = false;
  const flush = (): void => {
    for (let n = 0; queue.length > 0; n++) {
      if (n > 500) throw new Error('message loop');
      const d = queue.shift() as Datagram;
      const to = d.to.address === rootAddress.address ? (rootDown ? undefined : rootIke) : d.to.address === subAddress.address ? subIke : undefined;
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
  assert.equal(cluster.accepting(groupId), true, 'cluster-init done');
  return {
    clock, gcks, cluster, fromSub, run,
    rootSa: () => {
      const sa = rootIke.establishedSas()[0];
      assert.ok(sa !== undefined, 'IKE SA with the sub');
      return sa;
    },
    toSub: (bytes) => {
      net(rootAddress)(bytes, subAddress);
      flush();
    },
    rootStops: () => {
      rootIke.stop(clock.now());
      flush();
      rootDown = true;
    },
    rootStarts: () => {
      rootDown = false;
      rootIke.start(clock.now());
    },
  };
}

/** A CLUSTER-UPDATE as the root seals it under its IKE SA with the sub (fresh M-ID). */
export function sealed(l: SubWithRoot, update: ClusterUpdate): Uint8Array {
  const sa = l.rootSa();
  const messageId = freshMessageId(seededRandom(`mid-${update.updateSeq}-${update.kind}-${l.clock.now()}`));
  return sealCluster(sa, update, messageId, sa.phase2Iv(messageId)).bytes;
}

/** `config` with each group's ipsec-sa list made by `sas` from its first ipsec-sa. */
export function withIpsecSas(config: ServerDaemonConfig, sas: (first: GroupIpsecSaConfig) => GroupIpsecSaConfig[]): ServerDaemonConfig {
  const groups = config.server.groups.map((g): ServerGroupConfig => {
    const first = g.ipsecSas[0];
    assert.ok(first !== undefined);
    return { ...g, ipsecSas: sas(first) };
  });
  return { ...config, server: { ...config.server, groups } };
}
