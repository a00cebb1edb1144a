/** A minimal pcap writer (LINKTYPE_RAW: IPv4 + UDP, checksums 0) for handing our datagrams to tshark. */
export interface PcapDatagram {
  bytes: Uint8Array;
  from: { address: string; port: number };
  to: { address: string; port: number };
}

function ipv4(address: string): number[] {
  return address.split('.').map(Number);
}

export function pcap(datagrams: readonly PcapDatagram[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const global = new DataView(new ArrayBuffer(24));
  global.setUint32(0, 0xa1b2c3d4, true);
  global.setUint16(4, 2, true);
  global.setUint16(6, 4, true);
  global.setUint32(16, 65535, true);
  global.setUint32(20, 101, true); // LINKTYPE_RAW
  parts.push(new Uint8Array(global.buffer));
  datagrams.forEach((d, i) => {
    const length = 20 + 8 + d.bytes.length;
    const rec = new DataView(new ArrayBuffer(16 + length));
    rec.setUint32(0, 1_700_000_000 + i, true);
    rec.setUint32(8, length, true);
    rec.setUint32(12, length, true);
    const ip = 16;
    rec.setUint8(ip, 0x45);
    rec.setUint16(ip + 2, length);
    rec.setUint8(ip + 8, 64);
    rec.setUint8(ip + 9, 17);
    ipv4(d.from.address).forEach((b, k) => rec.setUint8(ip + 12 + k, b));
    ipv4(d.to.address).forEach((b, k) => rec.setUint8(ip + 16 + k, b));
    let sum = 0;
    for (let k = 0; k < 20; k += 2) sum += rec.getUint16(ip + k);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    rec.setUint16(ip + 10, ~sum & 0xffff);
    const udp = ip + 20;
    rec.setUint16(udp, d.from.port);
    rec.setUint16(udp + 2, d.to.port);
    rec.setUint16(udp + 4, 8 + d.bytes.length);
    const out = new Uint8Array(rec.buffer);
    out.set(d.bytes, udp + 8);
    parts.push(out);
  });
  const total = parts.reduce((n, p) => n + p.length, 0);
  const file = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    file.set(p, at);
    at += p.length;
  }
  return file;
}
