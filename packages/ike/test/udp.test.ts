/** End to end in real time: two endpoints over UDP sockets on 127.0.0.1, hosted by a minimal timer loop. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { once } from 'node:events';
import { Secret, systemRandom } from '@gvpn/crypto';
import { IkeEndpoint } from '../src/index.js';
import type { Endpoint, IkeSa } from '../src/index.js';
import { OPTIONS, P_AES256_SHA256_G19, memoryLogger } from './harness.js';
import type { LogLine } from './harness.js';

interface Host {
  socket: Socket;
  endpoint: IkeEndpoint;
  up: IkeSa[];
  logs: LogLine[];
  timer: NodeJS.Timeout | undefined;
}

async function bind(): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return socket;
}

/** What the runtime package does for real: datagrams in, poll at the next deadline. */
function host(socket: Socket, peer: Endpoint, initiate: boolean): Host {
  const local = { address: '127.0.0.1', port: socket.address().port };
  const logs: LogLine[] = [];
  const h: Host = { socket, up: [], logs, timer: undefined, endpoint: undefined as unknown as IkeEndpoint };
  h.endpoint = new IkeEndpoint({
    local,
    gateways: [{
      name: 'peer', peer, psk: new Secret(new TextEncoder().encode('udp-test')), proposals: [P_AES256_SHA256_G19],
      initiate, dpd: { interval: 2, threshold: 3 },
    }],
    options: OPTIONS, random: systemRandom, log: memoryLogger(logs),
    send: (bytes, to) => socket.send(bytes, to.port, to.address),
    events: { saUp: (sa) => h.up.push(sa) },
  });
  const schedule = (): void => {
    clearTimeout(h.timer);
    const deadline = h.endpoint.nextDeadline();
    if (deadline === undefined) return;
    h.timer = setTimeout(() => {
      h.endpoint.poll(Date.now());
      schedule();
    }, Math.max(0, deadline - Date.now()));
  };
  socket.on('message', (msg, rinfo) => {
    h.endpoint.handleDatagram(new Uint8Array(msg), { address: rinfo.address, port: rinfo.port }, Date.now());
    schedule();
  });
  h.endpoint.start(Date.now());
  schedule();
  return h;
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('over UDP on 127.0.0.1', () => {
  const hosts: Host[] = [];
  after(() => {
    for (const h of hosts) {
      clearTimeout(h.timer);
      h.socket.close();
    }
  });

  it('establishes Main Mode and completes a DPD round trip both ways', async () => {
    const sa = await bind();
    const sb = await bind();
    const addr = (s: Socket): Endpoint => ({ address: '127.0.0.1', port: s.address().port });
    const b = host(sb, addr(sa), false);
    const a = host(sa, addr(sb), true);
    hosts.push(a, b);
    await until(() => a.up.length === 1 && b.up.length === 1, 2000);
    await until(() => {
      const sa = a.endpoint.statistics();
      const sb = b.endpoint.statistics();
      return sa.dpdAcksReceived >= 1 && sb.dpdAcksReceived >= 1;
    }, 4000);
    const [status] = a.endpoint.status(Date.now());
    assert.equal(status?.state, 'established');
    assert.equal(status?.dpd.outstanding, 0);
    a.endpoint.stop(Date.now());
    await until(() => b.endpoint.status(Date.now()).length === 0, 1000);
    assert.equal(b.endpoint.statistics().deletesReceived, 1);
  });
});
