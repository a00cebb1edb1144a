/**
 * The RG0 control link: a secure, message-oriented link between the two nodes of the root pair, over TCP
 * on loopback or a namespace link. Each node listens on `localAddress:port` and keeps one outbound
 * connection to `peerAddress:port`; a node sends on its outbound connection and receives on the inbound
 * one, so each TCP connection carries messages one way only.
 *
 * Wire format (every frame: 4-byte big-endian length, then the frame body; at most 4 MiB per body):
 *
 *   HELLO  (cleartext)   kind 0x01 | version 0x01 | node id (1) | random (32)                  35 bytes
 *   SEALED               kind 0x02 | counter (8, big-endian) | AES-256-GCM ciphertext | tag (16)
 *
 * Handshake on each new connection (C = connector, L = listener):
 *
 *   C -> L  HELLO(node C, rC)
 *   L -> C  HELLO(node L, rL), then SEALED#1 {type:"hello", node: L}       (proves L knows the PSK)
 *   C -> L  SEALED#1 {type:"hello", node: C}                               (proves C knows the PSK)
 *   C -> L  SEALED#2, #3, ... the messages given to `send`
 *
 * Keys (one per direction, and per connection):
 *
 *   connectionId    = SHA-256("gvpn-rg0-connection-id" | rC | rL)                          (32 bytes)
 *   directionKey(X) = HKDF-SHA256(psk, salt = "gvpn-rg0-control-link", info = "nodeX->nodeY")
 *   frameKey(X)     = HKDF-SHA256(directionKey(X), salt = connectionId, info = "gvpn-rg0-control-link frame key")
 *   nonce           = 4 zero bytes | counter (64-bit big-endian, from 1, per direction and connection)
 *   AAD             = connectionId | kind | counter
 *
 * Why the per-connection `frameKey` (beyond the brief's "one key per direction"): counters restart on
 * every connection, so under a fixed direction key the nonce of frame #1 would repeat on each reconnect,
 * and a repeated GCM nonce gives away the authentication key and the XOR of two plaintexts. The random
 * connection id makes every connection's key fresh, so nonce = (zero, counter) never repeats under a key.
 * Why both sides contribute to the connection id: if only the connector chose it, a recording of a whole
 * old connection replayed on a new TCP connection would be accepted again. With rL from the listener, the
 * old frames no longer authenticate.
 *
 * Receiving: a frame that fails to authenticate (`authFailures`), a counter that is not exactly the next
 * one (`replays`: replayed, reordered or skipped frames), a length above the limit (`oversize`; before
 * the handshake ends the limit is 256 bytes) or anything malformed (`protocolErrors`) drops the connection;
 * the connector dials again every `reconnectMs`. Nothing of a refused frame is delivered. The listener
 * closes at accept any connection not from `peerAddress` (the connector binds its `localAddress`), and holds
 * at most 4 unauthenticated ones, closing the oldest for a newcomer.
 *
 * Delivery: a `send` that returns true has been written to the socket; it is lost if that connection
 * drops before the peer reads it. Order is kept within a connection. Callers that need delivery (state
 * replication) acknowledge at their level.
 *
 * The PSK must be high-entropy: any sealed frame allows an offline guess of a weak one.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { Secret, systemRandom, type RandomSource } from '@gvpn/crypto';
import type { Logger } from '@gvpn/ike';
import { unmapIpv4 } from '@gvpn/runtime';

export type NodeId = 0 | 1;

/** The most bytes one frame body (after the 4-byte length) may have. */
export const CONTROL_LINK_MAX_FRAME = 4 * 1024 * 1024;
/** Frames before the handshake ends are tiny; an unauthenticated peer cannot make us buffer more. */
const PRE_AUTH_MAX_FRAME = 256;
export const FRAME_KIND_HELLO = 0x01;
export const FRAME_KIND_SEALED = 0x02;
const VERSION = 1;
const RANDOM_LENGTH = 32;
const HELLO_LENGTH = 3 + RANDOM_LENGTH;
const TAG_LENGTH = 16;
/** kind + counter + tag. */
export const SEALED_OVERHEAD = 1 + 8 + TAG_LENGTH;
const KDF_SALT = 'gvpn-rg0-control-link';
const FRAME_KEY_INFO = 'gvpn-rg0-control-link frame key';
const CONNECTION_ID_LABEL = 'gvpn-rg0-connection-id';
const MAX_COUNTER = 0xffff_ffff_ffff_ffffn;
/** Unauthenticated inbound connections from the peer's address held at once; a newcomer closes the oldest. */
const MAX_PENDING_INBOUND = 4;
/** An outbound socket holding more unsent bytes than this (peer frozen) is dropped. */
const MAX_BUFFERED = 16 * 1024 * 1024;
/** Refusals (auth, replay, oversize, protocol) are logged at most once per window per kind. */
const REFUSAL_LOG_WINDOW_MS = 10_000;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
/**
 * A message: `type` plus plain JSON values (checked at `send`). Typed `unknown` inside so callers can pass
 * their own record interfaces; what arrives is what JSON.parse made of it.
 */
