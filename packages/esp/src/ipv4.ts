/**
 * The inner packet of tunnel mode: a minimal IPv4 header (RFC 791, IHL 5, no options, DF clear) with a
 * correct header checksum, a UDP header (RFC 768) with a correct checksum over the pseudo-header, and
 * a payload. Enough for probes; `parseIpv4Udp` also accepts headers with options.
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |Version|  IHL  |Type of Service|          Total Length         |
 *  |         Identification        |Flags|      Fragment Offset    |
 *  |  Time to Live |  Protocol=17  |         Header Checksum       |
 *  |                       Source Address                          |
 *  |                    Destination Address                        |
 *  |          Source Port          |       Destination Port        |
 *  |            Length             |           Checksum            |
 *  |                          payload ...                          |
 */
import { EspError } from './errors.js';

export const IPV4_HEADER_LENGTH = 20;
export const UDP_HEADER_LENGTH = 8;
export const IP_PROTOCOL_UDP = 17;

/** An address as a u32 (network order value). */
export function parseIpv4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) {
    throw new EspError('BAD_ARGUMENT', `not an IPv4 address: ${text}`);
  }
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

export interface Ipv4Prefix {
  /** network address, host bits zero */
  readonly network: number;
  readonly length: number;
}

/** "172.16.0.0/12" -> prefix; host bits must be zero. */
export function parsePrefix(text: string): Ipv4Prefix {
  const match = /^([0-9.]+)\/([0-9]{1,2})$/.exec(text);
  const length = match ? Number(match[2]) : NaN;
  if (!match || length > 32) throw new EspError('BAD_ARGUMENT', `not an IPv4 prefix: ${text}`);
  const network = parseIpv4(match[1] as string);
  if (network % 2 ** (32 - length) !== 0) throw new EspError('BAD_ARGUMENT', `prefix ${text} has host bits set`);
  return { network, length };
}

export function formatPrefix(prefix: Ipv4Prefix): string {
  return `${formatIpv4(prefix.network)}/${prefix.length}`;
}

export function prefixContains(prefix: Ipv4Prefix, address: number): boolean {
  const size = 2 ** (32 - prefix.length);
  return address >= prefix.network && address < prefix.network + size;
}

/** The `index`-th address of a prefix (index 0 = network address); throws if it does not fit. */
export function hostInPrefix(prefix: Ipv4Prefix, index: number): number {
  const size = 2 ** (32 - prefix.length);
  if (!Number.isInteger(index) || index < 0 || index >= size) {
    throw new EspError('BAD_ARGUMENT', `host ${index} does not fit in ${formatPrefix(prefix)}`);
  }
  return prefix.network + index;
}

