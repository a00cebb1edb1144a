// A real root-server daemon with a dynamic gateway (`address: dynamic`, PSK A) and one fixed gateway
// (address P.4, PSK B), on loopback (P a random 127.X.Y). In-process IKE initiators (the engine's own
// IkeEndpoint over real UDP sockets) connect from P.2 and P.3 with PSK A and both get SAs, which the daemon's
// status shows under the dynamic gateway with each member's real address; P.4 gets its SA only with PSK B,
// under the fixed gateway; PSK A from P.4 and PSK B from P.5 are refused (authFailed, no SA).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { Secret, systemRandom } from '@gvpn/crypto';
import { IkeEndpoint, type Endpoint, type IkeSaStatus, type Logger } from '@gvpn/ike';
import { controlRequest } from '@gvpn/runtime';
import {
  Cleanup, ManagedProcess, ROOT_SERVER_MAIN, aes256Sha256, ourDaemonConfig, randomLoopbackPrefix, waitFor, workDirectory,
  type OurSa,
} from '../src/index.js';

const P = randomLoopbackPrefix();
const SERVER = { address: `${P}.1`, port: 848 };
const MEMBER_PSK = 'dynamic-gateway-test-only-A';
const FIXED_PSK = 'dynamic-gateway-test-only-B';
const PROPOSAL = aes256Sha256(19);

const cleanup = new Cleanup();
after(() => cleanup.run());

let daemon: ManagedProcess;
let socketPath = '';

/** The daemon's configuration: ourDaemonConfig's, with a second policy and the dynamic gateway added. */
function configText(): string {
  const tree = JSON.parse(ourDaemonConfig({
    name: 'root', listen: SERVER, psk: MEMBER_PSK, proposals: [PROPOSAL], logLevel: 'info',
    gateways: [{ name: 'fixed-peer', address: `${P}.4`, port: 848 }],
  })) as { security: { 'group-vpn': { server: { ike: Record<string, Record<string, Record<string, unknown>>> } } } };
  const ike = tree.security['group-vpn'].server.ike;
  const policies = ike['policy'] as Record<string, Record<string, unknown>>;
  policies['fixed'] = { ...policies['test'], 'pre-shared-key': { 'ascii-text': FIXED_PSK } };
  const gateways = ike['gateway'] as Record<string, Record<string, unknown>>;
  (gateways['fixed-peer'] as Record<string, unknown>)['ike-policy'] = 'fixed';
  gateways['members'] = { 'ike-policy': 'test', address: 'dynamic', 'local-address': SERVER.address };
  return `${JSON.stringify(tree, null, 2)}\n`;
}

async function control(words: string[], options: Record<string, unknown> = {}): Promise<unknown> {
  if (!daemon.running) throw new Error(`daemon exited: ${daemon.stderr()}${daemon.stdout()}`);
  return controlRequest(socketPath, words, { options, timeoutMs: 5000 });
}
const sas = async (): Promise<OurSa[]> =>
  ((await control(['show', 'security', 'group-vpn', 'server', 'ike', 'security-associations'], { detail: true })) as { sas: OurSa[] }).sas;
const counters = async (): Promise<Record<string, number>> =>
  ((await control(['show', 'security', 'group-vpn', 'server', 'statistics'])) as { ike: Record<string, number> }).ike;

const quiet: Logger = { info() {}, warn() {}, debug() {}, trace() {}, error() {}, child: () => quiet };

/** An in-process initiator on its own UDP socket at `address`, towards the daemon. */
interface Initiator { endpoint: IkeEndpoint; socket: Socket; timer: NodeJS.Timeout | undefined; failures: string[] }

