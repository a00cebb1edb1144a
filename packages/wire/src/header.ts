/**
 * ISAKMP header, RFC 2408 §3.1. All integers big-endian.
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !                          Initiator                            !
 * !                            Cookie                             !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !                          Responder                            !
 * !                            Cookie                             !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !  Next Payload ! MjVer ! MnVer ! Exchange Type !     Flags     !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !                          Message ID                           !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !                            Length                             !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { HEADER_LENGTH } from './constants.js';
import { WireError } from './errors.js';
import { Reader } from './reader.js';
import { Writer, checkSize } from './writer.js';

export interface Header {
  icookie: Uint8Array;
  rcookie: Uint8Array;
  nextPayload: number;
  /** Both nibbles as on the wire (0x10 = 1.0); decode requires major 1, any minor. */
  version: number;
  exchangeType: number;
  /** Unknown flag bits are kept, not rejected: what a flag means is the exchange's business. */
  flags: number;
  messageId: number;
  /** Whole datagram, header and CBC padding included (RFC 2409 App. B). */
  length: number;
}

/** Decodes the header of the datagram starting at `off`; its Length must equal the bytes from `off` on. */
export function decodeHeader(buf: Uint8Array, off = 0): Header {
  const r = new Reader(buf, off, buf.length);
  const icookie = r.bytes(8, 'initiator cookie');
  const rcookie = r.bytes(8, 'responder cookie');
  const nextPayload = r.u8('next payload');
  const versionAt = r.pos;
  const version = r.u8('version');
  if (version >> 4 !== 1) throw new WireError('BAD_VERSION', versionAt, `ISAKMP major version ${version >> 4}`);
  const exchangeType = r.u8('exchange type');
  const flags = r.u8('flags');
  const messageId = r.u32('message id');
  const lengthAt = r.pos;
  const length = r.u32('length');
  if (length < HEADER_LENGTH) throw new WireError('BAD_LENGTH', lengthAt, `header length ${length} below ${HEADER_LENGTH}`);
  if (length !== buf.length - off) {
    throw new WireError('LENGTH_MISMATCH', lengthAt, `header length ${length}, datagram ${buf.length - off}`);
  }
  return { icookie, rcookie, nextPayload, version, exchangeType, flags, messageId, length };
}

export function encodeHeader(h: Header, out: Uint8Array, off: number): number {
  const w = new Writer(out, off);
  checkSize(h.icookie, 8, 'initiator cookie', w.pos);
  w.bytes(h.icookie, 'initiator cookie');
  checkSize(h.rcookie, 8, 'responder cookie', w.pos);
  w.bytes(h.rcookie, 'responder cookie');
  w.u8(h.nextPayload, 'next payload');
  w.u8(h.version, 'version');
  w.u8(h.exchangeType, 'exchange type');
  w.u8(h.flags, 'flags');
  w.u32(h.messageId, 'message id');
  w.u32(h.length, 'length');
  return HEADER_LENGTH;
}
