// The worked example (configs/lab/example: root, sub1-sub4, gm-0001-gm-0004) as real processes inside a
// network namespace the test makes, so its loopback (127.0.3.x) is the test's own: test files run it in
// parallel, and faults (nft drops, SIGSTOP, kill) touch nothing else. A test may start a subset of the
// nodes and edit each node's configuration (timers, thresholds, server lists) before it is written.
//
// The root pair (issue 5, docs/root-pair.md): 'root-node0' and 'root-node1' are the two nodes of RG0 in
// place of 'root'. Both serve the root's shared address 127.0.3.1 (only the primary binds it), with their
// control link 127.0.3.2 <-> 127.0.3.3 (TCP 849). Their files are configs/lab/example/root-node0.yaml and
// root-node1.yaml when those exist; otherwise root.yaml plus a `chassis-cluster` section made here.
// A test uses either 'root' or the pair, never both (they share the address).
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { controlRequest } from '@gvpn/runtime';
import type { Cleanup } from './cleanup.js';
import { workDirectory } from './cleanup.js';
import { NetworkNamespace } from './netns.js';
import { waitFor, type ManagedProcess } from './process.js';
import { ROOT_SERVER_MAIN, SUB_SERVER_MAIN } from './our-daemon.js';

export const MEMBER_MAIN = fileURLToPath(new URL('../../../member/dist/src/main.js', import.meta.url));
export const EXAMPLE_LAB_DIR = fileURLToPath(new URL('../../../../configs/lab/example/', import.meta.url));

export const EXAMPLE_NODES = ['root', 'sub1', 'sub2', 'sub3', 'sub4', 'gm-0001', 'gm-0002', 'gm-0003', 'gm-0004'] as const;
/** The root pair's nodes, started instead of 'root' (never by default). */
export const ROOT_PAIR_NODES = ['root-node0', 'root-node1'] as const;
export type RootPairNode = (typeof ROOT_PAIR_NODES)[number];
export type ExampleNode = (typeof EXAMPLE_NODES)[number] | RootPairNode;

export const isRootPairNode = (node: ExampleNode): node is RootPairNode => node === 'root-node0' || node === 'root-node1';
/** A node of the root pair's control link address (its own, beside the shared 127.0.3.1). */
export const controlLinkAddress = (node: RootPairNode): string => (node === 'root-node0' ? '127.0.3.2' : '127.0.3.3');
/** The control link's pre-shared key in the generated pair configurations: a lab-only value. */
const LAB_CONTROL_LINK_PSK = 'lab-only-root-pair-control-link-secret';

/** A node's configuration as parsed YAML (edited in place by tests; its shape is docs/configuration.md). */
export type NodeDocument = any;

export interface ClusterLabOptions {
  label: string;
  /** Nodes to start, in this order (default: all, root first). */
  nodes?: readonly ExampleNode[];
  /** Edits each node's configuration before it is written. */
  edit?(node: ExampleNode, doc: NodeDocument): void;
  /** false: only prepare the configurations; the test starts nodes itself (default true). */
  start?: boolean;
}

function program(node: ExampleNode): string {
  if (node === 'root' || isRootPairNode(node)) return ROOT_SERVER_MAIN;
  return node.startsWith('sub') ? SUB_SERVER_MAIN : MEMBER_MAIN;
}

export const isServer = (node: ExampleNode): boolean => !node.startsWith('gm-');

/** The node's address in configs/lab/example (a root pair node: the shared address it serves as primary). */
export function exampleAddress(node: ExampleNode): string {
  if (node === 'root' || isRootPairNode(node)) return '127.0.3.1';
  return node.startsWith('sub') ? `127.0.3.1${node.slice(3)}` : `127.0.3.2${node.slice(-1)}`;
}

/** A member configuration edit: try these servers, in this order (R-REG-4). */
export function useServers(doc: NodeDocument, servers: readonly ExampleNode[]): void {
  for (const gw of Object.values(doc.security['group-vpn'].member.ike.gateway) as NodeDocument[]) gw['server-address'] = servers.map(exampleAddress);
}

/** A root configuration edit: its cluster lists only these sub-servers (the others are not started). */
export function rootWithSubs(doc: NodeDocument, subs: readonly ExampleNode[]): void {
  const server = doc.security['group-vpn'].server;
  const gateways = subs.map((s) => `SubSrv0${s.slice(3)}`);
  for (const group of Object.values(server.group) as NodeDocument[]) group['server-cluster']['ike-gateway'] = gateways;
  for (const gw of Object.keys(server.ike.gateway)) if (!gateways.includes(gw)) delete server.ike.gateway[gw];
}

