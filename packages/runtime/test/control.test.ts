import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ControlClientError,
  ControlCommandError,
  controlRequest,
  ControlServer,
  readPidFile,
  removePidFile,
  writePidFile,
  type ControlResponse,
} from '../src/index.js';

const SAS = ['show', 'security', 'group-vpn', 'server', 'ike', 'security-associations'];

function clientError(code: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof ControlClientError, String(error));
    assert.equal(error.code, code, error.message);
    return true;
  };
}

/** Writes raw bytes on one connection and collects `count` response lines. */
function rawExchange(socketPath: string, payload: string, count: number): Promise<ControlResponse[]> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (chunk: string) => {
      text += chunk;
      const lines = text.split('\n').filter((line) => line !== '');
      if (lines.length >= count && text.endsWith('\n')) {
        socket.destroy();
        resolve(lines.map((line) => JSON.parse(line) as ControlResponse));
      }
    });
  });
}

describe('control channel', () => {
  let directory: string;
  let socketPath: string;
  let server: ControlServer;
  let calls = 0;

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'gvpn-control-'));
    socketPath = join(directory, 'state', 'control.sock');
    server = new ControlServer({
      socketPath,
      handlers: {
        [SAS.join(' ')]: (options) => ({ sas: [], detail: options.detail === true }),
        'request system ping': () => {
          calls += 1;
          return { pid: process.pid };
        },
        'show broken': () => {
          throw new Error('handler bug');
        },
        'show missing': () => {
          throw new ControlCommandError('NOT_FOUND', 'no such SA');
        },
        'show slow': async () => new Promise((resolve) => setTimeout(() => resolve('late'), 20)),
      },
    });
    await server.listen();
  });

  after(async () => {
    await server.close();
    await rm(directory, { recursive: true, force: true });
  });

  it('answers a command with its data and passes options through', async () => {
    assert.deepEqual(await controlRequest(socketPath, SAS, { options: { detail: true } }), { sas: [], detail: true });
    assert.deepEqual(await controlRequest(socketPath, SAS), { sas: [], detail: false });
    assert.equal(await controlRequest(socketPath, ['show', 'slow']), 'late');
  });

  it('makes the socket readable and writable by its owner only', async () => {
    const info = await stat(socketPath);
    assert.ok(info.isSocket());
    assert.equal(info.mode & 0o777, 0o600);
    assert.equal((await stat(join(directory, 'state'))).mode & 0o777, 0o700);
  });

  it('answers an unknown command with UNKNOWN_COMMAND, including prototype names', async () => {
    await assert.rejects(controlRequest(socketPath, ['show', 'nothing']), clientError('UNKNOWN_COMMAND'));
    await assert.rejects(controlRequest(socketPath, ['constructor']), clientError('UNKNOWN_COMMAND'));
  });

  it('turns a throwing handler into an error response and keeps serving', async () => {
    await assert.rejects(controlRequest(socketPath, ['show', 'broken']), (error: unknown) => {
      assert.ok(error instanceof ControlClientError);
      assert.equal(error.code, 'INTERNAL_ERROR');
      assert.equal(error.message, 'handler bug');
      return true;
    });
    await assert.rejects(controlRequest(socketPath, ['show', 'missing']), clientError('NOT_FOUND'));
    const before = calls;
    assert.deepEqual(await controlRequest(socketPath, ['request', 'system', 'ping']), { pid: process.pid });
    assert.equal(calls, before + 1);
  });

  it('answers garbage lines with BAD_REQUEST and still serves the same connection', async () => {
    const responses = await rawExchange(
      socketPath,
      'not json\n[1,2]\n{"id":7,"command":"ping"}\n{"id":8,"command":["request","system","ping"]}\n',
      4,
    );
    assert.deepEqual(responses.slice(0, 3).map((response) => [response.id, response.ok ? 'ok' : response.error.code]), [
      [null, 'BAD_REQUEST'],
      [null, 'BAD_REQUEST'],
      [7, 'BAD_REQUEST'],
    ]);
    assert.deepEqual(responses[3], { id: 8, ok: true, data: { pid: process.pid } });
  });

  it('cuts off a request line longer than the limit', async () => {
    const [response] = await rawExchange(socketPath, 'x'.repeat(70 * 1024), 1);
    assert.ok(response && !response.ok);
    assert.equal(response.error.code, 'REQUEST_TOO_LARGE');
    assert.deepEqual(await controlRequest(socketPath, ['request', 'system', 'ping']), { pid: process.pid });
  });

  it('cuts off an oversized line that arrives whole, newline and all, in one write', async () => {
    const before = calls;
    const line = `{"id":11,"command":["request","system","ping"],"pad":"${'a'.repeat(70 * 1024)}"}\n`;
    const [response] = await rawExchange(socketPath, line, 1);
    assert.ok(response && !response.ok);
    assert.equal(response.error.code, 'REQUEST_TOO_LARGE');
    assert.equal(calls, before, 'the oversized request did not run');
  });

  it('runs nothing sent after an oversized line on the same connection', async () => {
    const before = calls;
    const socket = createConnection({ path: socketPath, allowHalfOpen: true });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.on('error', () => {});
    await new Promise((resolve) => socket.on('connect', resolve));
    socket.write('x'.repeat(70 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.write('{"id":9,"command":["request","system","ping"]}\n');
    // Before the fix the server half-closed but kept reading: the connection stayed open and the ping ran.
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000))]);
    assert.ok(socket.destroyed, 'the server closed the connection');
    socket.destroy();
    assert.equal(calls, before, 'the ping after the oversized line did not run');
    const lines = text.split('\n').filter((line) => line !== '');
    assert.deepEqual(lines.map((line) => (JSON.parse(line) as ControlResponse).id), [null]);
  });

  it('refuses to start beside a live daemon on the same socket', async () => {
    const second = new ControlServer({ socketPath, handlers: {} });
    await assert.rejects(second.listen(), /another daemon is listening/);
    assert.deepEqual(await controlRequest(socketPath, ['request', 'system', 'ping']), { pid: process.pid });
  });

  it('replaces the stale socket of a killed daemon', async () => {
    const stalePath = join(directory, 'stale.sock');
    // A child that binds the socket and dies by SIGKILL leaves the file behind, as a crash does.
    const child = spawn(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(stalePath)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    await new Promise((resolve) => child.on('exit', resolve));
    assert.ok(existsSync(stalePath));
    await assert.rejects(controlRequest(stalePath, ['request', 'system', 'ping']), clientError('DAEMON_NOT_RUNNING'));
    const revived = new ControlServer({ socketPath: stalePath, handlers: { 'request system ping': () => 'pong' } });
    await revived.listen();
    assert.equal(await controlRequest(stalePath, ['request', 'system', 'ping']), 'pong');
    await revived.close();
    assert.ok(!existsSync(stalePath));
  });

  it('refuses to delete a regular file that sits where the socket goes', async () => {
    const filePath = join(directory, 'not-a-socket');
    await writeFile(filePath, 'keep me');
    await assert.rejects(new ControlServer({ socketPath: filePath, handlers: {} }).listen(), /is not a socket/);
    assert.ok(existsSync(filePath));
  });

  it('tells the caller, naming the socket, when no daemon runs', async () => {
    const missing = join(directory, 'nobody.sock');
    await assert.rejects(controlRequest(missing, ['request', 'system', 'ping']), (error: unknown) => {
      assert.ok(error instanceof ControlClientError);
      assert.equal(error.code, 'DAEMON_NOT_RUNNING');
      assert.ok(error.message.includes(missing));
      return true;
    });
  });

  it('keeps a pid file and refuses to overwrite a live owner', async () => {
    const pidPath = join(directory, 'daemon.pid');
    await writePidFile(pidPath);
    assert.equal(await readPidFile(pidPath), process.pid);
    // The parent of this test process is alive and is not us: another daemon owns the directory.
    await writeFile(pidPath, `${process.ppid}\n`);
    await assert.rejects(writePidFile(pidPath), /is running with this state directory/);
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => dead.on('exit', resolve));
    await writeFile(pidPath, `${dead.pid}\n`);
    await writePidFile(pidPath);
    assert.equal(await readPidFile(pidPath), process.pid);
    await removePidFile(pidPath);
    assert.equal(await readPidFile(pidPath), null);
  });
});
