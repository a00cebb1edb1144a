/**
 * External proof with Wireshark's ISAKMP/GDOI dissector (tshark 4.0), an implementation we did not write:
 * - the whole Main Mode + GROUPKEY-PULL between our GCKS and member, written to a pcap, is decrypted by
 *   tshark from the IKE key log alone — which it can only do if our phase-2 IVs (hash(last phase-1 block |
 *   M-ID), then chaining) are right — and it reads back the group ID, nonces, the KEK SPI, SEQ and every KD
 *   key we installed, with no Malformed or warning item;
 * - our PUSH payload chains (KEK rekey, TEK deletes, delete-all), shown to tshark as plaintext, dissect into
 *   the SEQ, SAK, KD, Delete and SIG values we put in.
 * Not shown to tshark: SA TEK payloads outside a PULL. tshark 4.0.17 reads the SAT's "SRC ID Data Len" as
 * 16 bits where RFC 6407 §5.5.1 (and gdoid) have 8, so any RFC-conformant SAT it reaches is Malformed; in
 * PULL message 2 it never reaches them (it stops at the GAP), as in gdoid's own capture.
 * Missing tshark fails with a clear message (no skip).
 */
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aesCbcDecrypt, seededRandom } from '@gvpn/crypto';
import { HEADER_LENGTH } from '@gvpn/wire';
import { buildPush, generateKek, hex } from '../src/index.js';
import type { BuiltPush, Kek } from '../src/index.js';
import { MEMBER, SERVER, policy, setup, signingKey } from './harness.js';
import { pcap } from './pcap.js';

const dir = mkdtempSync(join(tmpdir(), 'gvpn-gdoi-tshark-'));

before(() => {
  const probe = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(`tshark is required for this test (Debian package "tshark"; ./scripts/setup --tools installs it): ${probe.error?.message ?? probe.stderr}`);
  }
});

after(() => rmSync(dir, { recursive: true, force: true }));

