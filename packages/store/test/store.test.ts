/** The store itself (issue 5, durable state): the API, transactions, file modes, durability across reopen and kill -9. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Secret } from '@gvpn/crypto';
import { StoreError, openStore } from '../src/index.js';
import { recordingLog, tempDirs } from './helpers.js';

const dirs = tempDirs();
after(() => dirs.cleanup());

const mode = (p: string): number => statSync(p).mode & 0o777;

describe('store', () => {
  it('get / put / delete / list / clear, by namespace', () => {
    const path = join(dirs.make(), 'state.db');
    const s = openStore({ path, log: recordingLog(), env: {} });
    assert.equal(s.recovered, undefined, 'a missing file is a fresh store, not a recovery');
    assert.equal(s.encrypted, false);
    assert.equal(s.get('a', 'x'), undefined);
    s.put('a', 'x', { n: 1, spi: Uint8Array.from([1, 2, 3, 4]) });
    s.put('a', 'w', { n: 2 });
    s.put('b', 'x', 'other namespace');
    assert.deepEqual(s.get('a', 'x'), { n: 1, spi: Uint8Array.from([1, 2, 3, 4]) });
    s.put('a', 'x', { n: 3 });
    assert.deepEqual(s.get('a', 'x'), { n: 3 }, 'put replaces');
    assert.deepEqual(s.list('a'), [{ key: 'w', value: { n: 2 } }, { key: 'x', value: { n: 3 } }], 'ordered by key');
    assert.deepEqual(s.list('none'), []);
    assert.equal(s.delete('a', 'w'), true);
    assert.equal(s.delete('a', 'w'), false);
    assert.equal(s.clear('a'), 1);
    assert.deepEqual(s.list('a'), []);
    assert.equal(s.get('b', 'x'), 'other namespace', 'clear touches one namespace only');
    assert.throws(() => s.put('a', 'bad', { d: new Date() }), { code: 'BAD_VALUE' });
    assert.equal(s.get('a', 'bad'), undefined, 'a refused value writes nothing');
    s.close();
    s.close();
    assert.throws(() => s.get('b', 'x'), (e: unknown) => e instanceof StoreError && e.code === 'CLOSED');
  });

  it('values survive close and reopen', () => {
    const path = join(dirs.make(), 'state.db');
    const a = openStore({ path, log: recordingLog(), env: {} });
    a.put('keys', 'tek', { key: new Secret(new Uint8Array(16).fill(7)), seq: 41 });
    a.close();
    const b = openStore({ path, log: recordingLog(), env: {} });
    const v = b.get<{ key: Secret; seq: number }>('keys', 'tek');
    assert.equal(v?.seq, 41);
    assert.deepEqual(v?.key.reveal(), new Uint8Array(16).fill(7));
    assert.equal(b.recovered, undefined);
    b.close();
  });

  it('transaction: all or nothing, nested ones as savepoints, returns what fn returns', () => {
    const path = join(dirs.make(), 'state.db');
    const s = openStore({ path, log: recordingLog(), env: {} });
    s.put('n', 'kept', 1);
    assert.throws(() => s.transaction(() => {
      s.put('n', 'a', 1);
      s.delete('n', 'kept');
      s.clear('n');
      throw new Error('boom');
    }), /boom/);
    assert.deepEqual(s.list('n'), [{ key: 'kept', value: 1 }], 'nothing of the failed transaction remains');
    assert.throws(() => s.transaction(() => {
      s.put('n', 'b', 1);
      s.put('n', 'c', { when: new Date() });
    }), { code: 'BAD_VALUE' });
    assert.equal(s.get('n', 'b'), undefined, 'a refused value inside a transaction rolls it all back');
    const r = s.transaction(() => {
      s.put('n', 'outer', 1);
      assert.throws(() => s.transaction(() => {
        s.put('n', 'inner', 1);
        throw new Error('inner fails');
      }));
      return 'done';
    });
    assert.equal(r, 'done');
    assert.equal(s.get('n', 'outer'), 1);
    assert.equal(s.get('n', 'inner'), undefined, 'the inner savepoint rolled back, the outer transaction committed');
    assert.throws(() => s.transaction(() => {
      s.put('n', 'async', 1);
      return Promise.resolve();
    }), TypeError);
    assert.equal(s.get('n', 'async'), undefined, 'fn must be synchronous: a promise rolls back');
    s.close();
  });

  it('files are mode 0600, the directory it creates 0700; an existing file is chmod 0600', () => {
    const dir = join(dirs.make(), 'nested', 'state');
    const path = join(dir, 'state.db');
    const old = process.umask(0o022);
    try {
      const s = openStore({ path, log: recordingLog(), env: {} });
      s.put('a', 'b', 1);
      assert.equal(mode(dir), 0o700);
      assert.equal(mode(path), 0o600);
      assert.ok(existsSync(`${path}-wal`), 'WAL journal');
      assert.equal(mode(`${path}-wal`), 0o600);
      assert.equal(mode(`${path}-shm`), 0o600);
      s.close();
      chmodSync(path, 0o644);
      const again = openStore({ path, log: recordingLog(), env: {} });
      assert.equal(mode(path), 0o600, 're-opened file chmod 0600');
      assert.equal(again.get('a', 'b'), 1);
      again.close();
      const empty = join(dirs.make(), 'empty.db');
      writeFileSync(empty, '', { mode: 0o666 });
      chmodSync(empty, 0o666);
      openStore({ path: empty, log: recordingLog(), env: {} }).close();
      assert.equal(mode(empty), 0o600, 'an empty file becomes a store, mode 0600');
    } finally {
      process.umask(old);
    }
  });

  it('journal_mode WAL and synchronous FULL', async () => {
    const path = join(dirs.make(), 'state.db');
    const s = openStore({ path, log: recordingLog(), env: {} });
    assert.equal(s.sqlite.journalMode, 'wal');
    assert.equal(s.sqlite.synchronous, 2, 'FULL');
    assert.match(s.sqlite.version, /^3\./);
    s.close();
    const { default: Database } = await import('better-sqlite3');
    const raw = new Database(path);
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal', 'WAL is recorded in the file');
    raw.close();
  });

  it('a value committed before kill -9 is there after restart (every put the child reported)', async () => {
    const path = join(dirs.make(), 'state.db');
    const storeUrl = new URL('../src/index.js', import.meta.url).href;
    const script = `
      const { openStore } = await import(${JSON.stringify(storeUrl)});
      const s = openStore({ path: ${JSON.stringify(path)}, log: { info() {}, error() {} }, env: {} });
      s.put('boot', 'pid', { pid: process.pid });
      for (let i = 0; ; i++) {
        s.transaction(() => { s.put('seq', 'last', { i }); s.put('log', String(i).padStart(6, '0'), { i }); });
        process.stdout.write(i + '\\n');
      }`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let reported = -1;
    let buffered = '';
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error('child wrote nothing in 20 s')), 20_000);
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const l of lines) reported = Number(l);
        if (reported >= 200 && child.exitCode === null && !child.killed) {
          clearTimeout(deadline);
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    assert.equal(await exited, 'SIGKILL');
    assert.ok(existsSync(`${path}-wal`), 'killed with its WAL un-checkpointed');
    const s = openStore({ path, log: recordingLog(), env: {} });
    assert.equal(s.recovered, undefined);
    const last = s.get<{ i: number }>('seq', 'last');
    assert.ok(last !== undefined && last.i >= reported, `last committed ${last?.i}, child reported ${reported}`);
    const log = s.list<{ i: number }>('log');
    assert.equal(log.length, last.i + 1, 'each transaction whole: one log row per seq, none missing');
    assert.equal(log.at(-1)?.value.i, last.i);
    s.close();
  });

  it('a child that writes and then SIGKILLs itself: the value is there', async () => {
    const path = join(dirs.make(), 'state.db');
    const storeUrl = new URL('../src/index.js', import.meta.url).href;
    const script = `
      const { openStore } = await import(${JSON.stringify(storeUrl)});
      const s = openStore({ path: ${JSON.stringify(path)}, log: { info() {}, error() {} }, env: {} });
      s.put('members', '10.0.0.1', { lastSeq: 7, spi: new Uint8Array([1, 2, 3, 4]) });
      process.kill(process.pid, 'SIGKILL');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' });
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, sig) => resolve(sig)));
    assert.equal(signal, 'SIGKILL');
    const s = openStore({ path, log: recordingLog(), env: {} });
    assert.deepEqual(s.get('members', '10.0.0.1'), { lastSeq: 7, spi: Uint8Array.from([1, 2, 3, 4]) });
    s.close();
  });
});
