/**
 * ESP-in-UDP framing (RFC 3948 §2): the UDP payload is the ESP packet itself, starting with its SPI.
 * On the same port, a payload starting with four zero bytes (the non-ESP marker) is IKE, and a single
 * 0xFF byte is a NAT-keepalive. The data plane carries only ESP: the other two are classified so that
 * the endpoint can drop and count them.
 */
export type UdpEncapKind = 'esp' | 'non-esp' | 'keepalive' | 'malformed';

export function classifyUdpEncap(payload: Uint8Array): UdpEncapKind {
  if (payload.length === 1 && payload[0] === 0xff) return 'keepalive';
  if (payload.length < 4) return 'malformed';
  if (payload[0] === 0 && payload[1] === 0 && payload[2] === 0 && payload[3] === 0) return 'non-esp';
  // an ESP packet needs at least its 8-byte header; the transform decides the rest
  return payload.length < 8 ? 'malformed' : 'esp';
}