/**
 * A server configuration edit: the server (at the root's address) serves members itself, each through its
 * own gateway to its lab address (policy GMs: the members' pre-shared key). `defined` gateways exist;
 * `inGroup` are the ike-gateway list of the example's group GROUP_ID-0001.
 */
export function memberGateways(doc: NodeDocument, inGroup: readonly string[], defined: readonly string[] = inGroup): void {
  const server = doc.security['group-vpn'].server;
  server.ike.policy.GMs = { mode: 'main', proposals: Object.keys(server.ike.proposal), 'pre-shared-key': { 'ascii-text': 'lab-only-member-secret' } };
  for (const gw of defined) server.ike.gateway[gw] = { 'ike-policy': 'GMs', address: `127.0.3.2${gw.slice(-1)}`, 'local-address': '127.0.3.1' };
  server.group['GROUP_ID-0001']['ike-gateway'] = [...inGroup];
}

/** The other node of the root pair. */
export const otherPairNode = (node: RootPairNode): RootPairNode => (node === 'root-node0' ? 'root-node1' : 'root-node0');

/** A member configuration edit: probe only these members (the others are not started). */
export function probeOnly(doc: NodeDocument, members: readonly ExampleNode[]): void {
  const probe = doc.security['group-vpn'].member['data-plane'].probe;
  const wanted = new Set(members.map(exampleAddress));
  for (const [name, peer] of Object.entries(probe.peers) as [string, { address: string }][]) if (!wanted.has(peer.address)) delete probe.peers[name];
}

/**
 * A root pair node's configuration: configs/lab/example/root-node{0,1}.yaml when present, else root.yaml with
 * its own host name and a `chassis-cluster` section (docs/configuration.md, default heartbeats).
 */
function rootPairDocument(node: RootPairNode): NodeDocument {
  const own = join(EXAMPLE_LAB_DIR, `${node}.yaml`);
  if (existsSync(own)) return parse(readFileSync(own, 'utf8')) as NodeDocument;
  const doc = parse(readFileSync(join(EXAMPLE_LAB_DIR, 'root.yaml'), 'utf8')) as NodeDocument;
  const n = node === 'root-node0' ? 0 : 1;
  doc.system['host-name'] = node;
  doc['chassis-cluster'] = {
    node: n,
    'control-link': {
      'local-address': controlLinkAddress(node),
      'peer-address': controlLinkAddress(n === 0 ? 'root-node1' : 'root-node0'),
      port: 849,
      'pre-shared-key': { 'ascii-text': LAB_CONTROL_LINK_PSK },
    },
    'heartbeat-interval': 250,
    'heartbeat-threshold': 4,
    'redundancy-group-0': { 'node0-priority': 200, 'node1-priority': 100 },
  };
  return doc;
}

/** The example lab in its own namespace; `cleanup` stops every process (by PID) and deletes the namespace. */
export class ClusterLab {
  readonly #processes = new Map<ExampleNode, ManagedProcess>();
  /** Started and not killed by the test: their death fails `until`. */
  readonly #expectedUp = new Set<ExampleNode>();

  private constructor(readonly ns: NetworkNamespace, readonly dir: string, readonly configs: Map<ExampleNode, NodeDocument>) {}

  static async start(cleanup: Cleanup, options: ClusterLabOptions): Promise<ClusterLab> {
    for (const main of [ROOT_SERVER_MAIN, SUB_SERVER_MAIN, MEMBER_MAIN]) if (!existsSync(main)) throw new Error(`${main} is missing: build first`);
    const dir = await workDirectory(cleanup, options.label);
    const ns = await NetworkNamespace.create();
    cleanup.defer(`namespace ${ns.name}`, () => ns.destroy());
    const configs = new Map<ExampleNode, NodeDocument>();
    for (const node of options.nodes ?? EXAMPLE_NODES) {
      const doc = isRootPairNode(node) ? rootPairDocument(node) : parse(readFileSync(join(EXAMPLE_LAB_DIR, `${node}.yaml`), 'utf8')) as NodeDocument;
      doc.system['state-directory'] = join(dir, `${node}-state`);
      options.edit?.(node, doc);
      configs.set(node, doc);
    }
    const lab = new ClusterLab(ns, dir, configs);
    if (options.start !== false) for (const node of configs.keys()) await lab.startNode(node);
    return lab;
  }

