/**
 * A small key server for the member daemon's tests, while the root-server's GCKS is being written: the
 * real IKE engine, the real GDOI PullResponder and GcksGroup, on a real UDP socket, driven by the real
 * clock. It registers members, pushes what the test asks for to every registered member, and verifies
 * their RFC 8263 ACKs. Nothing here is a fake of the protocol: only the daemon around it is minimal.
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { Secret, systemRandom } from '@gvpn/crypto';
import { GcksGroup, PullResponder, tryHeader, verifyAck, type AckResult, type GroupPolicy, type Kek } from '@gvpn/gdoi';
import { IkeEndpoint, type Endpoint, type Logger } from '@gvpn/ike';

export const quietLog: Logger = {
  info() {}, warn() {}, debug() {}, trace() {}, error() {},
  child() { return quietLog; },
};

export interface TestGcksOptions {
  listen: Endpoint;
  psk: string;
  members: string[];
  policy: GroupPolicy;
}

export class TestGcks {
  readonly group: GcksGroup;
  readonly registered: { address: string; at: number }[] = [];
  readonly acks: (AckResult & { from: string })[] = [];
  /** The KEKs ACKs may be keyed by (current and previous). */
  #keks: Kek[] = [];
  #socket: Socket | undefined;
  #timer: NodeJS.Timeout | undefined;
  #ike: IkeEndpoint | undefined;
  #responder: PullResponder | undefined;
  /** Pushes answer the test: how many PUSH datagrams were sent. */
  pushesSent = 0;

  constructor(readonly options: TestGcksOptions) {
    this.group = new GcksGroup(options.policy, systemRandom);
    this.#keks = [this.group.kek];
  }

  async start(): Promise<void> {
    const socket = createSocket('udp4');
    socket.bind(this.options.listen.port, this.options.listen.address);
    await once(socket, 'listening');
    this.#socket = socket;
    const send = (bytes: Uint8Array, to: Endpoint): void => { socket.send(bytes, to.port, to.address); };
    const responder = new PullResponder({
      group: (id) => (id === this.options.policy.groupId ? this.group : undefined),
      authorize: () => ({ ok: true }),
      commit: (sa) => { this.registered.push({ address: sa.peer.address, at: Date.now() }); },
      refusal: 'silent', random: systemRandom, send, log: quietLog,
    });
    const psk = new Secret(new TextEncoder().encode(this.options.psk));
    const proposals = [{ encryption: 'aes-256-cbc' as const, hash: 'sha256' as const, dhGroup: 19, lifetimeSeconds: 3600 }];
    const ike = new IkeEndpoint({
      local: this.options.listen,
      gateways: this.options.members.map((address) => ({ name: address, peer: { address, port: 848 }, psk, proposals, initiate: false })),
      options: { maxHalfOpen: 64, retransmitInitialMs: 500, retransmitTries: 3, allowLegacyGroups: false },
      random: systemRandom, log: quietLog, send,
      events: { phase2: (sa, d, now) => { const h = tryHeader(d); if (h !== undefined) responder.handle(sa, d, h, now); } },
    });
    this.#ike = ike;
    this.#responder = responder;
    socket.on('message', (message, rinfo) => {
      const bytes = new Uint8Array(message);
      if (bytes.length >= 28 && bytes[18] === 35) {
        for (const kek of this.#keks) {
          const result = verifyAck(kek, bytes);
          if (result.ok) {
            this.acks.push({ ...result, from: rinfo.address });
            break;
          }
        }
      } else {
        ike.handleDatagram(bytes, { address: rinfo.address, port: rinfo.port }, Date.now());
      }
      this.#kick();
    });
    ike.start(Date.now());
    this.#kick();
  }

  /** Sends a PUSH to every member that registered (once per address). */
  push(bytes: Uint8Array): void {
    for (const address of new Set(this.registered.map((r) => r.address))) {
      this.#socket?.send(bytes, 848, address);
      this.pushesSent++;
    }
  }

  /** Sends raw bytes to one member's GDOI port (forged/replayed pushes). */
  sendTo(bytes: Uint8Array, address: string): void {
    this.#socket?.send(bytes, 848, address);
  }

  rekeyTeks(): Uint8Array {
    const { push } = this.group.rekeyTeks();
    this.push(push.bytes);
    return push.bytes;
  }

  rekeyKek(): Uint8Array {
    const push = this.group.rekeyKek();
    this.#keks = [this.group.kek, ...(this.group.previousKek === undefined ? [] : [this.group.previousKek])];
    this.push(push.bytes);
    return push.bytes;
  }

  #kick(): void {
    clearTimeout(this.#timer);
    if (this.#socket === undefined) return;
    const deadlines = [this.#ike?.nextDeadline(), this.#responder?.nextDeadline()].filter((d): d is number => d !== undefined);
    if (deadlines.length === 0) return;
    this.#timer = setTimeout(() => {
      const now = Date.now();
      this.#ike?.poll(now);
      this.#responder?.poll(now);
      this.#kick();
    }, Math.max(0, Math.min(...deadlines) - Date.now()));
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    const socket = this.#socket;
    this.#socket = undefined;
    this.#ike?.stop(Date.now());
    if (socket !== undefined) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}
