import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Secret, seededRandom } from '@gvpn/crypto';
import { ANY_PEER, IkeEndpoint } from '../src/index.js';
import type { Endpoint, GatewayPolicy } from '../src/index.js';
import { Net, OPTIONS, P_AES256_SHA256_G19, memoryLogger, stat } from './harness.js';
import type { Side, SideConfig } from './harness.js';

const SERVER: Endpoint = { address: '127.0.0.50', port: 848 };
const X: Endpoint = { address: '127.0.0.11', port: 500 };
const Y: Endpoint = { address: '127.0.0.12', port: 500 };
const FIXED: Endpoint = { address: '127.0.0.13', port: 848 };
const DPD = { interval: 2, threshold: 2 };
const proposals = [P_AES256_SHA256_G19];

function psk(text: string): Secret {
  return new Secret(new TextEncoder().encode(text));
}

/** A server whose own gateway `members` is dynamic (PSK 'shared'), plus `extra` fixed gateways. */
function server(net: Net, extra: GatewayPolicy[] = [], cfg: SideConfig = {}): Side {
  return net.addSide('server', SERVER, ANY_PEER, {
    dynamic: true, gatewayName: 'members', psk: 'shared', proposals, extraGateways: extra, ...cfg,
  });
}

function member(net: Net, name: string, at: Endpoint, cfg: SideConfig = {}): Side {
  return net.addSide(name, at, SERVER, { initiate: true, psk: 'shared', proposals, seed: `seed-${name}-${cfg.seed ?? ''}`, ...cfg });
}

function established(side: Side, now: number) {
  return side.endpoint.status(now).filter((s) => s.state === 'established');
}

