/**
 * Fuzzer for every decoder of the codec. Each input must either decode or throw WireError; anything else
 * (another exception, or a decoded value that does not re-encode to the very same bytes) is a crash.
 * No normalisation is allowed: the representation keeps TV/TLV forms, the SAK tail length and opaque
 * bodies precisely so that decode -> encode is the identity on every accepted input.
 *
 * Inputs: mutations of the corpus (bit flips, interesting bytes, truncation, extension, length-field
 * edits on the real payload/sub-payload length fields, slice deletion/duplication, splices between
 * samples), random payload chains, and plain random bytes. Seeded, so a failure reproduces.
 *
 *   node packages/wire/dist/fuzz/fuzz.js --iterations 1000000 --seed 1
 */
import { pathToFileURL } from 'node:url';
import { attributesLength, decodeAttributes, encodeAttributes } from '../src/attributes.js';
import { ExchangeType, HEADER_LENGTH } from '../src/constants.js';
import { WireError } from '../src/errors.js';
import { decodeHeader, encodeHeader } from '../src/header.js';
import { checkMessageRules, MessageRules } from '../src/message-rules.js';
import { decodePayloads, encodePayloads } from '../src/payloads.js';
import type { Payload } from '../src/payloads.js';
import { decodeDelete, deleteLength, encodeDelete } from '../src/payloads/delete.js';
import { decodeGap, encodeGap, gapLength } from '../src/payloads/gap.js';
import { decodeGdoiSa, encodeGdoiSa, gdoiSaLength } from '../src/payloads/gdoi-sa.js';
import { decodeHash, encodeHash, hashLength } from '../src/payloads/hash.js';
import { decodeId, encodeId, idLength } from '../src/payloads/id.js';
import { decodeKe, encodeKe, keLength } from '../src/payloads/ke.js';
import { decodeKeyDownload, encodeKeyDownload, keyDownloadLength } from '../src/payloads/key-download.js';
import { decodeNonce, encodeNonce, nonceLength } from '../src/payloads/nonce.js';
import { decodeNotify, encodeNotify, notifyLength } from '../src/payloads/notify.js';
import { decodeSa, encodeSa, saLength } from '../src/payloads/sa.js';
import { decodeSak, encodeSak, sakLength } from '../src/payloads/sa-kek.js';
import { decodeSat, encodeSat, satLength } from '../src/payloads/sa-tek.js';
import { decodeSeq, encodeSeq, seqLength } from '../src/payloads/seq.js';
import { decodeSig, encodeSig, sigLength } from '../src/payloads/sig.js';
import { decodeVendorId, encodeVendorId, vendorIdLength } from '../src/payloads/vendor-id.js';
import { CHAIN_TYPES, corpus } from './corpus.js';

/** mulberry32: small, fast, good enough to spread inputs; not for keys. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  int(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }

  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.u32() & 0xff);
  }
}

/** A decoder under test: decodes the whole input, re-encodes, and throws if the bytes differ. */
interface Target {
  name: string;
  samples: Uint8Array[];
  /** Returns when decoded and re-encoded exactly; throws Rejected for a WireError; anything else is a crash. */
  run(input: Uint8Array): void;
}

class Mismatch extends Error {
  override readonly name = 'Mismatch';
}

