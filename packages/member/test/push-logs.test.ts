/**
 * PushHandler against junk and replayed PUSHes: the KEK SPI travels in clear, so anyone spoofing the key
 * server's address can send PUSHes at line rate. They are counted, logged through the rate-limited junk
 * log, and a replayed accepted PUSH gets its ACK again at most once a second.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '@gvpn/crypto';
import { GcksGroup, PushReceiver, type GroupPolicy } from '@gvpn/gdoi';
import { createLogger, ManualClock, rateLimited, type Endpoint } from '@gvpn/runtime';
import { PushHandler } from '../src/push-handler.js';
import type { GroupRegistration } from '../src/registration.js';

const SERVER: Endpoint = { address: '127.0.0.2', port: 848 };
const MEMBER_ADDRESS = '127.0.0.1';

const POLICY: GroupPolicy = {
  groupId: 7,
  kek: {
    cipher: 'aes-256-cbc', lifetimeSeconds: 3600, sigHash: 'sha256', rsaBits: 2048, ackRequested: true,
    pushSource: { address: SERVER.address, port: 848 }, pushDestination: { address: MEMBER_ADDRESS, port: 848 },
  },
  teks: [{
    name: 'GROUP7', cipher: 'aes-gcm-256', protocol: 0,
    source: { prefix: '172.16.0.0/12', port: 0 }, destination: { prefix: '172.16.0.0/12', port: 0 }, lifetimeSeconds: 3600,
  }],
  activationDelaySeconds: 1, deactivationDelaySeconds: 30,
};

function registered() {
  const group = new GcksGroup(POLICY, seededRandom('push-logs'));
  const pull = { groupId: POLICY.groupId, kek: group.kek, teks: group.teks, seq: group.seq(), server: SERVER };
  const receiver = new PushReceiver({ pull, memberAddress: MEMBER_ADDRESS });
  const keys = { result: pull, receiver, acceptedPushes: [] as { digest: string; ack: Uint8Array | undefined }[] };
  const registration = { name: 'v7', keys } as unknown as GroupRegistration;
  const lines: { level: number; msg: string }[] = [];
  const log = createLogger({ level: 'info', name: 'member', destination: { write: (line: string) => { lines.push(JSON.parse(line)); } } });
  const clock = new ManualClock(0);
  const sent: Uint8Array[] = [];
  const handler = new PushHandler({
    registrations: [registration], send: (bytes) => { sent.push(bytes); }, log,
    junkLog: rateLimited(log, 'push-junk', 10, clock), onAccepted: () => {},
  });
  return { group, receiver, keys, handler, lines, clock, sent };
}

describe('member PUSH handler: junk and repeats', () => {
  it('junk under the KEK SPI from the server\'s address: every datagram counted, one log line per window', () => {
    const { group, receiver, handler, lines, clock } = registered();
    const junk = new Uint8Array(28 + 16);
    junk.set(group.kek.spi, 0);
    junk[17] = 0x10;
    junk[18] = 33;
    junk[19] = 1;
    new DataView(junk.buffer).setUint32(24, junk.length);
    for (let i = 0; i < 1000; i++) {
      junk[30] = i & 255;
      junk[31] = i >> 8;
      assert.equal(handler.handle(junk, SERVER, clock.now()), true);
    }
    assert.equal(receiver.counters.decryptFailedDropped + receiver.counters.invalidPayloadDropped, 1000);
    assert.equal(lines.length, 1);
    clock.advance(10_000);
    handler.handle(junk, SERVER, clock.now());
    assert.equal(lines.length, 2, 'the next window logs again');
  });

  it('a replayed accepted PUSH: counted each time, its ACK again at most once a second, one log line per window', () => {
    const { group, receiver, keys, handler, lines, clock, sent } = registered();
    const push = group.rekeyTeks().push;
    assert.equal(handler.handle(push.bytes, SERVER, clock.now()), true);
    assert.equal(receiver.counters.pushesAccepted, 1);
    assert.equal(sent.length, 1, 'the ACK of the accepted PUSH');
    const ack = sent[0];
    const acceptedLines = lines.length;
    for (let i = 0; i < 500; i++) handler.handle(push.bytes, SERVER, clock.now());
    assert.equal(receiver.counters.duplicateDropped, 500);
    assert.equal(sent.length, 2, 'one ACK again within the second');
    assert.deepEqual(sent[1], ack);
    clock.advance(999);
    handler.handle(push.bytes, SERVER, clock.now());
    assert.equal(sent.length, 2);
    clock.advance(1);
    handler.handle(push.bytes, SERVER, clock.now());
    assert.equal(sent.length, 3, 'a second later the server\'s retransmission is answered');
    // Beyond the registration's memory of accepted PUSHes, the receiver's own duplicate cache answers: same limit.
    keys.acceptedPushes.length = 0;
    clock.advance(1000);
    for (let i = 0; i < 500; i++) handler.handle(push.bytes, SERVER, clock.now());
    assert.equal(receiver.counters.duplicateDropped, 1002);
    assert.equal(sent.length, 4);
    assert.equal(handler.counters.acksSent, 4);
    assert.equal(lines.length - acceptedLines, 1, 'repeats logged once per window');
  });
});
