/**
 * A role module that throws from a timer path (its deadline's poll, the settle after datagrams) must not end
 * the daemon: the error is counted in the statistics' process section and the daemon keeps serving.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { controlRequest, readConfigFile, startDaemon, type Daemon, type RoleContext } from '../src/index.js';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/root-server.yaml', import.meta.url));
const STATISTICS = ['show', 'security', 'group-vpn', 'server', 'statistics'];

async function until(what: string, probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('timer callbacks that throw', () => {
  let directory: string;
  let daemon: Daemon;
  let socketPath: string;
  let port: number;
  let context: RoleContext | undefined;
  /** When the module's next deadline is; its poll clears it and throws. */
  let due: number | undefined;
  let polls = 0;
  let failSettle = false;
  let settleThrows = 0;

  const timerErrors = async (): Promise<number> =>
    ((await controlRequest(socketPath, STATISTICS)) as { process: { timerErrors: number } }).process.timerErrors;

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'gvpn-timer-'));
    const probe = createSocket('udp4');
    await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
    port = probe.address().port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const file = join(directory, 'root.yaml');
    const state = join(directory, 'state');
    await writeFile(file, (await readFile(FIXTURE, 'utf8'))
      .replace(/ {4}address: 127\.0\.1\.1\n {4}port: 848\n/, `    address: 127.0.0.1\n    port: ${port}\n`)
      .replace(/ {2}state-directory: .*\n/, `  state-directory: ${state}\n`)
      .replace(/log-level: info/, 'log-level: fatal'));
    const { config } = await readConfigFile(file);
    daemon = await startDaemon(config, 'root-server', {
      role: (ctx) => {
        context = ctx;
        return {
          preIke: () => true,
          nextDeadline: () => due,
          poll: () => {
            due = undefined;
            polls += 1;
            throw new Error('poll bug');
          },
          settle: () => {
            if (!failSettle) return;
            settleThrows += 1;
            throw new Error('settle bug');
          },
        };
      },
    });
    socketPath = join(state, 'control.sock');
  });

  after(async () => {
    await daemon.stop();
    await rm(directory, { recursive: true, force: true });
  });

  it('a deadline whose poll throws is counted and the daemon keeps answering', async () => {
    assert.equal(await timerErrors(), 0);
    due = context?.clock.now();
    context?.rearm();
    await until('the poll', () => polls === 1);
    assert.equal(await timerErrors(), 1);
  });

  it('a settle after datagrams that throws is counted and the daemon keeps answering', async () => {
    const before = await timerErrors();
    failSettle = true;
    const sender = createSocket('udp4');
    sender.send(new Uint8Array(28), port, '127.0.0.1');
    await until('the settle', () => settleThrows === 1);
    failSettle = false;
    sender.close();
    assert.equal(await timerErrors(), before + 1);
  });
});
