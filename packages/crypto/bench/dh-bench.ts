/**
 * Cost of the Diffie-Hellman operations alone, per group, on this machine.
 *   node packages/crypto/dist/bench/dh-bench.js [iterations]
 * Prints a table and a final `RESULT key=value ...` line for ./scripts/bench.
 * Figures are medians of per-operation times (the lab machines are shared and noisy).
 */
import { pathToFileURL } from 'node:url';
import { DH_GROUP_IDS, dhGroup, systemRandom, type DhGroupId } from '../src/index.js';

export interface DhCost {
  /** Median µs to draw a private key and compute our public value. */
  keygenUs: number;
  /** Median µs to validate the peer's public value and compute g^xy. */
  computeUs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const WARMUP = 3;

export function measureDh(groupId: DhGroupId, iterations: number): DhCost {
  if (!Number.isSafeInteger(iterations) || iterations < 1) throw new RangeError(`iterations must be a positive integer, got ${iterations}`);
  const group = dhGroup(groupId, { allowLegacy: true });
  const keygen: number[] = [];
  const compute: number[] = [];
  const peer = group.generate(systemRandom).publicValue;
  for (let i = 0; i < WARMUP + iterations; i++) {
    const t0 = performance.now();
    const pair = group.generate(systemRandom);
    const t1 = performance.now();
    pair.computeSecret(peer);
    const t2 = performance.now();
    if (i >= WARMUP) {
      keygen.push((t1 - t0) * 1000);
      compute.push((t2 - t1) * 1000);
    }
  }
  return { keygenUs: Math.round(median(keygen)), computeUs: Math.round(median(compute)) };
}

function main(): void {
  const iterations = Number(process.argv[2] ?? 200);
  const rows: string[] = [];
  const results: string[] = [];
  console.log('group  name          keygen µs  compute µs  (median of %d, node:crypto)', iterations);
  for (const id of [14, 19, ...DH_GROUP_IDS.filter((g) => g !== 14 && g !== 19)] as DhGroupId[]) {
    const { keygenUs, computeUs } = measureDh(id, iterations);
    const name = dhGroup(id, { allowLegacy: true }).name;
    rows.push(`${String(id).padStart(5)}  ${name.padEnd(12)}  ${String(keygenUs).padStart(9)}  ${String(computeUs).padStart(10)}`);
    results.push(`dh${id}_keygen_us=${keygenUs}`, `dh${id}_compute_us=${computeUs}`);
  }
  console.log(rows.join('\n'));
  console.log(`RESULT ${results.join(' ')}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
