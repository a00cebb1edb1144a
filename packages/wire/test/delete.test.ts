import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DOI, ExchangeType, TekProtocolId, encodePayloads } from '../src/index.js';
import type { DeletePayload } from '../src/index.js';
import { assertWireError, codecTests, decodeExact, hex } from './helpers.js';

const PUSH = ExchangeType.GroupkeyPush;

// gdoid's shutdown PUSH (gdoi-peer-ks.log, SEQ 5): DOI 2, ESP, four 4-byte TEK SPIs.
codecTests('Delete (gdoid shutdown: four ESP TEKs)', {
  payloads: [{ type: 12, doi: DOI.GDOI, protocolId: TekProtocolId.IpsecEsp, spiSize: 4, spis: [hex('d3b1ba79'), hex('1e756bc4'), hex('5789f729'), hex('95822529')] }],
  golden: hex('00 00 001c 00000002 01 04 0004 d3b1ba79 1e756bc4 5789f729 95822529'),
  exchangeType: PUSH,
  lengthFields: [
    { name: 'payload length', at: 2, size: 2 },
    { name: 'SPI size', at: 9, size: 1 },
    { name: '# of SPIs', at: 10, size: 2 },
  ],
});

// RFC 6407 §5.9: deleting the KEK (Protocol-ID 0) names it by its 16-byte SPI.
codecTests('Delete (KEK, RFC 6407 §5.9)', {
  payloads: [{ type: 12, doi: DOI.GDOI, protocolId: TekProtocolId.Kek, spiSize: 16, spis: [hex('989b0ab8f1dd4dea527cca12141cf8e1')] }],
  golden: hex('00 00 001c 00000002 00 10 0001 989b0ab8f1dd4dea527cca12141cf8e1'),
  exchangeType: PUSH,
  lengthFields: [
    { name: 'payload length', at: 2, size: 2 },
    { name: 'SPI size', at: 9, size: 1 },
    { name: '# of SPIs', at: 10, size: 2 },
  ],
});

test('Delete: # of SPIs x SPI size must equal the bytes present (CVE-2004-0183)', () => {
  assertWireError(() => decodeExact(hex('00 00 0010 00000002 01 04 ffff d3b1ba79'), 12, PUSH), 'BAD_COUNT');
  assertWireError(() => decodeExact(hex('00 00 000c 00000002 01 04 0000'), 12, PUSH), 'BAD_COUNT');
  assertWireError(() => decodeExact(hex('00 00 000c 00000002 01 00 0001'), 12, PUSH), 'BAD_SPI_SIZE');
});

test('Delete: encoding checks each SPI against the SPI size', () => {
  const bad: DeletePayload = { type: 12, doi: 2, protocolId: 1, spiSize: 4, spis: [hex('d3b1ba79'), hex('d3b1ba')] };
  assertWireError(() => encodePayloads([bad], { exchangeType: PUSH }), 'INVALID_VALUE');
  assertWireError(() => encodePayloads([{ ...bad, spis: [] }], { exchangeType: PUSH }), 'INVALID_VALUE');
  assert.equal(encodePayloads([{ ...bad, spis: [hex('d3b1ba79')] }], { exchangeType: PUSH }).length, 16);
});
