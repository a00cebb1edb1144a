import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NotifyType, PayloadType, ProtocolId, decodeHeader, encodePayloads } from '@gvpn/wire';
import type { NotifyPayload } from '@gvpn/wire';
import { encodeClear, encodeEncrypted } from '../src/message.js';
import { protectedInformational } from '../src/informational.js';
import type { IkeSa } from '../src/index.js';
import { A_ADDR, B_ADDR, pair, rng, stat } from './harness.js';

function rUThere(sa: IkeSa, seq: number): NotifyPayload {
  const data = new Uint8Array(4);
  new DataView(data.buffer).setUint32(0, seq);
  return { type: PayloadType.N, doi: 1, protocolId: 1, spi: sa.spi, notifyType: NotifyType.RUThere, data };
}

function established() {
  const p = pair({ dpd: { interval: 10, threshold: 5 } }, { dpd: { interval: 10, threshold: 5 } });
  p.a.endpoint.start(0);
  p.net.flush();
  const sa = p.a.up[0];
  assert.ok(sa !== undefined && p.b.up.length === 1);
  return { ...p, sa };
}

describe('informational exchange under the IKE SA', () => {
  it('a Delete removes the SA on the peer', () => {
    const { net, a, b } = established();
    assert.equal(a.endpoint.clearSas(net.now), 1);
    const del = net.queue[0];
    assert.ok(del !== undefined);
    assert.equal(decodeHeader(del.bytes).exchangeType, 5);
    net.flush();
    assert.equal(stat(b, 'deletesReceived'), 1);
    assert.deepEqual(b.down.map((d) => d.reason), ['deleted-by-peer']);
    assert.deepEqual(a.down.map((d) => d.reason), ['deleted-locally']);
    assert.equal(b.endpoint.status(net.now).length, 0);
  });

  it('stop() sends a Delete for every established SA and clears all timers', () => {
    const { net, a, b } = established();
    a.endpoint.stop(net.now);
    assert.equal(a.endpoint.nextDeadline(), undefined);
    net.flush();
    assert.equal(b.endpoint.status(net.now).length, 0);
  });

  it('a HASH(1) that does not verify is dropped and counted; nothing is acted on', () => {
    const { net, b, sa } = established();
    const messageId = 0x1234abcd;
    const chain = encodePayloads([{ type: PayloadType.HASH, data: new Uint8Array(32) }, rUThere(sa, 1)], { exchangeType: 5 });
    const forged = encodeEncrypted({ icookie: sa.icookie, rcookie: sa.rcookie, exchangeType: 5, messageId }, PayloadType.HASH, chain, sa.keys!, sa.phase2Iv(messageId));
    net.deliver({ from: A_ADDR, to: B_ADDR, bytes: forged.bytes });
    assert.equal(stat(b, 'hashMismatchDropped'), 1);
    assert.equal(stat(b, 'dpdRequestsReceived'), 0);
    assert.equal(net.queue.length, 0);
    // The same notify with a correct HASH is answered.
    net.deliver({ from: A_ADDR, to: B_ADDR, bytes: protectedInformational(sa, rUThere(sa, 1), sa.keys!, rng('x')) });
    assert.equal(stat(b, 'dpdAcksSent'), 1);
  });

  it('R-U-THERE in clear is dropped (RFC 3706 §5.2)', () => {
    const { net, b, sa } = established();
    const clear = encodeClear({ icookie: sa.icookie, rcookie: sa.rcookie, exchangeType: 5, messageId: 7 }, [rUThere(sa, 1)]);
    net.deliver({ from: A_ADDR, to: B_ADDR, bytes: clear });
    assert.equal(stat(b, 'unencryptedDpdDropped'), 1);
    assert.equal(net.queue.length, 0);
  });

  it('R-U-THERE naming other cookies, or going backwards, is dropped', () => {
    const { net, b, sa } = established();
    const wrongSpi = { ...rUThere(sa, 100), spi: new Uint8Array(16).fill(9) };
    net.deliver({ from: A_ADDR, to: B_ADDR, bytes: protectedInformational(sa, wrongSpi, sa.keys!, rng('1')) });
    assert.equal(stat(b, 'dpdSpiMismatchDropped'), 1);
    net.deliver({ from: A_ADDR, to: B_ADDR, bytes: protectedInformational(sa, rUThere(sa, 100), sa.keys!, rng('2')) });
    net.deliver({ from: A_ADDR, to: B_ADDR, bytes: protectedInformational(sa, rUThere(sa, 99), sa.keys!, rng('3')) });
    assert.equal(stat(b, 'dpdAcksSent'), 1);
    assert.equal(stat(b, 'dpdStaleSequenceDropped'), 1);
  });

  it('a replayed R-U-THERE (same sequence number) is dropped, not acknowledged again', () => {
    const { net, b, sa } = established();
    const probe = protectedInformational(sa, rUThere(sa, 500), sa.keys!, rng('r'));
    net.deliver({ from: A_ADDR, to: B_ADDR, bytes: probe });
    net.deliver({ from: A_ADDR, to: B_ADDR, bytes: probe });
    assert.equal(stat(b, 'dpdAcksSent'), 1);
    assert.equal(stat(b, 'dpdStaleSequenceDropped'), 1);
  });

  it('INITIAL-CONTACT naming other cookies is dropped and removes nothing', () => {
    const { net, b, sa } = established();
    const notify: NotifyPayload = {
      type: PayloadType.N, doi: 1, protocolId: ProtocolId.Isakmp, spi: new Uint8Array(16).fill(7),
      notifyType: NotifyType.InitialContact, data: new Uint8Array(0),
    };
    net.deliver({ from: A_ADDR, to: B_ADDR, bytes: protectedInformational(sa, notify, sa.keys!, rng('ic')) });
    assert.equal(stat(b, 'initialContactSpiMismatchDropped'), 1);
    assert.equal(stat(b, 'initialContactReceived'), 1, 'only the genuine one in message 5');
    assert.equal(b.down.length, 0);
  });

  it('informational from another address than the SA peer is dropped', () => {
    const { net, b, sa } = established();
    net.deliver({ from: { address: '127.0.0.9', port: 1 }, to: B_ADDR, bytes: protectedInformational(sa, rUThere(sa, 1), sa.keys!, rng('z')) });
    assert.equal(stat(b, 'peerAddressDropped'), 1);
  });

  it('INITIAL-CONTACT from a restarted peer removes the SAs we still hold with it', () => {
    const { net, a, b } = established();
    // A "restarts": a new endpoint on the same address with no memory of the old SA.
    const a2 = net.addSide('a2', A_ADDR, B_ADDR, { initiate: true, seed: 'restarted' });
    a2.endpoint.start(net.now);
    net.flush();
    assert.equal(a2.up.length, 1);
    assert.equal(stat(b, 'initialContactReceived'), 2, 'both first contacts carried it');
    assert.deepEqual(b.down.map((d) => d.reason), ['initial-contact']);
    const held = b.endpoint.status(net.now);
    assert.equal(held.length, 1);
    assert.equal(held[0]?.icookie, Buffer.from(a2.up[0]!.icookie).toString('hex'));
    assert.equal(a.down.length, 0);
  });

  it('datagrams of other exchanges under an established SA go to the phase2 hook', () => {
    const { net, b, sa } = established();
    const pull = encodeClear({ icookie: sa.icookie, rcookie: sa.rcookie, exchangeType: 32, messageId: 5 }, [{ type: PayloadType.HASH, data: new Uint8Array(20) }]);
    net.deliver({ from: A_ADDR, to: B_ADDR, bytes: pull });
    assert.equal(b.phase2.length, 1);
    assert.equal(stat(b, 'phase2Routed'), 1);
    const stranger = Uint8Array.from(pull);
    stranger[0] = (stranger[0] ?? 0) ^ 1;
    net.deliver({ from: A_ADDR, to: B_ADDR, bytes: stranger });
    assert.equal(stat(b, 'unknownCookieDropped'), 1);
  });
});

