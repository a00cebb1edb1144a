/** Errors of the GDOI package, matched on `code` (never on the message). */
export type GdoiErrorCode = 'BAD_POLICY' | 'BAD_STATE' | 'BAD_KEY' | 'FORWARD_ACCESS' | 'SEQ_EXHAUSTED';

export class GdoiError extends Error {
  override readonly name = 'GdoiError';
  constructor(readonly code: GdoiErrorCode, message: string) {
    super(message);
  }
}
