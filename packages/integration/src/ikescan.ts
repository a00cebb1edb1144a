// ike-scan (NTA Monitor) as an independent IKEv1 initiator: it sends one Main Mode message 1 with the
// transforms we choose and reports the SA the responder selected, or the notify it answered with.
import type { NetworkNamespace } from './netns.js';
import { runCommand } from './process.js';

/** Phase-1 transform in RFC 2409 attribute numbers (Appendix A). */
export interface IkeScanTransform {
  /** attribute 1: 7 = AES-CBC */
  encryption: number;
  /** attribute 14, for AES */
  keyLength?: number;
  /** attribute 2: 2 = SHA1, 4 = SHA2-256, 5 = SHA2-384, 6 = SHA2-512 */
  hash: number;
  /** attribute 3: 1 = pre-shared key */
  auth: number;
  /** attribute 4: DH group number */
  group: number;
}

/** ike-scan's custom transform syntax, e.g. "(1=7,14=256,2=4,3=1,4=14)". */
export function ikeScanTransform(t: IkeScanTransform): string {
  const attributes = [`1=${t.encryption}`];
  if (t.keyLength !== undefined) attributes.push(`14=${t.keyLength}`);
  attributes.push(`2=${t.hash}`, `3=${t.auth}`, `4=${t.group}`);
  return `(${attributes.join(',')})`;
}

export interface IkeScanOptions {
  target: string;
  /** offered in this order, in ikeScanTransform() syntax */
  transforms: readonly string[];
  /** default 848 for both */
  sourcePort?: number;
  destinationPort?: number;
  /** run inside this namespace; default the host */
  namespace?: NetworkNamespace;
}

export interface IkeScanResult {
  /** 'handshake': the responder answered with an SA; 'notify': with a notification; 'none': silence */
  outcome: 'handshake' | 'notify' | 'none';
  /** the selected SA's attributes as ike-scan names them: Enc, KeyLength, Hash, Group, Auth, LifeType... */
  selected: Record<string, string> | undefined;
  /** e.g. "14 (NO-PROPOSAL-CHOSEN)" */
  notify: string | undefined;
  /** the full output, for messages */
  output: string;
}

export async function ikeScan(options: IkeScanOptions): Promise<IkeScanResult> {
  const args = [
    `--sport=${options.sourcePort ?? 848}`,
    `--dport=${options.destinationPort ?? 848}`,
    ...options.transforms.map((t) => `--trans=${t}`),
    options.target,
  ];
  const { stdout } = options.namespace
    ? await options.namespace.run('ike-scan', args)
    : await runCommand('ike-scan', args);
  return parseIkeScanOutput(options.target, stdout);
}

/** Reads ike-scan's answer line for `target`. */
export function parseIkeScanOutput(target: string, output: string): IkeScanResult {
  const line = output.split('\n').find((l) => l.startsWith(`${target}\t`));
  if (line === undefined) return { outcome: 'none', selected: undefined, notify: undefined, output };
  const notify = /Notify message (\d+ \([^)]*\))/.exec(line)?.[1];
  if (notify !== undefined) return { outcome: 'notify', selected: undefined, notify, output };
  const sa = /\bSA=\(([^)]*)\)/.exec(line)?.[1];
  if (!line.includes('Main Mode Handshake returned') || sa === undefined) {
    throw new Error(`unrecognised ike-scan answer: ${line}`);
  }
  const selected = Object.fromEntries(
    sa.split(' ').map((pair) => {
      const eq = pair.indexOf('=');
      return [pair.slice(0, eq), pair.slice(eq + 1)];
    }),
  );
  return { outcome: 'handshake', selected, notify: undefined, output };
}
