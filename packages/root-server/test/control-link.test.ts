/**
 * The RG0 control link (src/pair/control-link.ts) over real TCP on 127.0.x.y, with random high ports.
 * node0 listens on .1, node1 on .2; where a test needs a man in the middle, node0 dials a relay on .3
 * (same port) that forwards to node1 and may flip, repeat, inject or record the frames node0 sends.
 * Each test uses its own 127.0.N.0/24 so a slow close of one cannot meet the next.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hkdfSync, randomBytes } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { createLogger } from '@gvpn/runtime';
import {
  CONTROL_LINK_MAX_FRAME, ControlLink, ControlLinkError, FRAME_KIND_SEALED, directionKey, type ControlMessage,
} from '../src/pair/control-link.js';

/** A pino destination that keeps parsed lines. */
function capture(): { write(line: string): void; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) };
}

/** Polls `condition` every 5 ms; fails with `what` after `ms`. */
async function until(what: string, condition: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const randomPort = (): number => 20000 + Math.floor(Math.random() * 40000);
const isAddrInUse = (err: unknown): boolean => (err as NodeJS.ErrnoException).code === 'EADDRINUSE';

/** Everything a test started, stopped in `after` whatever the outcome. */
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

interface Node {
  link: ControlLink;
  got: ControlMessage[];
  out: ReturnType<typeof capture>;
  address: string;
}

function makeNode(node: 0 | 1, address: string, peerAddress: string, port: number, key: Uint8Array, reconnectMs: number | undefined): Node {
  const out = capture();
  const log = createLogger({ level: 'debug', name: `node${node}`, destination: out });
  const link = new ControlLink({ node, localAddress: address, peerAddress, port, key, log, ...(reconnectMs === undefined ? {} : { reconnectMs }) });
  const got: ControlMessage[] = [];
  link.onMessage((m) => got.push(m));
  cleanups.push(() => link.stop());
  return { link, got, out, address };
}

/** A frame as it crossed the relay: the whole frame (length included) and, for sealed ones, the counter. */
interface Seen {
  frame: Buffer;
  kind: number;
  counter: bigint | undefined;
}

/**
 * A TCP relay on `address:port` to `target:port`. Frames from the dialler (node0) are parsed and passed
 * through `transform(frame, connection index)`, which returns what to forward; the other way is copied.
 * Each node accepts connections from its peer's address only, so both nodes name the relay as their peer:
 * the relay dials from `address`, and what node1 (`target`) dials it copies to node0 (`source`) as it is.
 */
class Relay {
  readonly server: Server;
  readonly seen: Seen[][] = [];
  readonly sockets = new Set<Socket>();
  closedConnections = 0;
  transform: (seen: Seen, connection: number) => Buffer[] = (s) => [s.frame];

  constructor(readonly address: string, readonly target: string, readonly port: number, readonly source: string) {
    this.server = createServer((down) => this.#relay(down));
    cleanups.push(() => this.close());
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.address, port: this.port }, () => resolve());
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** node1's own outbound connection, to node0 unchanged. */
  #copy(down: Socket): void {
    const up = createConnection({ host: this.source, port: this.port, localAddress: this.address });
    this.sockets.add(down).add(up);
    down.pipe(up);
    up.pipe(down);
    for (const s of [down, up]) {
      s.on('error', () => {});
      s.on('close', () => {
        down.destroy();
        up.destroy();
      });
    }
  }

  #relay(down: Socket): void {
    if (down.remoteAddress === this.target) {
      this.#copy(down);
      return;
    }
    const index = this.seen.length;
    const frames: Seen[] = [];
    this.seen.push(frames);
    const up = createConnection({ host: this.target, port: this.port, localAddress: this.address });
    this.sockets.add(down).add(up);
    let pending = Buffer.alloc(0);
    down.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
        const frame = pending.subarray(0, 4 + pending.readUInt32BE(0));
        pending = pending.subarray(frame.length);
        const kind = frame[4]!;
        const seen = { frame: Buffer.from(frame), kind, counter: kind === FRAME_KIND_SEALED ? frame.readBigUInt64BE(5) : undefined };
        frames.push(seen);
        for (const out of this.transform(seen, index)) up.write(out);
      }
    });
    up.on('data', (chunk: Buffer) => down.write(chunk));
    let closed = false;
    const close = (): void => {
      if (!closed) this.closedConnections += 1;
      closed = true;
      down.destroy();
      up.destroy();
    };
    for (const s of [down, up]) {
      s.on('error', close);
      s.on('close', close);
    }
  }
}

