/** Key material and its wire forms: what the GCKS builds, the member parses back; what it must refuse. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '@gvpn/crypto';
import { KdType, KekAttr, TekAttr } from '@gvpn/wire';
import {
  GdoiError, PullResponder, generateKek, generateTek, hex, kekFromWire, kekKeyPacket, satPayload, tekFromWire, tekKeyPacket,
  validatePolicy,
} from '../src/index.js';
import type { TekPolicy } from '../src/index.js';
import { policy, quietLog, signingKey } from './harness.js';

const TEK: TekPolicy = {
  name: 't', cipher: 'aes-128-cbc', integrity: 'hmac-sha-256-128', protocol: 6,
  source: { prefix: '192.168.0.0/24', port: 0 }, destination: { prefix: '10.0.0.7/32', port: 443 }, lifetimeSeconds: 900,
};

describe('keys and their wire forms', () => {
  it('KEK: SPI of two non-zero cookies, key and IV of the right sizes; the member parses it back', () => {
    for (const cipher of ['aes-128-cbc', 'aes-192-cbc', 'aes-256-cbc'] as const) {
      const p = policy();
      p.kek.cipher = cipher;
      p.kek.sigHash = 'sha384';
      const kek = generateKek(p.kek, seededRandom(cipher), signingKey());
      assert.equal(kek.spi.length, 16);
      assert.ok(kek.spi.subarray(0, 8).some((b) => b !== 0) && kek.spi.subarray(8).some((b) => b !== 0));
      assert.equal(kek.iv.length, 16);
      const parsed = kekFromWire(kek.sak, kekKeyPacket(kek));
      assert.ok(parsed.ok, parsed.ok ? '' : parsed.reason);
      assert.equal(parsed.value.cipher, cipher);
      assert.equal(parsed.value.key.length * 8, Number(cipher.slice(4, 7)));
      assert.equal(hex(parsed.value.key.reveal()), hex(kek.key.reveal()));
      assert.equal(hex(parsed.value.iv), hex(kek.iv));
      assert.equal(parsed.value.sigHash, 'sha384');
      assert.equal(parsed.value.sigBits, 2048);
      assert.equal(parsed.value.lifetimeSeconds, 3600);
      assert.equal(parsed.value.privateKey, undefined, 'members never hold the signing key');
    }
  });

  it('TEKs: non-zero SPI, key lengths per transform, selectors and attributes round-trip', () => {
    const cases: [TekPolicy, number, number, number][] = [
      [TEK, 16, 32, 0],
      [{ ...TEK, cipher: 'aes-256-cbc', integrity: 'hmac-sha1-96' }, 32, 20, 0],
      [{ ...TEK, cipher: 'aes-gcm-128', integrity: undefined }, 16, 0, 4],
      [{ ...TEK, cipher: 'aes-gcm-256', integrity: undefined, antiReplayWindowSeconds: 60 }, 32, 0, 4],
    ];
    for (const [p, keyLength, authLength, saltLength] of cases) {
      const { integrity: _i, ...base } = p;
      const policyIn: TekPolicy = p.integrity === undefined ? base : p;
      const tek = generateTek(policyIn, seededRandom(p.cipher));
      assert.equal(tek.spi.length, 4);
      assert.ok(tek.spi.some((b) => b !== 0));
      assert.equal(tek.encKey.length, keyLength);
      assert.equal(tek.authKey?.length ?? 0, authLength);
      assert.equal(tek.salt?.length ?? 0, saltLength);
      const parsed = tekFromWire(satPayload(tek), tekKeyPacket(tek));
      assert.ok(parsed.ok, parsed.ok ? '' : parsed.reason);
      const { name: _n, ...got } = parsed.value.policy;
      const { name: _m, ...want } = policyIn;
      assert.deepEqual(got, want);
      assert.equal(hex(parsed.value.encKey.reveal()), hex(tek.encKey.reveal()));
    }
  });

  it('the member refuses what it does not understand (RFC 6407 §5.3.2) or that does not match', () => {
    const kek = generateKek(policy().kek, seededRandom('refuse'), signingKey());
    const packet = kekKeyPacket(kek);
    const withAttr = (extra: { type: number; value: number }) => ({ ...kek.sak, attributes: [...kek.sak.attributes, extra] });
    assert.match(String((kekFromWire(withAttr({ type: 200, value: 1 }), packet) as { reason: string }).reason), /unknown KEK attribute 200/);
    const noSigAlg = { ...kek.sak, attributes: kek.sak.attributes.filter((a) => a.type !== KekAttr.SigAlgorithm) };
    assert.equal(kekFromWire(noSigAlg, packet).ok, false);
    const wrongBits = { ...kek.sak, attributes: kek.sak.attributes.map((a) => (a.type === KekAttr.SigKeyLength ? { type: a.type, value: 4096 } : a)) };
    assert.equal(kekFromWire(wrongBits, packet).ok, false);
    const otherSpi = { ...packet, spi: new Uint8Array(16).fill(7) };
    assert.equal(kekFromWire(kek.sak, otherSpi).ok, false);
    const shortKey = { ...packet, attributes: [{ type: 1, bytes: new Uint8Array(20) }, ...packet.attributes.slice(1)] };
    assert.equal(kekFromWire(kek.sak, shortKey).ok, false);
    const badSpki = { ...packet, attributes: [packet.attributes[0] as { type: number; bytes: Uint8Array }, { type: 2, bytes: new Uint8Array(40) }] };
    assert.equal(kekFromWire(kek.sak, badSpki).ok, false);

    const tek = generateTek(TEK, seededRandom('refuse-tek'));
    const sat = satPayload(tek);
    const unknown = { ...sat, attributes: [...sat.attributes, { type: 99, value: 1 }] };
    assert.equal(tekFromWire(unknown, tekKeyPacket(tek)).ok, false);
    const zeroLength = { ...sat, attributes: sat.attributes.map((a) => (a.type === TekAttr.KeyLength ? { type: a.type, value: 0 } : a)) };
    assert.equal(tekFromWire(zeroLength, tekKeyPacket(tek)).ok, false, "gdoid's Key Length 0");
    const noIntegrity = { ...tekKeyPacket(tek), attributes: tekKeyPacket(tek).attributes.slice(0, 1) };
    assert.equal(tekFromWire(sat, noIntegrity).ok, false);
    assert.equal(tekFromWire(sat, { ...tekKeyPacket(tek), kdType: KdType.Kek }).ok, false);
  });

  it('policy validation refuses what the GCKS cannot serve', () => {
    const bad = (mutate: (p: ReturnType<typeof policy>) => void): void => {
      const p = policy();
      mutate(p);
      assert.throws(() => validatePolicy(p), (e: unknown) => e instanceof GdoiError && e.code === 'BAD_POLICY');
    };
    validatePolicy(policy());
    bad((p) => { p.teks[0] = { ...TEK, source: { prefix: '10.0.0.1/8', port: 0 } }; });
    bad((p) => { p.teks[0] = { ...TEK, cipher: 'aes-gcm-128', integrity: 'hmac-sha-256-128' }; });
    bad((p) => { p.teks.push({ ...TEK, name: 'ipsec-1' }); });
    bad((p) => { p.kek.rsaBits = 512; });
    bad((p) => { p.groupId = -1; });
  });

  it('the pull responder bounds its pending exchanges', () => {
    const r = new PullResponder({
      group: () => undefined, authorize: () => ({ ok: true }), commit: () => undefined, refusal: 'silent',
      random: seededRandom('bound'), send: () => undefined, log: quietLog, maxExchanges: 0,
    });
    const fakeSa = {
      peer: { address: '127.0.0.9', port: 848 }, icookie: new Uint8Array(8), rcookie: new Uint8Array(8),
      cookiesHex: { icookie: '00'.repeat(8), rcookie: '00'.repeat(8) },
    };
    const header = { icookie: new Uint8Array(8), rcookie: new Uint8Array(8), nextPayload: 8, version: 0x10, exchangeType: 32, flags: 1, messageId: 5, length: 28 };
    r.handle(fakeSa as never, new Uint8Array(28), header, 0);
    assert.equal(r.counters.exchangeLimitDropped, 1);
  });
});
