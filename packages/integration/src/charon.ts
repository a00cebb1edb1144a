// strongSwan's charon as an independent IKEv1 peer inside a test namespace, controlled with swanctl over
// a per-test vici socket. charon's pid file path (/run/charon.pid) is fixed, so each instance gets its
// own tmpfs on /run in a private mount namespace (`unshare -m`); the mount disappears with the process.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { strongswanConf, swanctlConf, type CharonConnection } from './charon-config.js';
import { charonIkeKeys, type IkeKey } from './charon-keys.js';
import { logSize, waitForLog, type WaitForLogOptions } from './log-file.js';
import type { NetworkNamespace } from './netns.js';
import { runCommand, waitFor, type ManagedProcess } from './process.js';
import { findCharon } from './requirements.js';

export interface CharonOptions {
  /** directory for strongswan.conf, swanctl.conf, the vici socket and the logs; created if missing */
  workDir: string;
  connections: readonly CharonConnection[];
  /** how long to wait for the vici socket; default 5000 ms */
  startWithinMs?: number;
}

/** Where one charon instance keeps its files, all inside the test's work directory. */
export interface CharonFiles {
  strongswanConf: string;
  swanctlConf: string;
  viciSocket: string;
  /** charon's filelog (ike = 4, mgr = 2) */
  logFile: string;
}

function charonFiles(workDir: string): CharonFiles {
  return {
    strongswanConf: join(workDir, 'strongswan.conf'),
    swanctlConf: join(workDir, 'swanctl.conf'),
    viciSocket: join(workDir, 'charon.vici'),
    logFile: join(workDir, 'charon.log'),
  };
}

export class Charon {
  private constructor(
    readonly child: ManagedProcess,
    readonly files: CharonFiles,
  ) {}

  /** Writes the configuration, starts charon in `ns`, waits for its vici socket and loads the connections. */
  static async start(ns: NetworkNamespace, options: CharonOptions): Promise<Charon> {
    const binary = findCharon();
    if (binary === undefined) throw new Error('charon is not installed (strongswan-charon)');
    await mkdir(options.workDir, { recursive: true });
    const files = charonFiles(options.workDir);
    await writeFile(files.strongswanConf, strongswanConf(files));
    await writeFile(files.swanctlConf, swanctlConf(options.connections));
    const child = ns.spawn(
      'charon',
      'unshare',
      ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=1m gvpn-run /run && exec "$0"', binary],
      { logDir: options.workDir, env: { ...process.env, STRONGSWAN_CONF: files.strongswanConf } },
    );
    const charon = new Charon(child, files);
    await waitFor(
      () => {
        if (!child.running) throw new Error(`charon exited at start: ${child.stderr()}`);
        return existsSync(files.viciSocket);
      },
      options.startWithinMs ?? 5000,
      'charon vici socket',
    );
    await charon.loadAll();
    return charon;
  }

  get pid(): number {
    return this.child.pid;
  }

  /** `swanctl --load-all` from this instance's swanctl.conf. */
  async loadAll(): Promise<string> {
    return this.swanctl(['--load-all', '--file', this.files.swanctlConf]);
  }

  /** Starts Main Mode for a connection; resolves when charon reports the IKE SA up, throws if it failed. */
  async initiate(connection: string, timeoutSeconds = 10): Promise<string> {
    return this.swanctl(['--initiate', '--ike', connection, '--timeout', String(timeoutSeconds)]);
  }

  /** `swanctl --list-sas` output (text). */
  async listSas(): Promise<string> {
    return this.swanctl(['--list-sas']);
  }

  async terminate(connection: string, timeoutSeconds = 10): Promise<string> {
    return this.swanctl(['--terminate', '--ike', connection, '--timeout', String(timeoutSeconds)]);
  }

  /** Runs swanctl against this charon; swanctl works from the host since the socket is a plain file. */
  async swanctl(args: readonly string[]): Promise<string> {
    const { stdout } = await runCommand('swanctl', [...args, '--uri', `unix://${this.files.viciSocket}`], {
      env: { ...process.env, STRONGSWAN_CONF: this.files.strongswanConf },
    });
    return stdout;
  }

  /** Waits for a line matching `pattern` in charon's log (see waitForLog). */
  waitForLog(pattern: RegExp, withinMs: number, options?: WaitForLogOptions): Promise<RegExpMatchArray> {
    return waitForLog(this.files.logFile, pattern, withinMs, options);
  }

  /** Current log size, to pass as `fromOffset` when waiting for a later occurrence. */
  logSize(): Promise<number> {
    return logSize(this.files.logFile);
  }

  /** The phase-1 keys charon has logged so far, for tshark's ikev1_decryption_table. */
  async ikeKeys(): Promise<IkeKey[]> {
    return charonIkeKeys(await readFile(this.files.logFile, 'utf8'));
  }

  /** Stops charon by its PID (SIGTERM, then SIGKILL); its /run mount goes with it. */
  async stop(): Promise<void> {
    await this.child.stop();
  }
}
