import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DOI, ExchangeType, NotifyType, ProtocolId } from '../src/index.js';
import { assertWireError, codecTests, decodeExact, hex } from './helpers.js';

const MM = ExchangeType.IdentityProtection;

// gdoid Main Mode 6: INITIAL-CONTACT (24578 = 0x6002), DOI 1, ISAKMP, SPI = the two cookies.
codecTests('Notify (INITIAL-CONTACT from gdoid)', {
  payloads: [{ type: 11, doi: DOI.IPSEC, protocolId: ProtocolId.Isakmp, spi: hex('e3787137464179d0f4fed2b9c97cedde'), notifyType: NotifyType.InitialContact, data: new Uint8Array(0) }],
  golden: hex('00 00 001c 00000001 01 10 6002 e3787137464179d0f4fed2b9c97cedde'),
  exchangeType: MM,
  lengthFields: [
    { name: 'payload length', at: 2, size: 2 },
    // SPI size -1 only moves a byte into the (free-form) data; +1 runs past the payload.
  ],
});

// RFC 3706 §5: R-U-THERE with the cookies as SPI and a 4-byte sequence number as data.
codecTests('Notify (R-U-THERE, RFC 3706)', {
  payloads: [{ type: 11, doi: DOI.IPSEC, protocolId: ProtocolId.Isakmp, spi: hex('e3787137464179d0f4fed2b9c97cedde'), notifyType: NotifyType.RUThere, data: hex('0000a0b1') }],
  golden: hex('00 00 0020 00000001 01 10 8d28 e3787137464179d0f4fed2b9c97cedde 0000a0b1'),
  exchangeType: ExchangeType.Informational,
  lengthFields: [{ name: 'payload length', at: 2, size: 2 }],
});

test('Notify: SPI size beyond the payload is rejected', () => {
  assertWireError(() => decodeExact(hex('00 00 001c 00000001 01 11 6002 e3787137464179d0f4fed2b9c97cedde'), 11, MM), 'TRUNCATED');
});

test('Notify: unknown notify types and no SPI decode', () => {
  assert.deepEqual(decodeExact(hex('00 00 000e 00000002 00 00 ffff abcd'), 11, MM), [
    { type: 11, doi: 2, protocolId: 0, spi: new Uint8Array(0), notifyType: 0xffff, data: hex('abcd') },
  ]);
});
