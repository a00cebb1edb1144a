/**
 * Values <-> JSON text. Values are JSON-able trees (plain objects, arrays, strings, finite numbers,
 * booleans, null) that may also hold byte strings and secrets, which JSON has no form for:
 *
 *   Uint8Array (and Buffer)   {"$b64": "<base64>"}      decodes to a Uint8Array
 *   Secret (@gvpn/crypto)     {"$secret": "<base64>"}   decodes to a Secret
 *
 * A tag is an object with exactly one `$`-key; to keep decoding unambiguous, encoding refuses any object
 * key that starts with `$`. `undefined` object fields are dropped (as JSON does), so optional fields
 * round-trip as absent. Anything else (undefined in an array, NaN, bigint, Date, Map, KeyObject, any class
 * instance) is refused with StoreError BAD_VALUE and the path to it, rather than silently changed.
 */
import { Secret } from '@gvpn/crypto';
import { StoreError } from './errors.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const B64 = '$b64';
const SECRET = '$secret';

function bad(path: string, what: string): StoreError {
  return new StoreError('BAD_VALUE', `value${path}: ${what}`);
}

function toJson(v: unknown, path: string): Json {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw bad(path, `${v} is not a finite number`);
    return v;
  }
  if (v instanceof Uint8Array) return { [B64]: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (v instanceof Secret) {
    const b = v.reveal();
    return { [SECRET]: Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64') };
  }
  if (Array.isArray(v)) {
    return v.map((x, i) => {
      if (x === undefined) throw bad(`${path}[${i}]`, 'undefined in an array');
      return toJson(x, `${path}[${i}]`);
    });
  }
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      throw bad(path, `a ${(v as object).constructor?.name ?? 'class'} instance is not a plain object`);
    }
    const out: { [key: string]: Json } = {};
    for (const [k, x] of Object.entries(v)) {
      if (k.startsWith('$')) throw bad(`${path}.${k}`, 'object keys must not start with "$"');
      if (x !== undefined) out[k] = toJson(x, `${path}.${k}`);
    }
    return out;
  }
  throw bad(path, `a ${typeof v} cannot be stored`);
}

/** The JSON text of `value`; throws StoreError BAD_VALUE for what cannot round-trip. */
export function encodeValue(value: unknown): string {
  if (value === undefined) throw bad('', 'undefined cannot be stored (use delete)');
  return JSON.stringify(toJson(value, ''));
}

function fromBase64(s: unknown, tag: string): Uint8Array {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) {
    throw new StoreError('CORRUPT', `stored ${tag} is not base64`);
  }
  return new Uint8Array(Buffer.from(s, 'base64'));
}

/** The value of JSON text made by `encodeValue`; throws StoreError CORRUPT for anything else. */
export function decodeValue(text: string): unknown {
  try {
    return JSON.parse(text, (_key, v: unknown) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
      const keys = Object.keys(v);
      const tagged = keys.filter((k) => k.startsWith('$'));
      if (tagged.length === 0) return v;
      if (keys.length !== 1) throw new StoreError('CORRUPT', `stored object with key ${tagged[0]} is not a tag`);
      const tag = keys[0] as string;
      const payload = (v as Record<string, unknown>)[tag];
      if (tag === B64) return fromBase64(payload, tag);
      if (tag === SECRET) return new Secret(fromBase64(payload, tag));
      throw new StoreError('CORRUPT', `unknown tag ${tag}`);
    }) as unknown;
  } catch (e) {
    if (e instanceof StoreError) throw e;
    // V8's message quotes the text around the error, which may be key material, and so would a `cause`
    // that reaches a log: keep only the offset, when V8 gives one.
    const at = /at position (\d+)/.exec((e as Error).message)?.[1];
    throw new StoreError('CORRUPT', `stored value is not JSON (${text.length} characters${at === undefined ? '' : `, error at position ${at}`})`);
  }
}
