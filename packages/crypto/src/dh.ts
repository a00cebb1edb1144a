/**
 * Diffie-Hellman groups for IKEv1: MODP groups 2, 5 (legacy), 14, 15 (RFC 2409, RFC 3526),
 * 24 (RFC 5114 §2.3, 2048-bit prime with a 256-bit prime-order subgroup) and the ECP groups
 * 19, 20, 21 (RFC 5903: KE = x | y, each coordinate left-padded to the field size; the shared
 * secret is the x coordinate alone).
 *
 * Implementation: node:crypto (OpenSSL), because it is several times faster than pure JS.
 * Measured on this machine kind (2 vCPU, Node 20.20.2, shared and noisy), median µs per operation
 * (`node packages/crypto/dist/bench/dh-bench.js`, 100 iterations; compute includes validation):
 *   group 14 MODP-2048, 256-bit exponent: keygen 597, compute 586.
 *     The same exponentiation in pure JS (BigInt square-and-multiply): ≈ 5,100 — 8-9x slower.
 *   group 19 P-256: keygen 52, compute 186. Pure JS (noble) measured 436 / 2,581 in
 *     /work/shared/notes/performance.md — 8x / 14x slower.
 *   others: group 2 116/108, 5 172/168, 15 1,056/1,033, 24 375/755 (with the subgroup check),
 *     20 1,606/4,074, 21 2,009/5,031 (OpenSSL has no fast path for P-384/P-521 here).
 *
 * Private keys are drawn from the injected RandomSource, so seeded tests reproduce whole
 * transcripts. MODP private exponents are shorter than the prime: twice the group's security
 * strength (strengths from NIST SP 800-57 Part 1 Table 2; the 2x rule of SP 800-56A Rev. 3 §5.6.1.1), rounded up to a
 * whole number of bytes:
 *   group 2 (1024-bit, 80-bit strength)   160 bits
 *   group 5 (1536-bit, ~90-bit strength)   192 bits
 *   group 14 (2048-bit, 112-bit strength) 256 bits — 224 would do; 256 costs ~10% more and
 *   group 15 (3072-bit, 128-bit strength) 256 bits   gives 14 and 15 the same margin
 *   group 24 (256-bit subgroup order q)    256 bits, uniform in [1, q-1] by rejection sampling
 * ECP private scalars are uniform in [1, n-1] by rejection (OpenSSL rejects 0 and >= n).
 *
 * Peer public values are validated before use: exact KE length; MODP 1 < y < p-1; group 24
 * additionally y^q = 1 mod p (the small-subgroup test of RFC 6989, written for IKEv2 but the
 * attack is the same here; costs one more 256-bit exponentiation); ECP the point must lie on
 * the curve.
 */
import { createDiffieHellman, createECDH, getDiffieHellman, type DiffieHellman } from 'node:crypto';
import { CryptoError } from './errors.js';
import type { RandomSource } from './random.js';

export type DhGroupId = 2 | 5 | 14 | 15 | 19 | 20 | 21 | 24;

export const DH_GROUP_IDS: readonly DhGroupId[] = [2, 5, 14, 15, 19, 20, 21, 24];

export interface DhKeyPair {
  /** Our KE payload data: g^x left-padded to the prime length (MODP) or x | y (ECP). */
  readonly publicValue: Uint8Array;
  /**
   * g^xy from the peer's KE data: left-padded to the prime length (MODP) or the x coordinate
   * (ECP). Throws CryptoError 'INVALID_PUBLIC_VALUE' for a malformed or unsafe peer value.
   */
  computeSecret(peerPublicValue: Uint8Array): Uint8Array;
  /**
   * Zeroes our private value, in JavaScript memory and in the native engine, for a key pair whose holder
   * outlives its use (a responder's reused key pair, see @gvpn/ike). Later computeSecret calls throw
   * CryptoError 'SECRET_WIPED'.
   */
  wipe(): void;
}

export interface DhGroup {
  readonly id: DhGroupId;
  /** strongSwan's keyword for the group, e.g. 'modp2048', 'ecp256'. */
  readonly name: string;
  readonly kind: 'modp' | 'ecp';
  /** Length of the KE payload data in bytes. */
  readonly keLength: number;
  /** Groups 2 and 5: refused unless explicitly allowed. */
  readonly legacy: boolean;
  generate(random: RandomSource): DhKeyPair;
}

export interface DhGroupOptions {
  allowLegacy?: boolean;
}

