// A stack of teardown steps, run last-in first-out, so a test registers each resource right after
// creating it and one `after(() => cleanup.run())` undoes everything even when the test failed halfway.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class Cleanup {
  readonly #steps: { label: string; step: () => unknown }[] = [];

  /** Registers a teardown step; steps run in reverse order of registration. */
  defer(label: string, step: () => unknown): void {
    this.#steps.push({ label, step });
  }

  /** Runs every step, even after one fails; then throws an AggregateError naming the failed steps. */
  async run(): Promise<void> {
    const failures: Error[] = [];
    for (let entry = this.#steps.pop(); entry !== undefined; entry = this.#steps.pop()) {
      try {
        await entry.step();
      } catch (error) {
        failures.push(new Error(`cleanup "${entry.label}" failed`, { cause: error }));
      }
    }
    if (failures.length > 0) throw new AggregateError(failures, `${failures.length} cleanup step(s) failed`);
  }
}

/** GVPN_KEEP_ARTIFACTS=1 keeps work directories (captures, configurations, logs) for a look after a run. */
export const keepArtifacts = (): boolean => process.env['GVPN_KEEP_ARTIFACTS'] === '1';

/** A fresh `<tmpdir>/gvpn-<label>-XXXXXX`, removed by `cleanup` unless GVPN_KEEP_ARTIFACTS=1. */
export async function workDirectory(cleanup: Cleanup, label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `gvpn-${label}-`));
  if (keepArtifacts()) console.log(`keeping ${dir}`);
  else cleanup.defer('work directory', () => rm(dir, { recursive: true, force: true }));
  return dir;
}