/** Marks an expected rejection, so that a WireError thrown while *re-encoding* still counts as a crash. */
class Rejected extends Error {
  override readonly name = 'Rejected';
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function bodyTarget<T>(
  name: string,
  decode: (buf: Uint8Array, off: number, end: number) => T,
  encode: (v: T, out: Uint8Array, off: number) => number,
  length: (v: T) => number,
): Target {
  return {
    name,
    samples: [],
    run(input) {
      let value: T;
      try {
        value = decode(input, 0, input.length);
      } catch (e) {
        throw e instanceof WireError ? new Rejected(e.message) : e;
      }
      const out = new Uint8Array(length(value));
      const n = encode(value, out, 0);
      if (n !== out.length || !sameBytes(out, input)) throw new Mismatch(`${name}: re-encoding differs`);
    },
  };
}


const RULES_BY_EXCHANGE = new Map<number, Array<(typeof MessageRules)[keyof typeof MessageRules]>>();
for (const rule of Object.values(MessageRules)) {
  RULES_BY_EXCHANGE.set(rule.exchangeType, [...(RULES_BY_EXCHANGE.get(rule.exchangeType) ?? []), rule]);
}

const messageTarget: Target = {
  name: 'message',
  samples: [],
  run(input) {
    let decoded;
    try {
      const header = decodeHeader(input, 0);
      const ctx = { exchangeType: header.exchangeType };
      decoded = { header, ctx, ...decodePayloads(input, header.nextPayload, HEADER_LENGTH, input.length, ctx) };
    } catch (e) {
      throw e instanceof WireError ? new Rejected(e.message) : e;
    }
    const { header, ctx, payloads, end } = decoded;
    const head = new Uint8Array(HEADER_LENGTH);
    encodeHeader(header, head, 0);
    if (!sameBytes(head, input.subarray(0, HEADER_LENGTH))) throw new Mismatch('header re-encoding differs');
    const chain = encodePayloads(payloads.map((p) => p.payload), ctx);
    if (!sameBytes(chain, input.subarray(HEADER_LENGTH, end))) throw new Mismatch('payload chain re-encoding differs');
    let expectStart = HEADER_LENGTH;
    for (const p of payloads) {
      if (p.start !== expectStart || p.end <= p.start) throw new Mismatch('payload offsets not contiguous');
      expectStart = p.end;
    }
    for (const rule of RULES_BY_EXCHANGE.get(header.exchangeType) ?? []) {
      const verdict = checkMessageRules(rule, payloads);
      if (verdict !== undefined && !(verdict instanceof WireError)) throw new Mismatch('message rules returned a non-WireError');
    }
  },
};

const bodyTargets: Target[] = [
  bodyTarget('attributes', decodeAttributes, encodeAttributes, attributesLength),
  bodyTarget('sa', decodeSa, encodeSa, saLength),
  bodyTarget('gdoi-sa', decodeGdoiSa, encodeGdoiSa, gdoiSaLength),
  bodyTarget('sa-kek', decodeSak, encodeSak, sakLength),
  bodyTarget('sa-tek', decodeSat, encodeSat, satLength),
  bodyTarget('gap', decodeGap, encodeGap, gapLength),
  bodyTarget('key-download', decodeKeyDownload, encodeKeyDownload, keyDownloadLength),
  bodyTarget('ke', decodeKe, encodeKe, keLength),
  bodyTarget('id', decodeId, encodeId, idLength),
  bodyTarget('hash', decodeHash, encodeHash, hashLength),
  bodyTarget('sig', decodeSig, encodeSig, sigLength),
  bodyTarget('nonce', decodeNonce, encodeNonce, nonceLength),
  bodyTarget('notify', decodeNotify, encodeNotify, notifyLength),
  bodyTarget('delete', decodeDelete, encodeDelete, deleteLength),
  bodyTarget('seq', decodeSeq, encodeSeq, () => seqLength()),
  bodyTarget('vendor-id', decodeVendorId, encodeVendorId, vendorIdLength),
];

function target(name: string): Target {
  const t = bodyTargets.find((b) => b.name === name);
  if (t === undefined) throw new Error(`no fuzz target ${name}`);
  return t;
}

function encodeWith<T>(v: T, encode: (v: T, out: Uint8Array, off: number) => number, length: (v: T) => number): Uint8Array {
  const out = new Uint8Array(length(v));
  encode(v, out, 0);
  return out;
}

/** Files each valid payload body of the corpus under the decoder that reads it (nested ones too). */
function collectSamples(messages: Uint8Array[]): void {
  messageTarget.samples.push(...messages);
  const add = (name: string, bytes: Uint8Array): void => {
    target(name).samples.push(bytes);
  };
  for (const m of messages) {
    const header = decodeHeader(m, 0);
    const { payloads } = decodePayloads(m, header.nextPayload, HEADER_LENGTH, m.length, { exchangeType: header.exchangeType });
    for (const { payload, start, end } of payloads) {
      const body = m.slice(start + 4, end);
      collectBody(payload, body, add);
    }
  }
}

const BODY_TARGET_BY_TYPE: ReadonlyMap<number, string> = new Map([
  [4, 'ke'], [5, 'id'], [8, 'hash'], [9, 'sig'], [10, 'nonce'], [11, 'notify'], [12, 'delete'], [13, 'vendor-id'], [17, 'key-download'], [18, 'seq'], [22, 'gap'],
]);

function collectBody(payload: Payload, body: Uint8Array, add: (name: string, bytes: Uint8Array) => void): void {
  if ('unknown' in payload) return;
  if (payload.type === 1) {
    if (payload.layout !== 'gdoi') {
      add('sa', body);
      for (const t of payload.proposals.flatMap((p) => p.transforms)) add('attributes', encodeWith(t.attributes, encodeAttributes, attributesLength));
      return;
    }
    add('gdoi-sa', body);
    if (payload.kek !== undefined) add('sa-kek', encodeWith(payload.kek, encodeSak, sakLength));
    for (const tek of payload.teks) add('sa-tek', encodeWith(tek, encodeSat, satLength));
    return;
  }
  const name = BODY_TARGET_BY_TYPE.get(payload.type);
  if (name !== undefined) add(name, body);
}

/** Offsets of the 2-octet length fields of the generic headers in a datagram, found leniently. */
function chainLengthFields(input: Uint8Array): number[] {
  const fields: number[] = [];
  let pos = HEADER_LENGTH;
  while (pos + 4 <= input.length && fields.length < 64) {
    fields.push(pos + 2);
    const length = ((input[pos + 2] as number) << 8) | (input[pos + 3] as number);
    if (length < 4) break;
    pos += length;
  }
  return fields;
}

const INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x03, 0x04, 0x7f, 0x80, 0x81, 0xfe, 0xff];

