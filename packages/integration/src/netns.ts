// Network namespaces joined by veth pairs, addressed from 198.18.0.0/15 (RFC 2544 benchmarking range),
// so test traffic stays on links the test made. A namespace's name carries the PID of the process that
// created it (`gvpn-t<pid>-<suffix>`), which lets sweepStaleNamespaces() remove what a crashed run left.
import { randomBytes, randomInt } from 'node:crypto';
import { ManagedProcess, pidAlive, runCommand, type RunOptions, type RunResult, type StartOptions } from './process.js';

const NAME_PREFIX = 'gvpn-t';
const NAME_PATTERN = /^gvpn-t(\d+)-[0-9a-f]+$/;

export class NetworkNamespace {
  readonly #spawned: ManagedProcess[] = [];
  readonly #hostLinks: string[] = [];
  #linkCount = 0;
  #destroyed = false;

  private constructor(readonly name: string) {}

  /**
   * Creates a namespace with `lo` up. A random suffix rather than a counter keeps names unique across
   * test files running in one process without module state.
   */
  static async create(): Promise<NetworkNamespace> {
    const ns = new NetworkNamespace(`${NAME_PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`);
    await runCommand('ip', ['netns', 'add', ns.name]);
    await runCommand('ip', ['-n', ns.name, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** Runs a command inside the namespace to completion. */
  run(command: string, args: readonly string[], options?: RunOptions): Promise<RunResult> {
    return runCommand('ip', ['netns', 'exec', this.name, command, ...args], options);
  }

  /**
   * Starts a long-running command inside the namespace. `ip netns exec` execs the command, so the PID we
   * hold is the command's own; destroy() stops it by that PID.
   */
  spawn(name: string, command: string, args: readonly string[], options: StartOptions): ManagedProcess {
    this.#assertAlive();
    const child = ManagedProcess.start(name, 'ip', ['netns', 'exec', this.name, command, ...args], options);
    this.#spawned.push(child);
    return child;
  }

  /** A fresh interface name inside this namespace (names are per namespace, so short ones suffice). */
  nextInterfaceName(): string {
    return `veth${this.#linkCount++}`;
  }

  /** Records a host-side veth end to delete with this namespace. */
  ownHostLink(ifname: string): void {
    this.#hostLinks.push(ifname);
  }

  /**
   * Stops the processes started with spawn() (SIGTERM, then SIGKILL), kills anything else still inside,
   * deletes the namespace (which deletes its veth pairs) and any host-side ends left over.
   */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    await Promise.all(this.#spawned.map((child) => child.stop()));
    await killRemaining(this.name);
    await runCommand('ip', ['netns', 'del', this.name]);
    for (const ifname of this.#hostLinks) {
      await runCommand('ip', ['link', 'del', ifname]).catch((error: unknown) => {
        // Deleting the namespace normally took the pair with it already.
        if (!/Cannot find device/.test(String(error))) throw error;
      });
    }
  }

  #assertAlive(): void {
    if (this.#destroyed) throw new Error(`namespace ${this.name} is destroyed`);
  }
}

/** The root namespace, as one end of a veth pair. */
export const HOST = 'host';

export interface VethEnd {
  /** undefined for the host (root namespace) end */
  namespace: NetworkNamespace | undefined;
  ifname: string;
  /** IPv4 address without prefix length */
  address: string;
}

export interface VethLink {
  a: VethEnd;
  b: VethEnd;
  prefixLength: number;
}

export interface ConnectOptions {
  /** Addresses for the a and b ends inside one /30; default: a random /30 in 198.18.0.0/15. */
  addresses?: readonly [string, string];
}

/** Creates a veth pair between `a` (a namespace, or HOST) and namespace `b`, addresses them, sets them up. */
export async function connect(
  a: NetworkNamespace | typeof HOST,
  b: NetworkNamespace,
  options: ConnectOptions = {},
): Promise<VethLink> {
  const [addressA, addressB] = options.addresses ?? (await freeSubnet(a === HOST));
  const nsA = a === HOST ? undefined : a;
  const ifA = nsA?.nextInterfaceName() ?? `gvh${randomBytes(4).toString('hex')}`;
  const ifB = b.nextInterfaceName();
  const aPlacement = nsA === undefined ? [] : ['netns', nsA.name];
  await runCommand('ip', ['link', 'add', ifA, ...aPlacement, 'type', 'veth', 'peer', 'name', ifB, 'netns', b.name]);
  if (nsA === undefined) b.ownHostLink(ifA);
  const link: VethLink = {
    a: { namespace: nsA, ifname: ifA, address: addressA },
    b: { namespace: b, ifname: ifB, address: addressB },
    prefixLength: 30,
  };
  for (const end of [link.a, link.b]) {
    const where = end.namespace === undefined ? [] : ['-n', end.namespace.name];
    await runCommand('ip', [...where, 'addr', 'add', `${end.address}/${link.prefixLength}`, 'dev', end.ifname]);
    await runCommand('ip', [...where, 'link', 'set', end.ifname, 'up']);
  }
  return link;
}

/**
 * Deletes `gvpn-t<pid>-*` namespaces whose creating process is gone, killing what still runs inside.
 * Returns the names removed.
 */
export async function sweepStaleNamespaces(): Promise<string[]> {
  const { stdout } = await runCommand('ip', ['netns', 'list']);
  const removed: string[] = [];
  for (const line of stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const pid = NAME_PATTERN.exec(name)?.[1];
    if (pid === undefined || pidAlive(Number(pid))) continue;
    try {
      await killRemaining(name);
      await runCommand('ip', ['netns', 'del', name]);
      removed.push(name);
    } catch (error) {
      // Another test process may be sweeping the same namespace at this moment; that is success too.
      if (await namespaceExists(name)) throw error;
    }
  }
  return removed;
}

async function namespaceExists(name: string): Promise<boolean> {
  const { stdout } = await runCommand('ip', ['netns', 'list']);
  return stdout.split('\n').some((line) => line.split(' ')[0] === name);
}

async function killRemaining(name: string): Promise<void> {
  const { stdout } = await runCommand('ip', ['netns', 'pids', name]);
  for (const pid of stdout.split('\n').filter((line) => line !== '').map(Number)) {
    if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
  }
}

/**
 * Picks a random /30 in 198.18.0.0/15. Links between two namespaces cannot clash with anything, so only
 * a link with a host end checks the host's addresses.
 */
async function freeSubnet(hostEnd: boolean): Promise<[string, string]> {
  const taken = hostEnd ? (await runCommand('ip', ['-o', '-4', 'addr', 'show'])).stdout : '';
  for (;;) {
    const base = 198 * 2 ** 24 + 18 * 2 ** 16 + randomInt(0, 2 ** 15) * 4;
    const pair: [string, string] = [ipv4(base + 1), ipv4(base + 2)];
    if (!pair.some((address) => taken.includes(` ${address}/`))) return pair;
  }
}

function ipv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => (n >>> shift) & 0xff).join('.');
}

/**
 * A random `127.X.Y` prefix (X in 16..254) for tests that run daemons on the host's loopback: every
 * 127/8 address reaches `lo` with no setup, and a random prefix keeps two runs of the suite on one machine
 * (two engineers, or CI next to a developer) from taking each other's UDP ports. 127.0.x is left to the lab.
 */
export function randomLoopbackPrefix(): string {
  return `127.${randomInt(16, 255)}.${randomInt(0, 256)}`;
}
