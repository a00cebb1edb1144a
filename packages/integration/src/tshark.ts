// Wireshark's dissectors as an independent judge of our bytes: capture on a test interface, then read
// the capture back with the malformed gate and with field extraction (decrypting IKEv1 with logged keys).
import type { IkeKey } from './charon-keys.js';
import type { NetworkNamespace } from './netns.js';
import { ManagedProcess, runCommand, waitFor, type ExitStatus } from './process.js';

/** ISAKMP on the GDOI port; Wireshark does not register 848. */
export const DECODE_GDOI_PORT = 'udp.port==848,isakmp';

export const IKE_CAPTURE_FILTER = 'udp port 848 or udp port 500';

export interface CaptureOptions {
  /** namespace the interface lives in; undefined for the host */
  namespace: NetworkNamespace | undefined;
  iface: string;
  pcapFile: string;
  /** directory for tshark's stdout/stderr files */
  logDir: string;
  /** BPF capture filter; default IKE_CAPTURE_FILTER */
  filter?: string;
  /** how long to wait for tshark to report it is capturing; default 10000 ms */
  startWithinMs?: number;
}

/** A running `tshark -w` capture. */
export class Capture {
  private constructor(
    readonly child: ManagedProcess,
    readonly pcapFile: string,
  ) {}

  /** Starts tshark and resolves once it reports "Capturing on", so no packet sent afterwards is missed. */
  static async start(options: CaptureOptions): Promise<Capture> {
    const args = ['-i', options.iface, '-f', options.filter ?? IKE_CAPTURE_FILTER, '-w', options.pcapFile];
    const child =
      options.namespace === undefined
        ? ManagedProcess.start('tshark', 'tshark', args, { logDir: options.logDir })
        : options.namespace.spawn('tshark', 'tshark', args, { logDir: options.logDir });
    await waitFor(
      () => {
        if (!child.running) throw new Error(`tshark exited at start: ${child.stderr()}`);
        return /Capturing on/.test(child.stderr());
      },
      options.startWithinMs ?? 10000,
      'tshark to start capturing',
    );
    return new Capture(child, options.pcapFile);
  }

  /**
   * Waits until the capture file holds at least `count` frames matching a display filter. The kernel
   * hands packets to dumpcap in blocks (up to its 250 ms read timeout) and stopping drops what is still
   * queued, so wait for the frames a test needs before stop().
   */
  async waitForFrames(filter: string, count: number, withinMs: number, options: Omit<ReadOptions, 'filter'> = {}): Promise<number> {
    return waitFor(
      async () => {
        const frames = await countFrames(this.pcapFile, { ...options, filter });
        return frames >= count && frames;
      },
      withinMs,
      `${count} frames matching ${filter} in ${this.pcapFile}`,
      100,
    );
  }

  /** SIGINT makes tshark flush and close the file; throws if it then exits with an error. */
  async stop(): Promise<ExitStatus> {
    const status = await this.child.stop('SIGINT');
    if (status.code !== 0) throw new Error(`tshark capture ended with ${status.signal ?? `exit ${status.code}`}: ${this.child.stderr()}`);
    return status;
  }
}

export interface ReadOptions {
  /** `-d` decode-as rules; default [DECODE_GDOI_PORT] */
  decodeAs?: readonly string[];
  /** IKEv1 keys, so that encrypted payloads are dissected too */
  keyTable?: readonly IkeKey[];
  /** display filter (`-Y`) */
  filter?: string;
}

/**
 * Frames Wireshark finds malformed or warns about, one summary line each. A clean capture returns [].
 * (tshark exits 0 either way, so the caller must assert on the result.)
 */
export async function malformedGate(pcapFile: string, options: Omit<ReadOptions, 'filter'> = {}): Promise<string[]> {
  const filter = '_ws.malformed || _ws.expert.severity >= warning';
  const { stdout } = await runCommand('tshark', ['-r', pcapFile, ...readArgs({ ...options, filter })]);
  return stdout.split('\n').filter((line) => line.trim() !== '');
}

/**
 * One row per frame (matching `filter`), mapping each field name to its values in that frame joined by
 * ',' ('' when absent), e.g. fields(pcap, ['frame.number', 'isakmp.id.type'], { keyTable }).
 */
export async function fields(
  pcapFile: string,
  names: readonly string[],
  options: ReadOptions = {},
): Promise<Record<string, string>[]> {
  const format = ['-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,', '-E', 'quote=n'];
  const { stdout } = await runCommand('tshark', [
    '-r', pcapFile, ...readArgs(options), ...format, ...names.flatMap((name) => ['-e', name]),
  ]);
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const values = line.split('\t');
      return Object.fromEntries(names.map((name, i) => [name, values[i] ?? '']));
    });
}

/** Frames matching the filter in a capture that may still be being written (a torn last record is not counted). */
async function countFrames(pcapFile: string, options: ReadOptions): Promise<number> {
  const { stdout, stderr, exitCode } = await runCommand('tshark', ['-r', pcapFile, ...readArgs(options), '-T', 'fields', '-e', 'frame.number'], {
    okCodes: [0, 2],
  });
  if (exitCode === 2 && !/cut short in the middle of a packet/.test(stderr)) throw new Error(`tshark -r ${pcapFile}: ${stderr}`);
  return stdout.split('\n').filter((line) => line !== '').length;
}

function readArgs(options: ReadOptions): string[] {
  const args = (options.decodeAs ?? [DECODE_GDOI_PORT]).flatMap((rule) => ['-d', rule]);
  for (const { icookie, key } of options.keyTable ?? []) {
    if (!/^[0-9a-f]{16}$/i.test(icookie) || !/^([0-9a-f]{2})+$/i.test(key)) {
      throw new Error(`IKE key table entry is not hex: icookie ${icookie}`);
    }
    args.push('-o', `uat:ikev1_decryption_table:${icookie},${key}`);
  }
  if (options.filter !== undefined) args.push('-Y', options.filter);
  return args;
}