function writeU16(buf: Uint8Array, at: number, v: number): void {
  buf[at] = (v >>> 8) & 0xff;
  buf[at + 1] = v & 0xff;
}

function editU16(rng: Rng, buf: Uint8Array, at: number): void {
  if (at + 2 > buf.length) return;
  const old = ((buf[at] as number) << 8) | (buf[at + 1] as number);
  const choices = [old + 1, old - 1, old + 4, old - 4, 0, 3, 4, 5, 8, 0x7fff, 0x8000, 0xffff, buf.length - at, rng.int(0x10000)];
  writeU16(buf, at, rng.pick(choices) & 0xffff);
}

function mutate(rng: Rng, sample: Uint8Array, others: readonly Uint8Array[], isMessage: boolean): Uint8Array {
  let buf = Uint8Array.from(sample);
  const rounds = 1 + rng.int(3);
  for (let i = 0; i < rounds; i++) {
    switch (rng.int(9)) {
      case 0: // bit flip
        if (buf.length > 0) {
          const at = rng.int(buf.length);
          buf[at] = (buf[at] as number) ^ (1 << rng.int(8));
        }
        break;
      case 1: // interesting byte
        if (buf.length > 0) buf[rng.int(buf.length)] = rng.pick(INTERESTING_BYTES);
        break;
      case 2: // truncate
        buf = buf.slice(0, rng.int(buf.length + 1));
        break;
      case 3: // extend with random bytes
        buf = Uint8Array.from([...buf, ...rng.bytes(1 + rng.int(16))]);
        break;
      case 4: // edit a real length field (payload chain) or any 2-octet field
        if (isMessage && rng.chance(0.7)) {
          const fields = chainLengthFields(buf);
          if (fields.length > 0) editU16(rng, buf, rng.pick(fields));
        } else if (buf.length >= 2) {
          editU16(rng, buf, rng.int(buf.length - 1));
        }
        break;
      case 5: { // delete a slice
        const at = rng.int(buf.length + 1);
        buf = Uint8Array.from([...buf.subarray(0, at), ...buf.subarray(at + 1 + rng.int(8))]);
        break;
      }
      case 6: { // duplicate a slice
        const at = rng.int(buf.length + 1);
        const n = rng.int(24);
        buf = Uint8Array.from([...buf.subarray(0, at + n), ...buf.subarray(at, at + n), ...buf.subarray(at + n)]);
        break;
      }
      case 7: { // splice: our prefix, another sample's suffix
        const other = rng.pick(others);
        buf = Uint8Array.from([...buf.subarray(0, rng.int(buf.length + 1)), ...other.subarray(rng.int(other.length + 1))]);
        break;
      }
      default: // header fields that switch the decoding context
        if (isMessage && buf.length >= HEADER_LENGTH) {
          if (rng.chance(0.5)) buf[18] = rng.pick([ExchangeType.IdentityProtection, ExchangeType.Informational, ExchangeType.GroupkeyPull, ExchangeType.GroupkeyPush, ExchangeType.GroupkeyPushAck]);
          else buf[16] = rng.pick(CHAIN_TYPES);
        } else if (buf.length > 0) {
          buf[rng.int(buf.length)] = rng.u32() & 0xff;
        }
    }
  }
  return buf;
}

