import { performance } from 'node:perf_hooks';

/** Monotonic milliseconds. Protocol code takes `now` from here; `Date` is for display only. */
export interface Clock {
  now(): number;
}

/**
 * `performance.now()` never goes backwards (unlike `Date.now()` when NTP steps the clock); adding
 * `timeOrigin` keeps the values near epoch milliseconds, which reads better in logs.
 */
export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
};

/** A clock that moves only when a test says so. */
export class ManualClock implements Clock {
  #now: number;

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  advance(ms: number): number {
    if (ms < 0) throw new RangeError('a monotonic clock cannot go back');
    this.#now += ms;
    return this.#now;
  }

  set(ms: number): void {
    if (ms < this.#now) throw new RangeError('a monotonic clock cannot go back');
    this.#now = ms;
  }
}
