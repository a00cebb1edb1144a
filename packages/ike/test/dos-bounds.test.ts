/**
 * Bounds on what an unauthenticated (or merely PSK-holding) peer can make the responder hold or compute:
 * half-open SAs, DH work per message 3, established SAs per peer address.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CryptoError, Secret, seededRandom } from '@gvpn/crypto';
import type { DhKeyPair, RandomSource } from '@gvpn/crypto';
import { PayloadType, decodeHeader } from '@gvpn/wire';
import { ANY_PEER, ResponderKeyPairs, encodeClear, parseClear, payloadsOf } from '../src/index.js';
import type { Endpoint, GatewayPolicy, IkeProposal } from '../src/index.js';
import { MainModeInitiator } from '../src/main-mode-initiator.js';
import { MainModeResponder } from '../src/main-mode-responder.js';
import { Net, P_AES256_SHA256_G14, P_AES256_SHA256_G19, stat } from './harness.js';
import type { Datagram, Side } from './harness.js';

const SERVER: Endpoint = { address: '127.0.0.50', port: 848 };
const PSK = 'shared';

function server(net: Net, options: { maxHalfOpen?: number } = {}, proposals: IkeProposal[] = [P_AES256_SHA256_G19]): Side {
  return net.addSide('server', SERVER, ANY_PEER, { dynamic: true, gatewayName: 'members', psk: PSK, proposals, options });
}

function member(net: Net, address: Endpoint, proposals: IkeProposal[] = [P_AES256_SHA256_G19]): Side {
  return net.addSide(`m-${address.address}:${address.port}`, address, SERVER, { initiate: true, psk: PSK, proposals, seed: address.address });
}

/** The datagram queued next, which must come from `from`. */
function next(net: Net, from: Endpoint): Datagram {
  const d = net.queue.shift();
  assert.ok(d !== undefined && d.from.address === from.address && d.from.port === from.port, 'expected datagram');
  return d;
}

/** A message 1 with a new initiator cookie from a forged source (no return path: its replies are discarded). */
function forgedMessage1(template: Uint8Array, i: number): Uint8Array {
  const forged = Uint8Array.from(template);
  forged[0] = i & 0xff;
  forged[1] = i >> 8;
  forged[7] = 0xee;
  return forged;
}

function initiatorTask(peer: Endpoint, random: RandomSource): MainModeInitiator {
  const gateway: GatewayPolicy = { name: 'ks', peer, psk: new Secret(new TextEncoder().encode(PSK)), proposals: [P_AES256_SHA256_G19], initiate: true };
  return new MainModeInitiator({
    gateway, proposals: [P_AES256_SHA256_G19], local: { address: '0.0.0.0', port: 0 }, random, allowLegacyGroups: false,
    initialContact: false, countDh: () => undefined,
  });
}

/** One whole Main Mode from `from` without INITIAL-CONTACT (as a re-run member would), stepped by hand. */
function mainModeFrom(net: Net, from: Endpoint, random: RandomSource): void {
  const task = initiatorTask(SERVER, random);
  let request = task.start();
  for (;;) {
    net.deliver({ bytes: request, from, to: SERVER });
    // Anything else queued (Deletes of evicted SAs) stays queued.
    const at = net.queue.findIndex((d) => d.to.address === from.address && d.to.port === from.port);
    const reply = net.queue.splice(at, 1)[0]?.bytes;
    assert.ok(at >= 0 && reply !== undefined, 'the server answered');
    const step = task.process(decodeHeader(reply, 0), reply);
    if (step.kind === 'established') return;
    assert.equal(step.kind, 'send');
    if (step.kind === 'send') request = step.bytes;
  }
}

