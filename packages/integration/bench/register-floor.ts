/**
 * The least server CPU one GDOI registration can cost in Node.js on this machine: what `bench register`'s
 * figures compare against, and why its group-19 target (3,000/s, 0.333 ms per registration on one core)
 * is out of reach here.
 *   ./scripts/bench register-floor [--seconds S]      (default 4 s per variant)
 * A bare server process (core 0) and a client process (core 1) play only the skeleton of a registration
 * with group 19 over real UDP on loopback: per registration the server receives 5 datagrams (Main Mode 1, 3,
 * 5; pull 1, 3) and sends 5 (Main Mode 2, 4, 6; pull 2, 4), of the sizes the real exchange has. Variants,
 * each adding to the one before:
 *   udp        only the datagrams (node:dgram, one server socket, 1,000 client sockets on 250 addresses)
 *   ecdh       + one P-256 ECDH computation (node:crypto; the server's key pair reused, as dh-reuse-seconds does)
 *   symmetric  + the registration's symmetric crypto with node:crypto, the fastest here: 10 HMAC-SHA-256
 *              (SKEYID, SKEYID_d/a/e, HASH_I, HASH_R, pull HASH(1) to HASH(4)), 2 SHA-256 (phase-1 and
 *              phase-2 IVs) and 6 AES-256-CBC operations (Main Mode 5 and 6, pull 1 to 4)
 * No parsing, no state, no authorisation, no persistence, no logs. Server CPU (user + system, so the
 * kernel's loopback path that the sender pays is in) over a window of S seconds, per registration; 256
 * registrations in flight; a lost datagram only slows the client down.
 * Ends with one `RESULT ...` line: `floor_*_us_per_reg` per variant, and `floor_reg_per_s` = 10^6 / the last.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { createCipheriv, createECDH, createHash, createHmac, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { hasTaskset, option } from './gcks-loadgen-host.js';

const SERVER = { address: '127.0.62.1', port: 48_480 };
const IN_FLIGHT = 256;
const CLIENT_SOCKETS = 1000;
/** Datagram sizes of a group-19 registration (AES-256-CBC, SHA-256; pull 4 carries the KEK, a TEK and the RSA-2048 public key). */
const REQUEST_BYTES = [140, 180, 92, 124, 108] as const;
const REPLY_BYTES = [120, 180, 92, 124, 780] as const;
const VARIANTS = ['udp', 'ecdh', 'symmetric'] as const;
type Variant = (typeof VARIANTS)[number];

function server(variant: Variant): void {
  const socket = createSocket('udp4');
  const ours = createECDH('prime256v1');
  ours.generateKeys();
  const peer = createECDH('prime256v1');
  peer.generateKeys();
  const peerPublic = peer.getPublicKey();
  const key = randomBytes(32);
  const iv = randomBytes(16);
  const replies = REPLY_BYTES.map((n, step) => Buffer.alloc(n, step));
  const hmac = (data: Buffer): Buffer => createHmac('sha256', key).update(data).digest();
  const aes = (data: Buffer): void => {
    const cipher = createCipheriv('aes-256-cbc', key, iv).setAutoPadding(false);
    cipher.update(data.subarray(0, data.length & ~15));
    cipher.final();
  };
  socket.on('message', (message, from) => {
    const step = message[0] ?? 0;
    if (step === 1 && variant !== 'udp') ours.computeSecret(peerPublic);
    if (variant === 'symmetric') {
      if (step === 1) { // SKEYID, SKEYID_d, SKEYID_a, SKEYID_e; the phase-1 IV
        for (let i = 0; i < 4; i++) hmac(message);
        createHash('sha256').update(message).digest();
      } else if (step >= 2) { // decrypt, verify the peer's hash, our hash, encrypt
        if (step === 3) createHash('sha256').update(message).digest(); // the phase-2 IV
        aes(message);
        hmac(message);
        hmac(replies[step] as Buffer);
        aes(replies[step] as Buffer);
      }
    }
    const reply = replies[step] as Buffer;
    socket.send(reply, from.port, from.address);
  });
  socket.bind(SERVER.port, SERVER.address, () => process.send?.('ready'));
  process.on('message', () => {
    const cpu = process.cpuUsage();
    process.send?.({ cpuUs: cpu.user + cpu.system });
  });
}

