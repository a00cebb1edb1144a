/**
 * Real GROUPKEY-PUSH messages of Cisco's GDOI reference implementation (gdoid 1.5iec), from its debug logs
 * in packages/wire/test/vectors/gdoid-reference/: the key server logs every PUSH plaintext before
 * encryption and the ciphertext after it; the member logs the PULL it received. gdoid signs with the bare
 * SHA-1 digest under PKCS#1 type-1 padding (no DigestInfo): our compat path must verify it, the strict
 * (RFC) path must not.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { KdType, PayloadType, decodePayloads, encodeHeader, isPayloadType } from '@gvpn/wire';
import type { Header, KeyPacket, SakPayload } from '@gvpn/wire';
import { PushReceiver, hex, kekFromWire, signedData, verifyDecryptedPush, verifyPush } from '../src/index.js';
import type { Kek } from '../src/index.js';

const VECTORS = new URL('../../../wire/test/vectors/gdoid-reference/', import.meta.url);
const DUMP_LINE = /^\d+\.\d+ Cryp \d+ ((?:[0-9a-f]{2,8} ?)+)$/;

function hexDumpsAfter(file: string, marker: string): Uint8Array[] {
  const lines = readFileSync(new URL(file, VECTORS), 'utf8').split('\n');
  const dumps: Uint8Array[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!(lines[i] ?? '').endsWith(marker)) continue;
    let text = '';
    for (let j = i + 1; j < lines.length; j++) {
      const m = DUMP_LINE.exec(lines[j] ?? '');
      if (m === null) break;
      text += (m[1] ?? '').replace(/ /g, '');
    }
    dumps.push(Uint8Array.from(Buffer.from(text, 'hex')));
  }
  return dumps;
}

function payloads(plain: Uint8Array, exchangeType: number, firstPayload: number) {
  return decodePayloads(plain, firstPayload, 0, plain.length, { exchangeType });
}

/** The KEK the member installed from PULL 2 (SAK) and PULL 4 (KD), as gdoid sent them. */
function registrationKek(): Kek {
  const gm = hexDumpsAfter('gdoi-peer-gm.log', 'after decryption:'); // MM6, PULL2, PULL4, PUSH1..4
  const pull2 = payloads(gm[1] as Uint8Array, 32, PayloadType.HASH).payloads;
  const pull4 = payloads(gm[2] as Uint8Array, 32, PayloadType.HASH).payloads;
  let sak: SakPayload | undefined;
  for (const d of pull2) if (isPayloadType(d.payload, PayloadType.SA) && d.payload.layout === 'gdoi') sak = d.payload.kek;
  let packet: KeyPacket | undefined;
  for (const d of pull4) if (isPayloadType(d.payload, PayloadType.KD)) packet = d.payload.packets.find((k) => k.kdType === KdType.Kek);
  assert.ok(sak !== undefined && packet !== undefined);
  assert.equal(sak.reservedLength, 6, 'gdoid 6-byte SAK tail');
  const kek = kekFromWire(sak, packet);
  assert.ok(kek.ok, kek.ok ? '' : kek.reason);
  return kek.value;
}

function pushHeader(cookies: Uint8Array, length: number): Header {
  return {
    icookie: cookies.subarray(0, 8), rcookie: cookies.subarray(8, 16), nextPayload: PayloadType.SEQ, version: 0x10,
    exchangeType: 33, flags: 1, messageId: 0, length,
  };
}

