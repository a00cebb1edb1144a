/**
 * Real UDP on 127.0.0.1: a GCKS and a member, each an IkeEndpoint on its own dgram socket hosted by a
 * minimal timer loop; the phase-2 hook feeds this package's tasks. Main Mode, GROUPKEY-PULL, then one
 * GROUPKEY-PUSH from the GCKS socket, accepted by the member and acknowledged (RFC 8263) back.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { once } from 'node:events';
import { Secret, systemRandom } from '@gvpn/crypto';
import { IkeEndpoint } from '@gvpn/ike';
import type { Endpoint } from '@gvpn/ike';
import { GcksGroup, PullInitiator, PullResponder, PushReceiver, hex, tryHeader, verifyAck } from '../src/index.js';
import type { AckResult, PushOutcome } from '../src/index.js';
import { policy, quietLog, signingKey } from './harness.js';

async function bind(): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return socket;
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Runs `poll` at the earliest of the deadlines, re-armed after every event. */
function scheduler(deadlines: () => (number | undefined)[], poll: (now: number) => void): { kick(): void; stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const kick = (): void => {
    clearTimeout(timer);
    if (stopped) return;
    const next = deadlines().filter((d): d is number => d !== undefined);
    if (next.length === 0) return;
    timer = setTimeout(() => {
      poll(Date.now());
      kick();
    }, Math.max(0, Math.min(...next) - Date.now()));
  };
  return { kick, stop: () => { stopped = true; clearTimeout(timer); } };
}

describe('over UDP on 127.0.0.1', () => {
  const sockets: Socket[] = [];
  const stops: (() => void)[] = [];
  after(() => {
    for (const s of stops) s();
    for (const s of sockets) s.close();
  });

  it('Main Mode, GROUPKEY-PULL, one GROUPKEY-PUSH accepted and acknowledged', async () => {
    const serverSock = await bind();
    const memberSock = await bind();
    sockets.push(serverSock, memberSock);
    const serverAddr: Endpoint = { address: '127.0.0.1', port: serverSock.address().port };
    const memberAddr: Endpoint = { address: '127.0.0.1', port: memberSock.address().port };
    const psk = new Secret(new TextEncoder().encode('gdoi-udp-test'));
    const proposals = [{ encryption: 'aes-256-cbc' as const, hash: 'sha256' as const, dhGroup: 19, lifetimeSeconds: 3600 }];
    const options = { maxHalfOpen: 16, retransmitInitialMs: 500, retransmitTries: 3, allowLegacyGroups: false };
    const p = policy();
    p.kek.pushSource = { address: serverAddr.address, port: serverAddr.port };
    p.kek.pushDestination = { address: memberAddr.address, port: memberAddr.port };
    const group = new GcksGroup(p, systemRandom, signingKey());
    const registered: number[] = [];

    // GCKS
    const responder = new PullResponder({
      group: (id) => (id === p.groupId ? group : undefined), authorize: () => ({ ok: true }),
      commit: (_sa, groupId) => registered.push(groupId), refusal: 'silent', random: systemRandom,
      send: (bytes, to) => serverSock.send(bytes, to.port, to.address), log: quietLog,
    });
    const server = new IkeEndpoint({
      local: serverAddr, gateways: [{ name: 'gm', peer: memberAddr, psk, proposals, initiate: false }], options,
      random: systemRandom, log: quietLog, send: (bytes, to) => serverSock.send(bytes, to.port, to.address),
      events: { phase2: (sa, d, now) => { const h = tryHeader(d); if (h !== undefined) responder.handle(sa, d, h, now); } },
    });
    const serverTimer = scheduler(() => [server.nextDeadline(), responder.nextDeadline()], (now) => { server.poll(now); responder.poll(now); });
    stops.push(serverTimer.stop);
    const acks: AckResult[] = [];
    serverSock.on('message', (msg, rinfo) => {
      const bytes = new Uint8Array(msg);
      if (bytes[18] === 35) acks.push(verifyAck(group.kek, bytes));
      else server.handleDatagram(bytes, { address: rinfo.address, port: rinfo.port }, Date.now());
      serverTimer.kick();
    });

    // Member
    let pull: PullInitiator | undefined;
    let receiver: PushReceiver | undefined;
    const outcomes: PushOutcome[] = [];
    const member = new IkeEndpoint({
      local: memberAddr, gateways: [{ name: 'ks', peer: serverAddr, psk, proposals, initiate: true }], options,
      random: systemRandom, log: quietLog, send: (bytes, to) => memberSock.send(bytes, to.port, to.address),
      events: {
        saUp: (sa) => {
          pull = new PullInitiator({ sa, groupId: p.groupId, random: systemRandom, send: (bytes, to) => memberSock.send(bytes, to.port, to.address), retransmitInitialMs: 500 });
          pull.start(Date.now());
        },
        phase2: (_sa, d, now) => {
          const h = tryHeader(d);
          if (h === undefined || pull === undefined || h.messageId !== pull.messageId) return;
          pull.handle(d, h, now);
          if (pull.state === 'done' && pull.result !== undefined && receiver === undefined) {
            receiver = new PushReceiver({ pull: pull.result, memberAddress: memberAddr.address });
          }
        },
      },
    });
    const memberTimer = scheduler(() => [member.nextDeadline(), pull?.nextDeadline()], (now) => { member.poll(now); pull?.poll(now); });
    stops.push(memberTimer.stop);
    memberSock.on('message', (msg, rinfo) => {
      const bytes = new Uint8Array(msg);
      if (bytes.length >= 28 && bytes[18] === 33) {
        // GROUPKEY-PUSH: cookies are the KEK SPI, not an IKE SA; only from the registration's server.
        if (receiver === undefined || rinfo.address !== pull?.result?.server.address) return;
        const out = receiver.handle(bytes);
        outcomes.push(out);
        if (out.ack !== undefined) memberSock.send(out.ack, rinfo.port, rinfo.address);
      } else {
        member.handleDatagram(bytes, { address: rinfo.address, port: rinfo.port }, Date.now());
      }
      memberTimer.kick();
    });

    const started = Date.now();
    member.start(Date.now());
    memberTimer.kick();
    await until(() => receiver !== undefined, 5000, 'pull');
    const pullMs = Date.now() - started;
    assert.deepEqual(registered, [p.groupId]);
    assert.equal(hex(receiver?.kek?.spi ?? new Uint8Array()), hex(group.kek.spi));
    assert.deepEqual([...(receiver?.teks.keys() ?? [])].sort(), group.teks.map((t) => hex(t.spi)).sort());

    const { push } = group.rekeyTeks();
    serverSock.send(push.bytes, memberAddr.port, memberAddr.address);
    await until(() => acks.length > 0, 5000, 'push and ACK');
    assert.equal(outcomes.length, 1);
    assert.equal(outcomes[0]?.accepted, true);
    for (const t of group.teks) assert.ok(receiver?.teks.has(hex(t.spi)), 'new TEK installed');
    assert.deepEqual(acks[0], { ok: true, seq: 1, memberAddress: memberAddr.address });
    assert.ok(pullMs < 5000);
  });
});
