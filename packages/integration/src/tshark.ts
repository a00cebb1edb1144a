// Wireshark's dissectors as an independent judge of our bytes: capture on a test interface, then read
// the capture back with the malformed gate and with field extraction (decrypting IKEv1 with logged keys).
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IkeKey } from './charon-keys.js';
import type { NetworkNamespace } from './netns.js';
import { ManagedProcess, runCommand, waitFor, type ExitStatus, type RunResult } from './process.js';

/** ISAKMP on the GDOI port; Wireshark does not register 848. */
export const DECODE_GDOI_PORT = 'udp.port==848,isakmp';

export const IKE_CAPTURE_FILTER = 'udp port 848 or udp port 500';

/**
 * Capture.start sends marker datagrams to this UDP port (IANA reserved, nothing listens) until one is in
 * the capture file. The capture filter always accepts it; every reader here (fields, malformedGate,
 * waitForFrames) leaves frames on this port out, so no assertion can count a marker.
 */
export const CAPTURE_MARKER_PORT = 49151;

export interface CaptureOptions {
  /** namespace the interface lives in; undefined for the host */
  namespace: NetworkNamespace | undefined;
  iface: string;
  pcapFile: string;
  /** directory for tshark's (and the marker sender's) stdout/stderr files */
  logDir: string;
  /** BPF capture filter; default IKE_CAPTURE_FILTER (the marker port is always added) */
  filter?: string;
  /** how long to wait until the capture is recording; default 10000 ms */
  startWithinMs?: number;
}

/** A running `tshark -w` capture (tshark and its dumpcap, in their own process group). */
export class Capture {
  private constructor(
    readonly child: ManagedProcess,
    readonly pcapFile: string,
    /** tshark's and dumpcap's PIDs, as they were once the capture was recording */
    readonly pids: readonly number[],
  ) {}

  /**
   * Starts tshark and resolves once the capture file holds a marker datagram sent out of `iface` after
   * the start: only then is dumpcap surely recording, so no packet sent afterwards is missed. (tshark's
   * "Capturing on" on stderr did not always mean that: early packets on `lo` were lost that way.)
   */
  static async start(options: CaptureOptions): Promise<Capture> {
    const markerTo = await markerTarget(options);
    const filter = `(${options.filter ?? IKE_CAPTURE_FILTER}) or (udp dst port ${CAPTURE_MARKER_PORT})`;
    const args = ['-i', options.iface, '-f', filter, '-w', options.pcapFile];
    const spawnOptions = { logDir: options.logDir, processGroup: true };
    const child =
      options.namespace === undefined
        ? ManagedProcess.start('tshark', 'tshark', args, spawnOptions)
        : options.namespace.spawn('tshark', 'tshark', args, spawnOptions);
    try {
      const pids = await confirmRecording(child, options, markerTo);
      return new Capture(child, options.pcapFile, pids);
    } catch (error) {
      await child.stop('SIGINT');
      throw error;
    }
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

  /**
   * SIGINT to tshark and dumpcap (as Ctrl-C would) makes them flush and close the file; resolves once
   * both are gone (SIGKILL after a grace period) and throws if tshark then reports an error.
   */
  async stop(): Promise<ExitStatus> {
    const status = await this.child.stop('SIGINT');
    if (status.code !== 0) throw new Error(`tshark capture ended with ${status.signal ?? `exit ${status.code}`}: ${this.child.stderr()}`);
    return status;
  }
}

/**
 * Sends a marker datagram every 50 ms out of the capture's interface (from inside its namespace) until
 * the marker's random token is in the capture file; returns the capture's PIDs at that moment.
 */
async function confirmRecording(child: ManagedProcess, options: CaptureOptions, target: string): Promise<number[]> {
  const token = `gvpn-capture-marker-${randomBytes(8).toString('hex')}`;
  const script = `const s = require('node:dgram').createSocket('udp4'); s.on('error', () => {});
const send = () => s.send(process.argv[3], Number(process.argv[2]), process.argv[1]);
send(); setInterval(send, 50);`;
  const senderArgs = ['-e', script, target, String(CAPTURE_MARKER_PORT), token];
  const sender =
    options.namespace === undefined
      ? ManagedProcess.start('capture-marker', process.execPath, senderArgs, { logDir: options.logDir })
      : options.namespace.spawn('capture-marker', process.execPath, senderArgs, { logDir: options.logDir });
  try {
    await waitFor(
      async () => {
        if (!child.running) throw new Error(`tshark exited at start: ${child.stderr()}`);
        if (!sender.running) throw new Error(`capture marker sender exited: ${sender.stderr()}`);
        const pcap = await readFile(options.pcapFile).catch(() => Buffer.alloc(0));
        return pcap.includes(token);
      },
      options.startWithinMs ?? 10000,
      `a marker datagram to ${target}:${CAPTURE_MARKER_PORT} in ${options.pcapFile} (is tshark capturing on ${options.iface}?)`,
    );
  } finally {
    await sender.stop();
  }
  return child.groupMembers();
}

/**
 * Where a marker must go to leave through `iface`: on loopback, the interface's own address; otherwise
 * the other host address of its /30 (or /29...), i.e. the peer of a veth link made by connect().
 */
async function markerTarget(options: CaptureOptions): Promise<string> {
  const args = ['-o', '-4', 'addr', 'show', 'dev', options.iface];
  const { stdout }: RunResult =
    options.namespace === undefined ? await runCommand('ip', args) : await options.namespace.run('ip', args);
  const match = /\binet (\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)/.exec(stdout);
  if (match === null) throw new Error(`capture marker: ${options.iface} has no IPv4 address (${stdout.trim()})`);
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  const own = octets.reduce((n, octet) => n * 256 + octet, 0);
  if (octets[0] === 127) return octets.join('.');
  if (prefix > 30) throw new Error(`capture marker: ${options.iface} has a /${prefix}, no peer address to send to`);
  const network = own - (own % 2 ** (32 - prefix));
  const peer = own === network + 1 ? network + 2 : network + 1;
  return [24, 16, 8, 0].map((shift) => (peer >>> shift) & 0xff).join('.');
}

export interface ReadOptions {
  /** `-d` decode-as rules; default [DECODE_GDOI_PORT] */
  decodeAs?: readonly string[];
  /** IKEv1 keys, so that encrypted payloads are dissected too */
  keyTable?: readonly IkeKey[];
  /** display filter (`-Y`) */
  filter?: string;
  /**
   * ESP of group SAs: every member sends under the same SPI with its own sequence counter (RFC 6407 group
   * SAs use time-based anti-replay), so Wireshark's per-SPI sequence analysis would flag every frame.
   */
  groupEsp?: boolean;
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
  if (options.groupEsp === true) args.push('-o', 'esp.do_esp_sequence_analysis:FALSE');
  // Capture.start's markers are never part of what a test reads.
  const noMarkers = `!(udp.port == ${CAPTURE_MARKER_PORT})`;
  args.push('-Y', options.filter === undefined ? noMarkers : `(${options.filter}) && ${noMarkers}`);
  return args;
}
