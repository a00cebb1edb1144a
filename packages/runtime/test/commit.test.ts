/**
 * Issue 6 groundwork: configuration commits in the daemon host (SIGHUP, `commit`, `commit check`,
 * `show configuration`, `show system commit`). A real daemon (startDaemon, UDP on 127.0.0.1, control
 * socket) runs on files in a temp directory; its role module applies one kind of change (1.1, an IKE
 * gateway's policy) through the real IKE engine and refuses the others, which is enough for the host's
 * mechanics. The cells themselves are the daemons' tests.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Secret, systemRandom } from '@gvpn/crypto';
import { IkeEndpoint, type GatewayPolicy } from '@gvpn/ike';
import {
  COMMIT_HISTORY,
  ControlClientError,
  createLogger,
  ConfigCommitter,
  controlRequest,
  ikeGatewayPolicies,
  maskSecrets,
  readConfigFile,
  startDaemon,
  type CommitCheck,
  type CommitOutcome,
  type CommitRecord,
  type Daemon,
  type DaemonConfig,
  type ReadConfig,
  type RoleContext,
  type RoleFactory,
} from '../src/index.js';
import type { ConfigChange } from '../src/config-diff.js';

interface Settings {
  port: number;
  state: string;
  hostName?: string;
  psk?: string;
  threshold?: number | string;
  comment?: string;
  /** UDP port of the member gateway GM-0001 (127.0.0.2); default 848. */
  peerPort?: number;
}

/** A standalone key server with one group; `threshold` may be made invalid on purpose. */
function serverYaml(s: Settings): string {
  return `# commit test${s.comment === undefined ? '' : ` (${s.comment})`}
system:
  host-name: ${s.hostName ?? 'commit-test'}
  platform: vsrx
  listen:
    address: 127.0.0.1
    port: ${s.port}
  state-directory: ${s.state}
  log-level: error

security:
  group-vpn:
    server:
      ike:
        proposal:
          P1:
            dh-group: group14
            authentication-algorithm: sha-256
            encryption-algorithm: aes-256-cbc
        policy:
          GMs:
            proposals: [P1]
            pre-shared-key:
              ascii-text: "${s.psk ?? 'first-secret'}"
        gateway:
          GM-0001:
            ike-policy: GMs
            address: 127.0.0.2${s.peerPort === undefined ? '' : `\n            port: ${s.peerPort}`}
      ipsec:
        proposal:
          AES256-SHA256:
            authentication-algorithm: hmac-sha-256-128
            encryption-algorithm: aes-256-cbc
      group:
        G1:
          group-id: 1
          member-threshold: ${s.threshold ?? 100}
          ike-gateway: [GM-0001]
          ipsec-sa:
            SA1:
              proposal: AES256-SHA256
              match-policy:
                POL1:
                  source: 10.0.0.0/8
                  destination: 10.0.0.0/8
`;
}

async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function pskOf(config: DaemonConfig): string {
  const gateway = config.ike.gateways.find((g) => g.name === 'GM-0001');
  assert.ok(gateway !== undefined);
  return Buffer.from(gateway.policy.preSharedKey.reveal()).toString('utf8');
}

/** Accepts 1.1 (whose IKE part the host performs) and refuses any other cell. */
function gatewayOnlyRole(seen: { context?: RoleContext; calls: ConfigChange[][] }): RoleFactory {
  return (context) => {
    seen.context = context;
    return {
      applyConfig(_next, changes) {
        seen.calls.push(changes);
        const others = changes.filter((c) => c.cell !== '1.1');
        if (others.length > 0) return { refused: `the test module applies only 1.1, not ${others.map((c) => c.cell).join(', ')}` };
        return { applied: changes.map((c) => `module: ${c.detail}`) };
      },
    };
  };
}

