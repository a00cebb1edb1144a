import { readFile, unlink, writeFile } from 'node:fs/promises';

/** The pid recorded in `path`, or null when there is no readable pid there. */
export async function readPidFile(path: string): Promise<number | null> {
  const text = await readFile(path, 'utf8').catch(() => null);
  if (text === null) return null;
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Records `pid` in `path`. A file left by a dead process is replaced; one naming a live process other
 * than `pid` means another daemon owns this state directory, and is an error.
 */
export async function writePidFile(path: string, pid: number = process.pid): Promise<void> {
  const existing = await readPidFile(path);
  if (existing !== null && existing !== pid && processExists(existing)) {
    throw new Error(`${path}: process ${existing} is running with this state directory`);
  }
  await writeFile(path, `${pid}\n`, { mode: 0o644 });
}

/** Removes the pid file if it still names `pid` (a successor may have replaced it). */
export async function removePidFile(path: string, pid: number = process.pid): Promise<void> {
  if ((await readPidFile(path)) === pid) await unlink(path).catch(() => {});
}
