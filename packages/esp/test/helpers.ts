import { seededRandom } from '@gvpn/crypto';
import { makeTek, parsePrefix, type EspTransform, type Tek, type TekPolicy } from '../src/index.js';

/** Hex to bytes; spaces are ignored so vectors can be pasted as printed. */
export function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

export const GROUP_POLICY: TekPolicy = { source: parsePrefix('172.16.0.0/12'), destination: parsePrefix('172.16.0.0/12') };

/** A TEK with keys drawn from a seeded stream (distinct per seed). */
export function testTek(spi: number, transform: EspTransform, seed: string, times: { activation?: number; deactivation?: number } = {}, keyLength = 32): Tek {
  const random = seededRandom(`${seed}:${spi}`);
  return transform === 'aes-gcm-16'
    ? makeTek({ spi, transform, encKey: random.bytes(keyLength), salt: random.bytes(4), policy: GROUP_POLICY, ...times })
    : makeTek({ spi, transform, encKey: random.bytes(keyLength), authKey: random.bytes(32), policy: GROUP_POLICY, ...times });
}

/** Polls `condition` every `stepMs` until it returns true or `withinMs` passes (then throws `what`). */
export async function waitFor(condition: () => boolean | Promise<boolean>, withinMs: number, what: string, stepMs = 10): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${withinMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}
