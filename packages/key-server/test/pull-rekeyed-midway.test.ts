/**
 * GROUPKEY-PULLs through the key server (gcks.ts) over a real IKE SA in-process: a pull whose keys changed
 * between its message 1 and message 3 is refused (message 4 would carry the message-1 TEKs with the new SEQ, and the member would refuse the rekey push as a replay). That
 * holds for a pull that follows another one on the same IKE SA whose message 2 was lost (the member times
 * out and pulls again, with a new M-ID).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Secret, seededRandom } from '@gvpn/crypto';
import { PullInitiator, hex, tryHeader } from '@gvpn/gdoi';
import { IkeEndpoint, type Logger } from '@gvpn/ike';
import { ManualClock, createLogger, loadConfig, type Endpoint, type RoleContext, type ServerDaemonConfig } from '@gvpn/runtime';
import { createGcks } from '../src/index.js';

const ROOT = fileURLToPath(new URL('../../../../configs/lab/gdoi/root.yaml', import.meta.url));
const config = (await loadConfig(ROOT)).config as ServerDaemonConfig;
const silent = createLogger({ level: 'fatal', name: 'pull-rekeyed-midway-test' });
const quiet: Logger = { info() {}, warn() {}, debug() {}, trace() {}, error() {}, child() { return quiet; } };
const SERVER: Endpoint = { address: '127.0.90.1', port: 848 };
const MEMBER: Endpoint = { address: '127.0.90.11', port: 848 };
const PSK = 'lab-only-member-secret';
const PROPOSALS = [{ encryption: 'aes-256-cbc', hash: 'sha256', dhGroup: 19, lifetimeSeconds: 3600 }] as const;
const IKE_OPTIONS = { maxHalfOpen: 16, retransmitInitialMs: 1000, retransmitTries: 3, allowLegacyGroups: false };

interface Datagram { bytes: Uint8Array; to: Endpoint; from: Endpoint }

function lab() {
  const clock = new ManualClock(10_000);
  const queue: Datagram[] = [];
  const net = (from: Endpoint) => (bytes: Uint8Array, to: Endpoint): void => { queue.push({ bytes: Uint8Array.from(bytes), to, from }); };
  const ctx: RoleContext = {
    config, log: silent, clock, random: seededRandom('pull-rekeyed-midway'), ike: undefined as never,
    send: net(SERVER), rearm: () => {}, bind: async () => {}, unbind: async () => {},
  };
  const gcks = createGcks(ctx);
  const group = gcks.groups()[0];
  assert.ok(group !== undefined && group.hasKek);
  const psk = new Secret(new TextEncoder().encode(PSK));
  const server = new IkeEndpoint({
    local: SERVER, gateways: [{ name: 'GM-0001', peer: MEMBER, psk, proposals: [...PROPOSALS], initiate: false }], options: IKE_OPTIONS,
    random: seededRandom('pull-rekeyed-midway-server'), log: quiet, send: net(SERVER),
    events: { phase2: (sa, d, now) => gcks.ikeEvents?.phase2?.(sa, d, now) },
  });
  const pulls: PullInitiator[] = [];
  const member = new IkeEndpoint({
    local: MEMBER, gateways: [{ name: 'ks', peer: SERVER, psk, proposals: [...PROPOSALS], initiate: true }], options: IKE_OPTIONS,
    random: seededRandom('pull-rekeyed-midway-member'), log: quiet, send: net(MEMBER),
    events: {
      phase2: (_sa, d, now) => {
        const h = tryHeader(d);
        if (h !== undefined) pulls.find((p) => p.messageId === h.messageId)?.handle(d, h, now);
      },
    },
  });
  /** Delivers the next queued datagram (or drops it: `deliver` false); returns it. */
  const step = (deliver = true): Datagram => {
    const d = queue.shift();
    assert.ok(d !== undefined, 'a datagram is on its way');
    if (deliver) (d.to.address === SERVER.address ? server : member).handleDatagram(d.bytes, d.from, clock.now());
    return d;
  };
  const flush = (): void => { for (let n = 0; queue.length > 0; n++) { assert.ok(n < 100); step(); } };
  member.start(clock.now());
  flush();
  const sa = member.establishedSas()[0];
  assert.ok(sa !== undefined, 'Main Mode done');
  const pull = (): PullInitiator => {
    const p = new PullInitiator({ sa, groupId: group.groupId, random: seededRandom(`pull-${pulls.length}`), send: net(MEMBER), log: quiet, retransmitTries: 0 });
    pulls.push(p);
    p.start(clock.now());
    return p;
  };
  return { gcks, group, clock, queue, step, flush, pull };
}

describe('a pull after a lost one on the same IKE SA', () => {
  it('is refused when the group is rekeyed between its message 1 and message 3', () => {
    const s = lab();
    const first = s.pull();
    s.step(); // message 1 of the first pull reaches the server
    s.step(false); // its message 2 is lost: the member gives up and pulls again, with another M-ID
    const second = s.pull();
    s.step(); // message 1
    s.step(); // message 2 reaches the member, which sends message 3
    assert.equal(s.queue.length, 1, 'message 3 on its way');
    const rekey = s.gcks.rekeyOf(s.group);
    const oldSpis = s.group.gcks.teks.map((t) => hex(t.spi));
    rekey.request('tek-rekey');
    rekey.poll(s.clock.now()); // keys change before message 3 arrives
    s.flush();
    assert.notEqual(first.state, 'done');
    if (second.state === 'done') {
      // Without the check: message 4 carries the TEKs of message 1 with the SEQ of the rekey.
      assert.notDeepEqual(second.result?.teks.map((t) => hex(t.spi)), oldSpis, 'old TEKs handed out with the new SEQ ' + String(second.result?.seq));
    }
    assert.equal(s.gcks.statistics().refusedKeysChanged, 1, 'the second pull refused: keys changed during it');
    assert.equal(s.gcks.registrations.count(s.group.name), 0);
    // The member pulls again and gets the new keys.
    const third = s.pull();
    s.flush();
    assert.equal(third.state, 'done');
    assert.deepEqual(third.result?.teks.map((t) => hex(t.spi)), s.group.gcks.teks.map((t) => hex(t.spi)));
    assert.equal(third.result?.seq, s.group.gcks.seq());
  });
});
