/**
 * The one error the codec throws. Decoders never let anything else escape (the fuzzer checks this), so
 * callers can treat `WireError` as "malformed input" and everything else as a bug.
 */

export type WireErrorCode =
  /** A field or structure runs past the end of its enclosing buffer, payload or sub-payload. */
  | 'TRUNCATED'
  /** A length field is impossible (below its minimum, or disagreeing with a count or fixed size). */
  | 'BAD_LENGTH'
  /** The ISAKMP header Length differs from the datagram size. */
  | 'LENGTH_MISMATCH'
  /** Bytes left over where the format allows none. */
  | 'TRAILING_BYTES'
  /** A field that must be zero is not. */
  | 'RESERVED_NOT_ZERO'
  /** ISAKMP major version is not 1. */
  | 'BAD_VERSION'
  /** SPI size not allowed for the protocol or key packet type. */
  | 'BAD_SPI_SIZE'
  /** A count field disagrees with the items actually present. */
  | 'BAD_COUNT'
  /** A next-payload field names a payload that cannot appear there. */
  | 'BAD_NEXT_PAYLOAD'
  /** A known payload in a place it cannot be (Proposal at top level, SAK outside an SA, ...). */
  | 'MISPLACED_PAYLOAD'
  /** More payloads in one message than MAX_PAYLOADS. */
  | 'TOO_MANY_PAYLOADS'
  /** Message rules: a payload type the exchange/message does not allow. */
  | 'UNEXPECTED_PAYLOAD'
  /** Message rules: a payload type appears fewer times than required. */
  | 'MISSING_PAYLOAD'
  /** Message rules: a payload type appears more times than allowed. */
  | 'DUPLICATE_PAYLOAD'
  /** Message rules: payloads out of the required order. */
  | 'PAYLOAD_ORDER'
  /** A value outside its field's range (also: encoding a representation that cannot be written). */
  | 'INVALID_VALUE'
  /** The output buffer is too small for the encoding. */
  | 'BUFFER_TOO_SMALL';

export class WireError extends Error {
  override readonly name = 'WireError';

  constructor(
    readonly code: WireErrorCode,
    /** Byte offset into the buffer being decoded (or encoded) where the problem was found. */
    readonly offset: number,
    message: string,
  ) {
    super(`${message} (${code} at offset ${offset})`);
  }
}
