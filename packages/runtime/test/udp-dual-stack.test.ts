// An IPv6 UdpTransport bound to `::` hears IPv4 peers at IPv4-mapped addresses (::ffff:a.b.c.d); the
// configuration names peers as plain IPv4, so the transport must report and accept them that way.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, describe, it } from 'node:test';
import { systemClock, UdpTransport, type Endpoint } from '../src/index.js';

async function waitFor(condition: () => boolean, ms: number): Promise<void> {
  const deadline = systemClock.now() + ms;
  while (!condition()) {
    if (systemClock.now() > deadline) assert.fail('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Whether this kernel has IPv6 sockets at all (a host booted with ipv6.disable=1 has none). */
async function ipv6Sockets(): Promise<boolean> {
  const probe = createSocket('udp6');
  return new Promise<boolean>((resolve) => {
    probe.once('error', () => { probe.close(); resolve(false); });
    probe.bind(0, '::', () => { probe.close(); resolve(true); });
  });
}
const noIpv6 = (await ipv6Sockets()) ? false : 'this kernel has no IPv6 sockets (ipv6.disable=1): nothing to bind `::` with';

describe('UdpTransport on ::', { skip: noIpv6 }, () => {
  const transports: UdpTransport[] = [];
  const sockets: Socket[] = [];
  after(async () => {
    await Promise.all(transports.map((transport) => transport.close()));
    for (const socket of sockets) socket.close();
  });

  it('reports an IPv4 peer without the ::ffff: prefix and replies to it', async () => {
    const transport = new UdpTransport();
    transports.push(transport);
    const { port } = await transport.bind('::', 0);
    const peer = createSocket('udp4');
    sockets.push(peer);
    await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve));
    const replies: number[][] = [];
    peer.on('message', (message) => replies.push([...message]));

    const heard: Endpoint[] = [];
    transport.onDatagram((bytes, from) => {
      heard.push(from);
      transport.send(Uint8Array.of(7), from);
    });
    peer.send(Uint8Array.of(1), port, '127.0.0.1');
    await waitFor(() => replies.length === 1, 2000);
    assert.deepEqual(heard, [{ address: '127.0.0.1', port: peer.address().port }]);
    assert.deepEqual(replies, [[7]]);
    assert.equal(transport.stats.sendErrors, 0);
  });
});