describe('configuration commit in the daemon host (issue 6)', () => {
  let directory: string;
  let file: string;
  let settings: Settings;
  let daemon: Daemon;
  let socketPath: string;
  const seen: { context?: RoleContext; calls: ConfigChange[][] } = { calls: [] };

  const request = (words: string[], options: Record<string, unknown> = {}): Promise<unknown> =>
    controlRequest(socketPath, words, { options });
  const commit = async (options: Record<string, unknown> = {}) => (await request(['commit'], options)) as CommitOutcome;
  const check = async (options: Record<string, unknown> = {}) => (await request(['commit', 'check'], options)) as CommitCheck;
  const history = async () => ((await request(['show', 'system', 'commit'])) as { commits: CommitRecord[] }).commits;
  const shown = async (options: Record<string, unknown> = {}) => ((await request(['show', 'configuration'], options)) as { file: string; text: string });
  const write = (path: string, changes: Partial<Settings> = {}) => writeFile(path, serverYaml({ ...settings, ...changes }));

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'gvpn-commit-'));
    settings = { port: await freeUdpPort(), state: join(directory, 'state') };
    file = join(directory, 'server.yaml');
    await write(file);
    const { config } = await readConfigFile(file);
    // No configText: the host reads the start-up text itself.
    daemon = await startDaemon(config, 'root-server', { role: gatewayOnlyRole(seen) });
    socketPath = join(settings.state, 'control.sock');
  });

  after(async () => {
    await daemon.stop();
    await rm(directory, { recursive: true, force: true });
  });

  it('show configuration prints the running file with the pre-shared key masked; showSecrets or showKeys unmask it', async () => {
    const masked = await shown();
    assert.equal(masked.file, file);
    assert.doesNotMatch(masked.text, /first-secret/);
    assert.match(masked.text, /pre-shared-key:\n {14}ascii-text: <masked>\n/);
    assert.match(masked.text, /^# commit test\n/, 'comments are kept');
    assert.match(masked.text, /member-threshold: 100/);
    assert.match((await shown({ showSecrets: true })).text, /ascii-text: "first-secret"/);
    assert.match((await shown({ showKeys: true })).text, /ascii-text: "first-secret"/);
  });

  it('show version answers with the fields of docs/control-protocol.md', async () => {
    assert.deepEqual(await request(['show', 'version']), {
      hostName: 'commit-test', platform: 'vsrx', model: 'vSRX', daemon: 'gvpn-root-server', version: '0.1.0', node: process.version,
    });
  });

  it('a FIFO, a device or a huge file is refused naming it, and the commit queue stays free', async () => {
    const fifo = join(directory, 'commit.fifo');
    execFileSync('mkfifo', [fifo]);
    const huge = join(directory, 'huge.yaml');
    await writeFile(huge, `# ${'x'.repeat(5 * 1024 * 1024)}\n`);
    for (const [path, problem] of [[fifo, 'is not a regular file'], ['/dev/zero', 'is not a regular file'], [huge, 'bytes; a configuration file may have at most']] as const) {
      for (const words of [['commit'], ['commit', 'check']]) {
        await assert.rejects(request(words, { file: path }), (error: unknown) => {
          assert.ok(error instanceof ControlClientError, String(error));
          assert.equal(error.code, 'BAD_OPTION');
          assert.ok(error.message.startsWith(`${path} `) && error.message.includes(problem), error.message);
          return true;
        });
      }
    }
    assert.equal((await commit()).result, 'no-change', 'a later commit is not stuck behind the FIFO');
  });

  it('an invalid file is refused with file, path and line, and the running configuration stays', async () => {
    const bad = join(directory, 'bad.yaml');
    await write(bad, { threshold: '"lots"', psk: 'bad-secret' });
    const line = serverYaml({ ...settings, threshold: '"lots"' }).split('\n').findIndex((l) => l.includes('member-threshold')) + 1;
    const before = daemon.config;
    const calls = seen.calls.length;

    const checked = await check({ file: bad });
    assert.equal(checked.result, 'invalid');
    const outcome = await commit({ file: bad });
    assert.equal(outcome.result, 'invalid');
    assert.equal(outcome.file, bad);
    const error = outcome.error ?? '';
    assert.ok(error.startsWith(`${bad}: security.group-vpn.server.group.G1.member-threshold: `), error);
    assert.ok(error.endsWith(`(line ${line})`), error);
    assert.deepEqual(outcome.changes, []);

    assert.equal(daemon.config, before);
    assert.equal(seen.context?.config, before);
    assert.equal(seen.calls.length, calls, 'the module was not asked');
    assert.equal(pskOf(daemon.config), 'first-secret');
    assert.match((await shown({ showSecrets: true })).text, /first-secret/);
    const [last] = await history();
    assert.equal(last?.result, 'invalid');
    assert.equal(last?.file, bad);
  });

  it('a file for another daemon kind is invalid, with the start-up check\'s error', async () => {
    const member = fileURLToPath(new URL('../../test/fixtures/member.yaml', import.meta.url));
    const outcome = await commit({ file: member });
    assert.equal(outcome.result, 'invalid');
    assert.match(outcome.error ?? '', /this is a member configuration; the root-server daemon needs security\.group-vpn\.server/);
    assert.equal(daemon.config.file, file);
  });

  it('a change of system.* is refused: it needs a restart', async () => {
    const other = join(directory, 'renamed.yaml');
    await write(other, { hostName: 'renamed', psk: 'renamed-secret' });
    const calls = seen.calls.length;
    const checked = await check({ file: other });
    assert.equal(checked.result, 'refused');
    assert.ok(checked.restartRequired.length > 0);
    const outcome = await commit({ file: other });
    assert.equal(outcome.result, 'refused');
    assert.match(outcome.error ?? '', /^needs a restart: /);
    assert.equal(seen.calls.length, calls, 'the module was not asked');
    assert.equal(pskOf(daemon.config), 'first-secret');
    assert.equal(daemon.config.file, file);
  });

  it('the same configuration (comments aside) is no-change', async () => {
    const same = await commit();
    assert.equal(same.result, 'no-change');
    assert.equal(same.file, file);
    const cosmetic = join(directory, 'commented.yaml');
    await write(cosmetic, { comment: 'only a comment differs' });
    assert.equal((await check({ file: cosmetic })).result, 'no-change');
    assert.equal((await commit({ file: cosmetic })).result, 'no-change');
    assert.equal(daemon.config.file, file, 'a no-change commit does not switch the running file');
  });

  it('a change the module applies becomes the running configuration (daemon and context) and is recorded', async () => {
    await write(file, { psk: 'second-secret' });
    const checked = await check();
    assert.equal(checked.result, 'ok');
    assert.deepEqual(checked.changes.map((c) => c.cell), ['1.1']);
    assert.equal(pskOf(daemon.config), 'first-secret', 'check applies nothing');
    const calls = seen.calls.length;

    const outcome = await commit();
    assert.equal(outcome.result, 'applied', outcome.error ?? '');
    assert.deepEqual(outcome.changes.map((c) => [c.cell, c.gateway]), [['1.1', 'GM-0001']]);
    assert.doesNotMatch(JSON.stringify(outcome), /second-secret|first-secret/, 'no secret in the answer');
    assert.deepEqual(outcome.applied, [`module: ${outcome.changes[0]?.detail}`, 'IKE SAs of gateway GM-0001 deleted']);
    assert.equal(seen.calls.length, calls + 1);
    assert.equal(pskOf(daemon.config), 'second-secret');
    assert.equal(seen.context?.config, daemon.config, 'RoleContext.config is the new configuration');
    assert.match((await shown({ showSecrets: true })).text, /ascii-text: "second-secret"/);
    assert.doesNotMatch((await shown()).text, /second-secret/);

    const [last, previous] = await history();
    assert.equal(last?.result, 'applied');
    assert.equal(last?.trigger, 'cli');
    assert.deepEqual(last?.changes.map((c) => c.cell), ['1.1']);
    assert.ok(!Number.isNaN(Date.parse(last?.time ?? '')));
    assert.equal(previous?.result, 'no-change', 'newest first');
    // The next diff starts from the committed configuration.
    assert.equal((await commit()).result, 'no-change');
  });

  it('a change the module refuses changes nothing and is recorded with its reason', async () => {
    const before = daemon.config;
    await write(file, { psk: 'second-secret', threshold: 50 });
    const outcome = await commit();
    assert.equal(outcome.result, 'refused');
    assert.match(outcome.error ?? '', /applies only 1\.1/);
    assert.ok(outcome.changes.length > 0);
    assert.equal(daemon.config, before);
    assert.match((await shown()).text, /member-threshold: 100/);
    await write(file, { psk: 'second-secret' });
    assert.equal((await commit()).result, 'no-change');
  });

  it('SIGHUP re-reads the running file and commits it', async () => {
    await write(file, { psk: 'third-secret' });
    const seenBefore = (await history()).length;
    process.emit('SIGHUP', 'SIGHUP');
    const record = await until('the SIGHUP commit', async () => {
      const commits = await history();
      return commits.length > seenBefore && commits[0]?.trigger === 'sighup' ? commits[0] : undefined;
    });
    assert.equal(record.result, 'applied', record.error ?? '');
    assert.equal(record.file, file);
    assert.equal(pskOf(daemon.config), 'third-secret');
  });

  it(`show system commit keeps the last ${COMMIT_HISTORY} commits`, async () => {
    for (let i = 0; i < COMMIT_HISTORY + 5; i += 1) await commit();
    const commits = await history();
    assert.equal(commits.length, COMMIT_HISTORY);
    assert.ok(commits.every((c) => c.result === 'no-change'));
  });

  it('a daemon whose module has no applyConfig refuses every change', async () => {
    const state = join(directory, 'plain-state');
    const plainFile = join(directory, 'plain.yaml');
    const plainSettings = { port: await freeUdpPort(), state };
    await writeFile(plainFile, serverYaml(plainSettings));
    const loaded = await readConfigFile(plainFile);
    const plain = await startDaemon(loaded.config, 'root-server', { configText: loaded.text });
    try {
      await writeFile(plainFile, serverYaml({ ...plainSettings, psk: 'changed' }));
      const plainSocket = join(state, 'control.sock');
      const checked = (await controlRequest(plainSocket, ['commit', 'check'])) as CommitCheck;
      assert.equal(checked.result, 'refused');
      const outcome = (await controlRequest(plainSocket, ['commit'])) as CommitOutcome;
      assert.equal(outcome.result, 'refused');
      assert.equal(outcome.error, 'this daemon cannot apply changes live yet');
      assert.equal(pskOf(plain.config), 'first-secret');
    } finally {
      await plain.stop();
    }
  });
});

