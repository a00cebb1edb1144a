import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Secret } from '@gvpn/crypto';
import { createLogger, ManualClock, rateLimited } from '../src/index.js';

/** A pino destination that keeps parsed lines. */
function capture(): { write(line: string): void; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) };
}

describe('createLogger', () => {
  it('writes the name and level, and filters below the level', () => {
    const out = capture();
    const log = createLogger({ level: 'info', name: 'root-server', destination: out });
    log.debug('hidden');
    log.info({ peer: '127.0.1.2' }, 'ike sa up');
    assert.equal(out.lines.length, 1);
    assert.equal(out.lines[0]?.name, 'root-server');
    assert.equal(out.lines[0]?.msg, 'ike sa up');
    assert.equal(out.lines[0]?.peer, '127.0.1.2');
  });

  it('censors secret-named fields at any of three depths, and Secret wrappers print [secret]', () => {
    const out = capture();
    const log = createLogger({ level: 'trace', name: 't', destination: out });
    log.info({ psk: 'plain-psk', sa: { key: 'abcd', nested: { secret: 's3' } }, wrapped: Secret.copyOf(Uint8Array.of(1, 2)) }, 'm');
    const text = JSON.stringify(out.lines[0]);
    for (const leaked of ['plain-psk', 'abcd', 's3']) assert.ok(!text.includes(leaked), `${leaked} leaked: ${text}`);
    assert.equal(out.lines[0]?.psk, '[secret]');
    assert.equal(out.lines[0]?.wrapped, '[secret]');
  });
});

describe('rateLimited', () => {
  it('writes one line per window and reports how many it suppressed', () => {
    const out = capture();
    const clock = new ManualClock(0);
    const junk = rateLimited(createLogger({ level: 'warn', name: 't', destination: out }), 'malformed', 10, clock);
    junk.warn({ from: 'a' }, 'dropped malformed datagram');
    junk.warn({ from: 'b' }, 'dropped malformed datagram');
    clock.advance(9_999);
    junk.warn({ from: 'c' }, 'dropped malformed datagram');
    assert.equal(out.lines.length, 1);
    clock.advance(1);
    junk.warn({ from: 'd' }, 'dropped malformed datagram');
    assert.equal(out.lines.length, 2);
    assert.deepEqual(
      out.lines.map((line) => [line.from, line.limit, line.suppressed]),
      [['a', 'malformed', undefined], ['d', 'malformed', 2]],
    );
  });
});
