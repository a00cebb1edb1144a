// Waiting for a line to appear in a log file that another process writes, by polling with a deadline.
import { readFile, stat } from 'node:fs/promises';
import { TimeoutError, waitFor } from './process.js';

export interface WaitForLogOptions {
  /** only text after this byte offset counts (see logSize), to wait for a new occurrence */
  fromOffset?: number;
}

/** The current size of a log file in bytes (0 if it does not exist yet). */
export async function logSize(path: string): Promise<number> {
  return stat(path).then((s) => s.size, () => 0);
}

/**
 * Resolves to the first match of `pattern` in the file once it appears; throws TimeoutError with the
 * file's last lines after `withinMs`.
 */
export async function waitForLog(
  path: string,
  pattern: RegExp,
  withinMs: number,
  options: WaitForLogOptions = {},
): Promise<RegExpMatchArray> {
  const read = async (): Promise<string> =>
    (await readFile(path).catch(() => Buffer.alloc(0))).subarray(options.fromOffset ?? 0).toString('utf8');
  try {
    return await waitFor(async () => (await read()).match(pattern), withinMs, `${pattern} in ${path}`, 50);
  } catch (error) {
    if (!(error instanceof TimeoutError)) throw error;
    const tail = (await read()).split('\n').slice(-25).join('\n');
    throw new TimeoutError(`${error.message}; last lines:\n${tail}`);
  }
}
