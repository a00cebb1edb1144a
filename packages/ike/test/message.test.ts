import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PayloadType, WireError, encodePayloads } from '@gvpn/wire';
import type { Header } from '@gvpn/wire';
import { parseDecrypted } from '../src/message.js';

const header: Header = {
  icookie: new Uint8Array(8), rcookie: new Uint8Array(8), nextPayload: PayloadType.HASH, version: 0x10,
  exchangeType: 5, flags: 1, messageId: 1, length: 0,
};

describe('decrypted payload chains', () => {
  const chain = encodePayloads([{ type: PayloadType.HASH, data: new Uint8Array(20) }], { exchangeType: 5 }); // 24 bytes
  const padded = (n: number): Uint8Array => {
    const out = new Uint8Array(chain.length + n).fill(0xa5);
    out.set(chain);
    return out;
  };

  it('accepts zero padding to the block and, like strongSwan sends, a whole extra block of any bytes', () => {
    assert.equal(parseDecrypted(header, padded(8)).chainEnd, 24);
    assert.equal(parseDecrypted(header, padded(16)).chainEnd, 24);
  });

  it('rejects more than a block of trailing bytes', () => {
    assert.throws(() => parseDecrypted(header, padded(17)), (e) => e instanceof WireError && e.code === 'TRAILING_BYTES');
  });
});
