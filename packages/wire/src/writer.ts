/**
 * Bounded writes into a caller-provided buffer. Values are range-checked: a representation that cannot be
 * written exactly (a TV attribute above 0xffff, a 5-byte cookie) is a WireError('INVALID_VALUE'), never a
 * silently truncated field.
 */
import { WireError } from './errors.js';

export class Writer {
  constructor(
    readonly out: Uint8Array,
    public pos: number,
  ) {}

  private room(n: number, what: string): void {
    if (this.pos < 0 || this.out.length - this.pos < n) {
      throw new WireError('BUFFER_TOO_SMALL', this.pos, `${what}: needs ${n} bytes`);
    }
  }

  u8(v: number, what: string): void {
    checkRange(v, 0xff, what, this.pos);
    this.room(1, what);
    this.out[this.pos++] = v;
  }

  u16(v: number, what: string): void {
    checkRange(v, 0xffff, what, this.pos);
    this.room(2, what);
    this.out[this.pos++] = v >>> 8;
    this.out[this.pos++] = v & 0xff;
  }

  u32(v: number, what: string): void {
    checkRange(v, 0xffffffff, what, this.pos);
    this.room(4, what);
    this.out[this.pos++] = v >>> 24;
    this.out[this.pos++] = (v >>> 16) & 0xff;
    this.out[this.pos++] = (v >>> 8) & 0xff;
    this.out[this.pos++] = v & 0xff;
  }

  bytes(v: Uint8Array, what: string): void {
    this.room(v.length, what);
    this.out.set(v, this.pos);
    this.pos += v.length;
  }

  zeros(n: number, what: string): void {
    this.room(n, what);
    this.out.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }

  /** Writes a 2-octet length at `at`, once the structure's size is known. */
  patchU16(at: number, v: number, what: string): void {
    checkRange(v, 0xffff, what, at);
    this.out[at] = v >>> 8;
    this.out[at + 1] = v & 0xff;
  }
}

export function checkRange(v: number, max: number, what: string, offset: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new WireError('INVALID_VALUE', offset, `${what} ${v} out of range 0..${max}`);
}

export function checkSize(v: Uint8Array, size: number, what: string, offset: number): void {
  if (v.length !== size) throw new WireError('INVALID_VALUE', offset, `${what} must be ${size} bytes, got ${v.length}`);
}
