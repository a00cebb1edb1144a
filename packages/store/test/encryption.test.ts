/** Encryption at rest: key sources, values invisible in the raw files, wrong or missing key, swapped values. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Secret } from '@gvpn/crypto';
import { STATE_KEY_ENV, StoreError, openStore, resolveStateKey } from '../src/index.js';
import { KEY_HEX, OTHER_KEY_HEX, keyBytes, recordingLog, tempDirs } from './helpers.js';

const dirs = tempDirs();
after(() => dirs.cleanup());

const MARKER = 'visible-marker-7c1d';
const SECRET_BYTES = new Uint8Array(32).fill(0x5a);

function rawFiles(path: string): Buffer {
  const parts = [readFileSync(path)];
  for (const s of ['-wal', '-shm']) {
    try {
      parts.push(readFileSync(path + s));
    } catch { /* absent */ }
  }
  return Buffer.concat(parts);
}

function isCode(code: string) {
  return (e: unknown): boolean => e instanceof StoreError && e.code === code;
}

function fill(path: string, key: { env?: Record<string, string>; encryptionKey?: Uint8Array; keyFile?: string }): void {
  const s = openStore({ path, log: recordingLog(), env: {}, ...key });
  s.put('keys', 'k1', { label: MARKER, key: new Secret(Uint8Array.from(SECRET_BYTES)) });
  s.put('keys', 'k2', { label: 'second' });
  s.close();
}

describe('encryption at rest', () => {
  it('plain store: values are in the file (only the mode protects them) — the control for the next test', () => {
    const path = join(dirs.make(), 'state.db');
    const s = openStore({ path, log: recordingLog(), env: {} });
    s.put('keys', 'k1', { label: MARKER });
    assert.ok(rawFiles(path).includes(MARKER));
    s.close();
  });

  it('key from GVPN_STATE_KEY: values are not in the files, and read back with the key', () => {
    const path = join(dirs.make(), 'state.db');
    const env = { [STATE_KEY_ENV]: KEY_HEX };
    const s = openStore({ path, log: recordingLog(), env });
    assert.equal(s.encrypted, true);
    s.put('keys', 'k1', { label: MARKER, key: new Secret(Uint8Array.from(SECRET_BYTES)) });
    const raw = rawFiles(path);
    assert.ok(!raw.includes(MARKER), 'label not visible in db/WAL');
    assert.ok(!raw.includes(Buffer.from(SECRET_BYTES).toString('base64')), 'key bytes not visible');
    s.close();
    assert.ok(!rawFiles(path).includes(MARKER), 'nor after the checkpoint at close');
    const again = openStore({ path, log: recordingLog(), env });
    const v = again.get<{ label: string; key: Secret }>('keys', 'k1');
    assert.equal(v?.label, MARKER);
    assert.deepEqual(v?.key.reveal(), SECRET_BYTES);
    again.close();
  });

  it('opening an encrypted store without its key, or with another key: StoreError, the file left alone', () => {
    const path = join(dirs.make(), 'state.db');
    fill(path, { encryptionKey: keyBytes(KEY_HEX) });
    const before = readFileSync(path);
    assert.throws(() => openStore({ path, log: recordingLog(), env: {} }), (e: unknown) => isCode('NO_KEY')(e) && /encrypted/.test((e as Error).message));
    assert.throws(() => openStore({ path, log: recordingLog(), env: { [STATE_KEY_ENV]: OTHER_KEY_HEX } }), isCode('WRONG_KEY'));
    assert.deepEqual(readFileSync(path), before, 'not moved aside, not changed');
    const s = openStore({ path, log: recordingLog(), env: { [STATE_KEY_ENV]: KEY_HEX } });
    assert.equal(s.get<{ label: string }>('keys', 'k1')?.label, MARKER, 'still opens with the right key');
    s.close();
  });

  it('key file: 32 raw bytes or 64 hex digits, mode 0600 or stricter; it wins over the environment', () => {
    const dir = dirs.make();
    const raw = join(dir, 'raw.key');
    writeFileSync(raw, keyBytes(KEY_HEX), { mode: 0o600 });
    const hexFile = join(dir, 'hex.key');
    writeFileSync(hexFile, `${KEY_HEX.toUpperCase()}\n`, { mode: 0o400 });
    const path = join(dir, 'state.db');
    fill(path, { keyFile: raw, env: { [STATE_KEY_ENV]: OTHER_KEY_HEX } });
    const s = openStore({ path, log: recordingLog(), keyFile: hexFile, env: {} });
    assert.equal(s.get<{ label: string }>('keys', 'k1')?.label, MARKER, 'the same key, written as hex');
    s.close();

    const loose = join(dir, 'loose.key');
    writeFileSync(loose, KEY_HEX, { mode: 0o640 });
    assert.throws(() => resolveStateKey({ keyFile: loose }),
      (e: unknown) => isCode('KEY_FILE_MODE')(e) && /0640/.test((e as Error).message) && /chmod 600/.test((e as Error).message));
    const short = join(dir, 'short.key');
    writeFileSync(short, 'abcd', { mode: 0o600 });
    assert.throws(() => resolveStateKey({ keyFile: short }), isCode('BAD_KEY'));
    assert.throws(() => resolveStateKey({ keyFile: join(dir, 'missing.key') }), (e: unknown) => isCode('BAD_KEY')(e) && /ENOENT/.test((e as Error).message));
    assert.throws(() => resolveStateKey({ env: { [STATE_KEY_ENV]: 'xyz' } }), (e: unknown) => isCode('BAD_KEY')(e) && /GVPN_STATE_KEY/.test((e as Error).message));
    assert.throws(() => resolveStateKey({ encryptionKey: new Uint8Array(16) }), isCode('BAD_KEY'));
    assert.equal(resolveStateKey({ env: {} }), undefined);
    assert.equal(resolveStateKey({ env: { [STATE_KEY_ENV]: '' } }), undefined);
  });

  it('a value moved to another row fails to decrypt (AAD = ns|key): the file is moved aside', () => {
    const path = join(dirs.make(), 'state.db');
    fill(path, { encryptionKey: keyBytes(KEY_HEX) });
    const db = new Database(path);
    const k1 = (db.prepare("SELECT value FROM kv WHERE ns = 'keys' AND key = 'k1'").get() as { value: Buffer }).value;
    db.prepare("UPDATE kv SET value = ? WHERE ns = 'keys' AND key = 'k2'").run(k1);
    db.close();
    const log = recordingLog();
    const s = openStore({ path, log, encryptionKey: keyBytes(KEY_HEX), env: {} });
    assert.match(s.recovered?.reason ?? '', /"keys"\/"k2" fails to decrypt/);
    assert.deepEqual(s.list('keys'), []);
    assert.equal(log.lines.filter((l) => l.level === 'error').length, 1);
    s.close();
  });

  it('a key given for an empty plain store seals it, and values deleted while it was plain leave the files', () => {
    const path = join(dirs.make(), 'state.db');
    const plain = openStore({ path, log: recordingLog(), env: {} });
    plain.put('keys', 'k1', { label: MARKER });
    plain.delete('keys', 'k1');
    plain.close();
    const log = recordingLog();
    const s = openStore({ path, log, encryptionKey: keyBytes(KEY_HEX), env: {} });
    assert.equal(s.encrypted, true);
    assert.ok(log.lines.some((l) => l.msg === 'state store encrypted'));
    s.put('keys', 'k2', { label: 'second' });
    s.close();
    assert.ok(!rawFiles(path).includes(MARKER), 'rewritten without the deleted plaintext');
    assert.throws(() => openStore({ path, log: recordingLog(), env: {} }), isCode('NO_KEY'), 'now it needs the key');
  });

  it('a key given for a plain store that holds values: NOT_ENCRYPTED, the file left alone, still opens without the key', () => {
    const path = join(dirs.make(), 'state.db');
    fill(path, {});
    const before = readFileSync(path);
    const log = recordingLog();
    assert.throws(() => openStore({ path, log, encryptionKey: keyBytes(KEY_HEX), env: {} }),
      (e: unknown) => isCode('NOT_ENCRYPTED')(e) && (e as Error).message.includes(path) && /move the file away/.test((e as Error).message));
    assert.deepEqual(log.lines, [], 'nothing sealed, nothing moved aside');
    assert.deepEqual(readFileSync(path), before, 'not changed');
    const s = openStore({ path, log: recordingLog(), env: {} });
    assert.equal(s.encrypted, false);
    assert.equal(s.get<{ label: string }>('keys', 'k1')?.label, MARKER);
    s.close();
  });
});

