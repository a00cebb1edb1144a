/** Temporary directories, a log that records, and a child process that writes and is killed. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoreLog } from '../src/index.js';

export interface LogLine {
  level: 'info' | 'error';
  o: Record<string, unknown>;
  msg: string;
}

export function recordingLog(): StoreLog & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    info(o, msg) { lines.push({ level: 'info', o: o as Record<string, unknown>, msg }); },
    error(o, msg) { lines.push({ level: 'error', o: o as Record<string, unknown>, msg }); },
  };
}

/** A fresh directory under the OS temp dir; `cleanup` removes every one made. */
export function tempDirs(): { make(): string; cleanup(): void } {
  const made: string[] = [];
  return {
    make() {
      const d = mkdtempSync(join(tmpdir(), 'gvpn-store-'));
      made.push(d);
      return d;
    },
    cleanup() {
      for (const d of made) rmSync(d, { recursive: true, force: true });
    },
  };
}

export const KEY_HEX = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
export const OTHER_KEY_HEX = 'ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
export const keyBytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
