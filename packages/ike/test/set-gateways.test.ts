/**
 * `IkeEndpoint.setGateways`, the IKE side of a configuration commit (issue 6, R-CHG-1.1 / 1.3c / 2.1): a
 * gateway that changed is reset (its SAs deleted with a Delete, then negotiated again when we initiate it),
 * a removed gateway loses its SAs, an unchanged one keeps them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Secret } from '@gvpn/crypto';
import type { GatewayPolicy } from '../src/index.js';
import { B_ADDR, P_AES256_SHA256_G19, pair, stat } from './harness.js';

function gateway(name: string, initiate: boolean, psk = 'test-secret'): GatewayPolicy {
  return { name, peer: B_ADDR, psk: Secret.copyOf(new TextEncoder().encode(psk)), proposals: [P_AES256_SHA256_G19], initiate };
}

function established() {
  const p = pair({ gatewayName: 'b', psk: 'test-secret', proposals: [P_AES256_SHA256_G19] }, { psk: 'test-secret', proposals: [P_AES256_SHA256_G19] });
  p.a.endpoint.start(0);
  p.net.flush();
  assert.equal(p.a.up.length, 1);
  return p;
}

describe('IkeEndpoint.setGateways (a configuration commit)', () => {
  it('an unchanged gateway keeps its SA', () => {
    const { net, a } = established();
    a.endpoint.setGateways([gateway('b', true)], [], net.now);
    net.flush();
    assert.equal(a.down.length, 0);
    assert.equal(a.endpoint.establishedSas().length, 1);
  });

  it('a reset gateway loses its SA (the peer is told) and, as we initiate it, comes back with the new settings', () => {
    const { net, a, b } = established();
    a.endpoint.setGateways([gateway('b', true)], ['b'], net.now);
    net.flush();
    assert.deepEqual(a.down.map((d) => d.reason), ['deleted-locally']);
    assert.equal(stat(b, 'deletesReceived'), 1);
    net.advanceTo(net.now + 10);
    assert.equal(a.up.length, 2, 'negotiated again');
    assert.equal(a.endpoint.establishedSas().length, 1);
  });

  it('a removed gateway loses its SA and is not negotiated again', () => {
    const { net, a, b } = established();
    a.endpoint.setGateways([], [], net.now);
    net.flush();
    net.advanceTo(net.now + 60_000);
    assert.equal(a.endpoint.establishedSas().length, 0);
    assert.equal(a.up.length, 1);
    assert.equal(stat(b, 'deletesReceived'), 1);
  });
});
