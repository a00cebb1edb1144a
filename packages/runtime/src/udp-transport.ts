import { createSocket, type Socket } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIP, isIPv4, isIPv6 } from 'node:net';
import { IPV4_MAPPED_PREFIX, unmapIpv4, type Endpoint } from './endpoint.js';
import type { Logger } from './logger.js';
import { emptyTransportStats, type DatagramHandler, type DatagramTransport, type TransportStats } from './transport.js';

/**
 * `DatagramTransport` over one `node:dgram` socket. Socket, send and handler errors are counted (and
 * logged when a logger is given), never thrown at the event loop: a peer's ICMP unreachable, or one
 * datagram that trips a bug, must not take the daemon down.
 */
const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * node:dgram resolves the destination of every send through dns.lookup, which answers even an IP literal
 * on the next tick (a closure and a deferred send per datagram). Our peers are addresses, so answer those
 * at once; anything else still goes to the resolver.
 */
export function lookupLiteral(address: string, options: LookupOneOptions, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  const family = isIP(address);
  if (family !== 0) callback(null, address, family);
  else dnsLookup(address, options, callback);
}

/** An IPv4 peer as an IPv6 socket bound to `::` reports it (RFC 4291 §2.5.5.2). */

export class UdpTransport implements DatagramTransport {
  readonly stats: TransportStats = emptyTransportStats();
  readonly #log: Logger | undefined;
  #socket: Socket | undefined;
  #ipv6 = false;
  #handler: DatagramHandler = () => {};

  constructor(options: { log?: Logger } = {}) {
    this.#log = options.log;
  }

  /**
   * Binds to `address:port` (port 0 picks a free one) and resolves with the bound endpoint. `reuseAddr`
   * (SO_REUSEADDR) lets the socket bind while another process still holds that address and port; Linux then
   * delivers unicast datagrams to the socket bound last. The root pair takes over its shared address that
   * way even from a frozen node (docs/root-pair.md).
   */
  bind(address: string, port: number, options: { reuseAddr?: boolean } = {}): Promise<Endpoint> {
    if (this.#socket !== undefined) return Promise.reject(new Error('UdpTransport is already bound'));
    // A rekey to thousands of members brings their ACKs back in one burst; the kernel's default receive
    // buffer (~208 KiB) dropped hundreds of them in the rekey benchmark. The kernel caps this at
    // net.core.rmem_max.
    this.#ipv6 = isIPv6(address);
    const socket = createSocket({
      type: this.#ipv6 ? 'udp6' : 'udp4', recvBufferSize: RECEIVE_BUFFER_BYTES, reuseAddr: options.reuseAddr === true, lookup: lookupLiteral,
    });
    this.#socket = socket;
    socket.on('message', (message, remote) => {
      this.stats.datagramsReceived += 1;
      const bytes = new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
      // Peers are configured (and matched) as plain IPv4 addresses; `send` maps them back.
      const from = unmapIpv4(remote.address);
      try {
        this.#handler(bytes, { address: from, port: remote.port });
      } catch (error) {
        this.stats.handlerErrors += 1;
        this.#log?.error({ err: (error as Error).message, from }, 'datagram handler threw');
      }
    });
    return new Promise((resolve, reject) => {
      const onBindError = (error: Error): void => {
        this.#socket = undefined;
        socket.close();
        reject(error);
      };
      socket.once('error', onBindError);
      socket.bind(port, address, () => {
        socket.off('error', onBindError);
        socket.on('error', (error) => {
          this.stats.socketErrors += 1;
          this.#log?.debug({ err: error.message }, 'udp socket error');
        });
        resolve(this.localEndpoint());
      });
    });
  }

  get bound(): boolean {
    return this.#socket !== undefined;
  }

  localEndpoint(): Endpoint {
    if (this.#socket === undefined) throw new Error('UdpTransport is not bound');
    const { address, port } = this.#socket.address();
    return { address, port };
  }

  send(bytes: Uint8Array, to: Endpoint): void {
    const socket = this.#socket;
    if (socket === undefined) {
      this.stats.sendErrors += 1;
      return;
    }
    // An IPv6 socket sends to an IPv4 peer (one it heard from on `::`) only at its mapped address.
    const address = this.#ipv6 && isIPv4(to.address) ? IPV4_MAPPED_PREFIX + to.address : to.address;
    try {
      socket.send(bytes, to.port, address, (error) => {
        if (error) {
          this.stats.sendErrors += 1;
          this.#log?.debug({ err: error.message, to }, 'udp send failed');
        } else {
          this.stats.datagramsSent += 1;
        }
      });
    } catch (error) {
      // Synchronous failures: a closed socket or a malformed port/address.
      this.stats.sendErrors += 1;
      this.#log?.debug({ err: (error as Error).message, to }, 'udp send failed');
    }
  }

  onDatagram(handler: DatagramHandler): void {
    this.#handler = handler;
  }

  close(): Promise<void> {
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket === undefined) return Promise.resolve();
    return new Promise((resolve) => socket.close(() => resolve()));
  }
}
