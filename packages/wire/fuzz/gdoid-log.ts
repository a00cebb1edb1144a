/**
 * Plaintext GDOI messages recovered from the debug logs of Cisco's GDOI reference implementation (gdoid
 * 1.5iec, see test/vectors/gdoid-reference/README.md). The logs dump every payload chain as hex right
 * after decryption (or before encryption) — without the ISAKMP header and with the CBC zero padding.
 * Shared by the unit tests (which assert the values) and the fuzzer (which mutates them).
 */
import { readFileSync } from 'node:fs';
import { ExchangeType, PayloadType } from '../src/constants.js';

export interface GdoidMessage {
  /** e.g. 'gm:PULL2' = PULL message 2 as the GM decrypted it. */
  name: string;
  exchangeType: number;
  /** Next Payload of the (not logged) header. */
  firstPayload: number;
  /** Payload chain followed by CBC padding. */
  plaintext: Uint8Array;
}

const VECTORS = new URL('../../test/vectors/gdoid-reference/', import.meta.url);

/** A gdoid hex dump line: "<time> Cryp <level> <hex groups>". */
const DUMP_LINE = /^\d+\.\d+ Cryp \d+ ((?:[0-9a-f]{2,8} ?)+)$/;

/** The hex dumps that follow each line ending with `marker`, in log order. */
export function hexDumpsAfter(text: string, marker: string): Uint8Array[] {
  const lines = text.split('\n');
  const dumps: Uint8Array[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!(lines[i] ?? '').endsWith(marker)) continue;
    let hex = '';
    for (let j = i + 1; j < lines.length; j++) {
      const m = DUMP_LINE.exec(lines[j] ?? '');
      if (m === null) break;
      hex += (m[1] ?? '').replace(/ /g, '');
    }
    dumps.push(Uint8Array.from(Buffer.from(hex, 'hex')));
  }
  return dumps;
}

const MAIN_MODE = { exchangeType: ExchangeType.IdentityProtection, firstPayload: PayloadType.ID };
const PULL = { exchangeType: ExchangeType.GroupkeyPull, firstPayload: PayloadType.HASH };
const PUSH = { exchangeType: ExchangeType.GroupkeyPush, firstPayload: PayloadType.SEQ };

/** Which message each dump is, in log order (from the message_parse_payloads lines around them). */
const SOURCES = [
  { log: 'gdoi-peer-gm.log', side: 'gm', marker: 'after decryption:', messages: [['MM6', MAIN_MODE], ['PULL2', PULL], ['PULL4', PULL], ['PUSH1', PUSH], ['PUSH2', PUSH], ['PUSH3', PUSH], ['PUSH4', PUSH]] },
  { log: 'gdoi-peer-ks.log', side: 'ks', marker: 'after decryption:', messages: [['MM5', MAIN_MODE], ['PULL1', PULL], ['PULL3', PULL]] },
  { log: 'gdoi-peer-ks.log', side: 'ks', marker: 'rekey_crypto_encrypt: before encryption:', messages: [['PUSH1', PUSH], ['PUSH2', PUSH], ['PUSH3', PUSH], ['PUSH4', PUSH], ['PUSH5', PUSH]] },
] as const;

export function gdoidMessages(): GdoidMessage[] {
  const out: GdoidMessage[] = [];
  for (const source of SOURCES) {
    const dumps = hexDumpsAfter(readFileSync(new URL(source.log, VECTORS), 'utf8'), source.marker);
    if (dumps.length !== source.messages.length) {
      throw new Error(`${source.log}: ${dumps.length} dumps after "${source.marker}", expected ${source.messages.length}`);
    }
    source.messages.forEach(([label, kind], i) => {
      out.push({ name: `${source.side}:${label}`, ...kind, plaintext: dumps[i] as Uint8Array });
    });
  }
  return out;
}
