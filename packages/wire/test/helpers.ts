/**
 * Shared checks for payload codecs, run against golden bytes: encode, decode, encode at an offset into a
 * 0xa5-filled buffer, every truncation, and every listed length/count field off by one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WireError, decodePayloads, encodePayloads, encodePayloadsInto } from '../src/index.js';
import type { Payload, WireErrorCode } from '../src/index.js';

/** Hex with any spaces, newlines or '|' separators, as a plain Uint8Array. */
export function hex(s: string): Uint8Array {
  const clean = s.replace(/[\s|]/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(clean)) throw new Error(`bad hex: ${s}`);
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/**
 * Decodes a chain that must fill `bytes` exactly, as a message without padding does; trailing bytes are
 * an error here (in a message they would be, see ike parseClear).
 */
export function decodeExact(bytes: Uint8Array, firstType: number, exchangeType: number): Payload[] {
  const { payloads, end } = decodePayloads(bytes, firstType, 0, bytes.length, { exchangeType });
  if (end !== bytes.length) throw new WireError('TRAILING_BYTES', end, 'bytes after the chain');
  return payloads.map((p) => p.payload);
}

export function assertWireError(fn: () => unknown, code?: WireErrorCode, message?: string): WireError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown instanceof WireError, `${message ?? 'expected a WireError'}, got ${String(thrown)}`);
  if (code !== undefined) assert.equal(thrown.code, code, message);
  return thrown;
}

export interface LengthField {
  name: string;
  /** Offset in the golden bytes. */
  at: number;
  size: 1 | 2;
}

export interface CodecCase {
  payloads: Payload[];
  golden: Uint8Array;
  exchangeType: number;
  /** Length and count fields whose +1 and -1 must both be rejected. */
  lengthFields: LengthField[];
}

function bumped(golden: Uint8Array, field: LengthField, delta: number): Uint8Array {
  const copy = Uint8Array.from(golden);
  if (field.size === 1) {
    copy[field.at] = ((copy[field.at] as number) + delta) & 0xff;
  } else {
    const v = ((((copy[field.at] as number) << 8) | (copy[field.at + 1] as number)) + delta) & 0xffff;
    copy[field.at] = v >>> 8;
    copy[field.at + 1] = v & 0xff;
  }
  return copy;
}

/** Registers the standard codec tests for one golden chain. */
export function codecTests(name: string, c: CodecCase): void {
  const first = c.payloads[0]?.type ?? 0;
  const ctx = { exchangeType: c.exchangeType };

  test(`${name}: encodes to the golden bytes`, () => {
    assert.equal(toHex(encodePayloads(c.payloads, ctx)), toHex(c.golden));
  });

  test(`${name}: decodes the golden bytes`, () => {
    assert.deepEqual(decodeExact(c.golden, first, c.exchangeType), c.payloads);
  });

  test(`${name}: encodes at an offset without touching the bytes around it`, () => {
    const offset = 13;
    const out = new Uint8Array(offset + c.golden.length + 11).fill(0xa5);
    const written = encodePayloadsInto(c.payloads, ctx, out, offset);
    assert.equal(written, c.golden.length);
    assert.equal(toHex(out.subarray(offset, offset + written)), toHex(c.golden));
    assert.ok(out.subarray(0, offset).every((b) => b === 0xa5), 'bytes before the payload changed');
    assert.ok(out.subarray(offset + written).every((b) => b === 0xa5), 'bytes after the payload changed');
  });

  test(`${name}: refuses a buffer one byte too small`, () => {
    assertWireError(() => encodePayloadsInto(c.payloads, ctx, new Uint8Array(c.golden.length - 1), 0), 'BUFFER_TOO_SMALL');
  });

  test(`${name}: rejects every truncation`, () => {
    for (let n = 0; n < c.golden.length; n++) {
      assertWireError(() => decodeExact(c.golden.slice(0, n), first, c.exchangeType), undefined, `truncated to ${n}`);
    }
  });

  test(`${name}: rejects each length field off by one`, () => {
    for (const field of c.lengthFields) {
      for (const delta of [1, -1]) {
        assertWireError(() => decodeExact(bumped(c.golden, field, delta), first, c.exchangeType), undefined, `${field.name} ${delta > 0 ? '+1' : '-1'}`);
      }
    }
  });
}
