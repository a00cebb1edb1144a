import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CryptoError, Secret, dhGroup, seededRandom } from '@gvpn/crypto';
import { HeaderFlags, PayloadType } from '@gvpn/wire';
import { ANY_PEER, ResponderKeyPairs, parseClear, payloadsOf, tryHeader } from '../src/index.js';
import type { Endpoint, GatewayPolicy } from '../src/index.js';
import { Net, P_AES256_SHA256_G19, stat } from './harness.js';
import type { Side } from './harness.js';

const SERVER: Endpoint = { address: '127.0.0.50', port: 848 };
const memberAt = (i: number): Endpoint => ({ address: `127.0.0.${10 + i}`, port: 500 });
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** KE data of every clear Main Mode datagram `from` sent (message 3 of an initiator, 4 of a responder). */
function keSent(net: Net, from: Endpoint): string[] {
  const out: string[] = [];
  for (const d of net.sent) {
    if (d.from.address !== from.address || d.from.port !== from.port) continue;
    const header = tryHeader(d.bytes);
    if (header === undefined || header.exchangeType !== 2 || (header.flags & HeaderFlags.Encryption) !== 0) continue;
    for (const { payload } of payloadsOf(parseClear(header, d.bytes), PayloadType.KE)) out.push(hex(payload.data));
  }
  return out;
}

function server(net: Net, dhReuseSeconds: number | undefined, extra: GatewayPolicy[] = []): Side {
  return net.addSide('server', SERVER, ANY_PEER, {
    dynamic: true, gatewayName: 'members', psk: 'shared', proposals: [P_AES256_SHA256_G19], extraGateways: extra,
    ...(dhReuseSeconds === undefined ? {} : { options: { dhReuseSeconds } }),
  });
}

function registerMember(net: Net, i: number): Side {
  const m = net.addSide(`m${i}`, memberAt(i), SERVER, { initiate: true, psk: 'shared', proposals: [P_AES256_SHA256_G19], seed: `m${i}` });
  m.endpoint.start(net.now);
  net.flush();
  assert.equal(m.up.length, 1, `member ${i} established`);
  return m;
}

describe('responder DH key pair reuse (dhReuseSeconds)', () => {
  it('off by default: every message 4 carries a fresh key', () => {
    const net = new Net();
    const srv = server(net, undefined);
    for (let i = 0; i < 3; i++) registerMember(net, i);
    const kes = keSent(net, SERVER);
    assert.equal(kes.length, 3);
    assert.equal(new Set(kes).size, 3);
    assert.equal(stat(srv, 'dhKeyPairsReused'), 0);
    assert.equal(stat(srv, 'dhComputations'), 3);
  });

  it('on: one key pair per window; a new one after it; the old private value is wiped at the window end', () => {
    const net = new Net();
    const srv = server(net, 10);
    registerMember(net, 0);
    net.advanceTo(9_999);
    registerMember(net, 1);
    let kes = keSent(net, SERVER);
    assert.equal(kes.length, 2);
    assert.equal(kes[0], kes[1], 'same g^xr inside the window');
    assert.equal(stat(srv, 'dhKeyPairsReused'), 1);
    assert.equal(stat(srv, 'dhComputations'), 2, 'g^xy is still computed per exchange');
    // Both SAs are distinct and usable: different keys (fresh nonces and cookies), both established.
    assert.notEqual(srv.keyLog[0]?.split(',')[1], srv.keyLog[1]?.split(',')[1]);
    // The window's end is a deadline of its own, so the private value goes even with no traffic.
    assert.equal(srv.endpoint.nextDeadline(), 10_000);
    net.advanceTo(10_000);
    registerMember(net, 2);
    kes = keSent(net, SERVER);
    assert.equal(kes.length, 3);
    assert.notEqual(kes[2], kes[0], 'a new key pair after the window');
    assert.equal(stat(srv, 'dhKeyPairsReused'), 1);
  });

  it('an initiator never reuses, even with the option on', () => {
    const net = new Net();
    const peers = [memberAt(7), memberAt(8)];
    peers.forEach((peer, i) => net.addSide(`p${i}`, peer, SERVER, { psk: 'fixed', proposals: [P_AES256_SHA256_G19], seed: `p${i}` }));
    const gateways: GatewayPolicy[] = peers.map((peer, i) => ({
      name: `up${i}`, peer, psk: new Secret(new TextEncoder().encode('fixed')), proposals: [P_AES256_SHA256_G19], initiate: true,
    }));
    const srv = server(net, 60, gateways);
    srv.endpoint.start(0);
    net.flush();
    assert.equal(srv.up.length, 2);
    const kes = keSent(net, SERVER);
    assert.equal(kes.length, 2);
    assert.notEqual(kes[0], kes[1]);
    assert.equal(stat(srv, 'dhKeyPairsReused'), 0);
  });
});

describe('ResponderKeyPairs (manual clock)', () => {
  const random = seededRandom('reuse');
  const peer = dhGroup(14).generate(seededRandom('peer'));
  const isWiped = (e: unknown): boolean => e instanceof CryptoError && e.code === 'SECRET_WIPED';

  it('hands out one key pair per group for the window, then a fresh one; wipes on expiry and on clear', () => {
    const pairs = new ResponderKeyPairs(5, false);
    const first = pairs.take(14, random, 1_000);
    assert.equal(first.reused, false);
    assert.equal(pairs.nextDeadline(), 6_000);
    const again = pairs.take(14, random, 5_999);
    assert.equal(again.reused, true);
    assert.equal(again.keyPair, first.keyPair);
    const otherGroup = pairs.take(19, random, 2_000);
    assert.equal(otherGroup.reused, false);
    assert.notEqual(otherGroup.keyPair, first.keyPair);
    first.keyPair.computeSecret(peer.publicValue);

    pairs.expire(5_999);
    first.keyPair.computeSecret(peer.publicValue); // not yet
    pairs.expire(6_000);
    assert.throws(() => first.keyPair.computeSecret(peer.publicValue), isWiped);
    assert.equal(pairs.nextDeadline(), 7_000, 'group 19 still held');
    const next = pairs.take(14, random, 6_000);
    assert.equal(next.reused, false);
    assert.notEqual(hex(next.keyPair.publicValue), hex(first.keyPair.publicValue));

    // Taking after the window without a poll in between also wipes the old one.
    const late = pairs.take(14, random, 20_000);
    assert.equal(late.reused, false);
    assert.throws(() => next.keyPair.computeSecret(peer.publicValue), isWiped);

    pairs.clear();
    assert.throws(() => late.keyPair.computeSecret(peer.publicValue), isWiped);
    assert.throws(() => otherGroup.keyPair.computeSecret(peer.publicValue), isWiped);
    assert.equal(pairs.nextDeadline(), undefined);
  });

  it('0 s: always fresh, nothing held', () => {
    const pairs = new ResponderKeyPairs(0, false);
    const a = pairs.take(14, random, 0);
    const b = pairs.take(14, random, 0);
    assert.equal(a.reused || b.reused, false);
    assert.notEqual(a.keyPair, b.keyPair);
    assert.equal(pairs.nextDeadline(), undefined);
    a.keyPair.computeSecret(peer.publicValue);
  });
});