/** An IKE initiator on 127.0.0.2, playing the daemon's gateway GM-0001, hosted as the daemon host does. */
class IkePeer {
  readonly up: unknown[] = [];
  readonly down: unknown[] = [];
  endpoint!: IkeEndpoint;
  #timer: NodeJS.Timeout | undefined;
  private constructor(readonly socket: Socket) {}

  static async bind(): Promise<IkePeer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.2', resolve));
    return new IkePeer(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** The daemon's own GM-0001 policy (so the proposals match), aimed at the daemon, with `psk`. */
  policy(daemon: DaemonConfig, psk: string): GatewayPolicy {
    const mine = ikeGatewayPolicies(daemon).find((g) => g.name === 'GM-0001');
    assert.ok(mine !== undefined);
    return { ...mine, name: 'daemon', peer: daemon.system.listen, psk: Secret.copyOf(new TextEncoder().encode(psk)), initiate: true };
  }

  start(daemon: DaemonConfig, psk: string): void {
    this.endpoint = new IkeEndpoint({
      local: { address: '127.0.0.2', port: this.port },
      gateways: [this.policy(daemon, psk)],
      options: daemon.ike.options,
      random: systemRandom,
      log: createLogger({ level: 'fatal', name: 'peer' }),
      send: (bytes, to) => this.socket.send(bytes, to.port, to.address),
      events: { saUp: (sa) => this.up.push(sa), saDown: (sa) => this.down.push(sa) },
    });
    this.socket.on('message', (message, from) => {
      this.endpoint.handleDatagram(new Uint8Array(message), { address: from.address, port: from.port }, Date.now());
      this.schedule();
    });
    this.endpoint.start(Date.now());
    this.schedule();
  }

  schedule(): void {
    clearTimeout(this.#timer);
    const deadline = this.endpoint.nextDeadline();
    if (deadline === undefined) return;
    this.#timer = setTimeout(() => {
      this.endpoint.poll(Date.now());
      this.schedule();
    }, Math.max(0, deadline - Date.now()));
  }