export interface ControlMessage {
  type: string;
  [key: string]: unknown;
}
export type MessageHandler = (message: ControlMessage) => void;

export interface ControlLinkOptions {
  node: NodeId;
  localAddress: string;
  peerAddress: string;
  /** Both nodes listen on this port, each on its own address. */
  port: number;
  /** The PSK bytes (copied; the caller's buffer is left alone). */
  key: Uint8Array;
  log: Logger;
  /** Milliseconds, for log rate limits; default the system's monotonic clock. */
  clock?: () => number;
  random?: RandomSource;
  /** Delay between outbound attempts while down; default 200. */
  reconnectMs?: number;
  /** A connection that has not finished its handshake in this time is closed; default 2000. */
  handshakeTimeoutMs?: number;
  /** The most bytes of a frame body, sent or received; default (and at most) CONTROL_LINK_MAX_FRAME. Lower in tests. */
  maxFrame?: number;
}

export interface ControlLinkStats {
  /** Messages written on the outbound connection. */
  framesSent: number;
  /** Messages authenticated and delivered from the inbound connection. */
  framesReceived: number;
  /** Frames that failed to authenticate (each dropped its connection). */
  authFailures: number;
  /** Frames refused for size: on send (an error) and on receive (the connection dropped). */
  oversize: number;
  /** Outbound connections established after an earlier one was lost. */
  reconnects: number;
  /** Authentic frames refused for their counter (replayed, reordered or skipped). */
  replays: number;
  /** Malformed frames or handshakes (wrong node id, version, message not JSON...). */
  protocolErrors: number;
}

export type ControlLinkErrorCode = 'BAD_OPTIONS' | 'NOT_JSON' | 'OVERSIZE' | 'STATE';

export class ControlLinkError extends Error {
  override readonly name = 'ControlLinkError';
  readonly code: ControlLinkErrorCode;

  constructor(code: ControlLinkErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Keys and frames

/** HKDF-SHA256(psk, salt = "gvpn-rg0-control-link", info = "node<from>->node<to>"), 32 bytes. */
export function directionKey(psk: Uint8Array, from: NodeId): Uint8Array {
  const info = `node${from}->node${from === 0 ? 1 : 0}`;
  return new Uint8Array(hkdfSync('sha256', psk, KDF_SALT, info, 32));
}

/** HKDF-SHA256(directionKey, salt = connectionId, info = "gvpn-rg0-control-link frame key"), 32 bytes. */
export function frameKey(direction: Uint8Array, connectionId: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', direction, connectionId, FRAME_KEY_INFO, 32));
}

/** SHA-256("gvpn-rg0-connection-id" | connector random | listener random). */
export function connectionId(connectorRandom: Uint8Array, listenerRandom: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(CONNECTION_ID_LABEL).update(connectorRandom).update(listenerRandom).digest());
}

function nonceOf(counter: bigint): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(counter, 4);
  return nonce;
}

/** connectionId | kind | counter (the first 9 bytes of the sealed body). */
function aadOf(connId: Uint8Array, body: Uint8Array): Buffer {
  return Buffer.concat([connId, body.subarray(0, 9)]);
}

function helloFrame(node: NodeId, random: Uint8Array): Buffer {
  const frame = Buffer.alloc(4 + HELLO_LENGTH);
  frame.writeUInt32BE(HELLO_LENGTH, 0);
  frame[4] = FRAME_KIND_HELLO;
  frame[5] = VERSION;
  frame[6] = node;
  frame.set(random, 7);
  return frame;
}

