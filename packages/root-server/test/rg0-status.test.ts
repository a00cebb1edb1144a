/**
 * `show chassis cluster status` of a root-pair node (src/pair/rg0.ts) whose peer keeps its control-link
 * connection open but sends no heartbeats, as a SIGSTOPped node does: the peer is not healthy and the
 * control link is `down`. Before, the link read "up" beside a lost node. The peer here is a bare ControlLink
 * (authenticated, then silent) on 127.0.64.x; IKE is a stub.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Secret, seededRandom } from '@gvpn/crypto';
import type { IkeEndpoint } from '@gvpn/ike';
import { createLogger, loadConfig, systemClock, type RoleContext, type ServerDaemonConfig } from '@gvpn/runtime';
import { openStore } from '@gvpn/store';
import { ControlLink } from '../src/pair/control-link.js';
import { createRootPair } from '../src/pair/rg0.js';

const ROOT = fileURLToPath(new URL('../../../../configs/lab/gdoi/root.yaml', import.meta.url));
const loaded = (await loadConfig(ROOT)).config as ServerDaemonConfig;
const config: ServerDaemonConfig = { ...loaded, server: { ...loaded.server, groups: loaded.server.groups.slice(0, 1) } };
const noIke = {
  establishedSas: () => [], status: () => [], initiateGateway: () => true, statistics: () => ({}), start: () => {}, stop: () => {},
} as unknown as IkeEndpoint;

const dir = mkdtempSync(join(tmpdir(), 'gvpn-rg0-status-'));
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function until(what: string, condition: () => boolean, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('root pair status', () => {
  it('control link: down while the connection is open but no heartbeats come (a stopped peer)', async () => {
    const psk = randomBytes(32);
    const port = 20000 + Math.floor(Math.random() * 40000);
    const silent = new ControlLink({ node: 0, localAddress: '127.0.64.1', peerAddress: '127.0.64.2', port, key: psk, log: createLogger({ level: 'fatal', name: 'node0' }) });
    await silent.start();
    cleanups.push(async () => silent.stop());
    const store = openStore({ path: join(dir, 'state.db'), log: { info: () => {}, error: () => {} }, env: {} });
    cleanups.push(async () => store.close());
    const lines: Array<Record<string, unknown>> = [];
    const ctx: RoleContext = {
      config, log: createLogger({ level: 'info', name: 'node1', destination: { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) } }),
      clock: systemClock, random: seededRandom('rg0-status'), ike: noIke,
      send: () => {}, rearm: () => {}, bind: async () => {}, unbind: async () => {},
    };
    const node1 = createRootPair(ctx, {
      node: 1, heartbeatIntervalMs: 100, heartbeatThreshold: 3, priorities: [200, 100],
      controlLink: { localAddress: '127.0.64.2', peerAddress: '127.0.64.1', port, preSharedKey: new Secret(psk) },
    }, store);
    await node1.start?.(systemClock.now());
    cleanups.push(async () => node1.stop?.(systemClock.now()));
    await until('node1 primary alone', () => lines.some((l) => l['msg'] === 'RG0: this node is primary'));
    await until('both connections open', () => silent.inboundConnected && silent.connected);
    const status = (await node1.handlers!['show chassis cluster status']!({})) as { controlLink: string; nodes: { healthy: boolean; self: boolean }[] };
    assert.equal(status.nodes.find((n) => !n.self)?.healthy, false);
    assert.equal(status.controlLink, 'down');
  });
});