function tshark(args: string[]): string {
  const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error !== undefined || r.status !== 0) throw new Error(`tshark ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

/** One row per frame matching `filter`, one column per field (multi-valued fields joined by ','). */
function fields(file: string, extra: string[], filter: string, names: string[]): string[][] {
  const args = ['-r', file, '-d', 'udp.port==848,isakmp', ...extra, '-Y', filter, '-T', 'fields', '-E', 'separator=/t', '-E', 'aggregator=,'];
  for (const n of names) args.push('-e', n);
  return tshark(args).split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
}

function problems(file: string, extra: string[]): string {
  return tshark(['-r', file, '-d', 'udp.port==848,isakmp', ...extra, '-Y', '_ws.malformed || _ws.expert.severity >= warning']).trim();
}

/** The PUSH as tshark would see it unencrypted: flags 0, padding removed, Length = the signed length. */
function asPlaintext(push: BuiltPush, kek: Kek): Uint8Array {
  const plain = aesCbcDecrypt(kek.key, kek.iv, push.bytes.subarray(HEADER_LENGTH));
  const out = new Uint8Array(push.unpaddedLength);
  out.set(push.bytes.subarray(0, HEADER_LENGTH), 0);
  out.set(plain.subarray(0, push.unpaddedLength - HEADER_LENGTH), HEADER_LENGTH);
  out[19] = 0;
  new DataView(out.buffer).setUint32(24, out.length);
  return out;
}

describe('tshark reads our GDOI', () => {
  it('decrypts Main Mode + GROUPKEY-PULL from the key log and finds our group, KEK and keys', () => {
    const s = setup({ doi: 1, seed: 'tshark' });
    const pull = s.startPull(1);
    s.flush();
    assert.equal(pull.state, 'done');
    const g = s.groups.get(1);
    assert.ok(g !== undefined);
    const file = join(dir, 'pull.pcap');
    writeFileSync(file, pcap(s.sent));
    assert.equal(s.keyLog.length, 1);
    const keys = ['-o', `uat:ikev1_decryption_table:${s.keyLog[0]}`];
    assert.equal(problems(file, keys), '', 'no Malformed or warning');
    const rows = fields(file, keys, 'isakmp.exchangetype == 32',
      ['isakmp.messageid', 'isakmp.nextpayload', 'isakmp.id.data.key_id', 'isakmp.nonce', 'isakmp.sa.doi', 'isakmp.sak.spi',
        'isakmp.seq.seq', 'isakmp.kd.num_pkt', 'isakmp.kd.payload.spi', 'isakmp.key_download.attr.value', 'isakmp.hash']);
    assert.equal(rows.length, 4, 'four GROUPKEY-PULL messages');
    const [m1, m2, m3, m4] = rows as [string[], string[], string[], string[]];
    for (const r of rows) assert.equal(Number(r[0]), pull.messageId, 'same M-ID');
    for (const r of rows) assert.match(r[10] ?? '', /^[0-9a-f]{64}$/, 'decrypted: a 32-byte HASH first');
    assert.equal(m1[2], '00000001', 'ID_KEY_ID group 1, big-endian');
    assert.match(m1[3] ?? '', /^[0-9a-f]{32}$/);
    assert.equal(m2[4], '2', 'GDOI SA');
    assert.equal(m2[5], hex(g.kek.spi));
    assert.match(m2[3] ?? '', /^[0-9a-f]{32}$/);
    assert.notEqual(m2[3], m1[3], 'Nr differs from Ni');
    assert.equal(m3[3] ?? '', '', 'message 3 is HASH only');
    assert.equal(m4[6], '0', 'SEQ 0 before any push');
    assert.equal(m4[7], '3');
    assert.deepEqual(m4[8]?.split(','), [hex(g.kek.spi), ...g.teks.map((t) => hex(t.spi))]);
    const values = m4[9]?.split(',') ?? [];
    assert.equal(values[0], hex(g.kek.iv) + hex(g.kek.key.reveal()), 'KEK_ALGORITHM_KEY = IV | key');
    assert.equal(values[1], hex(g.kek.publicKeyDer), 'SIG_ALGORITHM_KEY = SPKI');
    const [t1, t2] = g.teks;
    assert.ok(t1 !== undefined && t2 !== undefined);
    assert.equal(values[2], hex(t1.encKey.reveal()));
    assert.equal(values[3], hex(t1.authKey?.reveal() ?? new Uint8Array()));
    assert.equal(values[4], hex(t2.encKey.reveal()) + hex(t2.salt ?? new Uint8Array()), 'GCM key | salt');
  });

  it('dissects our PUSH payloads: KEK rekey, TEK deletes, delete-all', () => {
    const p = policy();
    const kek = generateKek(p.kek, seededRandom('tshark-kek'), signingKey());
    const next = generateKek(p.kek, seededRandom('tshark-next'), signingKey());
    const spis = [Uint8Array.of(1, 2, 3, 4), Uint8Array.of(5, 6, 7, 8)];
    const kekPush = buildPush({ kek, seq: 7, newKek: next });
    const delTeks = buildPush({ kek: next, seq: 1, deletes: { teks: spis } });
    const delAll = buildPush({ kek: next, seq: 2, deletes: { all: true } });
    const file = join(dir, 'push.pcap');
    writeFileSync(file, pcap([asPlaintext(kekPush, kek), asPlaintext(delTeks, next), asPlaintext(delAll, next)]
      .map((bytes) => ({ bytes, from: SERVER, to: MEMBER }))));
    assert.equal(problems(file, []), '', 'no Malformed or warning');
    const rows = fields(file, [], 'isakmp.exchangetype == 33',
      ['isakmp.ispi', 'isakmp.rspi', 'isakmp.seq.seq', 'isakmp.sa.doi', 'isakmp.sak.spi', 'isakmp.sak.src_id_data', 'isakmp.sak.dst_id_port',
        'isakmp.kd.payload.spi', 'isakmp.key_download.attr.value', 'isakmp.delete.protoid', 'isakmp.delete.spi', 'isakmp.sig']);
    assert.equal(rows.length, 3);
    const [r1, r2, r3] = rows as [string[], string[], string[]];
    assert.equal((r1[0] ?? '') + (r1[1] ?? ''), hex(kek.spi), 'cookies = the current KEK SPI');
    assert.equal(r1[2], '7');
    assert.equal(r1[3], '2');
    assert.equal(r1[4], hex(next.spi), 'SAK names the new KEK');
    assert.equal(r1[5], '7f000002');
    assert.equal(r1[6], '848');
    assert.equal(r1[7], hex(next.spi));
    assert.deepEqual(r1[8]?.split(','), [hex(next.iv) + hex(next.key.reveal()), hex(next.publicKeyDer)]);
    assert.equal((r1[11] ?? '').length, 512, 'RSA-2048 signature');
    assert.equal((r2[0] ?? '') + (r2[1] ?? ''), hex(next.spi));
    assert.equal(r2[2], '1');
    assert.equal(r2[9], '1', 'ESP');
    assert.deepEqual(r2[10]?.split(','), spis.map(hex));
    assert.equal(r2[3] ?? '', '', 'no SA when only deleting');
    assert.equal(r3[2], '2');
    assert.deepEqual(r3[9]?.split(','), ['1', '0'], 'ESP then KEK');
    assert.deepEqual(r3[10]?.split(','), ['00000000', '00000000000000000000000000000000']);
    assert.equal((r3[11] ?? '').length, 512);
  });
});
