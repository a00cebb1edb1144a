import assert from 'node:assert/strict';
import { format, inspect } from 'node:util';
import { describe, it } from 'node:test';
import { CryptoError, Secret, keyBytes } from '../src/index.js';

describe('Secret', () => {
  const bytes = () => Uint8Array.of(0xde, 0xad, 0xbe, 0xef);

  it('never prints its bytes', () => {
    const secret = new Secret(bytes());
    assert.equal(JSON.stringify({ key: secret }), '{"key":"[secret]"}');
    assert.equal(inspect(secret), '[secret]');
    assert.equal(inspect({ nested: { secret } }, { depth: 5 }), "{ nested: { secret: [secret] } }");
    assert.equal(format('%s %o %j', secret, secret, secret), '[secret] [secret] "[secret]"');
    assert.equal(`${secret}`, '[secret]');
    assert.equal(String(secret), '[secret]');
  });

  it('reveals its bytes only on request', () => {
    const secret = new Secret(bytes());
    assert.deepEqual(secret.reveal(), bytes());
    assert.deepEqual(keyBytes(secret), bytes());
    assert.equal(secret.length, 4);
  });

  it('wipe zeroes the owned buffer and later reveals throw', () => {
    const owned = bytes();
    const secret = new Secret(owned);
    secret.wipe();
    assert.deepEqual(owned, new Uint8Array(4));
    assert.equal(secret.wiped, true);
    assert.equal(secret.length, 0);
    assert.throws(() => secret.reveal(), (e: unknown) => e instanceof CryptoError && e.code === 'SECRET_WIPED');
  });

  it('copyOf leaves the source untouched by wipe', () => {
    const source = bytes();
    const secret = Secret.copyOf(source);
    secret.wipe();
    assert.deepEqual(source, bytes());
  });
});