describe('dynamic gateway (any peer, responder only)', () => {
  it('members from two addresses both get SAs; each SA records its actual peer and the gateway name', () => {
    const net = new Net();
    const srv = server(net);
    const x = member(net, 'x', X);
    const y = member(net, 'y', Y);
    x.endpoint.start(0);
    y.endpoint.start(0);
    net.flush();
    assert.equal(established(x, 0).length, 1);
    assert.equal(established(y, 0).length, 1);
    const sas = established(srv, 0);
    assert.equal(sas.length, 2);
    assert.deepEqual(sas.map((s) => [s.gateway, s.role, `${s.peer.address}:${s.peer.port}`]).sort(), [
      ['members', 'responder', '127.0.0.11:500'],
      ['members', 'responder', '127.0.0.12:500'],
    ]);
    assert.equal(stat(srv, 'unknownPeerDropped'), 0);
    assert.equal(stat(srv, 'saEstablished'), 2);
    // Both directions of traffic keep working under the right SA: a Delete from Y removes only Y's SA.
    y.endpoint.stop(0);
    net.flush();
    assert.deepEqual(established(srv, 0).map((s) => s.peer.address), ['127.0.0.11']);
    assert.equal(srv.down.length, 1);
    assert.equal(srv.down[0]?.reason, 'deleted-by-peer');
  });

  it('an address with a fixed gateway uses that gateway and its PSK, never the dynamic one', () => {
    const net = new Net();
    const fixed: GatewayPolicy = { name: 'fixed-peer', peer: FIXED, psk: psk('fixed-only'), proposals, initiate: false };
    const srv = server(net, [fixed]);
    // The right key for that address: the fixed gateway's.
    const good = member(net, 'good', FIXED, { psk: 'fixed-only' });
    good.endpoint.start(0);
    net.flush();
    assert.equal(established(good, 0).length, 1);
    assert.deepEqual(established(srv, 0).map((s) => s.gateway), ['fixed-peer']);
    // The dynamic gateway's key from that address fails: the fixed gateway is chosen by address first.
    const other: Endpoint = { address: FIXED.address, port: 4500 };
    const wrong = member(net, 'wrong', other, { psk: 'shared' });
    wrong.endpoint.start(0);
    net.flush();
    assert.equal(established(wrong, 0).length, 0);
    assert.equal(stat(srv, 'authFailed'), 1);
    assert.deepEqual(established(srv, 0).map((s) => s.gateway), ['fixed-peer']);
    // And the fixed key from an address without a fixed gateway fails too (the dynamic PSK applies there).
    const stranger = member(net, 'stranger', X, { psk: 'fixed-only' });
    stranger.endpoint.start(0);
    net.flush();
    assert.equal(established(stranger, 0).length, 0);
    assert.equal(stat(srv, 'authFailed'), 2);
  });

  it('INITIAL-CONTACT from one member removes only that member\'s older SAs', () => {
    const net = new Net();
    const srv = server(net);
    member(net, 'x', X).endpoint.start(0);
    member(net, 'y', Y).endpoint.start(0);
    net.flush();
    assert.equal(established(srv, 0).length, 2);
    const oldX = established(srv, 0).find((s) => s.peer.address === X.address);
    // X restarts: a fresh endpoint at the same address sends INITIAL-CONTACT in message 5.
    net.now = 1000;
    const x2 = member(net, 'x', X, { seed: 'restarted' });
    x2.endpoint.start(net.now);
    net.flush();
    assert.equal(stat(srv, 'initialContactReceived'), 3, 'every first contact carries it: X, Y, then X again');
    const now = established(srv, net.now);
    assert.equal(now.length, 2, 'the new SA with X and the untouched SA with Y');
    assert.ok(now.some((s) => s.peer.address === Y.address), 'Y keeps its SA');
    assert.ok(!now.some((s) => s.icookie === oldX?.icookie), 'X\'s old SA is gone');
    assert.deepEqual(srv.down.map((d) => [d.sa.peer.address, d.reason]), [[X.address, 'initial-contact']]);
  });

  it('DPD declares one silent member dead without touching the others; the server never initiates', () => {
    const net = new Net();
    const srv = server(net, [], { dpd: DPD });
    const x = member(net, 'x', X, { dpd: DPD });
    const y = member(net, 'y', Y, { dpd: DPD });
    srv.endpoint.start(0);
    assert.equal(net.queue.length, 0, 'start() initiates nothing through a dynamic gateway');
    assert.equal(srv.endpoint.initiateGateway('members', 0), false);
    x.endpoint.start(0);
    y.endpoint.start(0);
    net.flush();
    assert.equal(established(srv, 0).length, 2);
    // Y falls silent (its datagrams and those to it are lost); X keeps answering.
    const silent = (d: { from: Endpoint; to: Endpoint }) => d.from.address === Y.address || d.to.address === Y.address;
    for (let t = 500; t <= 10_000 && srv.dead.length === 0; t += 500) {
      for (const side of [srv, x]) {
        const deadline = side.endpoint.nextDeadline();
        if (deadline !== undefined && deadline <= t) side.endpoint.poll(t);
      }
      net.now = t;
      while (net.queue.length > 0) net.step((d) => (silent(d) ? undefined : d));
    }
    assert.deepEqual(srv.dead, ['members']);
    assert.deepEqual(established(srv, net.now).map((s) => s.peer.address), [X.address], 'X\'s SA survives');
    assert.deepEqual(srv.down.map((d) => [d.sa.peer.address, d.reason]), [[Y.address, 'dpd']]);
    assert.ok(stat(srv, 'dpdAcksReceived') >= 2, 'X answered the probes');
    // Nothing is ever sent towards an address the server has no SA with, and no Main Mode is started.
    assert.equal(stat(srv, 'negotiationsStarted'), 2, 'only the two responder negotiations');
    net.queue.length = 0;
    srv.endpoint.poll(net.now + 120_000);
    assert.ok(net.queue.every((d) => d.to.address === X.address), 'after the death only X hears from the server');
    assert.equal(established(x, net.now).length, 1);
  });

  it('configuration errors: two dynamic gateways, or a dynamic one that initiates', () => {
    const base = {
      local: SERVER, options: OPTIONS, random: seededRandom('cfg'), log: memoryLogger([]), send: () => {},
    };
    const dyn = (name: string, initiate = false): GatewayPolicy => ({ name, peer: ANY_PEER, dynamic: true, psk: psk('k'), proposals, initiate });
    assert.throws(() => new IkeEndpoint({ ...base, gateways: [dyn('a'), dyn('b')] }), /at most one dynamic gateway/);
    assert.throws(() => new IkeEndpoint({ ...base, gateways: [dyn('a', true)] }), /cannot initiate/);
    assert.doesNotThrow(() => new IkeEndpoint({ ...base, gateways: [dyn('a')] }));
  });
});