function client(): void {
  const requests = REQUEST_BYTES.map((n, step) => Buffer.alloc(n, step));
  let started = 0;
  let done = 0;
  const sockets: Socket[] = [];
  const begin = (s: Socket): void => {
    started++;
    s.send(requests[0] as Buffer, SERVER.port, SERVER.address);
  };
  let bound = 0;
  for (let i = 0; i < CLIENT_SOCKETS; i++) {
    const s = createSocket('udp4');
    s.on('message', (reply) => {
      const step = reply[0] ?? 0;
      if (step < REQUEST_BYTES.length - 1) s.send(requests[step + 1] as Buffer, SERVER.port, SERVER.address);
      else {
        done++;
        begin(s);
      }
    });
    s.bind(0, `127.0.63.${1 + (i % 250)}`, () => {
      if (++bound === CLIENT_SOCKETS) process.send?.('ready');
    });
    sockets.push(s);
  }
  process.on('message', (m) => {
    if (m === 'start') {
      for (let i = 0; i < IN_FLIGHT; i++) begin(sockets[i] as Socket);
      // A registration whose datagram was lost never finishes: top the number in flight up again.
      setInterval(() => {
        for (let i = started - done; i < IN_FLIGHT; i++) begin(sockets[started % CLIENT_SOCKETS] as Socket);
      }, 100).unref();
    } else process.send?.({ done });
  });
}

const ask = <T>(child: ChildProcess, message: string): Promise<T> => new Promise((resolve) => {
  child.once('message', (m) => resolve(m as T));
  child.send(message);
});
const started = (child: ChildProcess): Promise<void> => new Promise((resolve, reject) => {
  child.once('message', () => resolve());
  child.once('exit', (code) => reject(new Error(`bench child exited (${String(code)}) before it was ready`)));
});
const pin = (child: ChildProcess, core: number): void => {
  if (hasTaskset && child.pid !== undefined) spawnSync('taskset', ['-pc', String(core), String(child.pid)]);
};

async function measure(variant: Variant, seconds: number): Promise<number> {
  const self = new URL(import.meta.url).pathname;
  const children: ChildProcess[] = [];
  try {
    const srv = fork(self, ['--role', 'server', '--variant', variant]);
    children.push(srv);
    await started(srv);
    pin(srv, 0);
    const cli = fork(self, ['--role', 'client']);
    children.push(cli);
    await started(cli);
    pin(cli, 1);
    cli.send('start');
    await new Promise((r) => setTimeout(r, 1000)); // warm-up: JIT, socket buffers
    const d0 = (await ask<{ done: number }>(cli, 'count')).done;
    const c0 = (await ask<{ cpuUs: number }>(srv, 'cpu')).cpuUs;
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const d1 = (await ask<{ done: number }>(cli, 'count')).done;
    const c1 = (await ask<{ cpuUs: number }>(srv, 'cpu')).cpuUs;
    const regs = d1 - d0;
    if (regs < 1000) throw new Error(`${variant}: only ${regs} registrations in ${seconds} s`);
    const perReg = (c1 - c0) / regs;
    console.log(`${variant}: ${regs} registrations in ${seconds} s (${(regs / seconds).toFixed(0)}/s); server CPU ${perReg.toFixed(1)} µs per registration`);
    return perReg;
  } finally {
    for (const c of children) c.kill('SIGKILL');
  }
}

const role = option('role');
if (role === 'server') server((option('variant') ?? 'udp') as Variant);
else if (role === 'client') client();
else {
  const seconds = Number(option('seconds') ?? 4);
  if (!(seconds > 0)) throw new Error('--seconds: a positive number');
  console.log(`server pinned to core 0, client to core 1: ${hasTaskset ? 'yes (taskset)' : 'NO (taskset missing)'}; ${IN_FLIGHT} registrations in flight; ${seconds} s per variant`);
  const us: Record<Variant, number> = { udp: 0, ecdh: 0, symmetric: 0 };
  for (const v of VARIANTS) us[v] = await measure(v, seconds);
  console.log(`one core at this floor: ${(1e6 / us.symmetric).toFixed(0)} registrations/s; the group-19 target, 3,000/s, leaves ${(1e6 / 3000 - us.symmetric).toFixed(0)} µs per registration for everything else`);
  console.log(`RESULT floor_udp_us_per_reg=${us.udp.toFixed(1)} floor_ecdh_us_per_reg=${us.ecdh.toFixed(1)} floor_symmetric_us_per_reg=${us.symmetric.toFixed(1)} `
    + `floor_reg_per_s=${(1e6 / us.symmetric).toFixed(0)}`);
}
