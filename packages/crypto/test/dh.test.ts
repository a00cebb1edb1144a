import assert from 'node:assert/strict';
import { getDiffieHellman } from 'node:crypto';
import { describe, it } from 'node:test';
import { CryptoError, DH_GROUP_IDS, dhGroup, seededRandom, systemRandom, type RandomSource } from '../src/index.js';
import { fixedRandom, hex, toHex } from './helpers.js';
import { DH_KATS, RFC5114_G, RFC5114_P, RFC5114_Q } from './vectors/dh-kat.js';

const isCode = (code: string) => (e: unknown): boolean => e instanceof CryptoError && e.code === code;
const group = (id: number) => dhGroup(id, { allowLegacy: true });

const bigFrom = (bytes: Uint8Array): bigint => BigInt('0x' + (toHex(bytes) || '0'));
const bytesOf = (value: bigint, length: number): Uint8Array => hex(value.toString(16).padStart(length * 2, '0'));

/** Square-and-multiply with BigInt: slow, but independent of OpenSSL. */
function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
  }
  return result;
}

/** The RFC 3526 / RFC 2409 primes via OpenSSL's own tables, and RFC 5114's from its text. */
function primeOf(id: number): Uint8Array {
  const names: Record<number, string> = { 2: 'modp2', 5: 'modp5', 14: 'modp14', 15: 'modp15' };
  const name = names[id];
  return name === undefined ? hex(RFC5114_P) : Uint8Array.from(getDiffieHellman(name).getPrime());
}

const MODP_IDS = [2, 5, 14, 15, 24];
const ECP_IDS = [19, 20, 21];

describe('DH group table', () => {
  it('describes every group', () => {
    const expected: Record<number, [string, 'modp' | 'ecp', number, boolean]> = {
      2: ['modp1024', 'modp', 128, true], 5: ['modp1536', 'modp', 192, true],
      14: ['modp2048', 'modp', 256, false], 15: ['modp3072', 'modp', 384, false],
      24: ['modp2048s256', 'modp', 256, false],
      19: ['ecp256', 'ecp', 64, false], 20: ['ecp384', 'ecp', 96, false], 21: ['ecp521', 'ecp', 132, false],
    };
    assert.deepEqual([...DH_GROUP_IDS].sort((a, b) => a - b), Object.keys(expected).map(Number).sort((a, b) => a - b));
    for (const id of DH_GROUP_IDS) {
      const g = group(id);
      assert.deepEqual([g.id, g.name, g.kind, g.keLength, g.legacy], [id, ...(expected[id] as unknown[])]);
    }
  });

  it('refuses legacy groups 2 and 5 unless allowed', () => {
    for (const id of [2, 5]) {
      assert.throws(() => dhGroup(id), isCode('LEGACY_GROUP'));
      assert.throws(() => dhGroup(id, { allowLegacy: false }), isCode('LEGACY_GROUP'));
      assert.equal(dhGroup(id, { allowLegacy: true }).legacy, true);
    }
    for (const id of [14, 15, 19, 20, 21, 24]) assert.equal(dhGroup(id).legacy, false);
  });

  it('rejects unknown group numbers', () => {
    for (const id of [0, 1, 3, 4, 16, 22, 23, 25, 31, 1.5]) assert.throws(() => dhGroup(id, { allowLegacy: true }), isCode('UNKNOWN_GROUP'));
  });

  it('group 24 constants: g has order q modulo p (RFC 5114 §2.3)', () => {
    const p = bigFrom(hex(RFC5114_P));
    assert.equal(modPow(bigFrom(hex(RFC5114_G)), bigFrom(hex(RFC5114_Q)), p), 1n);
  });
});