describe('gdoid reference pushes', () => {
  it('the registration KEK matches the published keys (SPI, key, IV, RSA-2048 SPKI, SHA-1)', () => {
    const kek = registrationKek();
    assert.equal(hex(kek.spi), '989b0ab8f1dd4dea527cca12141cf8e1');
    assert.equal(hex(kek.key.reveal()), '71813cb8d04a963cf0ff83befa8f069a');
    assert.equal(hex(kek.iv), '4e4155455e13f5249e8b0490fbec6b02');
    assert.equal(kek.sigHash, 'sha1');
    assert.equal(kek.sigBits, 2048);
    assert.equal(kek.lifetimeSeconds, 90, 'KEK_KEY_LIFETIME sent as TV');
  });

  it('all five PUSH signatures verify in the bare-digest form only, with the signed header at the unpadded length', () => {
    const kek = registrationKek();
    const plains = hexDumpsAfter('gdoi-peer-ks.log', 'rekey_crypto_encrypt: before encryption:');
    assert.equal(plains.length, 5);
    let cookies = kek.spi;
    const seqs: number[] = [];
    for (const [i, plain] of plains.entries()) {
      const { payloads: chain, end } = payloads(plain, 33, PayloadType.SEQ);
      const header = pushHeader(cookies, 28 + end);
      assert.equal(verifyDecryptedPush(header, plain, kek.publicKey, 'sha1'), 'bare', `PUSH ${i + 1}`);
      assert.equal(verifyDecryptedPush(header, plain, kek.publicKey, 'sha1', ['digest-info']), undefined, `PUSH ${i + 1} strict`);
      // What is signed, spelled out: 'rekey' | HDR(Length = unpadded) | payloads before SIG.
      const sig = chain[chain.length - 1];
      assert.ok(sig !== undefined && isPayloadType(sig.payload, PayloadType.SIG));
      const hdr = (length: number): Uint8Array => {
        const out = new Uint8Array(28);
        encodeHeader({ ...header, length }, out, 0);
        return out;
      };
      const before = plain.subarray(0, sig.start);
      assert.equal(verifyPush(kek.publicKey, 'sha1', signedData(hdr(28 + end), before), sig.payload.data), 'bare');
      assert.equal(verifyPush(kek.publicKey, 'sha1', signedData(hdr(28 + plain.length), before), sig.payload.data), undefined,
        'the padded length is not what is signed');
      const flipped = Uint8Array.from(plain);
      flipped[6] = (flipped[6] as number) ^ 1; // inside SEQ
      assert.equal(verifyDecryptedPush(header, flipped, kek.publicKey, 'sha1'), undefined);
      for (const d of chain) {
        if (isPayloadType(d.payload, PayloadType.SEQ)) seqs.push(d.payload.seq);
        // A SAK with another SPI (the KEK rekey): later pushes carry the new cookies.
        if (isPayloadType(d.payload, PayloadType.SA) && d.payload.layout === 'gdoi' && d.payload.kek !== undefined) cookies = d.payload.kek.spi;
      }
    }
    assert.deepEqual(seqs, [1, 2, 3, 4, 5]);
    assert.equal(hex(cookies), 'c83c1a99a6abc914c1d8172348e52fd6');
  });

  it('the encrypted PUSH 1, through the whole receiver: decrypts, SEQ fresh, SIG verifies, then its TEK policy is refused', () => {
    const kek = registrationKek();
    const cts = hexDumpsAfter('gdoi-peer-ks.log', 'rekey_crypto_encrypt: after encryption:');
    const ct = cts[0];
    assert.ok(ct !== undefined && ct.length === 912, 'frame 11: 940 bytes on the wire');
    const datagram = new Uint8Array(28 + ct.length);
    datagram.set(kek.spi, 0);
    datagram.set([PayloadType.SEQ, 0x10, 33, 1, 0, 0, 0, 0], 16);
    new DataView(datagram.buffer).setUint32(24, datagram.length);
    datagram.set(ct, 28);
    const strict = new PushReceiver({ pull: { groupId: 1234, kek, teks: [], seq: 0, server: { address: '10.99.0.1', port: 848 } }, memberAddress: '10.99.0.10', strictSignature: true });
    const s = strict.handle(datagram);
    assert.equal(s.accepted, false);
    if (!s.accepted) assert.equal(s.counter, 'badSignatureDropped', 'strict RFC form refuses gdoid');
    const member = new PushReceiver({ pull: { groupId: 1234, kek, teks: [], seq: 0, server: { address: '10.99.0.1', port: 848 } }, memberAddress: '10.99.0.10' });
    const out = member.handle(datagram);
    assert.equal(out.accepted, false);
    // Every earlier check passed (cookies, decryption, form, SEQ, SIG); gdoid's TEK has Key Length 0 and no
    // TEK_ALGORITHM_KEY (its config bug, protocol.md §1.8), which we refuse to install.
    if (!out.accepted) {
      assert.equal(out.counter, 'policyRejectedDropped');
      assert.match(out.detail, /key length 0/);
    }
    assert.equal(member.counters.badSignatureDropped, 0);
    assert.equal(member.lastSeq, 0, 'nothing applied');
  });
});
