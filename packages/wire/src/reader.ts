/**
 * Bounded reads: every read checks against `end`, which is the end of the enclosing structure rather than
 * of the buffer, so a length field can never let a decoder wander into a neighbouring payload.
 */
import { WireError } from './errors.js';

export class Reader {
  constructor(
    readonly buf: Uint8Array,
    public pos: number,
    readonly end: number,
  ) {
    if (pos < 0 || end > buf.length || pos > end) throw new WireError('TRUNCATED', pos, 'range outside the buffer');
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  need(n: number, what: string): void {
    if (this.end - this.pos < n) throw new WireError('TRUNCATED', this.pos, `${what}: needs ${n} bytes, ${this.remaining} left`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++] as number;
  }

  u16(what: string): number {
    this.need(2, what);
    const b = this.buf;
    const v = ((b[this.pos] as number) << 8) | (b[this.pos + 1] as number);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const b = this.buf;
    const p = this.pos;
    const v = (b[p] as number) * 0x1000000 + (((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number));
    this.pos += 4;
    return v;
  }

  /** A copy (see copyBytes). */
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const v = copyBytes(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  rest(): Uint8Array {
    return this.bytes(this.remaining, 'rest');
  }

  /** Reads `n` bytes that RFC says MUST be zero. */
  zeros(n: number, what: string): void {
    this.need(n, what);
    for (let i = 0; i < n; i++) {
      if (this.buf[this.pos + i] !== 0) throw new WireError('RESERVED_NOT_ZERO', this.pos + i, `${what} must be zero`);
    }
    this.pos += n;
  }

  /** A sub-reader over the next `n` bytes; this reader skips past them. */
  sub(n: number, what: string): Reader {
    this.need(n, what);
    const r = new Reader(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }

  expectEnd(what: string): void {
    if (this.pos !== this.end) throw new WireError('TRAILING_BYTES', this.pos, `${this.remaining} bytes after ${what}`);
  }
}

/**
 * A plain Uint8Array copy of [start, end): a decoded representation never aliases (and pins) the datagram,
 * and stays a Uint8Array when the input is a Node Buffer (whose slice() is a view).
 */
export function copyBytes(buf: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(buf.subarray(start, end));
}