describe('half-open bound under forged message 1s', () => {
  it('a full table of SAs waiting for message 3 evicts the oldest; a real member still completes Main Mode', () => {
    const net = new Net();
    const srv = server(net, { maxHalfOpen: 16 });
    const m = member(net, { address: '127.0.0.10', port: 500 });
    m.endpoint.start(0);
    const mm1 = next(net, m.address);
    for (let i = 0; i < 100; i++) {
      net.deliver({ bytes: forgedMessage1(mm1.bytes, i), from: { address: `127.0.1.${i}`, port: 500 }, to: SERVER });
    }
    net.discard(); // the forged sources never answer
    assert.equal(srv.endpoint.status(net.now).length, 16, 'memory stays bounded by maxHalfOpen');
    assert.equal(stat(srv, 'halfOpenEvicted'), 84);
    assert.equal(stat(srv, 'halfOpenRejected'), 0);

    net.now = 5_000;
    net.deliver(mm1);
    net.flush();
    assert.equal(m.up.length, 1, 'the member established');
    assert.equal(stat(srv, 'halfOpenEvicted'), 85);
    assert.equal(stat(srv, 'dhComputations'), 1, 'the flood cost no DH');
    assert.ok(srv.endpoint.status(net.now).length <= 16);
  });

  it('refuses when every half-open SA has answered message 2 (nothing cheap to evict)', () => {
    const net = new Net();
    const srv = server(net, { maxHalfOpen: 2 });
    for (let i = 0; i < 2; i++) {
      const m = member(net, { address: `127.0.0.${10 + i}`, port: 500 });
      m.endpoint.start(0);
      for (let k = 0; k < 4; k++) net.step(); // messages 1 to 4
      net.discard(); // message 5 is lost: the SA stays half-open, past message 3
    }
    const late = member(net, { address: '127.0.0.20', port: 500 });
    late.endpoint.start(0);
    net.step();
    assert.equal(stat(srv, 'halfOpenRejected'), 1);
    assert.equal(stat(srv, 'halfOpenEvicted'), 0);
    assert.equal(srv.endpoint.status(net.now).length, 2);
  });
});

describe('message 3 with an invalid KE', () => {
  for (const [name, proposal, badKe] of [
    ['group 19 (not a curve point)', P_AES256_SHA256_G19, new Uint8Array(64)],
    ['group 14 (value 1)', P_AES256_SHA256_G14, Uint8Array.from({ length: 256 }, (_, i) => (i === 255 ? 1 : 0))],
  ] as const) {
    it(`${name}: ends the negotiation after one DH; repeats find no SA`, () => {
      const net = new Net();
      const srv = server(net, {}, [proposal]);
      const m = member(net, { address: '127.0.0.10', port: 500 }, [proposal]);
      m.endpoint.start(0);
      net.step(); // message 1
      net.step(); // message 2
      const mm3 = next(net, m.address);
      const header = decodeHeader(mm3.bytes, 0);
      const nonce = payloadsOf(parseClear(header, mm3.bytes), PayloadType.NONCE)[0]?.payload;
      assert.ok(nonce !== undefined);
      const bad = encodeClear(header, [{ type: PayloadType.KE, data: badKe }, nonce]);
      for (let i = 0; i < 10; i++) net.deliver({ ...mm3, bytes: bad });
      assert.equal(stat(srv, 'dhComputations'), 1);
      assert.equal(stat(srv, 'invalidPayloadDropped'), 1);
      assert.equal(stat(srv, 'negotiationsFailed'), 1);
      assert.equal(stat(srv, 'unknownCookieDropped'), 9);
      assert.deepEqual(srv.failed, ['invalid-message']);
      assert.equal(srv.endpoint.status(net.now).length, 0, 'the SA is gone');
    });
  }
});