  /** The root with sub1 only, gm-0001 and gm-0002 registered through sub1 and probing each other; resolves once all are up. */
  static async startRootSubMembers(cleanup: Cleanup, label: string): Promise<ClusterLab> {
    const lab = await ClusterLab.start(cleanup, {
      label, nodes: ['root', 'sub1', 'gm-0001', 'gm-0002'],
      edit: (node, doc) => {
        if (node === 'root') rootWithSubs(doc, ['sub1']);
        if (node.startsWith('gm-')) {
          useServers(doc, ['sub1']);
          probeOnly(doc, ['gm-0001', 'gm-0002']);
        }
      },
    });
    await lab.clusterUp(30_000);
    await lab.membersUp(40_000);
    return lab;
  }

  nodes(): ExampleNode[] {
    return [...this.configs.keys()];
  }

  /** Writes the node's configuration and starts its daemon; resolves once its control socket answers. */
  async startNode(node: ExampleNode): Promise<void> {
    const file = join(this.dir, `${node}.yaml`);
    await mkdir(this.dir, { recursive: true });
    await writeFile(file, stringify(this.configs.get(node)));
    const child = this.ns.spawn(node, process.execPath, [program(node), '--config', file], { logDir: this.dir });
    this.#processes.set(node, child);
    this.#expectedUp.add(node);
    await waitFor(
      async () => {
        if (!child.running) throw new Error(`${node} exited at start: ${child.stderr()}${child.stdout()}`);
        return this.request(node, ['request', 'system', 'ping']).then(() => true, () => false);
      },
      10_000,
      `${node} control socket`,
      50,
    );
  }

  pid(node: ExampleNode): number {
    const p = this.#processes.get(node);
    if (p === undefined) throw new Error(`${node} was not started`);
    return p.pid;
  }

  running(node: ExampleNode): boolean {
    return this.#processes.get(node)?.running === true;
  }

  /** SIGSTOP / SIGCONT: the process stays, only its peers' DPD can tell. */
  signal(node: ExampleNode, signal: 'SIGSTOP' | 'SIGCONT'): void {
    process.kill(this.pid(node), signal);
  }

  /** SIGKILL, as a crash. */
  async kill(node: ExampleNode): Promise<void> {
    this.#expectedUp.delete(node);
    await this.#processes.get(node)?.stop('SIGKILL');
  }

  /** SIGKILL and start again with the same configuration and state directory (a crash and a restart). */
  async restart(node: ExampleNode): Promise<void> {
    await this.kill(node);
    await this.startNode(node);
  }

  log(node: ExampleNode): string {
    return this.#processes.get(node)?.stdout() ?? '';
  }

  request(node: ExampleNode, words: string[], options: Record<string, unknown> = {}): Promise<unknown> {
    const socket = join(this.configs.get(node).system['state-directory'] as string, 'control.sock');
    return controlRequest(socket, words, { options, timeoutMs: 5000 });
  }

  /**
   * Edits a copy of the node's configuration, writes it to the node's file and commits that file on the
   * running daemon (`commit check` with `check`). An applied commit becomes the lab's copy, so a restart
   * starts from it; otherwise the file is put back as it was.
   */
  async commit(node: ExampleNode, edit: (doc: NodeDocument) => void, options: { check?: boolean } = {}): Promise<CommitReply> {
    const running = this.configs.get(node);
    const doc = structuredClone(running);
    edit(doc);
    const file = join(this.dir, `${node}.yaml`);
    await writeFile(file, stringify(doc));
    const reply = (await this.request(node, options.check === true ? ['commit', 'check'] : ['commit'], { file })) as CommitReply;
    if (reply.result === 'applied' && options.check !== true) this.configs.set(node, doc);
    else await writeFile(file, stringify(running));
    return reply;
  }

  /** The node's IKE SAs (`show security group-vpn ROLE ike security-associations`). */
  async ikeSas(node: ExampleNode): Promise<IkeSaView[]> {
    return (await this.show<{ sas: IkeSaView[] }>(node, 'ike security-associations')).sas;
  }

  /** The initiator cookie of the gateway's established IKE SA (one is expected). */
  async upSa(node: ExampleNode, gateway: string): Promise<string> {
    const sa = (await this.ikeSas(node)).find((s) => s.gateway === gateway && s.state === 'UP');
    if (sa === undefined) throw new Error(`${node} has no IKE SA through ${gateway}`);
    return sa.icookie;
  }

  /** Whether the node still holds the IKE SA of this initiator cookie. */
  async hasSa(node: ExampleNode, icookie: string): Promise<boolean> {
    return (await this.ikeSas(node)).some((s) => s.icookie === icookie);
  }