/** A chain of generic payloads with random types, bodies borrowed from valid samples or random. */
function randomChain(rng: Rng): Uint8Array {
  const count = 1 + rng.int(6);
  const types = Array.from({ length: count }, () => rng.pick(CHAIN_TYPES));
  const parts: number[] = [];
  types.forEach((type, i) => {
    const name = BODY_TARGET_BY_TYPE.get(type) ?? (type === 1 ? rng.pick(['sa', 'gdoi-sa']) : undefined);
    const samples = name === undefined ? [] : target(name).samples;
    const body = samples.length > 0 && rng.chance(0.8) ? rng.pick(samples) : rng.bytes(rng.int(40));
    const length = 4 + body.length;
    parts.push(types[i + 1] ?? 0, 0, (length >>> 8) & 0xff, length & 0xff, ...body);
  });
  const header = rng.pick(messageTarget.samples).slice(0, HEADER_LENGTH);
  header[16] = types[0] ?? 0;
  header[18] = rng.pick([ExchangeType.IdentityProtection, ExchangeType.Informational, ExchangeType.GroupkeyPull, ExchangeType.GroupkeyPush, ExchangeType.GroupkeyPushAck]);
  return Uint8Array.from([...header, ...parts]);
}

function fixHeaderLength(buf: Uint8Array): void {
  if (buf.length < HEADER_LENGTH) return;
  const n = buf.length;
  buf[24] = n >>> 24;
  buf[25] = (n >>> 16) & 0xff;
  buf[26] = (n >>> 8) & 0xff;
  buf[27] = n & 0xff;
}

export interface FuzzFailure {
  target: string;
  input: Uint8Array;
  error: string;
}

export interface FuzzResult {
  iterations: number;
  decoded: number;
  rejected: number;
  crashes: number;
  failures: FuzzFailure[];
  seconds: number;
}

export interface FuzzOptions {
  iterations: number;
  seed: number;
  /** Called every `progressEvery` iterations. */
  onProgress?: (done: number, result: FuzzResult) => void;
  progressEvery?: number;
  /** Failures kept with their input (the count goes on). */
  maxFailures?: number;
}

let prepared = false;

function prepare(): void {
  if (prepared) return;
  collectSamples(corpus());
  prepared = true;
}

export function runFuzz(options: FuzzOptions): FuzzResult {
  prepare();
  const rng = new Rng(options.seed);
  const started = process.hrtime.bigint();
  const result: FuzzResult = { iterations: 0, decoded: 0, rejected: 0, crashes: 0, failures: [], seconds: 0 };
  const allSamples = [messageTarget, ...bodyTargets].flatMap((t) => t.samples);
  const every = options.progressEvery ?? 100_000;
  for (let i = 0; i < options.iterations; i++) {
    const isMessage = rng.chance(0.5);
    const t = isMessage ? messageTarget : rng.pick(bodyTargets);
    let input: Uint8Array;
    const kind = rng.int(10);
    if (kind === 0) input = rng.bytes(rng.int(isMessage ? 400 : 120));
    else if (kind === 1 && isMessage) input = randomChain(rng);
    else input = mutate(rng, t.samples.length > 0 ? rng.pick(t.samples) : rng.bytes(16), allSamples, isMessage);
    if (isMessage && rng.chance(0.85)) fixHeaderLength(input);
    try {
      t.run(input);
      result.decoded++;
    } catch (e) {
      if (e instanceof Rejected) {
        result.rejected++;
      } else {
        result.crashes++;
        if (result.failures.length < (options.maxFailures ?? 10)) {
          result.failures.push({ target: t.name, input, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
        }
      }
    }
    result.iterations++;
    if (options.onProgress !== undefined && result.iterations % every === 0) {
      result.seconds = Number(process.hrtime.bigint() - started) / 1e9;
      options.onProgress(result.iterations, result);
    }
  }
  result.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return result;
}

function parseArgs(argv: string[]): { iterations: number; seed: number } {
  const options = { iterations: 1_000_000, seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const value = Number(argv[i + 1]);
    if (argv[i] === '--iterations' && Number.isSafeInteger(value) && value > 0) options.iterations = value;
    else if (argv[i] === '--seed' && Number.isSafeInteger(value) && value >= 0) options.seed = value;
    else throw new Error(`usage: fuzz.js [--iterations N] [--seed S] (bad argument ${argv[i]} ${argv[i + 1] ?? ''})`);
    i++;
  }
  return options;
}

function main(): void {
  const { iterations, seed } = parseArgs(process.argv.slice(2));
  const result = runFuzz({
    iterations,
    seed,
    onProgress: (done, r) => console.log(`progress ${done}/${iterations} decoded=${r.decoded} rejected=${r.rejected} crashes=${r.crashes} seconds=${r.seconds.toFixed(1)}`),
  });
  for (const f of result.failures) {
    console.log(`CRASH target=${f.target} error=${JSON.stringify(f.error)} input=${Buffer.from(f.input).toString('hex')}`);
  }
  console.log(`RESULT iterations=${result.iterations} decoded=${result.decoded} rejected=${result.rejected} crashes=${result.crashes} seconds=${result.seconds.toFixed(1)}`);
  process.exitCode = result.crashes === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
