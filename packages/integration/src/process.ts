// Child processes for integration tests: one-shot commands, long-running processes whose output goes to
// files, polling with a deadline, and stop-by-PID. Everything here uses real time: these helpers drive
// real daemons and external tools.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { processExists } from '@gvpn/runtime';

/** A command that exited non-zero (or by a signal); carries what it printed. */
export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`${command} failed (${signal ?? `exit ${exitCode}`}): ${stderr.trim() || stdout.trim()}`);
  }
}

export interface RunOptions {
  /** Written to the command's stdin, which is then closed. */
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** Exit codes that count as success; default [0]. */
  okCodes?: readonly number[];
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs a command to completion and returns its output; throws CommandError on failure. */
export function runCommand(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const okCodes = options.okCodes ?? [0];
  const printable = [command, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const out = Buffer.concat(stdout).toString('utf8');
      const err = Buffer.concat(stderr).toString('utf8');
      if (code !== null && okCodes.includes(code)) resolve({ stdout: out, stderr: err, exitCode: code });
      else reject(new CommandError(printable, code, signal, out, err));
    });
    // A command that exits without reading its input is judged by its exit code, not by EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartOptions {
  /** stdout and stderr go to `<logDir>/<name>.stdout` and `<logDir>/<name>.stderr`. */
  logDir: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Start the process as the leader of a new process group, so that stop() signals its children too
   * (tshark's dumpcap) and does not return while any of them is still alive.
   */
  processGroup?: boolean;
}

/** A long-running child process, stopped by its PID (or by its process group, see StartOptions). */
export class ManagedProcess {
  readonly pid: number;
  readonly stdoutPath: string;
  readonly stderrPath: string;
  /** Resolves once the process has exited and been reaped. */
  readonly exited: Promise<ExitStatus>;
  #status: ExitStatus | undefined;

  private constructor(
    readonly name: string,
    child: ChildProcess,
    stdoutPath: string,
    stderrPath: string,
    readonly processGroup: boolean,
  ) {
    if (child.pid === undefined) throw new Error(`${name}: spawn failed`);
    this.pid = child.pid;
    this.stdoutPath = stdoutPath;
    this.stderrPath = stderrPath;
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.#status = { code, signal };
        resolve(this.#status);
      });
    });
  }

  /** Starts `command args`, its output going to files so that a chatty tool never blocks on a full pipe. */
  static start(name: string, command: string, args: readonly string[], options: StartOptions): ManagedProcess {
    const stdoutPath = join(options.logDir, `${name}.stdout`);
    const stderrPath = join(options.logDir, `${name}.stderr`);
    const out = openSync(stdoutPath, 'a');
    const err = openSync(stderrPath, 'a');
    try {
      const child = spawn(command, args, {
        env: options.env ?? process.env,
        cwd: options.cwd,
        stdio: ['ignore', out, err],
        detached: options.processGroup === true,
      });
      return new ManagedProcess(name, child, stdoutPath, stderrPath, options.processGroup === true);
    } finally {
      // The child holds its own copies of the descriptors.
      closeSync(out);
      closeSync(err);
    }
  }

  get running(): boolean {
    return this.#status === undefined;
  }

  stdout(): string {
    return readFileSync(this.stdoutPath, 'utf8');
  }

  stderr(): string {
    return readFileSync(this.stderrPath, 'utf8');
  }

  /** Live (non-zombie) members of this process's group, the leader included; [] without processGroup. */
  groupMembers(): number[] {
    return this.processGroup ? processGroupMembers(this.pid) : [];
  }

  /**
   * Sends `signal` (default SIGTERM); after `graceMs` without exiting, SIGKILL. Resolves once reaped.
   * With processGroup the signals go to the whole group, and it also waits (SIGKILL after `graceMs`)
   * until no member of the group is left, even when the leader had already exited.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<ExitStatus> {
    if (this.#status === undefined) {
      this.#kill(signal);
      const timer = delay(graceMs);
      const status = await Promise.race([this.exited, timer.promise]);
      timer.cancel();
      if (status === undefined) {
        this.#kill('SIGKILL');
        await this.exited;
      }
    }
    if (this.processGroup) await this.#stopGroup(signal, graceMs);
    return this.exited;
  }

  #kill(signal: NodeJS.Signals): void {
    try {
      process.kill(this.processGroup ? -this.pid : this.pid, signal);
    } catch (error) {
      // The process (or every member of its group) is gone already.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }

  async #stopGroup(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    if (this.groupMembers().length === 0) return;
    this.#kill(signal);
    try {
      await waitFor(() => this.groupMembers().length === 0, graceMs, `process group ${this.pid} (${this.name}) to exit`);
    } catch {
      this.#kill('SIGKILL');
      await waitFor(() => this.groupMembers().length === 0, graceMs, `process group ${this.pid} (${this.name}) to exit after SIGKILL`);
    }
  }
}

/** PIDs of the live (not zombie) processes whose process group is `pgid`, from /proc. */
export function processGroupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses, so split after the last ')'
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') members.push(Number(entry));
  }
  return members;
}

/** Whether a process with this PID exists (a zombie counts, as it still holds the PID). */
export const pidAlive: (pid: number) => boolean = processExists;

/**
 * Stops a process that is not our child (so we cannot await its exit): SIGTERM, then SIGKILL after
 * `graceMs`, polling until the PID is gone.
 */
export async function stopPid(pid: number, graceMs = 3000): Promise<void> {
  if (!pidAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  try {
    await waitFor(() => !pidAlive(pid), graceMs, `pid ${pid} to exit after SIGTERM`);
  } catch {
    if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    await waitFor(() => !pidAlive(pid), graceMs, `pid ${pid} to exit after SIGKILL`);
  }
}

/** Thrown by waitFor when the condition did not hold in time. */
export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/**
 * Polls `condition` every `intervalMs` until it returns a value other than undefined, null or false,
 * and resolves to that value. Throws TimeoutError naming `what` once `withinMs` have passed (a function is
 * asked then, so the message can say what the condition saw last). Errors thrown by the condition
 * propagate at once: a condition that cannot be evaluated will not start to hold.
 */
export async function waitFor<T>(
  condition: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  withinMs: number,
  what: string | (() => string) = 'condition',
  intervalMs = 25,
): Promise<T> {
  const deadline = performance.now() + withinMs;
  for (;;) {
    const value = await condition();
    if (value !== undefined && value !== null && value !== false) return value;
    if (performance.now() >= deadline) throw new TimeoutError(`timed out after ${withinMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await delay(intervalMs).promise;
  }
}

function delay(ms: number): { promise: Promise<undefined>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}