/** A broken RandomSource (e.g. all zeros) must fail loudly rather than loop forever. */
const MAX_KEY_ATTEMPTS = 64;

interface ModpSpec {
  kind: 'modp';
  name: string;
  legacy: boolean;
  prime: Buffer;
  generator: Buffer;
  /** Order of the generator's subgroup, when it is much smaller than p (group 24). */
  subgroupOrder?: Buffer;
  privateKeyBytes: number;
}

interface EcpSpec {
  kind: 'ecp';
  name: string;
  curve: string;
  coordinateBytes: number;
  /** Mask for the scalar's first byte so a draw has the order's bit length (P-521: 521 bits). */
  scalarTopMask: number;
}

function nodeModpPrime(name: 'modp2' | 'modp5' | 'modp14' | 'modp15'): Buffer {
  return getDiffieHellman(name).getPrime();
}

// RFC 5114 §2.3, copied from the RFC text; the tests check that g has order q modulo p.
const RFC5114_2048_256 = {
  p: '87a8e61db4b6663cffbbd19c651959998ceef608660dd0f25d2ceed4435e3b00e00df8f1d61957d4faf7df4561b2aa30'
    + '16c3d91134096faa3bf4296d830e9a7c209e0c6497517abd5a8a9d306bcf67ed91f9e6725b4758c022e0b1ef4275bf7b'
    + '6c5bfc11d45f9088b941f54eb1e59bb8bc39a0bf12307f5c4fdb70c581b23f76b63acae1caa6b7902d52526735488a0e'
    + 'f13c6d9a51bfa4ab3ad8347796524d8ef6a167b5a41825d967e144e5140564251ccacb83e6b486f6b3ca3f7971506026'
    + 'c0b857f689962856ded4010abd0be621c3a3960a54e710c375f26375d7014103a4b54330c198af126116d2276e11715f'
    + '693877fad7ef09cadb094ae91e1a1597',
  g: '3fb32c9b73134d0b2e77506660edbd484ca7b18f21ef205407f4793a1a0ba12510dbc15077be463fff4fed4aac0bb555'
    + 'be3a6c1b0c6b47b1bc3773bf7e8c6f62901228f8c28cbb18a55ae31341000a650196f931c77a57f2ddf463e5e9ec144b'
    + '777de62aaab8a8628ac376d282d6ed3864e67982428ebc831d14348f6f2f9193b5045af2767164e1dfc967c1fb3f2e55'
    + 'a4bd1bffe83b9c80d052b985d182ea0adb2a3b7313d3fe14c8484b1e052588b9b7d2bbd2df016199ecd06e1557cd0915'
    + 'b3353bbb64e0ec377fd028370df92b52c7891428cdc67eb6184b523d1db246c32f63078490f00ef8d647d148d4795451'
    + '5e2327cfef98c582664b4c0f6cc41659',
  q: '8cf83642a709a097b447997640129da299b1a47d1eb3750ba308b0fe64f5fbd3',
};

const TWO = Buffer.from([2]);
/**
 * What a native engine holds after a wipe: OpenSSL clears the BIGNUM it replaces (BN_clear_free), so
 * installing this public constant erases the private value from the engine. 1 is valid for every group.
 */
const PLACEHOLDER_PRIVATE_KEY = Buffer.from([1]);

function wiped(id: DhGroupId): CryptoError {
  return new CryptoError('SECRET_WIPED', `group ${id}: the private value was wiped`);
}

const GROUP_SPECS: Readonly<Record<DhGroupId, ModpSpec | EcpSpec>> = {
  2: { kind: 'modp', name: 'modp1024', legacy: true, prime: nodeModpPrime('modp2'), generator: TWO, privateKeyBytes: 20 },
  5: { kind: 'modp', name: 'modp1536', legacy: true, prime: nodeModpPrime('modp5'), generator: TWO, privateKeyBytes: 24 },
  14: { kind: 'modp', name: 'modp2048', legacy: false, prime: nodeModpPrime('modp14'), generator: TWO, privateKeyBytes: 32 },
  15: { kind: 'modp', name: 'modp3072', legacy: false, prime: nodeModpPrime('modp15'), generator: TWO, privateKeyBytes: 32 },
  24: {
    kind: 'modp', name: 'modp2048s256', legacy: false,
    prime: Buffer.from(RFC5114_2048_256.p, 'hex'),
    generator: Buffer.from(RFC5114_2048_256.g, 'hex'),
    subgroupOrder: Buffer.from(RFC5114_2048_256.q, 'hex'),
    privateKeyBytes: 32,
  },
  19: { kind: 'ecp', name: 'ecp256', curve: 'prime256v1', coordinateBytes: 32, scalarTopMask: 0xff },
  20: { kind: 'ecp', name: 'ecp384', curve: 'secp384r1', coordinateBytes: 48, scalarTopMask: 0xff },
  21: { kind: 'ecp', name: 'ecp521', curve: 'secp521r1', coordinateBytes: 66, scalarTopMask: 0x01 },
};

