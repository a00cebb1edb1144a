import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RandomSource } from '@gvpn/crypto';
import { A_ADDR, B_ADDR, pair, rng, stat } from './harness.js';
import type { Datagram, Side } from './harness.js';

function int(r: RandomSource, n: number): number {
  const b = r.bytes(4);
  return (((b[0] ?? 0) << 24 | (b[1] ?? 0) << 16 | (b[2] ?? 0) << 8 | (b[3] ?? 0)) >>> 0) % n;
}

/** Truncations, bit flips, random bytes, splices, edited length fields, swapped cookies, replays. */
function mutate(r: RandomSource, corpus: Uint8Array[]): Uint8Array {
  const base = corpus[int(r, corpus.length)] ?? new Uint8Array(0);
  const out = Uint8Array.from(base);
  const view = new DataView(out.buffer);
  switch (int(r, 8)) {
    case 0:
      return out.subarray(0, int(r, out.length + 1));
    case 1:
      for (let i = 0, n = 1 + int(r, 4); i < n && out.length > 0; i++) {
        const at = int(r, out.length);
        out[at] = (out[at] ?? 0) ^ (1 << int(r, 8));
      }
      return out;
    case 2:
      return r.bytes(int(r, 600));
    case 3: {
      const other = corpus[int(r, corpus.length)] ?? new Uint8Array(0);
      const cut = int(r, Math.min(out.length, other.length) + 1);
      const spliced = new Uint8Array(other.length);
      spliced.set(out.subarray(0, cut));
      spliced.set(other.subarray(cut), cut);
      return spliced;
    }
    case 4:
      if (out.length >= 28) view.setUint32(24, view.getUint32(24) + int(r, 3) - 1);
      return out;
    case 5:
      // A payload length field (the first payload's) off by a little or a lot.
      if (out.length >= 32) view.setUint16(30, int(r, 2) === 0 ? view.getUint16(30) + int(r, 9) - 4 : int(r, 0x10000));
      return out;
    case 6:
      if (out.length >= 16) out.set(r.bytes(8), int(r, 2) * 8);
      return out;
    default:
      return out; // replay as is
  }
}

function countersExceptReceived(side: Side): number {
  const s = side.endpoint.statistics() as Record<string, number>;
  return Object.entries(s).filter(([k]) => k !== 'datagramsReceived' && k !== 'logsSuppressed').reduce((n, [, v]) => n + v, 0);
}

describe('bad input', () => {
  it('10,000 random and mutated datagrams: no throw, every one counted, bounded state, still serves', () => {
    const dpd = { interval: 2, threshold: 5 };
    const { net, a, b } = pair({ dpd, options: { retransmitTries: 10 } }, { dpd, options: { maxHalfOpen: 32, halfOpenTimeoutMs: 5000 } });
    a.endpoint.start(0);
    net.flush();
    net.advanceTo(2000);
    a.endpoint.clearSas(net.now);
    net.flush();
    a.endpoint.initiateGateway('to-127.0.0.2', net.now);
    net.flush();
    const corpus = net.sent.map((d) => d.bytes);
    assert.ok(corpus.length >= 16);

    const r = rng('bad-input');
    let maxSas = 0;
    for (let i = 0; i < 10_000; i++) {
      const target = int(r, 4) === 0 ? a : b;
      const from = int(r, 8) === 0 ? { address: '127.0.0.77', port: 9 } : target === b ? A_ADDR : B_ADDR;
      const d: Datagram = { bytes: mutate(r, corpus), from, to: target.address };
      const before = countersExceptReceived(target);
      const sasBefore = target.endpoint.status(net.now).length;
      assert.doesNotThrow(() => net.deliver(d));
      const changed = countersExceptReceived(target) !== before || target.endpoint.status(net.now).length !== sasBefore;
      assert.ok(changed, `datagram ${i} left no trace: ${Buffer.from(d.bytes).toString('hex')}`);
      net.discard();
      maxSas = Math.max(maxSas, b.endpoint.status(net.now).length);
      if (i % 1000 === 999) net.advanceTo(net.now + 1000, false);
    }
    assert.ok(maxSas <= 32 + 2, `responder state stays bounded (${maxSas})`);
    assert.ok(stat(b, 'malformedDropped') > 1000);
    assert.ok(stat(b, 'logsSuppressed') > 0, 'junk warnings are rate-limited');
    assert.ok(b.logs.filter((l) => l.level === 'warn').length < 200);

    // A genuine initiator still completes Main Mode once the junk's half-open SAs have expired.
    net.advanceTo(net.now + 6000, false);
    net.discard();
    const fresh = net.addSide('fresh', A_ADDR, B_ADDR, { initiate: true, seed: 'fresh' });
    fresh.endpoint.start(net.now);
    net.flush();
    assert.equal(fresh.up.length, 1);
  });

  it('never logs the PSK or key material', () => {
    const { net, a, b } = pair({ psk: 'sup3r-s3cret-psk', dpd: { interval: 2, threshold: 2 } }, { psk: 'sup3r-s3cret-psk', dpd: { interval: 2, threshold: 2 } });
    a.endpoint.start(0);
    net.flush();
    const secrets = ['sup3r-s3cret-psk', a.keyLog[0]?.split(',')[1] ?? 'missing'];
    for (const k of ['skeyidD', 'skeyidA', 'skeyidE'] as const) secrets.push(Buffer.from(a.up[0]![k].reveal()).toString('hex'));
    net.advanceTo(4000);
    net.advanceTo(10_000, false); // DPD declares the peer dead: SA down, keys wiped
    for (const side of [a, b]) {
      const text = JSON.stringify(side.logs);
      assert.ok(side.logs.some((l) => l.msg === 'IKE SA established'));
      for (const secret of secrets) assert.ok(!text.includes(secret));
    }
    assert.throws(() => a.up[0]!.skeyidA.reveal(), { code: 'SECRET_WIPED' });
  });
});
