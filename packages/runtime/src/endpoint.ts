/** A UDP or configuration peer: IPv4/IPv6 address text and port. */
export interface Endpoint {
  address: string;
  port: number;
}

export function formatEndpoint(endpoint: Endpoint): string {
  return endpoint.address.includes(':') ? `[${endpoint.address}]:${endpoint.port}` : `${endpoint.address}:${endpoint.port}`;
}