function isGroupId(id: number): id is DhGroupId {
  return (DH_GROUP_IDS as readonly number[]).includes(id);
}

/** The DH group for an IKE group number; legacy groups 2 and 5 need `{ allowLegacy: true }`. */
export function dhGroup(id: number, options: DhGroupOptions = {}): DhGroup {
  if (!isGroupId(id)) throw new CryptoError('UNKNOWN_GROUP', `unsupported Diffie-Hellman group ${id}`);
  const spec = GROUP_SPECS[id];
  if (spec.kind === 'modp' && spec.legacy && options.allowLegacy !== true) {
    throw new CryptoError('LEGACY_GROUP', `Diffie-Hellman group ${id} (${spec.name}) is legacy and not allowed`);
  }
  // Built once per group: a MODP group's constants (p as a BigInt, p - 1, q - 1) cost ~10 µs to derive,
  // and a responder asks for its group on every message 3. Groups hold no per-key state.
  let group = groups.get(id);
  if (group === undefined) {
    group = spec.kind === 'modp' ? modpGroup(id, spec) : ecpGroup(id, spec);
    groups.set(id, group);
  }
  return group;
}

const groups = new Map<DhGroupId, DhGroup>();

function leftPad(value: Uint8Array, length: number): Uint8Array {
  if (value.length === length) return value;
  const out = new Uint8Array(length);
  out.set(value, length - value.length);
  return out;
}

function invalid(id: DhGroupId, why: string): CryptoError {
  return new CryptoError('INVALID_PUBLIC_VALUE', `group ${id}: ${why}`);
}

/** Big-endian comparison of equal-length byte strings. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) {
    const diff = (a[i] as number) - (b[i] as number);
    if (diff !== 0) return diff;
  }
  return 0;
}

function isZero(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0);
}

/** x with 1 <= x (< order when given), drawn from `random`. */
function drawModpExponent(spec: ModpSpec, random: RandomSource): Uint8Array {
  for (let attempt = 0; attempt < MAX_KEY_ATTEMPTS; attempt++) {
    const x = random.bytes(spec.privateKeyBytes);
    const inRange = !isZero(x) && (spec.subgroupOrder === undefined || compareBytes(x, spec.subgroupOrder) < 0);
    if (inRange) return x;
    x.fill(0);
  }
  throw new CryptoError('RANDOM_FAILURE', 'random source produced no usable Diffie-Hellman exponent');
}

/**
 * node:crypto checks that p is prime whenever it builds a DiffieHellman object for a prime it
 * does not recognise as a named group: ~65 ms for MODP-1024 (group 2) and ~230 ms for group 24
 * with a peer value as generator, against ~0.02 ms for named groups. So each MODP group gets one
 * engine for the whole process, built on first use, and every operation installs its private
 * exponent immediately before it exponentiates. JavaScript runs these calls synchronously, so
 * no other operation can run in between.
 */
const modpEngines = new Map<DhGroupId, DiffieHellman>();

function modpEngine(id: DhGroupId, spec: ModpSpec): DiffieHellman {
  let engine = modpEngines.get(id);
  if (engine === undefined) {
    engine = createDiffieHellman(spec.prime, spec.generator);
    modpEngines.set(id, engine);
  }
  return engine;
}

function bigintOf(bytes: Uint8Array): bigint {
  return BigInt('0x' + Buffer.from(bytes).toString('hex'));
}