async function initiator(address: string, psk: string): Promise<Initiator> {
  const socket = createSocket('udp4');
  socket.bind(0, address);
  await once(socket, 'listening');
  const local: Endpoint = { address, port: socket.address().port };
  const me: Initiator = { socket, timer: undefined, failures: [], endpoint: undefined as unknown as IkeEndpoint };
  cleanup.defer(`initiator ${address}`, () => {
    clearTimeout(me.timer);
    me.endpoint.stop(Date.now());
    socket.close();
  });
  me.endpoint = new IkeEndpoint({
    local,
    gateways: [{
      name: 'server', peer: SERVER, psk: new Secret(new TextEncoder().encode(psk)), initiate: true,
      proposals: [{ encryption: 'aes-256-cbc', hash: 'sha256', dhGroup: 19, lifetimeSeconds: 3600 }],
    }],
    options: { maxHalfOpen: 16, retransmitInitialMs: 250, retransmitTries: 2, allowLegacyGroups: false },
    random: systemRandom, log: quiet,
    send: (bytes, to) => socket.send(bytes, to.port, to.address),
    events: { negotiationFailed: (_g, reason) => me.failures.push(reason) },
  });
  const schedule = (): void => {
    clearTimeout(me.timer);
    const deadline = me.endpoint.nextDeadline();
    if (deadline === undefined) return;
    me.timer = setTimeout(() => {
      me.endpoint.poll(Date.now());
      schedule();
    }, Math.max(0, deadline - Date.now()));
  };
  socket.on('message', (msg, rinfo) => {
    me.endpoint.handleDatagram(new Uint8Array(msg), { address: rinfo.address, port: rinfo.port }, Date.now());
    schedule();
  });
  me.endpoint.start(Date.now());
  schedule();
  return me;
}

const up = (i: Initiator): IkeSaStatus[] => i.endpoint.status(Date.now()).filter((s) => s.state === 'established');

before(async () => {
  const dir = await workDirectory(cleanup, 'daemon-dynamic-gateway');
  const file = join(dir, 'root.yaml');
  await writeFile(file, configText());
  daemon = ManagedProcess.start('root', process.execPath, [ROOT_SERVER_MAIN, '--config', file], { logDir: dir });
  cleanup.defer(`root-server pid ${daemon.pid}`, () => daemon.stop('SIGTERM', 3000));
  socketPath = join(dir, 'root-state', 'control.sock');
  await waitFor(async () => {
    if (!daemon.running) throw new Error(`daemon exited at start: ${daemon.stderr()}${daemon.stdout()}`);
    return control(['request', 'system', 'ping']).then(() => true, () => false);
  }, 10_000, 'the daemon control socket');
});

test('members from two addresses authenticate through the dynamic gateway; status shows each real peer', async () => {
  const a = await initiator(`${P}.2`, MEMBER_PSK);
  const b = await initiator(`${P}.3`, MEMBER_PSK);
  await waitFor(() => up(a).length === 1 && up(b).length === 1, 10_000, 'both initiators UP');
  const rows = (await sas()).filter((s) => s.state === 'UP');
  const byPeer = new Map(rows.map((s) => [s.remote.address, s]));
  for (const [i, address] of [[a, `${P}.2`], [b, `${P}.3`]] as const) {
    const row = byPeer.get(address);
    assert.ok(row !== undefined, `an UP SA towards ${address}: ${JSON.stringify(rows)}`);
    assert.equal(row.gateway, 'members');
    assert.equal(row.role, 'responder');
    assert.equal(row.remote.port, i.socket.address().port, 'the actual source port is recorded');
    assert.equal(row.icookie, up(i)[0]?.icookie, 'the same SA on both ends');
    assert.equal(row.dhGroup, 19);
  }
  const c = await counters();
  assert.equal(c['unknownPeerDropped'], 0);
  assert.ok((c['saEstablished'] ?? 0) >= 2);
});

test('an address with a fixed gateway uses the fixed gateway\'s PSK; the dynamic PSK does not work from there', async () => {
  const before = await counters();
  const wrong = await initiator(`${P}.4`, MEMBER_PSK);
  await waitFor(() => wrong.failures.length > 0, 10_000, 'the dynamic PSK from the fixed address to fail');
  assert.equal(up(wrong).length, 0);
  await waitFor(async () => (await counters())['authFailed'] === (before['authFailed'] ?? 0) + 1, 5000, 'the daemon to count authFailed');
  assert.ok(!(await sas()).some((s) => s.state === 'UP' && s.remote.address === `${P}.4`), 'no SA from the wrong key');

  const fixed = await initiator(`${P}.4`, FIXED_PSK);
  await waitFor(() => up(fixed).length === 1, 10_000, 'the fixed-address initiator UP with the fixed PSK');
  const row = (await sas()).find((s) => s.state === 'UP' && s.remote.address === `${P}.4`);
  assert.equal(row?.gateway, 'fixed-peer');

  // The fixed gateway's key is no good from any other address: there the dynamic gateway's key applies.
  const stray = await initiator(`${P}.5`, FIXED_PSK);
  await waitFor(() => stray.failures.length > 0, 10_000, 'the fixed PSK from another address to fail');
  assert.equal(up(stray).length, 0);
  assert.equal((await counters())['authFailed'], (before['authFailed'] ?? 0) + 2);
});