/**
 * node0 (.1) and node1 (.2) on 127.0.`net`.x and one random port (another on EADDRINUSE); with `relay`,
 * both dial the relay on .3. Resolves once both directions are up. Redials every 50 ms (the 200 ms
 * default has its own test) to keep the file fast.
 */
async function pair(net: number, options: { keys?: [Uint8Array, Uint8Array]; relay?: boolean; waitUp?: boolean; reconnectMs?: number } = {}): Promise<{ a: Node; b: Node; relay: Relay | undefined; port: number }> {
  const psk = randomBytes(32);
  const [keyA, keyB] = options.keys ?? [psk, psk];
  const [addrA, addrB, addrR] = [`127.0.${net}.1`, `127.0.${net}.2`, `127.0.${net}.3`];
  for (let attempt = 0; ; attempt++) {
    const port = randomPort();
    const relay = options.relay === true ? new Relay(addrR, addrB, port, addrA) : undefined;
    const reconnectMs = 'reconnectMs' in options ? options.reconnectMs : 50;
    const a = makeNode(0, addrA, relay === undefined ? addrB : addrR, port, keyA, reconnectMs);
    const b = makeNode(1, addrB, relay === undefined ? addrA : addrR, port, keyB, reconnectMs);
    try {
      await relay?.listen();
      await b.link.start();
      await a.link.start();
    } catch (err) {
      await a.link.stop();
      await b.link.stop();
      await relay?.close();
      if (isAddrInUse(err) && attempt < 5) continue;
      throw err;
    }
    if (options.waitUp !== false) await until('both directions up', () => a.link.connected && b.link.connected && a.link.inboundConnected && b.link.inboundConnected);
    return { a, b, relay, port };
  }
}

const msg = (i: number, extra: Record<string, unknown> = {}): ControlMessage => ({ type: 'test', i, ...extra });

