/**
 * Two IkeEndpoints wired back to back through an in-memory network and a manual clock. Datagrams queue
 * up and are delivered one at a time, so a test can inspect, drop, duplicate or mutate each message.
 */
import { Secret, seededRandom } from '@gvpn/crypto';
import type { RandomSource } from '@gvpn/crypto';
import { IkeEndpoint } from '../src/index.js';
import type { Endpoint, GatewayPolicy, IkeEvents, IkeOptions, IkeProposal, IkeSa, Logger, SaDownReason } from '../src/index.js';

export interface Datagram {
  bytes: Uint8Array;
  from: Endpoint;
  to: Endpoint;
}

export interface LogLine {
  level: string;
  fields: object;
  msg: string;
}

/** A pino-shaped logger that keeps every line, bindings merged in. */
export function memoryLogger(lines: LogLine[], bindings: object = {}): Logger {
  const at = (level: string) => (fields: object, msg: string): void => {
    lines.push({ level, fields: { ...bindings, ...fields }, msg });
  };
  return {
    info: at('info'), warn: at('warn'), debug: at('debug'), trace: at('trace'), error: at('error'),
    child: (b: object) => memoryLogger(lines, { ...bindings, ...b }),
  };
}

export const P_AES256_SHA256_G14: IkeProposal = { encryption: 'aes-256-cbc', hash: 'sha256', dhGroup: 14, lifetimeSeconds: 3600 };
export const P_AES128_SHA1_G2: IkeProposal = { encryption: 'aes-128-cbc', hash: 'sha1', dhGroup: 2, lifetimeSeconds: 3600 };
export const P_AES256_SHA256_G19: IkeProposal = { encryption: 'aes-256-cbc', hash: 'sha256', dhGroup: 19, lifetimeSeconds: 3600 };

export const OPTIONS: IkeOptions = {
  maxHalfOpen: 16, retransmitInitialMs: 1000, retransmitTries: 3, allowLegacyGroups: true,
};

export interface Side {
  name: string;
  address: Endpoint;
  endpoint: IkeEndpoint;
  logs: LogLine[];
  keyLog: string[];
  up: IkeSa[];
  down: { sa: IkeSa; reason: SaDownReason }[];
  dead: string[];
  failed: string[];
  phase2: Uint8Array[];
}

export interface SideConfig {
  proposals?: IkeProposal[];
  psk?: string;
  initiate?: boolean;
  dpd?: GatewayPolicy['dpd'];
  options?: Partial<IkeOptions>;
  doi?: 1 | 2;
  seed?: string;
  /** Make this side's own gateway dynamic (any peer; `peer` is then ignored). */
  dynamic?: boolean;
  gatewayName?: string;
  /** More gateways after the side's own one. */
  extraGateways?: GatewayPolicy[];
}

export const A_ADDR: Endpoint = { address: '127.0.0.1', port: 50001 };
export const B_ADDR: Endpoint = { address: '127.0.0.2', port: 50002 };

export class Net {
  now = 0;
  readonly queue: Datagram[] = [];
  /** Every datagram ever sent, in order. */
  readonly sent: Datagram[] = [];
  readonly sides = new Map<string, Side>();

  addSide(name: string, address: Endpoint, peer: Endpoint, cfg: SideConfig = {}): Side {
    const logs: LogLine[] = [];
    const side: Side = {
      name, address, logs, keyLog: [], up: [], down: [], dead: [], failed: [], phase2: [],
      endpoint: undefined as unknown as IkeEndpoint,
    };
    const events: IkeEvents = {
      saUp: (sa) => side.up.push(sa),
      saDown: (sa, reason) => side.down.push({ sa, reason }),
      peerDead: (g) => side.dead.push(g.name),
      negotiationFailed: (_g, reason) => side.failed.push(reason),
      phase2: (_sa, d) => side.phase2.push(d),
    };
    const gateway: GatewayPolicy = {
      name: cfg.gatewayName ?? `to-${peer.address}`, peer, psk: new Secret(new TextEncoder().encode(cfg.psk ?? 'lab-secret')),
      proposals: cfg.proposals ?? [P_AES256_SHA256_G14], initiate: cfg.initiate ?? false,
      ...(cfg.dpd === undefined ? {} : { dpd: cfg.dpd }), ...(cfg.doi === undefined ? {} : { doi: cfg.doi }),
      ...(cfg.dynamic === true ? { dynamic: true } : {}),
    };
    side.endpoint = new IkeEndpoint({
      local: address, gateways: [gateway, ...(cfg.extraGateways ?? [])], options: { ...OPTIONS, ...cfg.options },
      random: seededRandom(cfg.seed ?? `seed-${name}`), log: memoryLogger(logs),
      send: (bytes, to) => {
        const d = { bytes: Uint8Array.from(bytes), from: address, to };
        this.queue.push(d);
        this.sent.push(d);
      },
      keyLog: (line) => side.keyLog.push(line),
      events,
    });
    this.sides.set(`${address.address}:${address.port}`, side);
    return side;
  }

  /** Delivers the oldest queued datagram; returns it (or undefined when the queue is empty). */
  step(mutate?: (d: Datagram) => Datagram | undefined): Datagram | undefined {
    const d = this.queue.shift();
    if (d === undefined) return undefined;
    const delivered = mutate === undefined ? d : mutate(d);
    if (delivered !== undefined) this.deliver(delivered);
    return d;
  }

  deliver(d: Datagram): void {
    this.sides.get(`${d.to.address}:${d.to.port}`)?.endpoint.handleDatagram(d.bytes, d.from, this.now);
  }

  /** Delivers until the queue is empty (bounded, so a ping-pong bug fails instead of hanging). */
  flush(max = 100): number {
    let n = 0;
    while (this.queue.length > 0) {
      if (++n > max) throw new Error('message loop');
      this.step();
    }
    return n;
  }

  /** Drops everything queued. */
  discard(): Datagram[] {
    return this.queue.splice(0);
  }

  /** Moves the clock forward deadline by deadline, delivering traffic in between. */
  advanceTo(t: number, deliver = true): void {
    for (;;) {
      const deadlines = [...this.sides.values()].map((s) => s.endpoint.nextDeadline()).filter((x): x is number => x !== undefined && x <= t);
      const next = Math.min(...deadlines);
      if (!Number.isFinite(next)) break;
      this.now = Math.max(this.now, next);
      for (const s of this.sides.values()) s.endpoint.poll(this.now);
      if (deliver) this.flush();
    }
    this.now = t;
    for (const s of this.sides.values()) s.endpoint.poll(this.now);
    if (deliver) this.flush();
  }
}

/** A (initiator, 127.0.0.1) and B (responder, 127.0.0.2). */
export function pair(a: SideConfig = {}, b: SideConfig = {}): { net: Net; a: Side; b: Side } {
  const net = new Net();
  const sa = net.addSide('a', A_ADDR, B_ADDR, { initiate: true, ...a });
  const sb = net.addSide('b', B_ADDR, A_ADDR, b);
  return { net, a: sa, b: sb };
}

export function stat(side: Side, name: string): number {
  return (side.endpoint.statistics() as Record<string, number>)[name] ?? 0;
}

export function rng(seed: string): RandomSource {
  return seededRandom(seed);
}