  close(): void {
    clearTimeout(this.#timer);
    this.endpoint?.stop(Date.now());
    this.socket.close();
  }
}

describe('the IKE part of R-CHG-1.1 is the host\'s', () => {
  it('after a pre-shared-key commit the gateway\'s SA is deleted (a Delete to the peer) and the new key negotiates', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'gvpn-commit-ike-'));
    const peer = await IkePeer.bind();
    let daemon: Daemon | undefined;
    try {
      const settings: Settings = { port: await freeUdpPort(), state: join(directory, 'state'), psk: 'old-psk', peerPort: peer.port };
      const file = join(directory, 'server.yaml');
      await writeFile(file, serverYaml(settings));
      const loaded = await readConfigFile(file);
      daemon = await startDaemon(loaded.config, 'root-server', { configText: loaded.text, role: gatewayOnlyRole({ calls: [] }) });
      peer.start(daemon.config, 'old-psk');
      await until('the SA under the old key', async () => (peer.up.length === 1 ? true : undefined));

      await writeFile(file, serverYaml({ ...settings, psk: 'new-psk' }));
      const socketPath = join(settings.state, 'control.sock');
      const outcome = (await controlRequest(socketPath, ['commit'])) as CommitOutcome;
      assert.equal(outcome.result, 'applied', outcome.error ?? '');
      await until('the daemon\'s Delete', async () => (peer.down.length === 1 ? true : undefined));

      peer.endpoint.setGateways([peer.policy(daemon.config, 'new-psk')], ['daemon'], Date.now());
      peer.schedule();
      await until('an SA under the new key', async () => (peer.up.length === 2 ? true : undefined));
    } finally {
      peer.close();
      await daemon?.stop();
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe('ConfigCommitter', () => {
  it('runs commits one at a time: the second waits, then diffs against what the first applied', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'gvpn-commit-queue-'));
    try {
      const settings = { port: 1848, state: join(directory, 'state') };
      const file = join(directory, 'server.yaml');
      await writeFile(file, serverYaml(settings));
      const running = await readConfigFile(file);
      await writeFile(file, serverYaml({ ...settings, psk: 'next-secret' }));
      const next = await readConfigFile(file);
      // Each load waits until the test releases it, so both commits are in flight at once.
      const loads: Array<() => void> = [];
      const applied: ConfigChange[][] = [];
      const committer = new ConfigCommitter({
        running: running.config,
        text: running.text,
        load: () => new Promise<ReadConfig>((resolve) => loads.push(() => resolve(next))),
        apply: (_next, changes) => {
          applied.push(changes);
          return { applied: ['ok'] };
        },
      });
      const first = committer.commit(file);
      const second = committer.commit(file, 'sighup');
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(loads.length, 1, 'the second commit has not started');
      loads[0]?.();
      assert.equal((await first).result, 'applied');
      await until('the second load', async () => (loads.length === 2 ? true : undefined));
      loads[1]?.();
      assert.equal((await second).result, 'no-change');
      assert.equal(applied.length, 1);
      assert.equal(committer.running, next.config);
      assert.deepEqual(committer.history().map((r) => [r.trigger, r.result]), [['sighup', 'no-change'], ['cli', 'applied']]);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe('maskSecrets', () => {
  it('masks ascii-text and hexadecimal keys in block and flow maps, nothing else', () => {
    const text = [
      'a:',
      '  pre-shared-key:',
      '    ascii-text: "s3cret"   # kept comment',
      '  b: { pre-shared-key: { hexadecimal: "0x0011" }, other: keep }',
      'chassis-cluster:',
      '  control-link:',
      '    pre-shared-key:',
      '      hexadecimal: 00aa',
      'ascii-text: not-under-a-psk',
      '',
    ].join('\n');
    const masked = maskSecrets(text);
    assert.doesNotMatch(masked, /s3cret|0x0011|00aa/);
    assert.equal(masked.match(/<masked>/g)?.length, 3);
    assert.match(masked, /# kept comment/);
    assert.match(masked, /other: keep/);
    assert.match(masked, /ascii-text: not-under-a-psk/);
  });

  it('does not echo text that does not parse', () => {
    assert.doesNotMatch(maskSecrets('a: [unclosed "s3cret"\n'), /s3cret/);
  });
});