describe('control link', () => {
  it('derives one key per direction with HKDF-SHA256 as specified', () => {
    const psk = new TextEncoder().encode('rg0 control link psk');
    const expected = (info: string): Uint8Array => new Uint8Array(hkdfSync('sha256', psk, 'gvpn-rg0-control-link', info, 32));
    assert.deepEqual(directionKey(psk, 0), expected('node0->node1'));
    assert.deepEqual(directionKey(psk, 1), expected('node1->node0'));
    assert.notDeepEqual(directionKey(psk, 0), directionKey(psk, 1));
  });

  it('exchanges messages both ways, in order, up to large ones', async () => {
    const { a, b } = await pair(81);
    const big = 'x'.repeat(1024 * 1024);
    for (let i = 0; i < 500; i++) {
      assert.equal(a.link.send(msg(i, { from: 'a', nested: { list: [i, null, true, 'é'] } })), true);
      assert.equal(b.link.send(msg(i, { from: 'b' })), true);
    }
    assert.equal(a.link.send(msg(500, { big })), true);
    await until('all messages', () => b.got.length === 501 && a.got.length === 500);
    assert.deepEqual(b.got.slice(0, 500).map((m) => m.i), [...Array(500).keys()]);
    assert.deepEqual(a.got.map((m) => m.i), [...Array(500).keys()]);
    assert.deepEqual(b.got[3], { type: 'test', i: 3, from: 'a', nested: { list: [3, null, true, 'é'] } });
    assert.equal(b.got[500]?.big, big);
    assert.equal(a.link.stats.framesSent, 501);
    assert.equal(b.link.stats.framesReceived, 501);
    assert.equal(b.link.stats.framesSent, 500);
    assert.equal(a.link.stats.framesReceived, 500);
    for (const n of [a, b]) assert.deepEqual({ ...n.link.stats, framesSent: 0, framesReceived: 0 }, { framesSent: 0, framesReceived: 0, authFailures: 0, oversize: 0, reconnects: 0, replays: 0, protocolErrors: 0 });
  });

  it('accepts plain JSON only, and refuses an oversize message on send', async () => {
    const { a, b } = await pair(82);
    const notJson = [
      { type: 'bytes', key: Uint8Array.of(1, 2) },
      { type: 'nested', keys: [{ spi: Buffer.from('ab') }] },
      { type: 'undef', x: undefined },
      { type: 'nan', x: Number.NaN },
      { type: 'big', x: 1n },
      { type: 'date', x: new Date(0) },
      { type: 'map', x: new Map() },
      { type: 5 },
    ];
    for (const m of notJson) assert.throws(() => a.link.send(m as unknown as ControlMessage), (err: unknown) => err instanceof ControlLinkError && err.code === 'NOT_JSON', JSON.stringify(String(m.type)));
    const cyclic: ControlMessage = { type: 'cycle' };
    cyclic.self = cyclic;
    assert.throws(() => a.link.send(cyclic), { code: 'NOT_JSON' });

    const oversize = { type: 'big', data: 'y'.repeat(CONTROL_LINK_MAX_FRAME) };
    assert.throws(() => a.link.send(oversize), (err: unknown) => err instanceof ControlLinkError && err.code === 'OVERSIZE');
    assert.equal(a.link.stats.oversize, 1);
    // Just under the limit goes through (4 MiB body = overhead + JSON).
    const fits = { type: 'big', data: '' };
    fits.data = 'z'.repeat(CONTROL_LINK_MAX_FRAME - 25 - JSON.stringify(fits).length);
    assert.equal(a.link.send(fits), true);
    assert.equal(a.link.send(msg(1)), true);
    await until('the large and the small message', () => b.got.length === 2);
    assert.equal((b.got[0]?.data as string).length, fits.data.length);
    assert.equal(b.got[1]?.i, 1);
    assert.equal(a.link.stats.framesSent, 2);
    assert.equal(a.link.connected, true);
  });

  it('reconnects every 200 ms while the peer is down, logging state changes only', async () => {
    const { a, b, port } = await pair(83, { reconnectMs: undefined });
    assert.equal(a.link.send(msg(1)), true);
    await until('first message', () => b.got.length === 1);

    await b.link.stop();
    await until('node0 sees the link down', () => !a.link.connected && !a.link.inboundConnected);
    assert.equal(a.link.send(msg(2)), false);
    // Stand in for node1 with a listener that accepts and closes: node0 must keep dialling, ~every 200 ms.
    const accepted: number[] = [];
    const stub = createServer((s) => {
      accepted.push(Date.now());
      s.destroy();
    });
    await new Promise<void>((resolve) => stub.listen({ host: b.address, port }, () => resolve()));
    await until('three attempts', () => accepted.length >= 3, 3000);
    await new Promise<void>((resolve) => stub.close(() => resolve()));
    const gaps = accepted.slice(1).map((t, i) => t - accepted[i]!);
    for (const gap of gaps) assert.ok(gap >= 150 && gap < 600, `dial gap ${gap} ms`);

    await b.link.start();
    await until('both directions up again', () => a.link.connected && b.link.connected && a.link.inboundConnected && b.link.inboundConnected);
    assert.equal(a.link.send(msg(3)), true);
    assert.equal(b.link.send(msg(4)), true);
    await until('messages after the restart', () => b.got.length === 2 && a.got.length === 1);
    assert.deepEqual(b.got.map((m) => m.i), [1, 3]);
    assert.equal(a.got[0]?.i, 4);
    assert.equal(a.link.stats.reconnects, 1);
    assert.equal(b.link.stats.reconnects, 1); // its outbound came up again after its own stop/start

    const texts = a.out.lines.map((l) => l.msg);
    assert.equal(texts.filter((t) => t === 'control link down').length, 1);
    assert.equal(texts.filter((t) => t === 'control link up').length, 2);
    // Refused + reset by the stub: at most one line per kind of failure, not one per attempt.
    const failures = a.out.lines.filter((l) => l.msg === 'control link cannot reach the peer').map((l) => l.reason);
    assert.ok(failures.length >= 1 && new Set(failures).size === failures.length, `failure lines ${failures.join(', ')} for ${accepted.length}+ attempts`);
  });

  it('with the wrong PSK on one side: nothing delivered, authFailures counted, no key material logged', async () => {
    const right = randomBytes(32);
    const wrong = randomBytes(32);
    const { a, b } = await pair(84, { keys: [right, wrong], waitUp: false });
    await until('auth failures on both sides, repeatedly', () => a.link.stats.authFailures >= 3 && b.link.stats.authFailures >= 3);
    assert.equal(a.link.connected || b.link.connected || a.link.inboundConnected || b.link.inboundConnected, false);
    assert.equal(a.link.send(msg(1)), false);
    assert.equal(b.link.send(msg(2)), false);
    assert.deepEqual([a.got.length, b.got.length], [0, 0]);
    assert.equal(a.link.stats.framesReceived + b.link.stats.framesReceived, 0);

    const logged = JSON.stringify([...a.out.lines, ...b.out.lines]);
    const secrets = [right, wrong, directionKey(right, 0), directionKey(right, 1), directionKey(wrong, 0), directionKey(wrong, 1)];
    for (const s of secrets) {
      assert.ok(!logged.includes(Buffer.from(s).toString('hex')), 'key material (hex) in the log');
      assert.ok(!logged.includes(Buffer.from(s).toString('base64')), 'key material (base64) in the log');
    }
    // Rate-limited: the first refusal per node is logged, the rest of the 10 s window is not.
    for (const n of [a, b]) {
      const refusals = n.out.lines.filter((l) => l.msg === 'control link frame refused, connection dropped');
      assert.equal(refusals.length, 1);
      assert.equal(refusals[0]?.kind, 'authFailures');
    }
  });

  it('a byte flipped on the wire drops the connection and nothing of that frame is delivered', async () => {
    const { a, b, relay } = await pair(85, { relay: true });
    relay!.transform = (s, connection) => {
      if (connection !== 0 || s.kind !== FRAME_KIND_SEALED || s.counter !== 2n) return [s.frame];
      const tampered = Buffer.from(s.frame);
      tampered[4 + 9 + 3]! ^= 0x01; // a ciphertext byte of the first message
      return [tampered];
    };
    assert.equal(a.link.send(msg(1)), true);
    await until('the tampered connection dropped', () => b.link.stats.authFailures === 1 && relay!.closedConnections === 1);
    await until('node0 back up through the relay', () => relay!.seen.length === 2 && a.link.connected);
    assert.equal(a.link.send(msg(2)), true);
    await until('the next message', () => b.got.length === 1);
    assert.deepEqual(b.got.map((m) => m.i), [2]);
    assert.equal(a.link.stats.reconnects, 1);
    assert.equal(b.link.stats.framesReceived, 1);

    // A flipped bit in the cleartext HELLO changes the connection id: the handshake fails, no link.
    relay!.transform = (s, connection) => {
      if (connection !== 2 || s.kind === FRAME_KIND_SEALED) return [s.frame];
      const tampered = Buffer.from(s.frame);
      tampered[4 + 3 + 5]! ^= 0x80; // inside node0's random
      return [tampered];
    };
    relay!.sockets.forEach((s) => s.destroy());
    await until('handshake refused', () => a.link.stats.authFailures === 1, 3000);
    await until('up again after that', () => relay!.seen.length >= 4 && a.link.connected);
    assert.equal(b.got.length, 1);
  });

  it('a replayed frame is refused, in the same connection and in a later one', async () => {
    const { a, b, relay, port } = await pair(86, { relay: true });
    let recorded: Buffer | undefined;
    relay!.transform = (s, connection) => {
      if (connection === 0 && s.counter === 2n) {
        recorded = s.frame;
        return [s.frame, s.frame]; // the same frame twice
      }
      // Right after a later connection's sealed hello, the recorded frame (it has the expected counter, 2).
      if (connection === 1 && s.counter === 1n && recorded !== undefined) return [s.frame, recorded];
      return [s.frame];
    };
    assert.equal(a.link.send(msg(1)), true);
    await until('the duplicate refused', () => b.link.stats.replays === 1);
    await until('the old frame in the new connection refused', () => b.link.stats.authFailures === 1);
    await until('a third connection up', () => relay!.seen.length >= 3 && a.link.connected && b.link.inboundConnected);
    assert.equal(a.link.send(msg(2)), true);
    await until('the next message', () => b.got.length === 2);
    assert.deepEqual(b.got.map((m) => m.i), [1, 2]);

    // The whole of connection 0 replayed by an outsider on a fresh TCP connection: node1 answers with a
    // fresh random, so node0's old sealed frames no longer authenticate.
    const before = b.link.stats;
    const recording = Buffer.concat(relay!.seen[0]!.map((s) => s.frame));
    const replayer = createConnection({ host: b.address, port, localAddress: relay!.address });
    cleanups.push(async () => void replayer.destroy());
    let replayerClosed = false;
    replayer.on('error', () => {});
    replayer.on('close', () => (replayerClosed = true));
    replayer.resume();
    replayer.write(recording);
    await until('the replayed connection refused', () => b.link.stats.authFailures === before.authFailures + 1);
    await until('and closed', () => replayerClosed);
    assert.equal(b.got.length, 2);
    assert.equal(b.link.stats.framesReceived, 2);
  });

  it('counters run from 1 per connection; the same message never gives the same ciphertext twice', async () => {
    const { a, b, relay } = await pair(87, { relay: true });
    assert.equal(a.link.send(msg(7)), true);
    assert.equal(a.link.send(msg(7)), true);
    await until('two messages', () => b.got.length === 2);
    relay!.sockets.forEach((s) => s.destroy());
    await until('second connection up', () => relay!.seen.length === 2 && a.link.connected);
    assert.equal(a.link.send(msg(7)), true);
    await until('third message', () => b.got.length === 3);
    const sealed = relay!.seen.map((frames) => frames.filter((s) => s.kind === FRAME_KIND_SEALED));
    assert.deepEqual(sealed[0]!.map((s) => s.counter), [1n, 2n, 3n]);
    assert.deepEqual(sealed[1]!.map((s) => s.counter), [1n, 2n]);
    // The ciphertext alone (no counter, no tag): a repeated (key, nonce) would repeat it for the same message.
    const bodies = [sealed[0]![1]!, sealed[0]![2]!, sealed[1]![1]!].map((s) => s.frame.subarray(13, s.frame.length - 16).toString('hex'));
    assert.equal(new Set(bodies).size, 3);
    assert.equal(bodies.some((hex) => hex.includes(Buffer.from('"type":"test"').toString('hex'))), false);
  });

  it('malformed handshakes and frames from an outsider are refused; the link stays up', async () => {
    const { a, b, port } = await pair(89);
    const frame = (...bytes: number[]): Buffer => {
      const f = Buffer.alloc(4 + bytes.length);
      f.writeUInt32BE(bytes.length);
      f.set(bytes, 4);
      return f;
    };
    const hello = (version: number, node: number): Buffer => frame(0x01, version, node, ...randomBytes(32));
    const attempts: Array<[string, Buffer]> = [
      ['a HELLO claiming node1 (node1 itself)', hello(1, 1)],
      ['a HELLO of version 2', hello(2, 0)],
      ['a sealed frame before any HELLO', frame(0x02, ...Buffer.alloc(40))],
      ['a HELLO one byte short', frame(0x01, 1, 0, ...randomBytes(31))],
      ['an empty frame', frame()],
      ['a good HELLO, then a sealed frame too short for counter and tag', Buffer.concat([hello(1, 0), frame(0x02, 0, 0, 1)])],
      ['a good HELLO, then a HELLO again', Buffer.concat([hello(1, 0), hello(1, 0)])],
    ];
    let errors = b.link.stats.protocolErrors;
    for (const [what, bytes] of attempts) {
      const s = createConnection({ host: b.address, port, localAddress: a.address });
      cleanups.push(async () => void s.destroy());
      let closed = false;
      s.on('error', () => {});
      s.on('close', () => (closed = true));
      s.resume();
      s.write(bytes);
      await until(`refused: ${what}`, () => b.link.stats.protocolErrors === errors + 1 && closed);
      errors += 1;
    }
    assert.equal(b.link.stats.authFailures, 0);
    assert.equal(a.link.connected && b.link.inboundConnected, true);
    assert.equal(a.link.send(msg(1)), true);
    await until('a message after all that', () => b.got.length === 1);
  });

  it('an oversize frame on the wire drops the connection and is counted', async () => {
    const { a, b, relay } = await pair(88, { relay: true });
    relay!.transform = (s, connection) => {
      if (connection !== 0 || s.counter !== 2n) return [s.frame];
      const header = Buffer.alloc(4);
      header.writeUInt32BE(CONTROL_LINK_MAX_FRAME + 1);
      return [s.frame, header]; // after the first message: a length just over the limit
    };
    assert.equal(a.link.send(msg(0)), true);
    await until('oversize counted', () => b.link.stats.oversize === 1);
    await until('reconnected', () => relay!.seen.length >= 2 && a.link.connected && b.link.inboundConnected);
    assert.equal(a.link.send(msg(1)), true);
    await until('delivered afterwards', () => b.got.length === 2);
    assert.deepEqual(b.got.map((m) => m.i), [0, 1]);

    // Before the handshake, 256 bytes is the limit: an outsider cannot make node1 buffer megabytes.
    const outsider = createConnection({ host: b.address, port: relay!.port, localAddress: relay!.address });
    cleanups.push(async () => void outsider.destroy());
    outsider.on('error', () => {});
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1000);
    outsider.write(header);
    await until('pre-auth oversize counted', () => b.link.stats.oversize === 2);
  });
});
