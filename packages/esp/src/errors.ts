/** Stable codes: callers match on `code`, never on the message text. */
export type EspErrorCode =
  | 'BAD_TEK'        // a TEK with the wrong key sizes, SPI or times
  | 'BAD_ARGUMENT'   // an argument out of range (address, prefix, port, member id...)
  | 'MALFORMED'      // bytes that do not parse (inner IPv4/UDP, probe payload)
  | 'NO_SENDER_ID';  // an AES-GCM SA used for sending by an endpoint without a sender id

/** The one error type `@gvpn/esp` throws for bad input. `EspEndpoint.handle` never throws: it counts. */
export class EspError extends Error {
  override readonly name = 'EspError';
  readonly code: EspErrorCode;

  constructor(code: EspErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
