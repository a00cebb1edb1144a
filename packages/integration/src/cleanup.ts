// A stack of teardown steps, run last-in first-out, so a test registers each resource right after
// creating it and one `after(() => cleanup.run())` undoes everything even when the test failed halfway.

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