/** A whole frame (length included): one cipher instance per frame. */
function sealFrame(key: Uint8Array, connId: Uint8Array, counter: bigint, plaintext: Uint8Array): Buffer {
  const bodyLength = SEALED_OVERHEAD + plaintext.length;
  const frame = Buffer.alloc(4 + bodyLength);
  frame.writeUInt32BE(bodyLength, 0);
  frame[4] = FRAME_KIND_SEALED;
  frame.writeBigUInt64BE(counter, 5);
  const cipher = createCipheriv('aes-256-gcm', key, nonceOf(counter), { authTagLength: TAG_LENGTH });
  cipher.setAAD(aadOf(connId, frame.subarray(4)));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  frame.set(ciphertext, 13);
  frame.set(cipher.getAuthTag(), 13 + ciphertext.length);
  return frame;
}

/** The counter and plaintext of an authentic sealed body, or undefined (nothing of it is returned). */
function openFrame(key: Uint8Array, connId: Uint8Array, body: Buffer): { counter: bigint; plaintext: Buffer } | undefined {
  const counter = body.readBigUInt64BE(1);
  const decipher = createDecipheriv('aes-256-gcm', key, nonceOf(counter), { authTagLength: TAG_LENGTH });
  decipher.setAAD(aadOf(connId, body));
  decipher.setAuthTag(body.subarray(body.length - TAG_LENGTH));
  const plaintext = decipher.update(body.subarray(9, body.length - TAG_LENGTH));
  try {
    decipher.final(); // OpenSSL compares the tag in constant time; a mismatch throws.
  } catch {
    plaintext.fill(0);
    return undefined;
  }
  return { counter, plaintext };
}

/** Collects stream chunks and cuts them into frame bodies. */
class FrameReader {
  #chunks: Buffer[] = [];
  #length = 0;

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** The next body, `undefined` if incomplete, or `{ oversize }` when its length field exceeds `max`. */
  next(max: number): Buffer | undefined | { oversize: number } {
    if (this.#length < 4) return undefined;
    if (this.#chunks[0]!.length < 4) this.#flatten();
    const length = this.#chunks[0]!.readUInt32BE(0);
    if (length > max) return { oversize: length };
    if (this.#length < 4 + length) return undefined;
    this.#flatten();
    const all = this.#chunks[0]!;
    const body = all.subarray(4, 4 + length);
    const rest = all.subarray(4 + length);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#length = rest.length;
    return body;
  }

  #flatten(): void {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks, this.#length)];
  }
}

// ---------------------------------------------------------------------------------------------------------
// Messages

function checkJson(value: unknown, path: string, depth: number, seen: Set<object>): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ControlLinkError('NOT_JSON', `${path} is ${value}, not a JSON number`);
    return;
  }
  if (typeof value !== 'object') throw new ControlLinkError('NOT_JSON', `${path} is a ${typeof value}`);
  if (depth > 64) throw new ControlLinkError('NOT_JSON', `${path} is nested too deep`);
  if (seen.has(value)) throw new ControlLinkError('NOT_JSON', `${path} is a cycle`);
  seen.add(value);
  if (Array.isArray(value)) {
    value.forEach((item, i) => checkJson(item, `${path}[${i}]`, depth + 1, seen));
  } else {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const kind = (value as object).constructor?.name ?? 'object';
      throw new ControlLinkError('NOT_JSON', `${path} is a ${kind}, not a plain object (encode bytes as hex or base64)`);
    }
    for (const [key, item] of Object.entries(value)) checkJson(item, `${path}.${key}`, depth + 1, seen);
  }
  seen.delete(value);
}

function checkMessage(message: unknown): asserts message is ControlMessage {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    throw new ControlLinkError('NOT_JSON', 'a message must be an object');
  }
  if (typeof (message as { type?: unknown }).type !== 'string') throw new ControlLinkError('NOT_JSON', 'a message needs a string `type`');
  checkJson(message, 'message', 0, new Set());
}

function parseMessage(plaintext: Buffer): ControlMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(plaintext.toString('utf8'));
  } catch {
    return undefined;
  }
  const ok = typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as { type?: unknown }).type === 'string';
  return ok ? (value as ControlMessage) : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// One TCP connection

