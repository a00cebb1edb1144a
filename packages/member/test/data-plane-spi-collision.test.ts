/**
 * Two groups (each its own vpn and server) whose TEKs have the same SPI: by chance (32 bits), or because the
 * other group's server chose an SPI it saw on the wire. ESP finds an SA by SPI alone, so the second TEK is not
 * installed, and nothing of the second group (a PULL's lifetime, a push's delete) touches the first one's SA.
 * Before, the second install answered "held" and a delete pushed by the second server removed the first group's TEK.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '@gvpn/crypto';
import { generateTek, type Tek } from '@gvpn/gdoi';
import { createLogger, type DataPlaneConfig } from '@gvpn/runtime';
import { DataPlane } from '../src/data-plane.js';
import { spiNumber } from '../src/tek-convert.js';

const log = createLogger({ level: 'fatal', name: 'test', destination: { write: () => {} } });
const CONFIG: DataPlaneConfig = { listenAddress: '127.0.23.11', listenPort: 4500, memberId: null, probe: null };

function tek(seed: string, prefix: string): Tek {
  return generateTek({
    name: seed, cipher: 'aes-gcm-256', protocol: 0, source: { prefix, port: 0 }, destination: { prefix, port: 0 }, lifetimeSeconds: 3600,
  }, seededRandom(seed));
}

describe('member data plane: the same SPI in two groups', () => {
  it('the second group\'s TEK is not installed, and its delete leaves the first group\'s SA', () => {
    const plane = new DataPlane({ config: CONFIG, log, random: seededRandom('dp'), rearm: () => {}, now: () => 0 });
    const mine = tek('group-1', '10.1.0.0/16');
    const theirs: Tek = { ...tek('group-2', '10.2.0.0/16'), spi: mine.spi };
    const spi = spiNumber(mine.spi);
    assert.ok(plane.install('GROUP1-VPN', mine, 0, 0));
    assert.equal(plane.install('GROUP2-VPN', theirs, 0, 0), false, 'another group holds the SPI');
    assert.deepEqual(plane.teks('GROUP2-VPN'), []);
    assert.equal(plane.counters().teksRejected, 1);
    assert.equal(plane.remove(spi, 'GROUP2-VPN'), false, 'not GROUP2\'s to delete');
    assert.deepEqual(plane.teks().map((t) => [t.group, t.gdoi]), [['GROUP1-VPN', mine]], 'the first group\'s TEK, as installed');
    assert.ok(plane.endpoint.sad.get(spi) !== undefined);
    assert.ok(plane.install('GROUP1-VPN', mine, 0, 0), 'the same group\'s TEK again: held');
    assert.ok(plane.remove(spi, 'GROUP1-VPN'));
    assert.deepEqual(plane.teks(), []);
  });
});
