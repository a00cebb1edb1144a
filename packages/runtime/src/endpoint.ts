import { isIPv4 } from 'node:net';

/** A UDP or configuration peer: IPv4/IPv6 address text and port. */
export interface Endpoint {
  address: string;
  port: number;
}

export function formatEndpoint(endpoint: Endpoint): string {
  return endpoint.address.includes(':') ? `[${endpoint.address}]:${endpoint.port}` : `${endpoint.address}:${endpoint.port}`;
}

/** Where an IPv6 socket shows an IPv4 peer: `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2). */
export const IPV4_MAPPED_PREFIX = '::ffff:';

/** `::ffff:a.b.c.d` as the plain IPv4 address it stands for (as peers are configured); anything else as it is. */
export function unmapIpv4(address: string): string {
  const tail = address.slice(IPV4_MAPPED_PREFIX.length);
  return address.startsWith(IPV4_MAPPED_PREFIX) && isIPv4(tail) ? tail : address;
}
