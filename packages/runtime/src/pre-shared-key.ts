import { inspect } from 'node:util';

/**
 * The bytes of a pre-shared key, kept out of JSON, `util.inspect` and therefore out of logs.
 * The key lives in a private field so no serializer can walk to it; `reveal()` is the one way out,
 * meant for the key derivation (SKEYID) and nothing else.
 *
 * Stands in for `@gvpn/crypto`'s `Secret` until that package publishes it.
 */
export class PreSharedKey {
  readonly #bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.#bytes = Uint8Array.from(bytes);
  }

  get length(): number {
    return this.#bytes.length;
  }

  reveal(): Uint8Array {
    return this.#bytes;
  }

  toJSON(): string {
    return '[secret]';
  }

  toString(): string {
    return '[secret]';
  }

  [inspect.custom](): string {
    return '[secret]';
  }
}
