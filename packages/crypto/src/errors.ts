/** Stable codes: callers match on `code`, never on the message text. */
export type CryptoErrorCode =
  | 'UNKNOWN_HASH'
  | 'BAD_KEY_LENGTH'
  | 'BAD_IV_LENGTH'
  | 'BAD_DATA_LENGTH'
  | 'BAD_ARGUMENT'
  | 'UNKNOWN_GROUP'
  | 'LEGACY_GROUP'
  | 'INVALID_PUBLIC_VALUE'
  | 'SECRET_WIPED'
  | 'RANDOM_FAILURE';

/** The one error type `@gvpn/crypto` throws for bad input. */
export class CryptoError extends Error {
  override readonly name = 'CryptoError';
  readonly code: CryptoErrorCode;

  constructor(code: CryptoErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
