/**
 * Start-up failures after the configuration validated (runDaemonMain): a path or the listen address the
 * system refuses is one line naming the file, the configuration key and the OS error, and a sysexits code,
 * never a stack. Each case runs runDaemonMain in a child process, as a daemon's main.js does.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

const RUNTIME = new URL('../src/index.js', import.meta.url).href;
const FIXTURE = fileURLToPath(new URL('../../test/fixtures/root-server.yaml', import.meta.url));

interface Run {
  code: number;
  stderr: string;
}

function runDaemon(configFile: string): Promise<Run> {
  const code = `import { runDaemonMain } from ${JSON.stringify(RUNTIME)};
await runDaemonMain('root-server', undefined, ['--config', ${JSON.stringify(configFile)}]);`;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', code], { timeout: 10_000 }, (error, _stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number(error.code), stderr });
    });
  });
}

describe('daemon start-up failures', () => {
  let directory: string;
  let fixture: string;
  /** The fixture with its `system` listen address, port, state directory and extra lines replaced (848: cases that fail before the bind). */
  const writeConfig = async (name: string, port: number, stateDirectory: string, extra = ''): Promise<string> => {
    const file = join(directory, name);
    const text = fixture
      .replace(/ {4}address: 127\.0\.1\.1\n {4}port: 848\n/, `    address: 127.0.0.1\n    port: ${port}\n`)
      .replace(/ {2}state-directory: .*\n/, `  state-directory: ${stateDirectory}\n${extra}`)
      .replace(/log-level: info/, 'log-level: error');
    await writeFile(file, text);
    return file;
  };

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'gvpn-startup-'));
    fixture = await readFile(FIXTURE, 'utf8');
  });

  after(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('an IKE key log in a missing directory: exit 78 naming system.debug.ike-key-log', async () => {
    const keyLog = join(directory, 'missing', 'keys.log');
    const file = await writeConfig('keylog.yaml', 848, join(directory, 'state-keylog'), `  debug:\n    ike-key-log: ${keyLog}\n`);
    const run = await runDaemon(file);
    assert.equal(run.code, 78, run.stderr);
    assert.match(run.stderr, new RegExp(`^start-up error: ${file}: system\\.debug\\.ike-key-log: cannot open ${keyLog}: ENOENT[^\\n]*\\n$`));
  });

  it('a state directory under a regular file: exit 78 naming system.state-directory', async () => {
    const plain = join(directory, 'plain-file');
    await writeFile(plain, 'not a directory');
    const file = await writeConfig('statedir.yaml', 848, join(plain, 'state'));
    const run = await runDaemon(file);
    assert.equal(run.code, 78, run.stderr);
    assert.match(run.stderr, new RegExp(`^start-up error: ${file}: system\\.state-directory: cannot create ${plain}/state: ENOTDIR[^\\n]*\\n$`));
  });

  it('a listen port in use: exit 71 naming system.listen', async () => {
    const taken = createSocket('udp4');
    await new Promise<void>((resolve) => taken.bind(0, '127.0.0.1', resolve));
    try {
      const { port } = taken.address();
      const file = await writeConfig('inuse.yaml', port, join(directory, 'state-inuse'));
      const run = await runDaemon(file);
      assert.equal(run.code, 71, run.stderr);
      assert.match(run.stderr, new RegExp(`^start-up error: ${file}: system\\.listen: cannot bind 127\\.0\\.0\\.1 port ${port}: [^\\n]*EADDRINUSE[^\\n]*\\n$`));
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});
