/**
 * The control link's listener against connections that never finish a handshake (reviewer's cl2.mjs): only
 * the peer's address may hold one of the few pending slots, and a newcomer takes the oldest slot, so idle
 * connections cannot keep the real peer out until its heartbeats time out (takeover, or split brain).
 * The handshake timeout is raised to 10 s so that nothing here passes by the idle connections timing out.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createConnection, type Socket } from 'node:net';
import { createLogger } from '@gvpn/runtime';
import { ControlLink } from '../src/pair/control-link.js';

async function until(what: string, condition: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const silent = createLogger({ level: 'fatal', name: 'control-link-accept' });

/** node0 on 127.0.`net`.1 listening (peer .2), on a random port (another on EADDRINUSE). */
async function listener(net: number, key: Uint8Array): Promise<{ link: ControlLink; port: number }> {
  for (let attempt = 0; ; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    const link = new ControlLink({ node: 0, localAddress: `127.0.${net}.1`, peerAddress: `127.0.${net}.2`, port, key, log: silent, reconnectMs: 50, handshakeTimeoutMs: 10_000 });
    try {
      await link.start();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 5) continue;
      throw err;
    }
    cleanups.push(() => link.stop());
    return { link, port };
  }
}

interface Idle {
  socket: Socket;
  closed: boolean;
}

/** A TCP connection that sends nothing, from `from`; resolves once connected. */
async function idle(host: string, port: number, from: string): Promise<Idle> {
  const socket = createConnection({ host, port, localAddress: from });
  const conn: Idle = { socket, closed: false };
  cleanups.push(async () => void socket.destroy());
  socket.on('error', () => {});
  socket.on('close', () => (conn.closed = true));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return conn;
}

function peer(net: number, port: number, key: Uint8Array): ControlLink {
  const link = new ControlLink({ node: 1, localAddress: `127.0.${net}.2`, peerAddress: `127.0.${net}.1`, port, key, log: silent, reconnectMs: 50 });
  cleanups.push(() => link.stop());
  return link;
}

describe('control link accept', () => {
  it('closes at once a connection from an address other than the peer\'s', async () => {
    const key = randomBytes(32);
    const { link: a, port } = await listener(71, key);
    const strangers = await Promise.all([1, 2, 3, 4, 5].map(() => idle('127.0.71.1', port, '127.0.71.3')));
    await until('every stranger closed', () => strangers.every((s) => s.closed));
    const b = peer(71, port, key);
    await b.start();
    await until('the peer connected', () => b.connected && a.inboundConnected);
  });

  it('a newcomer from the peer\'s address closes the oldest pending connection, so idle ones cannot lock the peer out', async () => {
    const key = randomBytes(32);
    const { link: a, port } = await listener(72, key);
    const squatters: Idle[] = [];
    for (let i = 0; i < 4; i++) squatters.push(await idle('127.0.72.1', port, '127.0.72.2'));
    const b = peer(72, port, key);
    await b.start();
    await until('the peer connected although 4 connections were pending', () => b.connected && a.inboundConnected);
    assert.equal(squatters[0]!.closed, true, 'the oldest pending connection made room');
  });
});
