import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { MemoryNetwork, systemClock, UdpTransport, type Endpoint } from '../src/index.js';

async function waitFor(condition: () => boolean, ms: number): Promise<void> {
  const deadline = systemClock.now() + ms;
  while (!condition()) {
    if (systemClock.now() > deadline) assert.fail('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('UdpTransport', () => {
  const open: UdpTransport[] = [];
  after(async () => {
    await Promise.all(open.map((transport) => transport.close()));
  });

  it('carries datagrams both ways over loopback and counts them', async () => {
    const a = new UdpTransport();
    const b = new UdpTransport();
    open.push(a, b);
    const aEnd = await a.bind('127.0.0.1', 0);
    const bEnd = await b.bind('127.0.0.1', 0);
    const atB: Array<[number[], Endpoint]> = [];
    const atA: number[][] = [];
    b.onDatagram((bytes, from) => {
      atB.push([[...bytes], from]);
      b.send(Uint8Array.of(9, 9), from);
    });
    a.onDatagram((bytes) => atA.push([...bytes]));
    a.send(Uint8Array.of(1, 2, 3), bEnd);
    await waitFor(() => atA.length === 1, 2000);
    assert.deepEqual(atB, [[[1, 2, 3], aEnd]]);
    assert.deepEqual(atA, [[9, 9]]);
    assert.deepEqual(a.stats, { datagramsReceived: 1, datagramsSent: 1, sendErrors: 0, socketErrors: 0, handlerErrors: 0 });
  });

  it('counts a failed send instead of throwing', async () => {
    const a = new UdpTransport();
    open.push(a);
    await a.bind('127.0.0.1', 0);
    a.send(Uint8Array.of(1), { address: '127.0.0.1', port: 0 });
    a.send(Uint8Array.of(1), { address: 'not-an-address.invalid', port: 848 });
    await waitFor(() => a.stats.sendErrors === 2, 5000);
    await a.close();
    a.send(Uint8Array.of(1), { address: '127.0.0.1', port: 848 });
    assert.equal(a.stats.sendErrors, 3);
  });

  it('contains a throwing handler, counts it and keeps receiving', async () => {
    const a = new UdpTransport();
    const b = new UdpTransport();
    open.push(a, b);
    await a.bind('127.0.0.1', 0);
    const bEnd = await b.bind('127.0.0.1', 0);
    const seen: number[] = [];
    b.onDatagram((bytes) => {
      if (bytes[0] === 0) throw new Error('engine bug');
      seen.push(bytes[0] ?? -1);
    });
    a.send(Uint8Array.of(0), bEnd);
    a.send(Uint8Array.of(1), bEnd);
    await waitFor(() => seen.length === 1, 2000);
    assert.deepEqual(seen, [1]);
    assert.equal(b.stats.handlerErrors, 1);
    assert.equal(b.stats.datagramsReceived, 2);
  });

  it('rejects a bind to an address the host does not have', async () => {
    const a = new UdpTransport();
    await assert.rejects(a.bind('192.0.2.1', 0), /EADDRNOTAVAIL/);
    await a.close();
  });
});

describe('MemoryNetwork', () => {
  it('queues copies until the test delivers them, one step at a time', () => {
    const network = new MemoryNetwork();
    const a = network.bind({ address: '10.0.0.1', port: 848 });
    const b = network.bind({ address: '10.0.0.2', port: 848 });
    const seen: string[] = [];
    b.onDatagram((bytes, from) => {
      seen.push(`b<-${from.address}:${bytes[0]}`);
      b.send(Uint8Array.of((bytes[0] ?? 0) + 1), from);
    });
    a.onDatagram((bytes, from) => seen.push(`a<-${from.address}:${bytes[0]}`));
    const message = Uint8Array.of(1);
    a.send(message, b.local);
    message[0] = 99;
    assert.equal(network.pending.length, 1);
    assert.deepEqual(seen, []);
    assert.equal(network.deliverNext(), true);
    assert.deepEqual(seen, ['b<-10.0.0.1:1']);
    assert.equal(network.deliverAll(), 1);
    assert.deepEqual(seen, ['b<-10.0.0.1:1', 'a<-10.0.0.2:2']);
    assert.equal(network.deliverNext(), false);
  });

  it('drops selected datagrams and counts those sent to nobody', async () => {
    const network = new MemoryNetwork();
    const a = network.bind({ address: '10.0.0.1', port: 848 });
    a.send(Uint8Array.of(1), { address: '10.0.0.2', port: 848 });
    a.send(Uint8Array.of(2), { address: '10.0.0.3', port: 848 });
    assert.equal(network.drop((datagram) => datagram.bytes[0] === 1).length, 1);
    network.deliverAll();
    assert.equal(network.undeliverable, 1);
    assert.throws(() => network.bind({ address: '10.0.0.1', port: 848 }), /already bound/);
    await a.close();
    a.send(Uint8Array.of(3), { address: '10.0.0.2', port: 848 });
    assert.equal(a.stats.sendErrors, 1);
    assert.equal(network.pending.length, 0);
  });
});
