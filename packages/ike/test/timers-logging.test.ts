import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DeadlineHeap } from '../src/deadline-heap.js';
import { LazyChildLogger } from '../src/sa.js';
import type { Logger } from '../src/index.js';
import { memoryLogger, pair, rng, stat } from './harness.js';
import type { LogLine } from './harness.js';

describe('DeadlineHeap', () => {
  it('pops in time order whatever the push order, duplicates included', () => {
    const random = rng('heap');
    const heap = new DeadlineHeap<number>();
    const times: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const b = random.bytes(2);
      const at = ((b[0] ?? 0) << 8) | (b[1] ?? 0);
      times.push(at);
      heap.push(at, i);
      if (i % 7 === 0) times.splice(times.indexOf(heap.pop()?.at ?? -1), 1); // interleave pops of the minimum
    }
    const out: number[] = [];
    for (let e = heap.pop(); e !== undefined; e = heap.pop()) out.push(e.at);
    assert.deepEqual(out, [...times].sort((a, b) => a - b));
    assert.equal(heap.size, 0);
    assert.equal(heap.pop(), undefined);
  });

  it('rebuild replaces the contents with a valid heap', () => {
    const heap = new DeadlineHeap<string>();
    for (let i = 0; i < 100; i++) heap.push(i, `stale${i}`);
    const live = new Map<string, number>([['c', 30], ['a', 10], ['e', 50], ['b', 20], ['d', 40], ['b2', 20]]);
    heap.rebuild(live);
    assert.equal(heap.size, 6);
    const out: [number, string][] = [];
    for (let e = heap.pop(); e !== undefined; e = heap.pop()) out.push([e.at, e.item]);
    assert.deepEqual(out.map(([at]) => at), [10, 20, 20, 30, 40, 50]);
    assert.deepEqual(new Set(out.map(([, item]) => item)), new Set(live.keys()));
  });
});

describe('timers with many SAs', () => {
  it('nextDeadline is the earliest timer of all SAs, and poll acts on each SA at its own time', () => {
    // 40 responders' worth of SAs on one side is simpler to get with 40 pairs; what matters here is one
    // endpoint whose SAs have different deadlines: an SA up at t and DPD probes due at t + interval.
    const { net, a, b } = pair({ dpd: { interval: 2, threshold: 2 } }, { dpd: { interval: 2, threshold: 2 } });
    a.endpoint.start(0);
    net.flush();
    net.now = 500;
    a.endpoint.initiateGateway('to-127.0.0.2', 500); // a second SA, established at 500
    net.flush();
    assert.equal(a.endpoint.establishedSas().length, 1, 'the re-negotiation replaced the first SA');
    assert.equal(b.endpoint.nextDeadline(), 2500, 'the responder probes 2 s after the new SA came up');
    net.advanceTo(2499);
    assert.equal(stat(b, 'dpdRequestsSent'), 0);
    net.advanceTo(2500);
    assert.equal(stat(b, 'dpdRequestsSent'), 1);
    assert.equal(stat(a, 'dpdAcksSent'), 1);
    assert.equal(b.endpoint.nextDeadline(), 4500);
  });
});

describe('per-SA logger', () => {
  const levels = ['trace', 'debug', 'info', 'warn', 'error'];
  function counting(lines: LogLine[], min: string, children: { n: number }): Logger {
    const base = memoryLogger(lines);
    const wrap = (l: Logger): Logger => ({
      info: (o, m) => l.info(o, m), warn: (o, m) => l.warn(o, m), debug: (o, m) => l.debug(o, m),
      trace: (o, m) => l.trace(o, m), error: (o, m) => l.error(o, m),
      child: (b) => {
        children.n++;
        return wrap(l.child(b));
      },
      isLevelEnabled: (level) => levels.indexOf(level) >= levels.indexOf(min),
    });
    return wrap(base);
  }

  it('builds no child for levels that are off, and writes the same lines with the same bindings otherwise', () => {
    const lines: LogLine[] = [];
    const children = { n: 0 };
    let rcookie = 'aa';
    const log = new LazyChildLogger(counting(lines, 'info', children), () => ({ icookie: '01', rcookie }));
    log.debug({ x: 1 }, 'flow');
    log.trace({}, 'more flow');
    assert.equal(children.n, 0, 'debug and trace are off: no child');
    assert.equal(lines.length, 0);
    log.info({ y: 2 }, 'IKE SA established');
    log.warn({}, 'w');
    assert.equal(children.n, 1, 'one child, built on the first line written');
    assert.deepEqual(lines, [
      { level: 'info', fields: { icookie: '01', rcookie: 'aa', y: 2 }, msg: 'IKE SA established' },
      { level: 'warn', fields: { icookie: '01', rcookie: 'aa' }, msg: 'w' },
    ]);
    rcookie = 'bb'; // bindings are read when the child is built
    const fresh = new LazyChildLogger(counting(lines, 'info', children), () => ({ icookie: '01', rcookie }));
    fresh.error({}, 'e');
    assert.deepEqual(lines.at(-1)?.fields, { icookie: '01', rcookie: 'bb' });
  });

  it('a parent without isLevelEnabled gets every line, as before', () => {
    const lines: LogLine[] = [];
    const log = new LazyChildLogger(memoryLogger(lines), () => ({ peer: 'p' }));
    log.debug({}, 'd');
    assert.deepEqual(lines, [{ level: 'debug', fields: { peer: 'p' }, msg: 'd' }]);
  });
});
