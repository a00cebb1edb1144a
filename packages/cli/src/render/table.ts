/**
 * Left-aligned columns separated by at least two spaces, each as wide as its widest cell, indented by
 * two spaces: the shape of Junos summary tables.
 */
export function renderTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `  ${cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd((widths[column] ?? 0) + 2))).join('')}`.trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** "datagramsReceived" -> "Datagrams received"; acronyms the counters use are upper-cased. */
export function counterLabel(name: string): string {
  const words = name.split(/(?=[A-Z])/).map((word) => word.toLowerCase());
  const text = words.map((word) => ACRONYMS[word] ?? word).join(' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const ACRONYMS: Record<string, string> = {
  ike: 'IKE', gdoi: 'GDOI', dpd: 'DPD', sa: 'SA', sas: 'SAs', dh: 'DH', ack: 'ACK', acks: 'ACKs', psk: 'PSK', id: 'ID', vid: 'VID', udp: 'UDP',
  esp: 'ESP', kek: 'KEK', tek: 'TEK', teks: 'TEKs', spi: 'SPI', seq: 'SEQ',
  // the `process` section of every daemon: cpuUserMs, residentKb
  cpu: 'CPU', kb: 'KB',
};