describe('DH agreement', () => {
  for (const id of DH_GROUP_IDS) {
    it(`group ${id}: both parties derive the same secret`, () => {
      const g = group(id);
      const alice = g.generate(systemRandom);
      const bob = g.generate(systemRandom);
      assert.equal(alice.publicValue.length, g.keLength);
      assert.equal(bob.publicValue.length, g.keLength);
      const s1 = alice.computeSecret(bob.publicValue);
      const s2 = bob.computeSecret(alice.publicValue);
      assert.equal(toHex(s1), toHex(s2));
      assert.equal(s1.length, g.kind === 'modp' ? g.keLength : g.keLength / 2);
    });
  }

  for (const id of [2, 14, 24]) {
    it(`group ${id}: interleaved key pairs of one group stay independent`, () => {
      // MODP key pairs share one engine per group; each must still use its own exponent.
      const g = group(id);
      const [a, b, c] = [g.generate(systemRandom), g.generate(systemRandom), g.generate(systemRandom)];
      assert.ok(a && b && c);
      const ab = toHex(a.computeSecret(b.publicValue));
      const ac = toHex(a.computeSecret(c.publicValue));
      assert.equal(toHex(c.computeSecret(a.publicValue)), ac);
      assert.equal(toHex(b.computeSecret(a.publicValue)), ab);
      assert.notEqual(ab, ac);
      assert.equal(toHex(b.computeSecret(c.publicValue)), toHex(c.computeSecret(b.publicValue)));
    });
  }

  for (const id of DH_GROUP_IDS) {
    it(`group ${id}: seeded key generation is reproducible`, () => {
      const g = group(id);
      const run = (seed: string) => {
        const random = seededRandom(seed);
        const a = g.generate(random);
        const b = g.generate(random);
        return [toHex(a.publicValue), toHex(b.publicValue), toHex(a.computeSecret(b.publicValue))];
      };
      assert.deepEqual(run('transcript 1'), run('transcript 1'));
      assert.notDeepEqual(run('transcript 1'), run('transcript 2'));
    });
  }
});

describe('DH known answers', () => {
  for (const kat of DH_KATS) {
    it(`group ${kat.group}: ${kat.source}`, () => {
      const g = dhGroup(kat.group);
      const i = g.generate(fixedRandom(hex(kat.privI)));
      const r = g.generate(fixedRandom(hex(kat.privR)));
      assert.equal(toHex(i.publicValue), toHex(hex(kat.pubI)));
      assert.equal(toHex(r.publicValue), toHex(hex(kat.pubR)));
      assert.equal(toHex(i.computeSecret(r.publicValue)), toHex(hex(kat.shared)));
      assert.equal(toHex(r.computeSecret(i.publicValue)), toHex(hex(kat.shared)));
    });
  }

  for (const id of MODP_IDS) {
    it(`group ${id}: public value and secret match a BigInt computation`, () => {
      const g = group(id);
      const p = bigFrom(primeOf(id));
      const generator = id === 24 ? bigFrom(hex(RFC5114_G)) : 2n;
      const exponentLength = id === 2 ? 20 : id === 5 ? 24 : 32;
      // Leading zero byte keeps the draw below q for group 24; harmless elsewhere.
      const x = Uint8Array.from(seededRandom(`x${id}`).bytes(exponentLength), (b, n) => (n === 0 ? 0 : b));
      const pair = g.generate(fixedRandom(x));
      assert.equal(toHex(pair.publicValue), toHex(bytesOf(modPow(generator, bigFrom(x), p), g.keLength)));
      const peer = g.generate(systemRandom);
      assert.equal(toHex(pair.computeSecret(peer.publicValue)), toHex(bytesOf(modPow(bigFrom(peer.publicValue), bigFrom(x), p), g.keLength)));
    });
  }
});

