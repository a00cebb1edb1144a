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
