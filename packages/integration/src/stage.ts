// The stage every namespace test stands on: a work directory and two namespaces joined by a veth pair
// (`ours` holds link.a, `theirs` link.b), registered with the test file's Cleanup as each comes to exist;
// starters for the usual actors (tshark on link.a, charon in `theirs`, our daemon in `ours`) that
// remember every PID; and the closing check that the cleanup left nothing behind.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Charon } from './charon.js';
import type { CharonConnection } from './charon-config.js';
import { Cleanup, keepArtifacts, workDirectory } from './cleanup.js';
import { NetworkNamespace, connect, sweepStaleNamespaces, type VethLink } from './netns.js';
import { OurDaemon, type OurDaemonConfig, type OurGateway } from './our-daemon.js';
import { pidAlive, runCommand } from './process.js';
import { assertIntegrationRequirements } from './requirements.js';
import { Capture } from './tshark.js';

/** Our daemon facing charon: one gateway `charon` at link.b on UDP 500 (charon stays on 500). */
export interface TowardsCharon extends Omit<OurDaemonConfig, 'name' | 'listen' | 'gateways'> {
  /** 848, or 500 when charon initiates (it sends only to 500) */
  listenPort: number;
  gateway?: Omit<OurGateway, 'name' | 'address' | 'port'>;
}

export class Stage {
  readonly #pids: number[] = [];

  private constructor(
    readonly cleanup: Cleanup,
    readonly workDir: string,
    /** where our daemon runs (link.a) */
    readonly ours: NetworkNamespace,
    /** where charon or ike-scan runs (link.b) */
    readonly theirs: NetworkNamespace,
    readonly link: VethLink,
  ) {}

  /**
   * Checks root and tools (failing, never skipping), sweeps namespaces of dead runs, then makes the work
   * directory (kept with GVPN_KEEP_ARTIFACTS=1) and the two namespaces.
   */
  static async create(cleanup: Cleanup, label: string): Promise<Stage> {
    assertIntegrationRequirements();
    await sweepStaleNamespaces();
    const workDir = await workDirectory(cleanup, label);
    const ours = await NetworkNamespace.create();
    cleanup.defer('our namespace', () => ours.destroy());
    const theirs = await NetworkNamespace.create();
    cleanup.defer('their namespace', () => theirs.destroy());
    return new Stage(cleanup, workDir, ours, theirs, await connect(ours, theirs));
  }

  /** Remembers processes that assertCleanupLeftNothing() will require to be gone. */
  track(...processes: readonly ({ pid: number } | Capture)[]): void {
    for (const p of processes) this.#pids.push(...(p instanceof Capture ? p.pids : [p.pid]));
  }

  /** A new sub-directory of the work directory for one scenario, with tshark recording on link.a in it. */
  async scenario(name: string): Promise<Scenario> {
    const dir = join(this.workDir, name);
    await mkdir(dir);
    return new Scenario(this, dir, await this.capture(dir));
  }

  /** tshark on our end of the link, writing `<dir>/ike.pcap`; recording once this resolves. */
  async capture(dir: string): Promise<Capture> {
    const capture = await Capture.start({ namespace: this.ours, iface: this.link.a.ifname, pcapFile: join(dir, 'ike.pcap'), logDir: dir });
    this.track(capture);
    return capture;
  }

  /**
   * Runs the cleanup now and asserts that it left nothing behind: both namespaces deleted, every tracked
   * process gone (charon's private mount namespace and /run tmpfs live exactly as long as its process),
   * the work directory removed (unless GVPN_KEEP_ARTIFACTS=1).
   */
  async assertCleanupLeftNothing(): Promise<void> {
    const names = [this.ours.name, this.theirs.name];
    await this.cleanup.run();
    const { stdout } = await runCommand('ip', ['netns', 'list']);
    for (const name of names) assert.ok(!stdout.includes(name), `${name} deleted`);
    for (const pid of this.#pids) assert.ok(!pidAlive(pid), `pid ${pid} stopped`);
    if (!keepArtifacts()) assert.ok(!existsSync(this.workDir), `${this.workDir} removed`);
  }
}

/**
 * One test's actors on the stage, with their files in `dir`: the capture (started with the scenario),
 * charon and our daemon facing each other. end() stops charon and the daemon, the last started first,
 * so that the next scenario finds UDP 500 free; the capture is the test's to stop (or the namespace's).
 */
export class Scenario {
  readonly #stops = new Cleanup();

  constructor(
    readonly stage: Stage,
    readonly dir: string,
    readonly capture: Capture,
  ) {}

  /** charon in `theirs` (files in `<dir>/charon`) with one connection `gw` from link.b to link.a. */
  async charon(connection: Omit<CharonConnection, 'name' | 'localAddress' | 'remoteAddress'>): Promise<Charon> {
    const { link, theirs } = this.stage;
    const charon = await Charon.start(theirs, {
      workDir: join(this.dir, 'charon'),
      connections: [{ name: 'gw', localAddress: link.b.address, remoteAddress: link.a.address, ...connection }],
    });
    this.#started('charon', charon);
    return charon;
  }

  /** Our root-server `ours` in `ours` on link.a, with one gateway `charon` (see TowardsCharon). */
  async ourDaemon(options: TowardsCharon): Promise<OurDaemon> {
    const { link, ours } = this.stage;
    const { listenPort, gateway, ...config } = options;
    const daemon = await OurDaemon.start({
      ...config, name: 'ours', workDir: this.dir, namespace: ours,
      listen: { address: link.a.address, port: listenPort },
      gateways: [{ ...gateway, name: 'charon', address: link.b.address, port: 500 }],
    });
    this.#started('our daemon', daemon);
    return daemon;
  }

  /** Stops what the scenario started, last first; every stop runs even if one fails. */
  end(): Promise<void> {
    return this.#stops.run();
  }

  #started(label: string, actor: { pid: number; stop(): Promise<unknown> }): void {
    this.stage.track(actor);
    this.#stops.defer(label, () => actor.stop());
  }
}