  /** Addresses of the members registered in the node's first group, sorted. */
  async registeredMembers(node: ExampleNode): Promise<string[]> {
    const { groups } = await this.show<{ groups: { members: { address: string }[] }[] }>(node, 'registered-members');
    return (groups[0]?.members.map((m) => m.address) ?? []).sort();
  }

  /** Active TEK SPIs of one group on a server, sorted. */
  async groupTeks(node: ExampleNode, group: string): Promise<string[]> {
    const { sas } = await this.show<{ sas: { group: string; spi: string; state: string }[] }>(node, 'ipsec security-associations');
    return sas.filter((s) => s.group === group && s.state === 'active').map((s) => s.spi).sort();
  }

  /** A server's KEKs, one a group. */
  async keks(node: ExampleNode): Promise<{ group: string; groupId: number; spi: string }[]> {
    return (await this.show<{ sas: { group: string; groupId: number; spi: string }[] }>(node, 'kek security-associations')).sas;
  }

  /** `request security group-vpn server rekey group`: the new TEK SPIs. */
  async rekey(node: ExampleNode, group: string): Promise<string[]> {
    return ((await this.request(node, ['request', 'security', 'group-vpn', 'server', 'rekey', 'group'], { group })) as { spis: string[] }).spis;
  }

  /** A statistics counter; 0 when the node does not show it (yet). */
  async counter(node: ExampleNode, section: string, name: string): Promise<number> {
    return (await this.statistics(node))[section]?.[name] ?? 0;
  }

  /** `show security group-vpn ROLE WORDS...` as JSON. */
  async show<T>(node: ExampleNode, words: string, options: Record<string, unknown> = {}): Promise<T> {
    const role = isServer(node) ? 'server' : 'member';
    return (await this.request(node, ['show', 'security', 'group-vpn', role, ...words.split(' ')], options)) as T;
  }

  async cluster(node: ExampleNode): Promise<ServerCluster> {
    return this.show<ServerCluster>(node, 'server-cluster', { detail: true });
  }

  /** One group of the node's `server-cluster` view, by name. */
  async clusterGroup(node: ExampleNode, name: string): Promise<ServerCluster['groups'][number] | undefined> {
    return (await this.cluster(node)).groups.find((g) => g.name === name);
  }

  async statistics(node: ExampleNode): Promise<Record<string, Record<string, number>>> {
    return this.show(node, 'statistics');
  }

  /** Active TEK SPIs (server) or installed TEK SPIs (member), sorted. */
  async tekSpis(node: ExampleNode): Promise<string[]> {
    const { sas } = await this.show<{ sas: { spi: string; state?: string }[] }>(node, 'ipsec security-associations');
    return sas.filter((s) => s.state === undefined || s.state === 'active').map((s) => s.spi).sort();
  }

  async kekSpi(node: ExampleNode): Promise<string | undefined> {
    const { sas } = await this.show<{ sas: { spi: string }[] }>(node, 'kek security-associations');
    return sas[0]?.spi;
  }

  async probe(node: ExampleNode): Promise<Probe> {
    return (await this.show<{ probe: Probe }>(node, 'ipsec statistics')).probe;
  }

