// External proof: Wireshark's ESP dissector, given the TEK keys, decrypts the ESP-in-UDP packets two
// EspEndpoints exchange on 127.0.0.1 and finds every ICV good; a packet with one flipped byte is not.
// tshark captures on `lo` (root needed, as in CI); missing tshark fails with a clear message.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  EspEndpoint, SaDatabase, TrafficProbe, type Tek,
} from '../src/index.js';
import { GROUP_POLICY, testTek, toHex, waitFor } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'gvpn-esp-tshark-'));
const sockets: Socket[] = [];
const captures: ChildProcess[] = [];

before(() => {
  const probe = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(`tshark is required for this test (Debian package "tshark"; ./scripts/setup --tools installs it): ${probe.error?.message ?? probe.stderr}`);
  }
});

after(() => {
  // tshark runs dumpcap as its child: kill the capture's whole process group (its own, see startCapture)
  // so that a test failing mid-capture leaves no dumpcap behind
  for (const child of captures) {
    if (child.pid === undefined) continue;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
  for (const s of sockets) s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function bind(): Promise<Socket> {
  const socket = createSocket('udp4');
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  return socket;
}

/** `tshark -i lo -f FILTER -w FILE`, resolved once it reports "Capturing on" (nothing sent later is missed). */
async function startCapture(filter: string, file: string, sentinel: Socket): Promise<{ stop: () => Promise<void> }> {
  const child = spawn('tshark', ['-i', 'lo', '-f', filter, '-w', file], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  captures.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`tshark exited at start: ${stderr}`);
    return /Capturing on/.test(stderr);
  }, 10000, 'tshark to start capturing', 20);
  // "Capturing on" can come before the capture sees packets: send a sentinel datagram (to itself, on a
  // port inside the filter) until one is in the file, so that nothing sent afterwards is missed
  const port = sentinel.address().port;
  await waitFor(() => {
    sentinel.send(new Uint8Array([0x53]), port, '127.0.0.1');
    return tshark(['-r', file, '-Y', `udp.port==${port}`, '-T', 'fields', '-e', 'frame.number'], [0, 1, 2]).trim() !== '';
  }, 10000, 'the capture to record a sentinel datagram', 100);
  return {
    stop: async () => {
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGINT');
      const code = await exited;
      assert.equal(code, 0, `tshark capture ended with ${code}: ${stderr}`);
    },
  };
}

function tshark(args: string[], okCodes = [0]): string {
  const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error !== undefined || !okCodes.includes(r.status ?? -1)) throw new Error(`tshark ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

/** frames in a capture still being written (a torn last record is tolerated) */
function countFrames(file: string, filter: string): number {
  return tshark(['-r', file, '-Y', filter, '-T', 'fields', '-e', 'frame.number'], [0, 2]).split('\n').filter((l) => l !== '').length;
}

function uat(tek: Tek): string {
  const spi = `0x${tek.spi.toString(16).padStart(8, '0')}`;
  if (tek.transform === 'aes-gcm-16') {
    // Wireshark wants the RFC 4106 key material: AES key followed by the 4-byte salt
    const key = `0x${toHex(tek.encKey.reveal())}${toHex(tek.salt!)}`;
    return `uat:esp_sa:"IPv4","*","*","${spi}","AES-GCM with 16 octet ICV [RFC4106]","${key}","NULL",""`;
  }
  return `uat:esp_sa:"IPv4","*","*","${spi}","AES-CBC [RFC3602]","0x${toHex(tek.encKey.reveal())}","HMAC-SHA-256-128 [RFC4868]","0x${toHex(tek.authKey!.reveal())}"`;
}

const PACKETS_EACH_WAY = 20;

for (const [transform, keyLength] of [['aes-cbc-hmac-sha256-128', 32], ['aes-cbc-hmac-sha256-128', 16], ['aes-gcm-16', 16], ['aes-gcm-16', 32]] as const) {
  describe(`tshark decrypts our ESP-in-UDP (${transform}, AES-${keyLength * 8})`, () => {
    it('finds every ICV good, the inner packets inside the policy, and a flipped byte bad', { timeout: 30000 }, async (t) => {
      const tek = testTek(0x7e57_0000 + keyLength, transform, 'tshark', {}, keyLength);
      const sa = await bind();
      const sb = await bind();
      const pa = sa.address().port;
      const pb = sb.address().port;
      // A's outgoing datagrams are also kept, and one can be held back (to be forged instead of sent)
      const sentByA: Uint8Array[] = [];
      let holdA = false;
      const make = (id: number, socket: Socket, keep: boolean) => {
        const sad = new SaDatabase();
        sad.install(tek);
        return new EspEndpoint({
          sad, senderId: id,
          send: (bytes, to) => {
            if (keep) sentByA.push(bytes);
            if (!(keep && holdA)) socket.send(bytes, to.port, to.address);
          },
        });
      };
      const a = make(1, sa, true);
      const b = make(2, sb, false);
      sa.on('message', (msg, r) => a.handle(new Uint8Array(msg), { address: r.address, port: r.port }, 0));
      sb.on('message', (msg, r) => b.handle(new Uint8Array(msg), { address: r.address, port: r.port }, 0));
      const probeA = new TrafficProbe({ endpoint: a, memberId: 1, peers: [{ address: '127.0.0.1', port: pb, memberId: 2 }], intervalMs: 1, policy: GROUP_POLICY });
      const probeB = new TrafficProbe({ endpoint: b, memberId: 2, peers: [{ address: '127.0.0.1', port: pa, memberId: 1 }], intervalMs: 1, policy: GROUP_POLICY });

      const file = join(dir, `esp-${transform}-${keyLength}.pcap`);
      const sentinel = await bind();
      const ps = sentinel.address().port;
      const capture = await startCapture(`udp port ${pa} or udp port ${pb} or udp port ${ps}`, file, sentinel);
      for (let i = 0; i < PACKETS_EACH_WAY; i++) {
        probeA.tick(i);
        probeB.tick(i);
      }
      await waitFor(() => a.counters().received === PACKETS_EACH_WAY && b.counters().received === PACKETS_EACH_WAY, 5000, 'every packet delivered');
      // one forgery: A's next packet (a fresh sequence number, so the replay check passes) held back,
      // one ICV byte flipped, then sent from A's socket. Flipping the ICV rather than the ciphertext keeps
      // the decrypted inner packet intact, so tshark always gets as far as the ICV check (a garbled inner
      // header can end its dissection early, before it adds the ICV fields).
      holdA = true;
      probeA.tick(PACKETS_EACH_WAY);
      const forged = Uint8Array.from(sentByA[PACKETS_EACH_WAY]!);
      forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 0x01;
      sa.send(forged, pb, '127.0.0.1');
      await waitFor(() => b.counters().authFailures === 1, 5000, 'the forgery to be refused by B');
      const total = 2 * PACKETS_EACH_WAY + 1;
      const espFrames = `udp.port==${pa} || udp.port==${pb}`;
      let frames = 0;
      await waitFor(() => (frames = countFrames(file, espFrames)) >= total, 10000, `${total} frames in the capture`, 100).catch((e: Error) => {
        throw new Error(`${e.message} (saw ${frames}): ${tshark(['-r', file], [0, 2])}`);
      });
      await capture.stop();

      const rows = tshark([
        '-r', file, '-d', `udp.port==${pa},udpencap`, '-d', `udp.port==${pb},udpencap`,
        '-Y', espFrames, '-o', 'esp.enable_encryption_decode:TRUE', '-o', 'esp.enable_authentication_check:TRUE', '-o', uat(tek),
        '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,',
        '-e', 'frame.number', '-e', 'udp.srcport', '-e', 'esp.spi', '-e', 'esp.sequence', '-e', 'esp.icv_good', '-e', 'esp.icv_bad',
        '-e', 'esp.protocol', '-e', 'ip.src', '-e', 'ip.dst', '-e', '_ws.malformed',
      ]).split('\n').filter((l) => l !== '').map((l) => {
        const [frame, srcport, spi, seq, good, bad, next, src, dst, malformed] = l.split('\t');
        return { frame, srcport, spi, seq, good, bad, next, src, dst, malformed };
      });
      assert.equal(rows.length, total, `frames: ${JSON.stringify(rows)}`);
      const genuine = rows.slice(0, total - 1);
      const forgedRow = rows[total - 1]!;
      let goodCount = 0;
      for (const row of genuine) {
        assert.equal(Number(row.spi), tek.spi, `frame ${row.frame}: SPI`);
        assert.equal(row.good, '1', `frame ${row.frame}: icv_good (row ${JSON.stringify(row)})`);
        assert.equal(row.bad, '0', `frame ${row.frame}: icv_bad`);
        assert.equal(Number(row.next), 4, `frame ${row.frame}: next header IPv4 (tunnel mode)`);
        // outer 127.0.0.1 -> 127.0.0.1, then the decrypted inner header with the preserved group addresses
        const [outerSrc, innerSrc] = row.src!.split(',');
        const [, innerDst] = row.dst!.split(',');
        assert.equal(outerSrc, '127.0.0.1');
        const fromA = Number(row.srcport!.split(',')[0]) === pa; // outer UDP first, then the inner one
        assert.equal(innerSrc, fromA ? '172.16.0.1' : '172.16.0.2', `frame ${row.frame}: inner source`);
        assert.equal(innerDst, fromA ? '172.16.0.2' : '172.16.0.1', `frame ${row.frame}: inner destination`);
        assert.equal(row.malformed, '', `frame ${row.frame}: malformed`);
        goodCount++;
      }
      assert.equal(forgedRow.good, '0', `forged frame: ${JSON.stringify(forgedRow)}`);
      assert.equal(forgedRow.bad, '1', `forged frame: ${JSON.stringify(forgedRow)}`);
      assert.equal(Number(forgedRow.seq), PACKETS_EACH_WAY + 1);
      assert.equal(b.counters().received, PACKETS_EACH_WAY, 'B delivered nothing of the forgery');
      t.diagnostic(`${goodCount}/${genuine.length} frames icv_good, forged frame icv_bad`);
    });
  });
}
