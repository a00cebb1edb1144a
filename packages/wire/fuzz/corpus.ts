/**
 * Valid datagrams for the fuzzer to mutate: the gdoid captures (wrapped in a header, padding kept) and
 * synthetic messages that reach every payload and form the captures lack (RFC 2408 SAs with several
 * proposals, TLV attributes, opaque SATs, the RFC 4-octet SAK tail, every key packet type, Delete,
 * unknown payloads).
 */
import { ExchangeType, HEADER_LENGTH, ISAKMP_VERSION, NotifyType, PayloadType } from '../src/constants.js';
import { encodeHeader } from '../src/header.js';
import { encodePayloads } from '../src/payloads.js';
import type { Payload } from '../src/payloads.js';
import { gdoidMessages } from './gdoid-log.js';

const ICOOKIE = Uint8Array.from([0xe3, 0x78, 0x71, 0x37, 0x46, 0x41, 0x79, 0xd0]);
const RCOOKIE = Uint8Array.from([0xf4, 0xfe, 0xd2, 0xb9, 0xc9, 0x7c, 0xed, 0xde]);

function filled(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (seed + i * 37) & 0xff);
}

/** Header + chain (+ trailing padding), with a correct Length. */
export function datagram(exchangeType: number, firstPayload: number, chain: Uint8Array, flags = 0, messageId = 0): Uint8Array {
  const out = new Uint8Array(HEADER_LENGTH + chain.length);
  encodeHeader(
    { icookie: ICOOKIE, rcookie: RCOOKIE, nextPayload: firstPayload, version: ISAKMP_VERSION, exchangeType, flags, messageId, length: out.length },
    out,
    0,
  );
  out.set(chain, HEADER_LENGTH);
  return out;
}

function message(exchangeType: number, payloads: Payload[], messageId = 0): Uint8Array {
  return datagram(exchangeType, payloads[0]?.type ?? 0, encodePayloads(payloads, { exchangeType }), 0, messageId);
}

const mainMode1: Payload[] = [
  {
    type: 1,
    doi: 1,
    situation: 1,
    proposals: [
      {
        number: 1,
        protocolId: 1,
        spi: new Uint8Array(0),
        transforms: [
          { number: 1, transformId: 1, attributes: [{ type: 1, value: 7 }, { type: 14, value: 256 }, { type: 2, value: 4 }, { type: 3, value: 1 }, { type: 4, value: 14 }, { type: 11, value: 1 }, { type: 12, bytes: Uint8Array.from([0, 1, 0x51, 0x80]) }] },
          { number: 2, transformId: 1, attributes: [{ type: 1, value: 7 }, { type: 14, value: 128 }, { type: 2, value: 2 }, { type: 3, value: 1 }, { type: 4, value: 2 }] },
        ],
      },
      { number: 2, protocolId: 3, spi: filled(4, 9), transforms: [{ number: 1, transformId: 12, attributes: [] }] },
    ],
  },
  { type: 13, data: filled(16, 0xaf) },
];

const mainModeGdoi: Payload[] = [
  { type: 1, doi: 2, situation: 0, proposals: [{ number: 1, protocolId: 1, spi: new Uint8Array(0), transforms: [{ number: 0, transformId: 1, attributes: [{ type: 1, value: 7 }] }] }] },
];

const mainMode3: Payload[] = [
  { type: 4, data: filled(256, 3) },
  { type: 10, data: filled(32, 5) },
  { type: 13, data: filled(16, 7) },
];

const mainMode5: Payload[] = [
  { type: 5, idType: 1, protocolId: 17, port: 500, data: Uint8Array.from([10, 99, 0, 2]) },
  { type: 8, data: filled(32, 11) },
  { type: 11, doi: 1, protocolId: 1, spi: filled(16, 13), notifyType: NotifyType.InitialContact, data: new Uint8Array(0) },
];

const informational: Payload[] = [
  { type: 8, data: filled(20, 17) },
  { type: 11, doi: 1, protocolId: 1, spi: filled(16, 19), notifyType: NotifyType.RUThere, data: Uint8Array.from([0, 0, 0, 42]) },
  { type: 12, doi: 1, protocolId: 1, spiSize: 16, spis: [filled(16, 23)] },
  { type: 200, unknown: true, body: filled(5, 29) },
];

