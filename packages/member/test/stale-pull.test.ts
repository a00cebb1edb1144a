/**
 * GroupRegistration: a re-registration whose PULL message 4 was built before PUSHes the current keys
 * accepted while it travelled (RFC 6407 §3.2: that PULL is stale). A key server and the member's IKE
 * endpoint in-process over an in-memory network, stepped one datagram at a time.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Secret, seededRandom } from '@gvpn/crypto';
import { GcksGroup, PullResponder, tryHeader, type GroupPolicy } from '@gvpn/gdoi';
import { IkeEndpoint, type Endpoint } from '@gvpn/ike';
import { createLogger, type MemberVpnConfig } from '@gvpn/runtime';
import { GroupRegistration, type RegistrationKeys } from '../src/registration.js';

const SERVER: Endpoint = { address: '127.0.0.2', port: 848 };
const MEMBER: Endpoint = { address: '127.0.0.1', port: 848 };
const hex = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString('hex');

const POLICY: GroupPolicy = {
  groupId: 7,
  kek: {
    cipher: 'aes-256-cbc', lifetimeSeconds: 3600, sigHash: 'sha256', rsaBits: 2048, ackRequested: true,
    pushSource: { address: SERVER.address, port: 848 }, pushDestination: { address: MEMBER.address, port: 848 },
  },
  teks: [{
    name: 'GROUP7', cipher: 'aes-gcm-256', protocol: 0,
    source: { prefix: '172.16.0.0/12', port: 0 }, destination: { prefix: '172.16.0.0/12', port: 0 }, lifetimeSeconds: 3600,
  }],
  activationDelaySeconds: 1, deactivationDelaySeconds: 30,
};

function lab() {
  const random = seededRandom('member-stale-pull');
  const group = new GcksGroup(POLICY, random);
  const queue: { bytes: Uint8Array; from: Endpoint; to: Endpoint }[] = [];
  const net = (from: Endpoint) => (bytes: Uint8Array, to: Endpoint): void => { queue.push({ bytes: Uint8Array.from(bytes), from, to }); };
  const log = createLogger({ level: 'fatal', name: 'test', destination: { write: () => {} } });
  const psk = new Secret(new TextEncoder().encode('member-stale-pull'));
  const proposals = [{ encryption: 'aes-256-cbc' as const, hash: 'sha256' as const, dhGroup: 19, lifetimeSeconds: 3600 }];
  const options = { maxHalfOpen: 16, retransmitInitialMs: 1000, retransmitTries: 3, allowLegacyGroups: false };
  const responder = new PullResponder({
    group: (id) => (id === POLICY.groupId ? group : undefined), authorize: () => ({ ok: true }), commit: () => {},
    refusal: 'silent', random, send: net(SERVER), log,
  });
  const server = new IkeEndpoint({
    local: SERVER, gateways: [{ name: 'gm', peer: MEMBER, psk, proposals, initiate: false }], options, random, log, send: net(SERVER),
    events: { phase2: (sa, d, now) => { const h = tryHeader(d); if (h !== undefined) responder.handle(sa, d, h, now); } },
  });
  const registered: { keys: RegistrationKeys; previous: RegistrationKeys | undefined }[] = [];
  let registration: GroupRegistration | undefined;
  const member = new IkeEndpoint({
    local: MEMBER, gateways: [{ name: 'ks', peer: SERVER, psk, proposals, initiate: true }], options, random, log, send: net(MEMBER),
    events: {
      saUp: (sa) => registration?.onSaUp(sa, 0),
      phase2: (sa, d, now) => { const h = tryHeader(d); if (h !== undefined) registration?.onPhase2(sa, d, h, now); },
    },
  });
  const ks = { name: 'ks', remote: SERVER };
  const vpn = {
    name: 'v7', groupId: POLICY.groupId, externalInterface: null, registrationTimeoutSeconds: 5,
    gateway: { name: 'ks', servers: [ks], localAddress: MEMBER.address },
  } as unknown as MemberVpnConfig;
  registration = new GroupRegistration({
    vpn, ike: member, random, send: net(MEMBER), log,
    onRegistered: (keys, previous) => { registered.push({ keys, previous }); },
  });
  const step = (): void => {
    const d = queue.shift();
    if (d !== undefined) (d.to.address === SERVER.address ? server : member).handleDatagram(d.bytes, d.from, 0);
  };
  const flush = (): void => {
    for (let n = 0; queue.length > 0; n++) {
      assert.ok(n < 100, 'message loop');
      step();
    }
  };
  member.start(0);
  flush();
  return { group, registration, registered, queue, step, flush };
}

describe('member re-registration against PUSHes accepted meanwhile', () => {
  it('a KEK rekeyed by PUSH while the PULL travelled stays; later PUSHes under it are taken; a new-keys PULL still wins', () => {
    const { group, registration, registered, queue, step, flush } = lab();
    registration.start(0);
    flush();
    const first = registration.keys;
    assert.ok(first !== undefined);
    assert.equal(hex(first.receiver.kek?.spi), hex(group.kek.spi));

    registration.reRegister(0, 'test');
    step(); // message 1
    step(); // message 2
    step(); // message 3: message 4, built now (KEK K, SEQ 0), waits in the queue
    assert.equal(queue.length, 1);
    const kekPush = group.rekeyKek();
    assert.ok(first.receiver.handle(kekPush.bytes).accepted);
    const tekPush = group.rekeyTeks().push;
    assert.ok(first.receiver.handle(tekPush.bytes).accepted);
    first.kekInstalledAt = -1; // when the agent applied the KEK rekey
    flush();

    assert.equal(registered.length, 2);
    const keys = registration.keys;
    assert.ok(keys !== undefined && keys !== first);
    assert.equal(keys.receiver.stalePull, 'kek');
    assert.equal(hex(keys.receiver.kek?.spi), hex(group.kek.spi), 'the pushed KEK, not the PULL\'s');
    assert.equal(keys.kekInstalledAt, -1);
    for (const t of group.teks) assert.ok(keys.result.teks.some((r) => hex(r.spi) === hex(t.spi)), 'TEKs pushed under it, for the data plane');
    const replay = keys.receiver.handle(kekPush.bytes);
    assert.ok(!replay.accepted && replay.counter === 'unknownKekDropped');
    const next = keys.receiver.handle(group.rekeyTeks().push.bytes);
    assert.ok(next.accepted, next.accepted ? '' : next.detail);

    // The server starts over with a new KEK (and SEQ 0): the PULL's state wins, as for any new keys.
    group.replaceKek();
    registration.reRegister(0, 'server restarted');
    flush();
    const renewed = registration.keys;
    assert.ok(renewed !== undefined && renewed !== keys);
    assert.equal(renewed.receiver.stalePull, undefined);
    assert.equal(hex(renewed.receiver.kek?.spi), hex(group.kek.spi));
    assert.equal(renewed.receiver.lastSeq, 0);
    assert.equal(renewed.kekInstalledAt, 0);
    assert.deepEqual(renewed.acceptedPushes, []);
  });
});
