/**
 * Outbound sequence numbers reserved in blocks (sadb.ts `sequenceReservation`), the hook a member uses to
 * keep them across a restart: the reservation is made before the first number above the mark is used, a
 * restarted SA database continues above the stored mark, and a peer's anti-replay window accepts what a
 * restarted sender sends (while a sender that starts again from 1 is refused as a replay).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EspEndpoint, MAX_SEQUENCE, SaDatabase, buildIpv4Udp, parseIpv4, peekEspHeader, type PeerAddress } from '../src/index.js';
import { testTek } from './helpers.js';

const A: PeerAddress = { address: '127.0.0.1', port: 4501 };
const B: PeerAddress = { address: '127.0.0.1', port: 4502 };
const INNER = buildIpv4Udp({ source: parseIpv4('172.16.0.1'), destination: parseIpv4('172.16.0.2'), sourcePort: 9, destinationPort: 9, payload: new Uint8Array(8) });
const tek = testTek(0x20000, 'aes-gcm-16', 'reserve');

/** A sender whose reservations land in `reserved`, and that resumes from `resumeAt` when given. */
function sender(reserved: number[], block: number, resumeAt?: number) {
  const wire: Uint8Array[] = [];
  const sad = new SaDatabase({ sequenceReservation: { block, reserve: (spi, upTo) => { assert.equal(spi, tek.spi); reserved.push(upTo); } } });
  sad.install(tek);
  if (resumeAt !== undefined) sad.resumeSequence(tek.spi, resumeAt);
  const ep = new EspEndpoint({ sad, senderId: 1, send: (bytes) => wire.push(bytes) });
  return { sad, ep, wire };
}

const seqOf = (bytes: Uint8Array): number => peekEspHeader(bytes)?.seq ?? -1;

describe('outbound sequence reservation', () => {
  it('reserves a block before the first number above the mark is used, and again when it is crossed', () => {
    const reserved: number[] = [];
    const a = sender(reserved, 4);
    a.ep.send(INNER, B, 0);
    assert.deepEqual(reserved, [5], 'the first packet reserves 1 + 4');
    for (let i = 0; i < 4; i++) a.ep.send(INNER, B, 0);
    assert.deepEqual(reserved, [5], 'numbers 2..5 need no write');
    a.ep.send(INNER, B, 0);
    assert.deepEqual(reserved, [5, 10], 'number 6 crosses the mark');
    assert.deepEqual(a.wire.map(seqOf), [1, 2, 3, 4, 5, 6]);
  });

  it('a restarted sender continues above the stored mark; the peer accepts it, not so a sender that starts again', () => {
    const reserved: number[] = [];
    const first = sender(reserved, 65536);
    const receiver = new EspEndpoint({ sad: new SaDatabase(), senderId: 2, send: () => {} });
    receiver.sad.install(tek);
    for (let i = 0; i < 20; i++) first.ep.send(INNER, B, 0);
    for (const bytes of first.wire) assert.equal(receiver.handle(bytes, A, 0), 'received');
    const mark = reserved.at(-1) as number;
    assert.equal(mark, 1 + 65536);

    const restarted = sender(reserved, 65536, mark);
    restarted.ep.send(INNER, B, 0);
    assert.equal(seqOf(restarted.wire[0]!), mark + 1);
    assert.equal(reserved.at(-1), mark + 1 + 65536, 'a new block is reserved before the first packet after the restart');
    assert.equal(receiver.handle(restarted.wire[0]!, A, 0), 'received');

    const forgetful = sender([], 65536);
    forgetful.ep.send(INNER, B, 0);
    assert.equal(receiver.handle(forgetful.wire[0]!, A, 0), 'replay', 'sequence number 1 again (and its GCM IV) is refused');
  });

  it('a re-install with the same keys keeps the reservation; resume never goes back nor past 2^32 - 1', () => {
    const reserved: number[] = [];
    const a = sender(reserved, 100);
    a.ep.send(INNER, B, 0);
    a.sad.install(tek); // a refreshed lifetime
    a.ep.send(INNER, B, 0);
    assert.deepEqual(reserved, [101]);
    a.sad.resumeSequence(tek.spi, 0);
    assert.equal(a.sad.sentSequence(tek.spi), 2, 'a mark below the counter does not move it back');
    a.sad.resumeSequence(tek.spi, MAX_SEQUENCE - 1);
    a.ep.send(INNER, B, 0);
    assert.equal(reserved.at(-1), MAX_SEQUENCE);
    assert.equal(a.ep.send(INNER, B, 0), 'sequence-exhausted');
  });

  it('refuses a block that is not a positive integer', () => {
    assert.throws(() => new SaDatabase({ sequenceReservation: { block: 0, reserve: () => {} } }), RangeError);
  });
});