const pull2: Payload[] = [
  { type: 8, data: filled(32, 31) },
  { type: 10, data: filled(16, 37) },
  {
    type: 1,
    layout: 'gdoi',
    doi: 2,
    situation: 0,
    kek: {
      type: 15,
      protocol: 17,
      src: { idType: 1, port: 848, data: Uint8Array.from([10, 0, 0, 1]) },
      dst: { idType: 1, port: 848, data: Uint8Array.from([239, 1, 1, 1]) },
      spi: filled(16, 41),
      attributes: [{ type: 2, value: 3 }, { type: 3, value: 256 }, { type: 4, bytes: Uint8Array.from([0, 0, 0x0e, 0x10]) }, { type: 5, value: 3 }, { type: 6, value: 1 }, { type: 9, value: 1 }],
    },
    gap: { type: 22, attributes: [{ type: 1, value: 15 }, { type: 2, value: 30 }] },
    teks: [
      {
        type: 16,
        kind: 'ipsec',
        protocolId: 1,
        protocol: 0,
        src: { idType: 4, port: 0, data: Uint8Array.from([172, 16, 0, 0, 255, 240, 0, 0]) },
        dst: { idType: 4, port: 0, data: Uint8Array.from([172, 16, 0, 0, 255, 240, 0, 0]) },
        transformId: 20,
        spi: filled(4, 43),
        attributes: [{ type: 1, value: 1 }, { type: 2, bytes: Uint8Array.from([0, 0, 0x0e, 0x10]) }, { type: 4, value: 1 }, { type: 6, value: 256 }, { type: 14, value: 4 }],
      },
      { type: 16, kind: 'opaque', protocolId: 128, body: filled(12, 47) },
    ],
  },
];

const pull3: Payload[] = [
  { type: 8, data: filled(20, 53) },
  { type: 22, attributes: [{ type: 3, value: 4 }] },
];

const push: Payload[] = [
  { type: 18, seq: 7 },
  { type: 12, doi: 2, protocolId: 0, spiSize: 16, spis: [filled(16, 59)] },
  { type: 12, doi: 2, protocolId: 1, spiSize: 4, spis: [filled(4, 61), filled(4, 67)] },
  {
    type: 17,
    packets: [
      { kdType: 1, spi: filled(4, 71), attributes: [{ type: 1, bytes: filled(36, 73) }, { type: 2, bytes: filled(32, 79) }] },
      { kdType: 2, spi: filled(16, 83), attributes: [{ type: 1, bytes: filled(48, 89) }, { type: 2, bytes: filled(70, 97) }] },
      { kdType: 3, spi: filled(16, 101), attributes: [{ type: 1, bytes: filled(28, 103) }] },
      { kdType: 4, spi: new Uint8Array(0), attributes: [{ type: 1, value: 8 }, { type: 2, bytes: Uint8Array.from([0, 0, 0, 9]) }] },
      { kdType: 99, spi: filled(2, 107), attributes: [] },
    ],
  },
  { type: 9, data: filled(64, 109) },
];

const pushAck: Payload[] = [
  { type: 8, data: filled(32, 113) },
  { type: 18, seq: 7 },
  { type: 5, idType: 1, protocolId: 0, port: 0, data: Uint8Array.from([10, 0, 0, 9]) },
];

/** Every corpus datagram, each a valid message that decodes and re-encodes exactly. */
export function corpus(): Uint8Array[] {
  const captured = gdoidMessages().map((m) => datagram(m.exchangeType, m.firstPayload, m.plaintext, 1, 0x3abf1305));
  return [
    ...captured,
    message(ExchangeType.IdentityProtection, mainMode1),
    message(ExchangeType.IdentityProtection, mainModeGdoi),
    message(ExchangeType.IdentityProtection, mainMode3),
    message(ExchangeType.IdentityProtection, mainMode5),
    message(ExchangeType.Informational, informational, 0x01020304),
    message(ExchangeType.GroupkeyPull, pull2, 0x3abf1305),
    message(ExchangeType.GroupkeyPull, pull3, 0x3abf1305),
    message(ExchangeType.GroupkeyPush, push),
    message(ExchangeType.GroupkeyPushAck, pushAck),
  ];
}

/** Payload types random chains are built from: every interpreted type plus nested-only and unknown ones. */
export const CHAIN_TYPES: readonly number[] = [
  ...Object.values(PayloadType).filter((t) => t !== 0),
  6, 7, 14, 23, 128, 255,
];
