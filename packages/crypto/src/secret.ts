import { inspect } from 'node:util';
import { CryptoError } from './errors.js';

const REDACTED = '[secret]';

/**
 * Key material that must never reach a log: JSON serialisation, `util.inspect` (used by
 * console.log and pino's fallbacks) and string conversion all print "[secret]".
 * The bytes are reachable only through an explicit `reveal()`.
 */
export class Secret {
  #bytes: Uint8Array | undefined;

  /** Takes ownership of `bytes`; `wipe()` zeroes that same buffer. */
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /** Copies `bytes`, leaving the caller's buffer untouched. */
  static copyOf(bytes: Uint8Array): Secret {
    return new Secret(Uint8Array.from(bytes));
  }

  get length(): number {
    return this.#bytes?.length ?? 0;
  }

  get wiped(): boolean {
    return this.#bytes === undefined;
  }

  /** The bytes themselves (not a copy). Throws once the secret has been wiped. */
  reveal(): Uint8Array {
    if (this.#bytes === undefined) throw new CryptoError('SECRET_WIPED', 'secret was wiped');
    return this.#bytes;
  }

  /** Zeroes the bytes and forgets them; later `reveal()` calls throw. */
  wipe(): void {
    this.#bytes?.fill(0);
    this.#bytes = undefined;
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

/** Key inputs accept raw bytes or a `Secret`, so callers can keep keys wrapped. */
export type KeyBytes = Uint8Array | Secret;

export function keyBytes(key: KeyBytes): Uint8Array {
  return key instanceof Secret ? key.reveal() : key;
}
