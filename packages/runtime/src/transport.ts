import type { Endpoint } from './endpoint.js';

export type DatagramHandler = (bytes: Uint8Array, from: Endpoint) => void;

/** Counters a transport keeps instead of throwing: the daemon exports them in its statistics. */
export interface TransportStats {
  datagramsReceived: number;
  datagramsSent: number;
  sendErrors: number;
  socketErrors: number;
  /** Datagrams whose handler threw; the exception is contained so one bad datagram cannot stop the daemon. */
  handlerErrors: number;
}

/** What a protocol engine needs from the network: fire-and-forget datagrams in both directions. */
export interface DatagramTransport {
  readonly stats: Readonly<TransportStats>;
  /** Never throws; a failed send is counted in `stats.sendErrors`. */
  send(bytes: Uint8Array, to: Endpoint): void;
  /** Registers the one receiver; a second call replaces it. */
  onDatagram(handler: DatagramHandler): void;
  close(): Promise<void>;
}

export function emptyTransportStats(): TransportStats {
  return { datagramsReceived: 0, datagramsSent: 0, sendErrors: 0, socketErrors: 0, handlerErrors: 0 };
}