/** Someone who can write state.db but has no key must not get values of their choosing sealed by the daemon. */
describe('encryption downgrade', () => {
  const PLANTED = { teks: [{ encKey: 'ATTACKER-CHOSEN' }] };

  /** A sealed store whose `encrypted` flag is cleared and whose value is replaced by plain JSON. */
  function downgraded(dropKeyCheck: boolean): string {
    const path = join(dirs.make(), 'state.db');
    fill(path, { encryptionKey: keyBytes(KEY_HEX) });
    const db = new Database(path);
    db.prepare("UPDATE meta SET value = 0 WHERE name = 'encrypted'").run();
    if (dropKeyCheck) db.prepare("DELETE FROM meta WHERE name = 'key_check'").run();
    db.prepare("UPDATE kv SET value = ? WHERE ns = 'keys' AND key = 'k1'").run(Buffer.from(JSON.stringify(PLANTED)));
    db.prepare("DELETE FROM kv WHERE ns = 'keys' AND key = 'k2'").run();
    db.close();
    return path;
  }

  it('encrypted = 0 with a key check left in place: TAMPERED, with or without the key, the file left alone', () => {
    const path = downgraded(false);
    const before = readFileSync(path);
    for (const key of [{ encryptionKey: keyBytes(KEY_HEX) }, {}]) {
      const log = recordingLog();
      assert.throws(() => openStore({ path, log, env: {}, ...key }),
        (e: unknown) => isCode('TAMPERED')(e) && (e as Error).message.includes(path));
      assert.deepEqual(log.lines, []);
    }
    assert.deepEqual(readFileSync(path), before, 'not moved aside, not changed');
  });

  it('encrypted = 0 and the key check removed: NOT_ENCRYPTED, the planted value is never sealed', () => {
    const path = downgraded(true);
    assert.throws(() => openStore({ path, log: recordingLog(), encryptionKey: keyBytes(KEY_HEX), env: {} }), isCode('NOT_ENCRYPTED'));
    const db = new Database(path, { readonly: true });
    const flag = (db.prepare("SELECT value FROM meta WHERE name = 'encrypted'").get() as { value: number }).value;
    const v = (db.prepare("SELECT value FROM kv WHERE ns = 'keys' AND key = 'k1'").get() as { value: Buffer }).value;
    db.close();
    assert.equal(flag, 0);
    assert.deepEqual(JSON.parse(v.toString('utf8')), PLANTED, 'still the plain planted bytes: not sealed');
  });
});
