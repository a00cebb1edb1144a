// strongswan.conf and swanctl.conf text for one charon per test, using the settings that were seen to
// work on these machines (shared/notes/checkers.md).

/** Plugins charon loads: enough for IKEv1 PSK with MODP and ECP groups, vici control, no kernel IPsec. */
export const CHARON_PLUGINS = [
  'random', 'nonce', 'aes', 'sha1', 'sha2', 'hmac', 'pem', 'pkcs1', 'x509', 'revocation', 'constraints',
  'pubkey', 'gmp', 'openssl', 'kdf', 'kernel-netlink', 'socket-default', 'vici',
] as const;

export interface StrongswanConfOptions {
  /** charon's log, written with `ike = 4` so that it contains the phase-1 keys */
  logFile: string;
  /** path of the vici control socket */
  viciSocket: string;
}

/**
 * `mgr = 2` logs the cookies of the SA each worker thread checks out; with `ike = 4` (key material)
 * that lets charonIkeKeys() pair each logged encryption key with its initiator cookie.
 */
export function strongswanConf(options: StrongswanConfOptions): string {
  return `charon {
  load_modular = no
  load = ${CHARON_PLUGINS.join(' ')}
  install_routes = no
  install_virtual_ip = no
  plugins {
    vici {
      socket = unix://${options.viciSocket}
    }
  }
  filelog {
    test {
      path = ${options.logFile}
      default = 1
      ike = 4
      mgr = 2
      flush_line = yes
    }
  }
  syslog {
    daemon {
      default = -1
    }
  }
}
swanctl {
  load = pem pkcs1 x509 pubkey openssl random
}
`;
}

export interface CharonConnection {
  /** connection name, used with initiate/terminate */
  name: string;
  localAddress: string;
  remoteAddress: string;
  /** default 500; charon stays on 500 (on other ports it adds the RFC 3948 non-ESP marker) */
  localPort?: number;
  remotePort?: number;
  /** IKEv1 proposals in strongSwan syntax, most preferred first; default ['aes256-sha256-modp2048'] */
  proposals?: readonly string[];
  /** pre-shared key, any bytes; written hex-encoded so that no quoting can break it */
  psk: string | Uint8Array;
  /** IDs default to the addresses (ID_IPV4_ADDR, as our daemons use) */
  localId?: string;
  remoteId?: string;
  /** DPD interval in seconds; 0 disables DPD */
  dpdDelaySeconds?: number;
}

/**
 * A swanctl.conf with one IKEv1 Main Mode PSK connection per entry. It has no children, so nothing starts
 * by itself (no start_action) and no quick mode follows: the kernel here has no ESP anyway.
 */
export function swanctlConf(connections: readonly CharonConnection[]): string {
  const blocks = connections.map((c) => {
    assertToken(c.name, 'connection name');
    const localId = c.localId ?? c.localAddress;
    const remoteId = c.remoteId ?? c.remoteAddress;
    for (const [value, what] of [
      [c.localAddress, 'localAddress'], [c.remoteAddress, 'remoteAddress'], [localId, 'localId'],
      [remoteId, 'remoteId'], ...(c.proposals ?? []).map((p) => [p, 'proposal'] as const),
    ] as const) {
      assertToken(value, what);
    }
    return `  ${c.name} {
    version = 1
    aggressive = no
    local_addrs = ${c.localAddress}
    remote_addrs = ${c.remoteAddress}
    local_port = ${c.localPort ?? 500}
    remote_port = ${c.remotePort ?? 500}
    proposals = ${(c.proposals ?? ['aes256-sha256-modp2048']).join(',')}
    dpd_delay = ${c.dpdDelaySeconds ?? 0}s
    encap = no
    local {
      auth = psk
      id = ${localId}
    }
    remote {
      auth = psk
      id = ${remoteId}
    }
  }`;
  });
  const secrets = connections.map((c) => {
    const psk = typeof c.psk === 'string' ? Buffer.from(c.psk, 'utf8') : Buffer.from(c.psk);
    return `  ike-${c.name} {
    id-local = ${c.localId ?? c.localAddress}
    id-remote = ${c.remoteId ?? c.remoteAddress}
    secret = 0x${psk.toString('hex')}
  }`;
  });
  return `connections {\n${blocks.join('\n')}\n}\nsecrets {\n${secrets.join('\n')}\n}\n`;
}

/** swanctl.conf has no escaping; refuse values that would change its structure. */
function assertToken(value: string, what: string): void {
  if (!/^[A-Za-z0-9_.:@\-]+$/.test(value)) throw new Error(`charon ${what} ${JSON.stringify(value)} is not a plain token`);
}