  /** Waits for `condition`, failing early (with the log's tail) if a started node died. */
  async until<T>(what: string, withinMs: number, condition: () => Promise<T | undefined | null | false>): Promise<T> {
    return waitFor(async () => {
      for (const [node, p] of this.#processes) if (!p.running && this.#expectedUp.has(node)) throw new Error(`${node} died: ${p.stderr()}${p.stdout().slice(-2000)}`);
      return condition();
    }, withinMs, what, 100);
  }


  /** Every sub started sees its root active, and the root (the pair's primary) sees every started sub active. */
  async clusterUp(withinMs: number): Promise<void> {
    const subs = this.nodes().filter((n) => n.startsWith('sub'));
    await this.until('every sub-server active on both sides', withinMs, async () => {
      for (const sub of subs) if ((await this.cluster(sub)).groups[0]?.root !== 'active') return false;
      const root = this.configs.has('root') ? 'root' : await this.primary();
      if (root === undefined) return !this.pairNodes().some((n) => this.running(n));
      const peers = (await this.cluster(root)).groups[0]?.peers ?? [];
      return subs.every((s) => peers.find((p) => p.address === this.configs.get(s).system.listen.address)?.state === 'active');
    });
  }

  /** The root pair's nodes in this lab (configured, started or not). */
  pairNodes(): RootPairNode[] {
    return this.nodes().filter(isRootPairNode);
  }

  /** `show chassis cluster status` of a root pair node. */
  async chassis(node: RootPairNode): Promise<ChassisStatus> {
    return (await this.request(node, ['show', 'chassis', 'cluster', 'status'])) as ChassisStatus;
  }

  /** Both pair nodes answer, one primary and one healthy secondary by both statuses, control link up; the primary. */
  async pairSettled(withinMs: number): Promise<RootPairNode> {
    return this.until('one primary and one healthy secondary, both nodes agreeing', withinMs, async () => {
      const [a, b] = await Promise.all([this.chassis('root-node0'), this.chassis('root-node1')]);
      const roles = (s: ChassisStatus): string => s.nodes.map((n) => `${n.name}:${n.role}:${n.healthy}`).join(' ');
      if (roles(a) !== roles(b) || a.controlLink !== 'up' || b.controlLink !== 'up') return undefined;
      const primaries = a.nodes.filter((n) => n.role === 'primary');
      if (primaries.length !== 1 || !a.nodes.every((n) => n.healthy)) return undefined;
      return primaries[0]?.name === 'node0' ? 'root-node0' : 'root-node1';
    });
  }

  /** `request chassis cluster failover redundancy-group 0 node N` on `from`, to the other pair node; the reply. */
  async failover(from: RootPairNode): Promise<unknown> {
    return this.request(from, ['request', 'chassis', 'cluster', 'failover', 'redundancy-group', '0', 'node'], { node: otherPairNode(from) === 'root-node0' ? 0 : 1 });
  }

  /**
   * The pair node that is primary now by its own status, asking every running pair node; undefined when
   * none is, or when two are (split brain: the test decides what that means).
   */
  async primary(): Promise<RootPairNode | undefined> {
    const primaries: RootPairNode[] = [];
    for (const node of this.pairNodes()) {
      if (!this.running(node)) continue;
      const self = (await this.chassis(node).catch(() => undefined))?.nodes.find((n) => n.self);
      if (self?.role === 'primary') primaries.push(node);
    }
    return primaries.length === 1 ? primaries[0] : undefined;
  }

  /** Every member started holds a TEK and has received a probe from each other member started. */
  async membersUp(withinMs: number): Promise<void> {
    const members = this.nodes().filter((n) => n.startsWith('gm-'));
    await this.until('every member registered and hearing the others', withinMs, async () => {
      for (const m of members) {
        if ((await this.tekSpis(m)).length === 0) return false;
        if ((await this.probe(m)).received < members.length - 1) return false;
      }
      return true;
    });
  }
}

/** The answer to `commit` (docs/control-protocol.md). */
export interface CommitReply {
  /** `ok`: `commit check` found the file valid. */
  result: 'applied' | 'refused' | 'invalid' | 'no-change' | 'ok';
  changes: { cell: string; detail: string; group?: string }[];
  applied: string[];
  error: string | null;
}

/** The part of an IKE SA's status the tests look at. */
export interface IkeSaView {
  gateway: string;
  state: string;
  icookie: string;
  remote: { address: string; port: number };
  /** The SA's negotiated lifetime (null where the status has none). */
  lifetimeSeconds: number | null;
}

export interface ClusterPeer {
  name: string;
  address: string;
  port: number;
  role: string;
  state: 'active' | 'inactive';
  ikeSa: string;
  lastExchangeSecondsAgo: number | null;
  pendingUpdates: number | null;
}

export interface ServerCluster {
  groups: {
    name: string;
    groupId: number;
    role: string;
    root: 'active' | 'inactive' | null;
    updateSeq: number | null;
    initInProgress: boolean | null;
    pushesHeld: boolean | null;
    peers: ClusterPeer[];
    sas?: { kind: string; spi: string; softInSeconds: number; hardInSeconds: number }[];
  }[];
}

export interface Probe {
  sent: number;
  received: number;
  authFailures: number;
  noSa: number;
  /** Probes that could not be sent (no active outbound TEK). */
  sendFailures: number;
  /** Probes missing between those received (sequence gaps, summed over senders). */
  gaps: number;
}

/** `show chassis cluster status` (packages/root-server/src/pair/rg0.ts). */
export interface ChassisStatus {
  redundancyGroup: number;
  epoch: number;
  failovers: number;
  stateVersion: number;
  controlLink: 'up' | 'down';
  nodes: { name: string; role: 'primary' | 'secondary'; priority: number; healthy: boolean; self: boolean }[];
}
