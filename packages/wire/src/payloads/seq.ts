/**
 * Sequence Number payload, RFC 6407 §5.7. Payload Length MUST be 8.
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ! Next Payload  !   RESERVED    !         Payload Length        !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !                        Sequence Number                        !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { WireError } from '../errors.js';
import { Reader } from '../reader.js';
import { Writer } from '../writer.js';

export interface SeqPayload {
  type: 18;
  seq: number;
}

export function decodeSeq(buf: Uint8Array, off: number, end: number): SeqPayload {
  if (end - off !== 4) throw new WireError('BAD_LENGTH', off, `SEQ body is ${end - off} bytes, must be 4`);
  return { type: 18, seq: new Reader(buf, off, end).u32('sequence number') };
}

export function encodeSeq(p: SeqPayload, out: Uint8Array, off: number): number {
  new Writer(out, off).u32(p.seq, 'sequence number');
  return 4;
}

export function seqLength(): number {
  return 4;
}
