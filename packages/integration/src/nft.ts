// Port redirection inside a test namespace. charon only speaks plain ISAKMP on UDP 500 (on other ports
// it prepends the RFC 3948 non-ESP marker), so a daemon that talks GDOI on 848 reaches a charon through
// a NAT redirect 848 -> 500 in charon's namespace; conntrack rewrites the replies back to 848.
import type { NetworkNamespace } from './netns.js';

/** Redirects UDP datagrams arriving in `ns` for `fromPort` to local `toPort`. Goes away with the namespace. */
export async function redirectUdpPort(ns: NetworkNamespace, fromPort: number, toPort: number): Promise<void> {
  for (const port of [fromPort, toPort]) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`not a UDP port: ${port}`);
  }
  const table = `gvpn_redirect_${fromPort}_${toPort}`;
  await ns.run('nft', ['-f', '-'], {
    input: `table ip ${table} {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    udp dport ${fromPort} redirect to :${toPort}
  }
}
`,
  });
}

export interface IsakmpDrop {
  /** Source and destination addresses (UDP 848 both ways). */
  from: string;
  to: string;
  /** ISAKMP exchange type (octet 18 of the ISAKMP header). */
  exchangeType: number;
  /** Only datagrams whose UDP length (header included) is at least this. */
  minUdpLength: number;
}

/**
 * Drops the matching ISAKMP datagrams as they leave a process in `ns` (output hook), counting them.
 * Returns the table name, for `droppedCount` and `removeTable`. Goes away with the namespace anyway.
 */
export async function dropIsakmp(ns: NetworkNamespace, drop: IsakmpDrop): Promise<string> {
  const table = `gvpn_drop_${drop.exchangeType}_${drop.minUdpLength}`;
  // @th,208,8: 8 bits at bit 208 of the transport header = UDP header (8 octets) + ISAKMP octet 18.
  await ns.run('nft', ['-f', '-'], {
    input: `table ip ${table} {
  chain output {
    type filter hook output priority filter; policy accept;
    ip saddr ${drop.from} ip daddr ${drop.to} udp sport 848 udp dport 848 @th,208,8 ${drop.exchangeType} udp length >= ${drop.minUdpLength} counter drop
  }
}
`,
  });
  return table;
}

/** Packets the table's counter has seen. */
export async function droppedCount(ns: NetworkNamespace, table: string): Promise<number> {
  const { stdout } = await ns.run('nft', ['list', 'table', 'ip', table]);
  const match = /counter packets (\d+)/.exec(stdout);
  if (match === null) throw new Error(`no counter in nft table ${table}: ${stdout}`);
  return Number(match[1]);
}

export async function removeTable(ns: NetworkNamespace, table: string): Promise<void> {
  await ns.run('nft', ['delete', 'table', 'ip', table]);
}
