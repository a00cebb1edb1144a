/** Stable codes: callers match on `code`, never on the message text. */
export type StoreErrorCode =
  /** The store is encrypted and no key was given (option, key file or GVPN_STATE_KEY). */
  | 'NO_KEY'
  /** The key does not open this store (its check value fails to decrypt). */
  | 'WRONG_KEY'
  /** A key was given for a plain store that holds values: they are not sealed, since nothing vouches for them. */
  | 'NOT_ENCRYPTED'
  /** A store marked plain that has a key check: only a sealed store has one, so the file was altered. */
  | 'TAMPERED'
  /** A key that is not 32 bytes, a key file that cannot be read or holds something else. */
  | 'BAD_KEY'
  /** A key file readable by group or others. */
  | 'KEY_FILE_MODE'
  /** A value that cannot be stored: not JSON-able, a non-finite number, a class instance, a `$` key. */
  | 'BAD_VALUE'
  /** A stored value that cannot be decrypted or parsed (found after open: open moves such files aside). */
  | 'CORRUPT'
  /** A record read back from the store that lacks a field or has one of the wrong kind. */
  | 'BAD_RECORD'
  /** SQLite failed (disk full, I/O error, the directory cannot be written ...). */
  | 'IO'
  | 'CLOSED';

/** The one error type `@gvpn/store` throws. Daemons print `message` and exit; no stack trace is needed. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
