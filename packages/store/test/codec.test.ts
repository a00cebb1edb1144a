/** The value codec: every kind of value round-trips; what cannot round-trip is refused, never changed. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Secret } from '@gvpn/crypto';
import { StoreError, decodeValue, encodeValue } from '../src/index.js';

function roundTrip(v: unknown): unknown {
  return decodeValue(encodeValue(v));
}

describe('value codec', () => {
  it('round-trips JSON values, bytes and secrets at any depth', () => {
    const bytes = Uint8Array.from([0, 1, 2, 253, 254, 255]);
    const v = {
      s: 'text ü', n: -12.5, big: 2 ** 53 - 1, t: true, f: false, nil: null, empty: {}, list: [1, 'a', null, [true]],
      bytes, emptyBytes: new Uint8Array(0), buffer: Buffer.from('buf'), sub: bytes.subarray(2, 4),
      secret: new Secret(Uint8Array.from([9, 8, 7])),
      nested: { deeper: [{ key: new Secret(new Uint8Array(32).fill(0xa5)), iv: new Uint8Array(16).fill(1) }] },
    };
    const back = roundTrip(v) as typeof v;
    assert.equal(back.s, v.s);
    assert.equal(back.n, v.n);
    assert.equal(back.big, v.big);
    assert.deepEqual([back.t, back.f, back.nil, back.empty, back.list], [true, false, null, {}, [1, 'a', null, [true]]]);
    assert.ok(back.bytes instanceof Uint8Array);
    assert.deepEqual(back.bytes, bytes);
    assert.deepEqual(back.emptyBytes, new Uint8Array(0));
    assert.deepEqual(back.buffer, new Uint8Array(Buffer.from('buf')), 'a Buffer comes back as a Uint8Array of its bytes');
    assert.deepEqual(back.sub, Uint8Array.from([2, 253]), 'a subarray stores only its own bytes');
    assert.ok(back.secret instanceof Secret);
    assert.deepEqual(back.secret.reveal(), Uint8Array.from([9, 8, 7]));
    const inner = back.nested.deeper[0];
    assert.ok(inner !== undefined && inner.key instanceof Secret);
    assert.deepEqual(inner.key.reveal(), new Uint8Array(32).fill(0xa5));
    assert.deepEqual(inner.iv, new Uint8Array(16).fill(1));
    for (const top of ['x', 0, null, [new Uint8Array([1])]]) assert.deepEqual(roundTrip(top), top);
  });

  it('encodes bytes and secrets as tags, so a Secret never becomes "[secret]"', () => {
    const text = encodeValue({ k: new Secret(Uint8Array.from([1, 2])), b: Uint8Array.from([3]) });
    assert.equal(text, '{"k":{"$secret":"AQI="},"b":{"$b64":"Aw=="}}');
  });

  it('drops undefined object fields (optional fields round-trip as absent)', () => {
    assert.deepEqual(roundTrip({ a: 1, b: undefined }), { a: 1 });
    assert.equal(Object.hasOwn(roundTrip({ b: undefined }) as object, 'b'), false);
  });

  it('refuses what cannot round-trip, naming where', () => {
    const cases: [unknown, RegExp][] = [
      [undefined, /undefined/],
      [{ a: [1, undefined] }, /value\.a\[1\]: undefined in an array/],
      [{ n: NaN }, /value\.n: NaN/],
      [{ n: Infinity }, /Infinity/],
      [{ b: 1n }, /bigint/],
      [{ d: new Date(0) }, /value\.d: a Date instance/],
      [{ m: new Map() }, /Map/],
      [{ f: () => 1 }, /function/],
      [{ s: Symbol('x') }, /symbol/],
      [{ $b64: 'AA==' }, /must not start with "\$"/],
      [{ x: { $secret: 'x' } }, /value\.x\.\$secret/],
    ];
    for (const [v, re] of cases) {
      assert.throws(() => encodeValue(v), (e: unknown) => e instanceof StoreError && e.code === 'BAD_VALUE' && re.test(e.message), String(re));
    }
  });

  it('a wiped Secret cannot be stored', () => {
    const s = new Secret(Uint8Array.from([1]));
    s.wipe();
    assert.throws(() => encodeValue({ s }), { name: 'CryptoError' });
  });

  it('refuses stored text that it did not write, as CORRUPT', () => {
    for (const text of ['{', '{"$b64":"***"}', '{"$b64":1}', '{"$b64":"AA==","x":1}', '{"$other":"AA=="}', '{"a":{"$secret":"A"}}']) {
      assert.throws(() => decodeValue(text), (e: unknown) => e instanceof StoreError && e.code === 'CORRUPT', text);
    }
  });

  it('a value that is not JSON: the error gives its length and the offset, never text of the value', () => {
    // V8 quotes the text around a bad token ("Unexpected token '#', ...") or gives only a position.
    for (const [text, at] of [['{"k":#U0VDUkVUS0VZ"}', undefined], ['{"k":"U0VDUkVUS0VZ', '18']] as const) {
      assert.throws(() => decodeValue(text), (e: unknown) => {
        assert.ok(e instanceof StoreError && e.code === 'CORRUPT');
        assert.ok(!e.message.includes('U0VD') && !e.message.includes('"k"'), e.message);
        assert.equal(e.cause, undefined, 'no cause that a log would print');
        assert.match(e.message, new RegExp(`^stored value is not JSON \\(${text.length} characters${at === undefined ? '' : `, error at position ${at}`}\\)$`));
        return true;
      });
    }
  });
});