type Refusal = 'authFailures' | 'replays' | 'oversize' | 'protocolErrors';

interface ConnectionHost {
  readonly node: NodeId;
  readonly peer: NodeId;
  readonly random: RandomSource;
  readonly handshakeTimeoutMs: number;
  readonly maxFrame: number;
  /** This node's outbound key and the peer's (direction keys; frame keys derive from them). */
  readonly sendKey: Secret;
  readonly receiveKey: Secret;
  opened(conn: Connection): void;
  closed(conn: Connection, reason: string): void;
  delivered(message: ControlMessage): void;
  refused(conn: Connection, kind: Refusal, fields: Record<string, unknown>): void;
}

type ConnectionState = 'hello' | 'proof' | 'open' | 'closed';

/**
 * A connector sends messages; a listener receives them. Both run the handshake in the file comment.
 */
class Connection {
  readonly role: 'connector' | 'listener';
  readonly socket: Socket;
  readonly #host: ConnectionHost;
  readonly #reader = new FrameReader();
  #state: ConnectionState = 'hello';
  #ownRandom: Uint8Array | undefined;
  #connId: Uint8Array | undefined;
  #sendKey: Uint8Array | undefined;
  #receiveKey: Uint8Array | undefined;
  #sendCounter = 0n;
  #receiveCounter = 0n;
  #timer: NodeJS.Timeout | undefined;
  #closeReason = 'closed';
  #wasOpen = false;

