import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeadlineTimer, ManualClock, systemClock } from '../src/index.js';

/** Polls `condition` until it holds or `ms` pass. */
async function waitFor(condition: () => boolean, ms: number): Promise<void> {
  const deadline = systemClock.now() + ms;
  while (!condition()) {
    if (systemClock.now() > deadline) assert.fail('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('DeadlineTimer (real time)', () => {
  it('fires at the reported deadline, not before, and re-arms for the next one', async () => {
    const start = systemClock.now();
    const deadlines = [start + 30, start + 60];
    const fired: number[] = [];
    const timer = new DeadlineTimer({
      nextDeadline: () => deadlines[0] ?? null,
      fire: (now) => {
        fired.push(now);
        deadlines.shift();
      },
    });
    timer.arm();
    assert.equal(timer.armed, true);
    await waitFor(() => fired.length === 2, 1000);
    assert.ok((fired[0] ?? 0) >= start + 30, `fired ${(fired[0] ?? 0) - start} ms after start`);
    assert.ok((fired[1] ?? 0) >= start + 60, `fired ${(fired[1] ?? 0) - start} ms after start`);
    assert.equal(timer.armed, false, 'no deadline left, so no timeout stays armed');
    timer.stop();
  });

  it('keeps one timeout when re-armed: an earlier deadline replaces a later one', async () => {
    let deadline: number | null = systemClock.now() + 10_000;
    const fired: number[] = [];
    const timer = new DeadlineTimer({
      nextDeadline: () => deadline,
      fire: (now) => {
        fired.push(now);
        deadline = null;
      },
    });
    timer.arm();
    deadline = systemClock.now() + 10;
    timer.arm();
    await waitFor(() => fired.length === 1, 1000);
    timer.stop();
  });

  it('keeps an armed earlier timeout when the deadline moves later, and still fires only at the new deadline', async () => {
    const start = systemClock.now();
    let deadline: number | null = start + 10;
    const fired: number[] = [];
    const timer = new DeadlineTimer({
      nextDeadline: () => deadline,
      fire: (now) => {
        fired.push(now);
        deadline = null;
      },
    });
    timer.arm();
    deadline = start + 60; // e.g. the packet that was due got its answer
    timer.arm();
    await waitFor(() => fired.length === 1, 1000);
    assert.ok((fired[0] ?? 0) >= start + 60, `fired ${(fired[0] ?? 0) - start} ms after start, not at the stale 10 ms`);
    timer.stop();
  });

  it('does not fire after stop(), even when armed again', async () => {
    let fired = 0;
    const timer = new DeadlineTimer({ nextDeadline: () => systemClock.now() + 5, fire: () => (fired += 1) });
    timer.arm();
    timer.stop();
    timer.arm();
    assert.equal(timer.armed, false);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(fired, 0);
  });

  it('skips fire() when the deadline moved later while the timeout was pending', async () => {
    const clock = new ManualClock(1000);
    let deadline = 1000;
    let polled = 0;
    let fired = 0;
    const timer = new DeadlineTimer({
      clock,
      nextDeadline: () => {
        polled += 1;
        return deadline;
      },
      fire: () => (fired += 1),
    });
    timer.arm();
    deadline = 5000;
    await waitFor(() => polled >= 3, 1000);
    assert.equal(fired, 0);
    timer.stop();
  });
});

describe('ManualClock', () => {
  it('moves only forward', () => {
    const clock = new ManualClock(5);
    assert.equal(clock.advance(10), 15);
    clock.set(20);
    assert.equal(clock.now(), 20);
    assert.throws(() => clock.set(19), RangeError);
    assert.throws(() => clock.advance(-1), RangeError);
  });
});
