/** Unusable state files are moved aside and the daemon gets a fresh store — never a crash loop. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { STORE_SCHEMA_VERSION, openStore } from '../src/index.js';
import { recordingLog, tempDirs } from './helpers.js';

const dirs = tempDirs();
after(() => dirs.cleanup());

const NOW = 1_700_000_000_123;

/** A store with enough rows to span many pages, closed (checkpointed into the main file). */
function filled(path: string): void {
  const s = openStore({ path, log: recordingLog(), env: {} });
  s.transaction(() => {
    for (let i = 0; i < 300; i++) s.put('members', `10.0.${i >> 8}.${i & 255}`, { seq: i, pad: 'x'.repeat(200) });
  });
  s.close();
}

function recoverFrom(path: string, reason: RegExp): void {
  const log = recordingLog();
  const s = openStore({ path, log, env: {}, now: () => NOW });
  const movedTo = `${path}.corrupt-${NOW}`;
  assert.ok(s.recovered !== undefined, 'recovered is set');
  assert.match(s.recovered.reason, reason);
  assert.equal(s.recovered.movedTo, movedTo);
  assert.ok(existsSync(movedTo), 'old file kept for inspection');
  assert.equal(statSync(movedTo).mode & 0o777, 0o600);
  assert.deepEqual(s.list('members'), [], 'fresh and empty');
  s.put('members', 'again', { seq: 1 });
  assert.deepEqual(s.get('members', 'again'), { seq: 1 }, 'and usable');
  const errors = log.lines.filter((l) => l.level === 'error');
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.o['file'], path);
  assert.equal(errors[0]?.o['movedTo'], movedTo);
  assert.match(String(errors[0]?.o['reason']), reason);
  s.close();
  const next = openStore({ path, log: recordingLog(), env: {} });
  assert.equal(next.recovered, undefined, 'the next start is a normal one');
  assert.deepEqual(next.get('members', 'again'), { seq: 1 });
  next.close();
}

describe('corrupt or foreign state files', () => {
  it('garbage bytes', () => {
    const path = join(dirs.make(), 'state.db');
    writeFileSync(path, Buffer.alloc(8192, 0x5a), { mode: 0o600 });
    recoverFrom(path, /not a database|not a SQLite/i);
  });

  it('a SQLite header followed by garbage', () => {
    const path = join(dirs.make(), 'state.db');
    filled(path);
    const bytes = readFileSync(path);
    bytes.fill(0xa5, 100);
    writeFileSync(path, bytes);
    recoverFrom(path, /malformed|quick_check|not a database/i);
  });

  it('truncated to half, and to a few bytes', () => {
    for (const cut of [0.5, 0.01]) {
      const path = join(dirs.make(), 'state.db');
      filled(path);
      const size = statSync(path).size;
      truncateSync(path, Math.floor(size * cut));
      recoverFrom(path, /malformed|quick_check|not a database|corrupt/i);
    }
  });

  it('a damaged page that SQLite still opens: PRAGMA quick_check finds it', () => {
    const path = join(dirs.make(), 'state.db');
    filled(path);
    const bytes = readFileSync(path);
    // The last b-tree leaf page of kv (a WITHOUT ROWID table: index leaf, type 0x0a): claim 200 fragmented
    // free bytes in its header (offset 7). Reading rows still works; only an integrity check sees it.
    const pageSize = bytes.readUInt16BE(16);
    let page = -1;
    for (let p = 1; p * pageSize < bytes.length; p++) if (bytes[p * pageSize] === 0x0a) page = p;
    assert.ok(page > 0, 'found a leaf page');
    bytes[page * pageSize + 7] = 200;
    writeFileSync(path, bytes);
    recoverFrom(path, /PRAGMA quick_check: .*Fragmentation/);
  });

  it('written by a future schema version', () => {
    const path = join(dirs.make(), 'state.db');
    filled(path);
    const db = new Database(path);
    db.prepare("UPDATE meta SET value = ? WHERE name = 'schema_version'").run(STORE_SCHEMA_VERSION + 1);
    db.close();
    recoverFrom(path, new RegExp(`schema version ${STORE_SCHEMA_VERSION + 1}, this build reads version ${STORE_SCHEMA_VERSION}`));
  });

  it('a SQLite database that is not a state store', () => {
    const path = join(dirs.make(), 'state.db');
    const db = new Database(path);
    db.exec('CREATE TABLE other (x)');
    db.close();
    recoverFrom(path, /not a gvpn state store \(tables: other\)/);
  });

  it('a value that does not parse', () => {
    const path = join(dirs.make(), 'state.db');
    filled(path);
    const db = new Database(path);
    db.prepare("UPDATE kv SET value = ? WHERE key = '10.0.0.5'").run(Buffer.from('{"seq": 5,'));
    db.close();
    recoverFrom(path, /"members"\/"10\.0\.0\.5": stored value is not JSON/);
  });

  it('a value that does not parse: no text of it in the reason or the log', () => {
    const path = join(dirs.make(), 'state.db');
    const s = openStore({ path, log: recordingLog(), env: {} });
    s.put('root', 'state', { kek: { key: 'SECRETKEYMATERIAL-0123456789abcd' } });
    s.close();
    const db = new Database(path);
    db.prepare("UPDATE kv SET value = ?").run(Buffer.from('{"kek":{"key":#SECRETKEYMATERIAL-0123456789abcd"}}'));
    db.close();
    const log = recordingLog();
    const again = openStore({ path, log, env: {}, now: () => NOW });
    assert.match(again.recovered?.reason ?? '', /"root"\/"state": stored value is not JSON/);
    assert.ok(!JSON.stringify([again.recovered, log.lines]).includes('SECRETKEY'), JSON.stringify(again.recovered));
    again.close();
  });

  it('its -wal and -shm go with it', () => {
    const dir = dirs.make();
    const path = join(dir, 'state.db');
    writeFileSync(path, Buffer.alloc(4096, 1), { mode: 0o600 });
    writeFileSync(`${path}-wal`, Buffer.alloc(100, 2), { mode: 0o600 });
    writeFileSync(`${path}-shm`, Buffer.alloc(100, 3), { mode: 0o600 });
    const s = openStore({ path, log: recordingLog(), env: {}, now: () => NOW });
    const movedTo = `${path}.corrupt-${NOW}`;
    assert.equal(s.recovered?.movedTo, movedTo);
    assert.deepEqual(readFileSync(`${movedTo}-wal`), Buffer.alloc(100, 2), 'the WAL as it was');
    assert.ok(existsSync(`${movedTo}-shm`), 'the -shm too (SQLite rewrites it: it is an index of the WAL, not data)');
    s.close();
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('corrupt')).sort(),
      [`state.db.corrupt-${NOW}`, `state.db.corrupt-${NOW}-shm`, `state.db.corrupt-${NOW}-wal`]);
  });

  it('two recoveries in the same millisecond do not overwrite each other', () => {
    const path = join(dirs.make(), 'state.db');
    writeFileSync(path, Buffer.alloc(4096, 1), { mode: 0o600 });
    openStore({ path, log: recordingLog(), env: {}, now: () => NOW }).close();
    writeFileSync(path, Buffer.alloc(4096, 2));
    for (const s of ['-wal', '-shm']) if (existsSync(path + s)) writeFileSync(path + s, '');
    const s = openStore({ path, log: recordingLog(), env: {}, now: () => NOW });
    assert.equal(s.recovered?.movedTo, `${path}.corrupt-${NOW + 1}`);
    s.close();
  });
});