describe('responder key pairs are wiped after use', () => {
  class RecordingKeyPairs extends ResponderKeyPairs {
    readonly taken: DhKeyPair[] = [];

    override take(groupId: number, random: RandomSource, now: number): { keyPair: DhKeyPair; reused: boolean } {
      const result = super.take(groupId, random, now);
      this.taken.push(result.keyPair);
      return result;
    }
  }

  /** Runs messages 1 to 4 through a bare responder task; returns the key pair it took. */
  function responderKeyPair(keyPairs: RecordingKeyPairs): DhKeyPair {
    const random = seededRandom('wipe');
    const initiator = initiatorTask(SERVER, random);
    const gateway: GatewayPolicy = { name: 'members', peer: ANY_PEER, dynamic: true, psk: new Secret(new TextEncoder().encode(PSK)), proposals: [P_AES256_SHA256_G19], initiate: false };
    const mm1 = initiator.start();
    const responder = new MainModeResponder({
      gateway, proposals: [P_AES256_SHA256_G19], local: SERVER, random, allowLegacyGroups: false, keyPairs,
      countDh: () => undefined, countDhReused: () => undefined,
    }, decodeHeader(mm1, 0).icookie);
    const mm2 = responder.begin(parseClear(decodeHeader(mm1, 0), mm1));
    assert.equal(mm2.kind, 'send');
    if (mm2.kind !== 'send') throw new Error('unreachable');
    const mm3 = initiator.process(decodeHeader(mm2.bytes, 0), mm2.bytes);
    if (mm3.kind !== 'send') throw new Error('message 3 expected');
    assert.equal(responder.process(decodeHeader(mm3.bytes, 0), mm3.bytes, parseClear, 0).kind, 'send');
    const [keyPair] = keyPairs.taken;
    assert.ok(keyPair !== undefined);
    return keyPair;
  }

  const anotherPublicValue = (): Uint8Array => {
    const keyPairs = new RecordingKeyPairs(0, false);
    return keyPairs.take(19, seededRandom('other'), 0).keyPair.publicValue;
  };

  it('dhReuseSeconds 0: the one-off key pair is wiped once g^xy is computed', () => {
    const keyPair = responderKeyPair(new RecordingKeyPairs(0, false));
    assert.throws(() => keyPair.computeSecret(anotherPublicValue()), (e) => e instanceof CryptoError && e.code === 'SECRET_WIPED');
  });

  it('dhReuseSeconds > 0: the window\'s shared key pair stays usable', () => {
    const keyPair = responderKeyPair(new RecordingKeyPairs(10, false));
    assert.ok(keyPair.computeSecret(anotherPublicValue()).length > 0);
  });
});

describe('established SAs per peer address', () => {
  it('ten Main Modes from one address (any ports) leave the newest 8; the 2 oldest are deleted with a Delete', () => {
    const net = new Net();
    const srv = server(net);
    const random = seededRandom('re-runs');
    for (let i = 0; i < 10; i++) {
      mainModeFrom(net, { address: '127.0.0.10', port: 500 + i }, random);
      net.now += 1000;
    }
    const established = srv.endpoint.establishedSas();
    assert.equal(established.length, 8);
    assert.deepEqual(established.map((sa) => sa.peer.port), [502, 503, 504, 505, 506, 507, 508, 509]);
    assert.equal(stat(srv, 'peerSasEvicted'), 2);
    assert.equal(stat(srv, 'deletesSent'), 2);
    assert.deepEqual(srv.down.map((d) => [d.sa.peer.port, d.reason]), [[500, 'deleted-locally'], [501, 'deleted-locally']]);
    assert.deepEqual(net.queue.map((d) => d.to.port), [500, 501], 'each Delete goes to its SA\'s peer');
  });

  it('other addresses do not count against each other', () => {
    const net = new Net();
    const srv = server(net);
    const random = seededRandom('many');
    for (let i = 0; i < 10; i++) mainModeFrom(net, { address: `127.0.0.${10 + i}`, port: 500 }, random);
    assert.equal(srv.endpoint.establishedSas().length, 10);
    assert.equal(stat(srv, 'peerSasEvicted'), 0);
  });

  it('a member re-keying many times keeps one SA and is never evicted', () => {
    const proposal = { ...P_AES256_SHA256_G19, lifetimeSeconds: 200 };
    const net = new Net();
    const srv = server(net, {}, [proposal]);
    const m = member(net, { address: '127.0.0.10', port: 500 }, [proposal]);
    m.endpoint.start(0);
    net.flush();
    net.advanceTo(12 * 180_000);
    assert.equal(stat(m, 'saRekeyStarted'), 12);
    assert.equal(srv.up.length, 13);
    assert.equal(srv.endpoint.establishedSas().length, 1);
    assert.equal(stat(srv, 'peerSasEvicted'), 0);
  });
});
