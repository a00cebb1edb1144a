import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runFuzz } from '../fuzz/fuzz.js';

// A seeded share of scripts/fuzz (which runs 1,000,000): every decoder, random and mutated inputs.
test('fuzz: 20,000 seeded inputs either decode and re-encode exactly or throw WireError', () => {
  const result = runFuzz({ iterations: 20_000, seed: 20261127 });
  const failures = result.failures.map((f) => `${f.target}: ${f.error} input=${Buffer.from(f.input).toString('hex')}`);
  assert.deepEqual(failures, []);
  assert.equal(result.crashes, 0);
  assert.equal(result.decoded + result.rejected, 20_000);
  // Both outcomes must be well represented, or the mutations are not reaching the decoders.
  assert.ok(result.decoded > 2_000, `decoded ${result.decoded}`);
  assert.ok(result.rejected > 2_000, `rejected ${result.rejected}`);
});
