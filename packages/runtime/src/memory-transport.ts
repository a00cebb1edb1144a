import { formatEndpoint, type Endpoint } from './endpoint.js';
import { emptyTransportStats, type DatagramHandler, type DatagramTransport, type TransportStats } from './transport.js';

interface QueuedDatagram {
  bytes: Uint8Array;
  from: Endpoint;
  to: Endpoint;
}

/**
 * A loss-free in-process network for tests. Datagrams queue until the test delivers them, one at a
 * time or all at once, so an exchange can be stepped message by message; `drop` filters model loss.
 */
export class MemoryNetwork {
  readonly #transports = new Map<string, MemoryTransport>();
  readonly #queue: QueuedDatagram[] = [];
  /** Datagrams addressed to an endpoint nobody has bound. */
  undeliverable = 0;

  bind(endpoint: Endpoint): MemoryTransport {
    const key = formatEndpoint(endpoint);
    if (this.#transports.has(key)) throw new Error(`${key} is already bound`);
    const transport = new MemoryTransport(this, { ...endpoint });
    this.#transports.set(key, transport);
    return transport;
  }

  /** Datagrams sent and not yet delivered, oldest first (copies are queued, so tests may inspect them). */
  get pending(): readonly QueuedDatagram[] {
    return this.#queue;
  }

  /** Delivers the oldest queued datagram; false when the queue is empty. */
  deliverNext(): boolean {
    const datagram = this.#queue.shift();
    if (datagram === undefined) return false;
    const target = this.#transports.get(formatEndpoint(datagram.to));
    if (target === undefined) this.undeliverable += 1;
    else target.receive(datagram.bytes, datagram.from);
    return true;
  }

  /** Delivers until the queue is empty (replies included), up to `limit` datagrams; returns how many. */
  deliverAll(limit = 10_000): number {
    let delivered = 0;
    while (delivered < limit && this.deliverNext()) delivered += 1;
    return delivered;
  }

  /** Removes and returns the queued datagrams that `predicate` selects, modelling loss. */
  drop(predicate: (datagram: QueuedDatagram) => boolean): QueuedDatagram[] {
    const dropped = this.#queue.filter(predicate);
    const kept = this.#queue.filter((datagram) => !predicate(datagram));
    this.#queue.splice(0, this.#queue.length, ...kept);
    return dropped;
  }

  enqueue(datagram: QueuedDatagram): void {
    this.#queue.push(datagram);
  }

  unbind(endpoint: Endpoint): void {
    this.#transports.delete(formatEndpoint(endpoint));
  }
}

export class MemoryTransport implements DatagramTransport {
  readonly stats: TransportStats = emptyTransportStats();
  readonly #network: MemoryNetwork;
  #handler: DatagramHandler = () => {};
  #closed = false;

  constructor(network: MemoryNetwork, readonly local: Endpoint) {
    this.#network = network;
  }

  send(bytes: Uint8Array, to: Endpoint): void {
    if (this.#closed) {
      this.stats.sendErrors += 1;
      return;
    }
    this.stats.datagramsSent += 1;
    this.#network.enqueue({ bytes: Uint8Array.from(bytes), from: { ...this.local }, to: { ...to } });
  }

  onDatagram(handler: DatagramHandler): void {
    this.#handler = handler;
  }

  receive(bytes: Uint8Array, from: Endpoint): void {
    if (this.#closed) return;
    this.stats.datagramsReceived += 1;
    // Unlike UdpTransport, exceptions propagate: in a test they are the failure to see.
    this.#handler(bytes, from);
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#network.unbind(this.local);
    return Promise.resolve();
  }
}
