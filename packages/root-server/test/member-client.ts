/**
 * A test group member: an in-process IkeEndpoint (Main Mode initiator, PSK) and the gdoi PullInitiator /
 * PushReceiver over one real dgram socket, hosted by a small timer loop (after packages/gdoi/test/udp.test.ts).
 * It registers with a real key-server daemon and records every push it gets; ACKs go back from the same
 * socket. `mute` drops pushes unanswered (a member that vanished).
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { Secret, systemRandom } from '@gvpn/crypto';
import { PullInitiator, PushReceiver, hex, tryHeader, type PushOutcome } from '@gvpn/gdoi';
import { IkeEndpoint, type Endpoint, type IkeSa, type Logger } from '@gvpn/ike';

const quietLog: Logger = { info() {}, warn() {}, debug() {}, trace() {}, error() {}, child() { return quietLog; } };

const GROUPKEY_PUSH = 33;

export class MemberClient {
  readonly socket: Socket;
  readonly ike: IkeEndpoint;
  sa: IkeSa | undefined;
  readonly pulls: PullInitiator[] = [];
  receiver: PushReceiver | undefined;
  readonly outcomes: PushOutcome[] = [];
  acksSent = 0;
  /** The last ACK sent (RFC 8263), for tests that tamper with it. */
  lastAck: Uint8Array | undefined;
  mute = false;
  /** Datagrams for which this returns true are held back until `release()`. */
  hold: ((bytes: Uint8Array) => boolean) | undefined;
  readonly held: { bytes: Uint8Array; from: Endpoint }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  private constructor(socket: Socket, readonly local: Endpoint, readonly server: Endpoint, psk: string) {
    this.socket = socket;
    this.ike = new IkeEndpoint({
      local,
      gateways: [{
        name: 'ks', peer: server, psk: new Secret(new TextEncoder().encode(psk)), initiate: true,
        proposals: [{ encryption: 'aes-256-cbc', hash: 'sha256', dhGroup: 19, lifetimeSeconds: 3600 }],
      }],
      options: { maxHalfOpen: 16, retransmitInitialMs: 300, retransmitTries: 3, allowLegacyGroups: false },
      random: systemRandom, log: quietLog,
      send: (bytes, to) => this.send(bytes, to),
      events: {
        saUp: (sa) => { this.sa = sa; },
        phase2: (_sa, d, now) => {
          const h = tryHeader(d);
          const pull = h === undefined ? undefined : this.pulls.find((p) => p.messageId === h.messageId);
          if (h === undefined || pull === undefined) return;
          pull.handle(d, h, now);
          if (pull.state === 'done' && pull.result !== undefined) {
            this.receiver = new PushReceiver({ pull: pull.result, memberAddress: this.local.address });
          }
        },
      },
    });
    socket.on('message', (msg, rinfo) => {
      const bytes = new Uint8Array(msg);
      if (this.hold?.(bytes) === true) {
        this.held.push({ bytes, from: { address: rinfo.address, port: rinfo.port } });
        return;
      }
      if (bytes.length >= 28 && bytes[18] === GROUPKEY_PUSH) {
        if (this.mute || this.receiver === undefined || rinfo.address !== this.server.address) return;
        const out = this.receiver.handle(bytes);
        this.outcomes.push(out);
        if (out.ack !== undefined) {
          this.send(out.ack, { address: rinfo.address, port: rinfo.port });
          this.acksSent++;
          this.lastAck = out.ack;
        }
      } else {
        this.ike.handleDatagram(bytes, { address: rinfo.address, port: rinfo.port }, Date.now());
      }
      this.kick();
    });
  }

  static async open(address: string, server: Endpoint, psk: string): Promise<MemberClient> {
    const socket = createSocket('udp4');
    socket.bind(0, address);
    await once(socket, 'listening');
    return new MemberClient(socket, { address, port: socket.address().port }, server, psk);
  }

  /** Sends raw bytes from the member's socket. */
  sendRaw(bytes: Uint8Array, to: Endpoint): void {
    this.send(bytes, to);
  }

  private send(bytes: Uint8Array, to: Endpoint): void {
    if (!this.stopped) this.socket.send(bytes, to.port, to.address);
  }

  private kick(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const deadlines = [this.ike.nextDeadline(), ...this.pulls.map((p) => p.nextDeadline())].filter((d): d is number => d !== undefined);
    if (deadlines.length === 0) return;
    this.timer = setTimeout(() => {
      const now = Date.now();
      this.ike.poll(now);
      for (const p of this.pulls) p.poll(now);
      this.kick();
    }, Math.max(0, Math.min(...deadlines) - Date.now()));
  }

  /** Starts Main Mode with the server. */
  connect(): void {
    this.ike.start(Date.now());
    this.kick();
  }

  /** Starts a GROUPKEY-PULL for `groupId` on the established IKE SA. */
  pull(groupId: number, timing: { retransmitInitialMs: number; retransmitTries: number } = { retransmitInitialMs: 300, retransmitTries: 2 }): PullInitiator {
    if (this.sa === undefined) throw new Error('no IKE SA yet');
    const pull = new PullInitiator({ sa: this.sa, groupId, random: systemRandom, send: (bytes, to) => this.send(bytes, to), ...timing });
    this.pulls.push(pull);
    pull.start(Date.now());
    this.kick();
    return pull;
  }

  /** Stops holding and delivers what was held, in order. */
  release(): void {
    this.hold = undefined;
    for (const d of this.held.splice(0)) this.socket.emit('message', Buffer.from(d.bytes), { address: d.from.address, port: d.from.port, family: 'IPv4', size: d.bytes.length });
  }

  kekSpi(): string | undefined {
    return this.receiver?.kek === undefined ? undefined : hex(this.receiver.kek.spi);
  }

  tekSpis(): string[] {
    return [...(this.receiver?.teks.keys() ?? [])].sort();
  }

  accepted(): number {
    return this.outcomes.filter((o) => o.accepted).length;
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ike.stop(Date.now());
    this.socket.close();
  }
}
