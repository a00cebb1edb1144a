import type { Logger } from './types.js';

/**
 * Warnings about junk from the network: at most `burst` per `windowMs`, the rest counted as
 * logsSuppressed, so a flood cannot flood the log too.
 */
export class RateLimitedWarn {
  private windowStart = -Infinity;
  private inWindow = 0;

  constructor(
    private readonly log: Logger,
    /** Told of each warning left out (the endpoint counts them as logsSuppressed). */
    private readonly counters: { add(name: 'logsSuppressed'): void },
    private readonly burst = 10,
    private readonly windowMs = 10_000,
  ) {}

  warn(now: number, fields: object, msg: string): void {
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.burst) {
      this.counters.add('logsSuppressed');
      return;
    }
    this.inWindow++;
    this.log.warn(fields, msg);
  }
}