describe('lifetime', () => {
  it('the initiator re-negotiates before expiry, then deletes the old SA on both sides', () => {
    const proposal = { encryption: 'aes-128-cbc', hash: 'sha256', dhGroup: 19, lifetimeSeconds: 200 } as const;
    const { net, a, b } = pair({ proposals: [proposal] }, { proposals: [proposal] });
    a.endpoint.start(0);
    net.flush();
    const first = a.up[0];
    assert.ok(first !== undefined);
    net.advanceTo(179_999);
    assert.equal(a.up.length, 1);
    net.advanceTo(180_000); // 10 % margin
    assert.equal(stat(a, 'saRekeyStarted'), 1);
    assert.equal(a.up.length, 2);
    assert.equal(b.up.length, 2);
    assert.deepEqual(a.down.map((d) => [d.sa, d.reason]), [[first, 'rekeyed']]);
    assert.deepEqual(b.down.map((d) => d.reason), ['deleted-by-peer']);
    assert.equal(stat(b, 'initialContactReceived'), 1, 'only the first SA claimed a fresh start, not the re-negotiation');
    assert.equal(a.endpoint.status(net.now).length, 1);
    assert.equal(b.endpoint.status(net.now).length, 1);
    net.advanceTo(380_000);
    assert.equal(stat(a, 'saRekeyStarted'), 2);
    assert.equal(stat(a, 'saExpired') + stat(b, 'saExpired'), 0);
  });

  it('a responder-only SA simply expires at its lifetime', () => {
    const proposal = { encryption: 'aes-128-cbc', hash: 'sha256', dhGroup: 19, lifetimeSeconds: 200 } as const;
    const { net, a, b } = pair({ proposals: [proposal], options: { rekeyMarginSeconds: 0 } }, { proposals: [proposal] });
    a.endpoint.start(0);
    net.flush();
    net.advanceTo(200_000, false);
    assert.equal(stat(a, 'saExpired'), 1);
    assert.equal(stat(b, 'saExpired'), 1);
    assert.deepEqual(b.down.map((d) => d.reason), ['expired']);
    assert.equal(b.endpoint.status(net.now).length, 0);
  });
});
