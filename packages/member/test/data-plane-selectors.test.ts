/**
 * The member data plane with several SAs of different selectors (a group with two ipsec-sa, or two
 * groups), on a manual clock and without a socket: the traffic probe keeps sending when the SA whose
 * selector it started in goes (a push deleting that TEK, a clear or removal of its group).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '@gvpn/crypto';
import { generateTek, type Tek } from '@gvpn/gdoi';
import { createLogger, type DataPlaneConfig } from '@gvpn/runtime';
import { DataPlane } from '../src/data-plane.js';
import { spiNumber } from '../src/tek-convert.js';

const log = createLogger({ level: 'fatal', name: 'test', destination: { write: () => {} } });
const CONFIG: DataPlaneConfig = {
  listenAddress: '127.0.8.71', listenPort: 4500, memberId: 1,
  probe: { intervalMs: 100, peers: [{ name: 'gm2', memberId: 2, address: '127.0.8.72', port: 4500 }] },
};

function tek(seed: string, prefix: string): Tek {
  return generateTek({
    name: seed, cipher: 'aes-gcm-256', protocol: 0, source: { prefix, port: 0 }, destination: { prefix, port: 0 }, lifetimeSeconds: 3600,
  }, seededRandom(seed));
}

describe('member data plane with several selectors', () => {
  function dataPlane() {
    let now = 0;
    const plane = new DataPlane({ config: CONFIG, log, random: seededRandom('dp'), rearm: () => {}, now: () => now });
    const tick = (ms: number): void => {
      now += ms;
      plane.poll(now);
    };
    return { plane, tick };
  }

  for (const how of ['deleted', 'group removed'] as const) {
    it(`keeps probing through the other SA when the first one is ${how}`, () => {
      const { plane, tick } = dataPlane();
      const first = tek('sa-a', '10.1.0.0/16');
      const second = tek('sa-b', '10.2.0.0/16');
      assert.ok(plane.install('GROUP1-VPN', first, 0, 0));
      assert.ok(plane.install(how === 'deleted' ? 'GROUP1-VPN' : 'GROUP2-VPN', second, 0, 0));
      tick(0);
      assert.equal(plane.probeCounters().sent, 1);
      if (how === 'deleted') plane.remove(spiNumber(first.spi));
      else plane.removeGroup('GROUP1-VPN');
      for (let i = 0; i < 3; i++) tick(100);
      assert.equal(plane.probeCounters().sendFailures, 0, 'probes sent in a selector no SA covers any more');
      assert.equal(plane.probeCounters().sent, 4);
    });
  }

  it('moves to an SA it can send under now rather than to a newer one not active yet', () => {
    const { plane, tick } = dataPlane();
    const first = tek('sa-a', '10.1.0.0/16');
    assert.ok(plane.install('GROUP1-VPN', first, 0, 0));
    assert.ok(plane.install('GROUP1-VPN', tek('sa-b', '10.2.0.0/16'), 0, 0));
    assert.ok(plane.install('GROUP1-VPN', tek('sa-c', '10.3.0.0/16'), 0, 1000)); // pushed: active in 1 s
    plane.remove(spiNumber(first.spi));
    for (let i = 0; i < 3; i++) tick(100);
    assert.equal(plane.probeCounters().sendFailures, 0);
  });

  it('keeps probing when the first SA reaches its end with no successor and another SA is still valid', () => {
    const { plane, tick } = dataPlane();
    const first = tek('sa-a', '10.1.0.0/16');
    assert.ok(plane.install('GROUP1-VPN', first, 0, 0));
    assert.ok(plane.install('GROUP1-VPN', tek('sa-b', '10.2.0.0/16'), 0, 0));
    plane.retire(spiNumber(first.spi), 150);
    for (let i = 0; i < 4; i++) tick(100);
    assert.equal(plane.teks().length, 1);
    assert.equal(plane.probeCounters().sendFailures, 0);
    assert.equal(plane.probeCounters().sent, 4);
  });
});