  constructor(role: 'connector' | 'listener', socket: Socket, host: ConnectionHost) {
    this.role = role;
    this.socket = socket;
    this.#host = host;
    socket.setNoDelay(true);
    this.#timer = setTimeout(() => this.drop('handshake timeout'), host.handshakeTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.#closeReason = err.code ?? err.message;
    });
    socket.on('close', () => this.#onClose());
  }

  get open(): boolean {
    return this.#state === 'open';
  }

  /** Whether the handshake ever completed (still true once closed). */
  get wasOpen(): boolean {
    return this.#wasOpen;
  }

  /** The first 8 hex digits of the connection id (public: derived from the cleartext HELLOs). */
  get id(): string | undefined {
    return this.#connId === undefined ? undefined : Buffer.from(this.#connId.subarray(0, 4)).toString('hex');
  }

  /** Connector: called once TCP is up. */
  sendHello(): void {
    this.#ownRandom = this.#host.random.bytes(RANDOM_LENGTH);
    this.socket.write(helloFrame(this.#host.node, this.#ownRandom));
  }

  /** Writes one message (connector, open). False if the socket is stalled and was dropped. */
  sendPlaintext(plaintext: Uint8Array): boolean {
    if (this.socket.writableLength > MAX_BUFFERED) {
      this.drop('peer not reading');
      return false;
    }
    this.socket.write(this.#seal(plaintext));
    return true;
  }

  drop(reason: string): void {
    if (this.#state === 'closed') return;
    this.#closeReason = reason;
    this.#setClosed();
    this.socket.destroy();
  }

  #setClosed(): void {
    this.#state = 'closed';
    clearTimeout(this.#timer);
    this.#sendKey?.fill(0);
    this.#receiveKey?.fill(0);
  }

  #onClose(): void {
    const wasClosed = this.#state === 'closed';
    if (!wasClosed) this.#setClosed();
    this.#host.closed(this, this.#closeReason);
  }

  #seal(plaintext: Uint8Array): Buffer {
    if (this.#sendCounter >= MAX_COUNTER) throw new ControlLinkError('STATE', 'frame counter exhausted');
    this.#sendCounter += 1n;
    return sealFrame(this.#sendKey!, this.#connId!, this.#sendCounter, plaintext);
  }

  #refuse(kind: Refusal, reason: string, fields: Record<string, unknown> = {}): void {
    this.#host.refused(this, kind, { reason, ...fields });
    this.drop(reason);
  }

  #onData(chunk: Buffer): void {
    this.#reader.push(chunk);
    while (this.#state !== 'closed') {
      const max = this.#state === 'open' ? this.#host.maxFrame : PRE_AUTH_MAX_FRAME;
      const body = this.#reader.next(max);
      if (body === undefined) return;
      if (!Buffer.isBuffer(body)) {
        this.#refuse('oversize', 'frame too large', { length: body.oversize, max });
        return;
      }
      this.#onFrame(body);
    }
  }

  #onFrame(body: Buffer): void {
    const kind = body[0];
    if (this.#state === 'hello') {
      if (kind !== FRAME_KIND_HELLO || body.length !== HELLO_LENGTH) return this.#refuse('protocolErrors', 'expected HELLO');
      if (body[1] !== VERSION) return this.#refuse('protocolErrors', 'unsupported version', { version: body[1] });
      if (body[2] !== this.#host.peer) return this.#refuse('protocolErrors', 'HELLO from the wrong node', { node: body[2] });
      this.#onHello(body.subarray(3));
      return;
    }
    if (kind !== FRAME_KIND_SEALED || body.length < SEALED_OVERHEAD) return this.#refuse('protocolErrors', 'expected a sealed frame');
    if (this.#state === 'open' && this.role === 'connector') return this.#refuse('protocolErrors', 'frame on the sending side');
    const opened = openFrame(this.#receiveKey!, this.#connId!, body);
    if (opened === undefined) return this.#refuse('authFailures', 'frame failed to authenticate');
    if (opened.counter !== this.#receiveCounter + 1n) {
      opened.plaintext.fill(0);
      return this.#refuse('replays', 'frame counter out of sequence', { counter: opened.counter.toString(), expected: (this.#receiveCounter + 1n).toString() });
    }
    this.#receiveCounter = opened.counter;
    const message = parseMessage(opened.plaintext);
    if (message === undefined) return this.#refuse('protocolErrors', 'frame is not a JSON message');
    if (this.#state === 'proof') {
      if (message.type !== 'hello' || message.node !== this.#host.peer) return this.#refuse('protocolErrors', 'expected the sealed hello');
      if (this.role === 'connector') this.socket.write(this.#seal(Buffer.from(JSON.stringify({ type: 'hello', node: this.#host.node }))));
      opened.plaintext.fill(0);
      this.#state = 'open';
      this.#wasOpen = true;
      clearTimeout(this.#timer);
      this.#host.opened(this);
      return;
    }
    opened.plaintext.fill(0);
    this.#host.delivered(message);
  }

  /** The peer's HELLO: derive this connection's keys; a listener answers with its HELLO and sealed hello. */
  #onHello(peerRandom: Buffer): void {
    if (this.role === 'listener') this.#ownRandom = this.#host.random.bytes(RANDOM_LENGTH);
    const ownRandom = this.#ownRandom!;
    const [connectorRandom, listenerRandom] = this.role === 'listener' ? [peerRandom, ownRandom] : [ownRandom, peerRandom];
    this.#connId = connectionId(connectorRandom, listenerRandom);
    this.#sendKey = frameKey(this.#host.sendKey.reveal(), this.#connId);
    this.#receiveKey = frameKey(this.#host.receiveKey.reveal(), this.#connId);
    this.#state = 'proof';
    if (this.role === 'listener') {
      this.socket.write(helloFrame(this.#host.node, ownRandom));
      this.socket.write(this.#seal(Buffer.from(JSON.stringify({ type: 'hello', node: this.#host.node }))));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The link

function emptyStats(): ControlLinkStats {
  return { framesSent: 0, framesReceived: 0, authFailures: 0, oversize: 0, reconnects: 0, replays: 0, protocolErrors: 0 };
}

export class ControlLink {
  readonly #node: NodeId;
  readonly #peer: NodeId;
  readonly #localAddress: string;
  readonly #peerAddress: string;
  readonly #port: number;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #reconnectMs: number;
  readonly #host: ConnectionHost;
  readonly #stats = emptyStats();
  readonly #handlers = new Set<MessageHandler>();
  /** Per refusal kind (and 'handler'): the time before which lines are suppressed, and how many were. */
  readonly #logLimits = new Map<string, { until: number; suppressed: number }>();
  #running = false;
  #server: Server | undefined;
  #outbound: Connection | undefined;
  #inbound: Connection | undefined;
  readonly #pending = new Set<Connection>();
  #reconnectTimer: NodeJS.Timeout | undefined;
  #everUp = false;
  /** Outbound failures logged since the link was last up: a peer that stays down gives one line per kind, not five a second. */
  readonly #failuresLogged = new Set<string>();

  constructor(options: ControlLinkOptions) {
    const { node, localAddress, peerAddress, port, key } = options;
    if (node !== 0 && node !== 1) throw new ControlLinkError('BAD_OPTIONS', `node must be 0 or 1, got ${String(node)}`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ControlLinkError('BAD_OPTIONS', `port must be 1..65535, got ${port}`);
    if (!(key instanceof Uint8Array) || key.length === 0) throw new ControlLinkError('BAD_OPTIONS', 'key must be non-empty bytes');
    if (localAddress === peerAddress) throw new ControlLinkError('BAD_OPTIONS', 'localAddress and peerAddress must differ');
    const maxFrame = options.maxFrame ?? CONTROL_LINK_MAX_FRAME;
    if (!Number.isInteger(maxFrame) || maxFrame < PRE_AUTH_MAX_FRAME || maxFrame > CONTROL_LINK_MAX_FRAME) {
      throw new ControlLinkError('BAD_OPTIONS', `maxFrame must be ${PRE_AUTH_MAX_FRAME}..${CONTROL_LINK_MAX_FRAME}, got ${maxFrame}`);
    }
    this.#node = node;
    this.#peer = node === 0 ? 1 : 0;
    this.#localAddress = localAddress;
    this.#peerAddress = peerAddress;
    this.#port = port;
    this.#log = options.log.child({ component: 'control-link', node });
    this.#clock = options.clock ?? (() => performance.timeOrigin + performance.now());
    this.#reconnectMs = options.reconnectMs ?? 200;
    this.#host = {
      node,
      peer: this.#peer,
      random: options.random ?? systemRandom,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 2000,
      maxFrame,
      sendKey: new Secret(directionKey(key, node)),
      receiveKey: new Secret(directionKey(key, this.#peer)),
      opened: (conn) => this.#opened(conn),
      closed: (conn, reason) => this.#closed(conn, reason),
      delivered: (message) => this.#deliver(message),
      refused: (conn, kind, fields) => this.#refused(conn, kind, fields),
    };
  }

  /** True while the outbound connection is authenticated: `send` writes. */
  get connected(): boolean {
    return this.#outbound?.open === true;
  }

  /** True while an authenticated inbound connection from the peer is up. */
  get inboundConnected(): boolean {
    return this.#inbound?.open === true;
  }

  /** The most bytes of a frame body (`send` refuses a message whose frame would be larger). */
  get maxFrame(): number {
    return this.#host.maxFrame;
  }

  get stats(): ControlLinkStats {
    return { ...this.#stats };
  }

  /** Adds a handler for messages from the peer; returns its removal. */
  onMessage(handler: MessageHandler): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  /** Listens on localAddress:port (rejects with the socket error, e.g. EADDRINUSE), then dials the peer. */
  async start(): Promise<void> {
    if (this.#running) throw new ControlLinkError('STATE', 'control link already started');
    const server = createServer((socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.#localAddress, port: this.#port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.#log.error({ err: err.message }, 'control link listener error'));
    this.#server = server;
    this.#running = true;
    this.#failuresLogged.clear();
    this.#log.info({ local: `${this.#localAddress}:${this.#port}`, peer: `${this.#peerAddress}:${this.#port}` }, 'control link started');
    this.#dial();
  }

  /** Closes the listener and every connection, and stops dialling. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    const server = this.#server;
    this.#server = undefined;
    for (const conn of [this.#outbound, this.#inbound, ...this.#pending]) conn?.drop('stopped');
    this.#pending.clear();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
    this.#log.info({}, 'control link stopped');
  }

  /**
   * Writes `message` on the outbound connection; false when not connected. Throws ControlLinkError
   * `NOT_JSON` for anything but plain JSON (bytes: encode as hex/base64) and `OVERSIZE` above `maxFrame`
   * (4 MiB).
   */
  send(message: ControlMessage): boolean {
    checkMessage(message);
    const plaintext = Buffer.from(JSON.stringify(message), 'utf8');
    if (SEALED_OVERHEAD + plaintext.length > this.#host.maxFrame) {
      this.#stats.oversize += 1;
      throw new ControlLinkError('OVERSIZE', `message of ${plaintext.length} bytes exceeds the ${this.#host.maxFrame}-byte frame limit`);
    }
    const conn = this.#outbound;
    if (conn === undefined || !conn.open) return false;
    if (!conn.sendPlaintext(plaintext)) return false;
    this.#stats.framesSent += 1;
    return true;
  }

  #dial(): void {
    this.#reconnectTimer = undefined;
    if (!this.#running) return;
    const socket = createConnection({ host: this.#peerAddress, port: this.#port, localAddress: this.#localAddress });
    const conn = new Connection('connector', socket, this.#host);
    this.#outbound = conn;
    socket.once('connect', () => conn.sendHello());
  }

  /**
   * Only the peer dials in (its connector binds the peer's control-link address): anything else is closed at
   * once, before it can hold a slot. When the slots are full the oldest pending connection goes, not the
   * newcomer: idle connections kept open cannot lock out a peer that completes its handshake in a round trip.
   */
  #accept(socket: Socket): void {
    const from = socket.remoteAddress === undefined ? undefined : unmapIpv4(socket.remoteAddress);
    if (!this.#running || from !== this.#peerAddress) {
      socket.destroy();
      return;
    }
    if (this.#pending.size >= MAX_PENDING_INBOUND) {
      const oldest = this.#pending.values().next().value;
      oldest?.drop('replaced by a newer pending connection');
      if (oldest !== undefined) this.#pending.delete(oldest);
    }
    this.#pending.add(new Connection('listener', socket, this.#host));
  }

  #opened(conn: Connection): void {
    if (conn.role === 'connector') {
      if (this.#everUp) this.#stats.reconnects += 1;
      this.#everUp = true;
      this.#failuresLogged.clear();
      this.#log.info({ peer: this.#peerAddress, connection: conn.id }, 'control link up');
      return;
    }
    this.#pending.delete(conn);
    const old = this.#inbound;
    this.#inbound = conn;
    // The peer has one outbound connection: a newer one means the older is dead (peer restarted).
    old?.drop('replaced by a newer connection');
    this.#log.info({ from: conn.socket.remoteAddress, connection: conn.id }, 'control link inbound up');
  }

  #closed(conn: Connection, reason: string): void {
    if (conn.role === 'listener') {
      this.#pending.delete(conn);
      if (this.#inbound === conn) {
        this.#inbound = undefined;
        this.#log.info({ connection: conn.id, reason }, 'control link inbound down');
      }
      return;
    }
    if (this.#outbound !== conn) return;
    this.#outbound = undefined;
    // State changes only: up -> down, then one line per new kind of failure while it stays down.
    if (conn.wasOpen) this.#log.info({ peer: this.#peerAddress, connection: conn.id, reason }, 'control link down');
    else if (!this.#failuresLogged.has(reason)) {
      this.#failuresLogged.add(reason);
      this.#log.debug({ peer: this.#peerAddress, reason }, 'control link cannot reach the peer');
    }
    if (this.#running) this.#reconnectTimer = setTimeout(() => this.#dial(), this.#reconnectMs);
  }

  #deliver(message: ControlMessage): void {
    this.#stats.framesReceived += 1;
    for (const handler of this.#handlers) {
      try {
        handler(message);
      } catch (err) {
        this.#limitedLog('handler', 'error', { type: message.type, err: err instanceof Error ? err.message : String(err) }, 'control link message handler threw');
      }
    }
  }

  #refused(conn: Connection, kind: Refusal, fields: Record<string, unknown>): void {
    this.#stats[kind] += 1;
    this.#limitedLog(kind, 'warn', { ...fields, role: conn.role, remote: conn.socket.remoteAddress, connection: conn.id }, 'control link frame refused, connection dropped');
  }

  #limitedLog(kind: string, level: 'warn' | 'error', fields: Record<string, unknown>, message: string): void {
    const now = this.#clock();
    const limit = this.#logLimits.get(kind) ?? { until: -Infinity, suppressed: 0 };
    this.#logLimits.set(kind, limit);
    if (now < limit.until) {
      limit.suppressed += 1;
      return;
    }
    this.#log[level]({ ...fields, kind, ...(limit.suppressed > 0 ? { suppressed: limit.suppressed } : {}) }, message);
    limit.until = now + REFUSAL_LOG_WINDOW_MS;
    limit.suppressed = 0;
  }
}