/** RFC 1071 ones'-complement sum of 16-bit words, folded, not inverted. */
function onesSum(data: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  for (let i = start; i + 1 < end; i += 2) sum += ((data[i] as number) << 8) | (data[i + 1] as number);
  if ((end - start) % 2 === 1) sum += (data[end - 1] as number) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The Internet checksum of a byte range (0 over a range that carries a correct checksum). */
export function internetChecksum(data: Uint8Array, start = 0, end = data.length): number {
  return ~onesSum(data, start, end) & 0xffff;
}

export interface Ipv4UdpPacket {
  source: number;
  destination: number;
  sourcePort: number;
  destinationPort: number;
  payload: Uint8Array;
  ttl?: number;
  identification?: number;
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new EspError('BAD_ARGUMENT', `bad port ${port}`);
}

function udpChecksum(packet: Uint8Array, ipHeaderLength: number, source: number, destination: number): number {
  const pseudo = pseudoHeader(source, destination, packet.length - ipHeaderLength);
  const sum = onesSum(packet, ipHeaderLength, packet.length, onesSum(pseudo, 0, 12));
  const checksum = ~sum & 0xffff;
  return checksum === 0 ? 0xffff : checksum; // RFC 768: a computed 0 is sent as all ones
}

export function ipv4UdpLength(packet: Pick<Ipv4UdpPacket, 'payload'>): number {
  return IPV4_HEADER_LENGTH + UDP_HEADER_LENGTH + packet.payload.length;
}

/** An IPv4/UDP packet with both checksums filled in. */
export function buildIpv4Udp(packet: Ipv4UdpPacket): Uint8Array {
  checkPort(packet.sourcePort);
  checkPort(packet.destinationPort);
  for (const address of [packet.source, packet.destination]) {
    if (!Number.isInteger(address) || address < 0 || address > 0xffffffff) throw new EspError('BAD_ARGUMENT', `bad address ${address}`);
  }
  const length = ipv4UdpLength(packet);
  if (length > 0xffff) throw new EspError('BAD_ARGUMENT', `packet of ${length} bytes exceeds IPv4's limit`);
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  view.setUint8(0, 0x45);
  view.setUint16(2, length);
  view.setUint16(4, (packet.identification ?? 0) & 0xffff);
  view.setUint8(8, packet.ttl ?? 64);
  view.setUint8(9, IP_PROTOCOL_UDP);
  view.setUint32(12, packet.source);
  view.setUint32(16, packet.destination);
  view.setUint16(10, internetChecksum(out, 0, IPV4_HEADER_LENGTH));
  view.setUint16(20, packet.sourcePort);
  view.setUint16(22, packet.destinationPort);
  view.setUint16(24, UDP_HEADER_LENGTH + packet.payload.length);
  out.set(packet.payload, IPV4_HEADER_LENGTH + UDP_HEADER_LENGTH);
  view.setUint16(26, udpChecksum(out, IPV4_HEADER_LENGTH, packet.source, packet.destination));
  return out;
}

/** Reads the source and destination of any IPv4 header (for selector checks); throws MALFORMED. */
export function ipv4Addresses(packet: Uint8Array): { source: number; destination: number; protocol: number } {
  const ihl = checkIpv4Header(packet);
  const view = new DataView(packet.buffer, packet.byteOffset, ihl);
  return { source: view.getUint32(12), destination: view.getUint32(16), protocol: view.getUint8(9) };
}

/** Returns the header length after checking version, IHL, total length, fragments and the checksum. */
function checkIpv4Header(packet: Uint8Array): number {
  if (packet.length < IPV4_HEADER_LENGTH) throw new EspError('MALFORMED', `IPv4 packet of ${packet.length} bytes`);
  const first = packet[0] as number;
  if (first >> 4 !== 4) throw new EspError('MALFORMED', `IP version ${first >> 4}`);
  const ihl = (first & 0x0f) * 4;
  const view = new DataView(packet.buffer, packet.byteOffset, packet.length);
  if (ihl < IPV4_HEADER_LENGTH || ihl > packet.length) throw new EspError('MALFORMED', `IPv4 IHL ${ihl}`);
  if (view.getUint16(2) !== packet.length) throw new EspError('MALFORMED', `IPv4 total length ${view.getUint16(2)} != ${packet.length}`);
  if ((view.getUint16(6) & 0x3fff) !== 0) throw new EspError('MALFORMED', 'IPv4 fragment');
  if (internetChecksum(packet, 0, ihl) !== 0) throw new EspError('MALFORMED', 'IPv4 header checksum');
  return ihl;
}

/** Parses and checks an IPv4/UDP packet (both checksums; a UDP checksum of 0 means none). */
export function parseIpv4Udp(packet: Uint8Array): Required<Ipv4UdpPacket> {
  const ihl = checkIpv4Header(packet);
  const view = new DataView(packet.buffer, packet.byteOffset, packet.length);
  if (view.getUint8(9) !== IP_PROTOCOL_UDP) throw new EspError('MALFORMED', `IP protocol ${view.getUint8(9)} is not UDP`);
  if (packet.length - ihl < UDP_HEADER_LENGTH) throw new EspError('MALFORMED', 'truncated UDP header');
  const udpLength = view.getUint16(ihl + 4);
  if (udpLength !== packet.length - ihl) throw new EspError('MALFORMED', `UDP length ${udpLength} != ${packet.length - ihl}`);
  const source = view.getUint32(12);
  const destination = view.getUint32(16);
  const checksum = view.getUint16(ihl + 6);
  if (checksum !== 0) {
    const sum = onesSum(packet, ihl, packet.length, onesSum(pseudoHeader(source, destination, udpLength), 0, 12));
    if (sum !== 0xffff) throw new EspError('MALFORMED', 'UDP checksum');
  }
  return {
    source, destination,
    sourcePort: view.getUint16(ihl), destinationPort: view.getUint16(ihl + 2),
    payload: packet.slice(ihl + UDP_HEADER_LENGTH),
    ttl: view.getUint8(8), identification: view.getUint16(4),
  };
}

function pseudoHeader(source: number, destination: number, udpLength: number): Uint8Array {
  const pseudo = new Uint8Array(12);
  const view = new DataView(pseudo.buffer);
  view.setUint32(0, source);
  view.setUint32(4, destination);
  view.setUint8(9, IP_PROTOCOL_UDP);
  view.setUint16(10, udpLength);
  return pseudo;
}