describe('DH peer public value validation', () => {
  for (const id of MODP_IDS) {
    it(`group ${id}: rejects 0, 1, p-1, p, values above p and wrong lengths`, () => {
      const g = group(id);
      const pair = g.generate(systemRandom);
      const p = bigFrom(primeOf(id));
      const bad = [0n, 1n, p - 1n, p, p + 1n, (1n << BigInt(8 * g.keLength)) - 1n].map((v) => bytesOf(v, g.keLength));
      bad.push(new Uint8Array(0), new Uint8Array(g.keLength - 1).fill(5), new Uint8Array(g.keLength + 1).fill(5));
      bad.push(pair.publicValue.subarray(1));
      for (const value of bad) assert.throws(() => pair.computeSecret(value), isCode('INVALID_PUBLIC_VALUE'));
      // The boundaries just inside the range are accepted where every 1 < y < p-1 is valid.
      if (id !== 24) {
        for (const y of [2n, p - 2n]) assert.equal(pair.computeSecret(bytesOf(y, g.keLength)).length, g.keLength);
      }
    });
  }

  it('group 24: rejects a value outside the order-q subgroup', () => {
    const g = dhGroup(24);
    const pair = g.generate(systemRandom);
    const p = bigFrom(hex(RFC5114_P));
    const q = bigFrom(hex(RFC5114_Q));
    for (const y of [2n, p - 2n, 12345n]) {
      assert.notEqual(modPow(y, q, p), 1n);
      assert.throws(() => pair.computeSecret(bytesOf(y, 256)), isCode('INVALID_PUBLIC_VALUE'));
    }
  });

  for (const id of ECP_IDS) {
    it(`group ${id}: rejects off-curve points, zeros and wrong lengths`, () => {
      const g = dhGroup(id);
      const pair = g.generate(systemRandom);
      const peer = g.generate(systemRandom).publicValue;
      const offCurve = Uint8Array.from(peer);
      offCurve[offCurve.length - 1] = (offCurve[offCurve.length - 1] as number) ^ 1;
      const bad = [offCurve, new Uint8Array(g.keLength), new Uint8Array(g.keLength).fill(0xff),
        peer.subarray(1), Uint8Array.of(0x04, ...peer), new Uint8Array(0)];
      for (const value of bad) assert.throws(() => pair.computeSecret(value), isCode('INVALID_PUBLIC_VALUE'));
      assert.equal(pair.computeSecret(peer).length, g.keLength / 2);
    });
  }
});

describe('DH private key draws', () => {
  const zeros: RandomSource = { bytes: (n) => new Uint8Array(n) };
  const ones: RandomSource = { bytes: (n) => new Uint8Array(n).fill(0xff) };

  it('fails loudly when the random source never yields a usable key', () => {
    for (const id of DH_GROUP_IDS) assert.throws(() => group(id).generate(zeros), isCode('RANDOM_FAILURE'));
    // All-ones is >= q for group 24 and >= n for P-256 and P-384 (P-521 masks its top byte).
    for (const id of [24, 19, 20]) assert.throws(() => group(id).generate(ones), isCode('RANDOM_FAILURE'));
  });

  it('draws again after an out-of-range value', () => {
    const g = dhGroup(19);
    const kat = DH_KATS.find((k) => k.group === 19);
    assert.ok(kat);
    const pair = g.generate(fixedRandom(new Uint8Array(32).fill(0xff), new Uint8Array(32), hex(kat.privI)));
    assert.equal(toHex(pair.publicValue), toHex(hex(kat.pubI)));
  });
});

describe('DH key pair wipe', () => {
  it('refuses to compute after wipe and leaves other key pairs of the group working', () => {
    for (const id of [14, 19]) {
      const g = group(id);
      const mine = g.generate(systemRandom);
      const other = g.generate(systemRandom);
      const peer = g.generate(systemRandom);
      const before = mine.computeSecret(peer.publicValue);
      mine.wipe();
      assert.throws(() => mine.computeSecret(peer.publicValue), isCode('SECRET_WIPED'));
      assert.deepEqual(other.computeSecret(peer.publicValue), peer.computeSecret(other.publicValue));
      assert.deepEqual(peer.computeSecret(mine.publicValue), before, `group ${id}: the peer side is unaffected`);
    }
  });
});