function modpGroup(id: DhGroupId, spec: ModpSpec): DhGroup {
  const keLength = spec.prime.length;
  const prime = bigintOf(spec.prime);
  // p - 1, for the upper bound check; p is odd so only the last byte changes.
  const primeMinusOne = Uint8Array.from(spec.prime);
  primeMinusOne[keLength - 1] = (primeMinusOne[keLength - 1] as number) - 1;
  const orderMinusOne = spec.subgroupOrder === undefined ? undefined : Buffer.from(
    (bigintOf(spec.subgroupOrder) - 1n).toString(16).padStart(2 * spec.subgroupOrder.length, '0'), 'hex');

  /**
   * y^q = 1 mod p, computed as y^(q-1) * y = 1 so that the native exponentiation never yields 1
   * (OpenSSL refuses a result of 1 or p-1; for 1 < y < p-1 either one means y^q != 1).
   */
  const inSubgroup = (engine: DiffieHellman, peer: Uint8Array): boolean => {
    if (orderMinusOne === undefined) return true;
    engine.setPrivateKey(orderMinusOne);
    let power: Buffer;
    try {
      power = engine.computeSecret(peer);
    } catch {
      return false;
    }
    return (bigintOf(power) * bigintOf(peer)) % prime === 1n;
  };

  const checkPeer = (engine: DiffieHellman, peer: Uint8Array): void => {
    if (peer.length !== keLength) throw invalid(id, `public value is ${peer.length} bytes, expected ${keLength}`);
    // 1 < y < p - 1: rejects 0, 1 and p - 1 (order <= 2) and anything not reduced mod p.
    const lastIndex = keLength - 1;
    const isOne = peer[lastIndex] === 1 && isZero(peer.subarray(0, lastIndex));
    if (isZero(peer) || isOne || compareBytes(peer, primeMinusOne) >= 0) throw invalid(id, 'public value out of range');
    if (!inSubgroup(engine, peer)) throw invalid(id, 'public value is not in the prime-order subgroup');
  };

  return {
    id, name: spec.name, kind: 'modp', keLength, legacy: spec.legacy,
    generate(random: RandomSource): DhKeyPair {
      const engine = modpEngine(id, spec);
      const drawn = drawModpExponent(spec, random);
      // A view, not a copy: the exponent lives in one place only.
      const privateKey = Buffer.from(drawn.buffer, drawn.byteOffset, drawn.length);
      engine.setPrivateKey(privateKey);
      const publicValue = leftPad(engine.generateKeys(), keLength);
      let live = true;
      return {
        publicValue,
        computeSecret(peerPublicValue: Uint8Array): Uint8Array {
          if (!live) throw wiped(id);
          checkPeer(engine, peerPublicValue);
          engine.setPrivateKey(privateKey);
          try {
            return leftPad(engine.computeSecret(peerPublicValue), keLength);
          } catch {
            throw invalid(id, 'public value rejected by the Diffie-Hellman computation');
          }
        },
        wipe(): void {
          live = false;
          privateKey.fill(0);
          // The shared engine may still hold this exponent from our last operation.
          engine.setPrivateKey(PLACEHOLDER_PRIVATE_KEY);
        },
      };
    },
  };
}

function ecpGroup(id: DhGroupId, spec: EcpSpec): DhGroup {
  const keLength = 2 * spec.coordinateBytes;
  return {
    id, name: spec.name, kind: 'ecp', keLength, legacy: false,
    generate(random: RandomSource): DhKeyPair {
      const ecdh = createECDH(spec.curve);
      let accepted = false;
      for (let attempt = 0; attempt < MAX_KEY_ATTEMPTS && !accepted; attempt++) {
        const scalar = random.bytes(spec.coordinateBytes);
        scalar[0] = (scalar[0] as number) & spec.scalarTopMask;
        try {
          // OpenSSL rejects 0 and scalars >= the group order; draw again in that case.
          ecdh.setPrivateKey(scalar);
          accepted = true;
        } catch {
          accepted = false;
        }
        scalar.fill(0);
      }
      if (!accepted) throw new CryptoError('RANDOM_FAILURE', 'random source produced no usable elliptic-curve scalar');
      // Uncompressed SEC 1 encoding 0x04 | x | y; IKE carries x | y (RFC 5903 §7).
      const publicValue = Uint8Array.from(ecdh.getPublicKey().subarray(1));
      let live = true;
      return {
        publicValue,
        computeSecret(peerPublicValue: Uint8Array): Uint8Array {
          if (!live) throw wiped(id);
          if (peerPublicValue.length !== keLength) {
            throw invalid(id, `public value is ${peerPublicValue.length} bytes, expected ${keLength}`);
          }
          const point = new Uint8Array(1 + keLength);
          point[0] = 0x04;
          point.set(peerPublicValue, 1);
          try {
            return leftPad(ecdh.computeSecret(point), spec.coordinateBytes);
          } catch {
            throw invalid(id, 'public value is not a point on the curve');
          }
        },
        wipe(): void {
          live = false;
          ecdh.setPrivateKey(PLACEHOLDER_PRIVATE_KEY);
        },
      };
    },
  };
}
