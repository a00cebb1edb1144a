import type { RandomSource } from '../src/index.js';

/** Hex to bytes; spaces are ignored so vectors can be pasted as printed in RFCs. */
export function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/**
 * A RandomSource that hands out the given chunks in order, one per `bytes()` call, and fails
 * if asked for a different length — so a known-answer test proves which bytes became the key.
 */
export function fixedRandom(...chunks: Uint8Array[]): RandomSource {
  const queue = [...chunks];
  return {
    bytes(n: number): Uint8Array {
      const next = queue.shift();
      if (next === undefined) throw new Error('fixedRandom exhausted');
      if (next.length !== n) throw new Error(`fixedRandom: asked for ${n} bytes, next chunk has ${next.length}`);
      return Uint8Array.from(next);
    },
  };
}
