/**
 * The durable store of one daemon: one SQLite file (better-sqlite3), synchronous, so "written before it is
 * acted on" is simply `store.put(...)` and then act — `put` returns after the commit reached the disk.
 *
 *   PRAGMA journal_mode = WAL, synchronous = FULL: every commit is fsync'd to the WAL before `put` (or the
 *   outermost `transaction`) returns, so it survives kill -9 and a crash of the machine.
 *
 *   meta(name TEXT PRIMARY KEY, value)                           schema_version, encrypted, key_check
 *   kv(ns TEXT, key TEXT, value BLOB, PRIMARY KEY (ns, key))     one row per value: codec.ts JSON, UTF-8,
 *                                                                sealed by state-key.ts when encrypted
 *
 * Files are mode 0600 (created so, existing ones chmod'ed; SQLite gives -wal/-shm the main file's mode),
 * the directory is created 0700 when missing.
 *
 * A file that cannot be used — not SQLite, failing `PRAGMA quick_check`, not our tables, an unknown
 * schema version, a value that does not decrypt or parse — is moved aside to `<path>.corrupt-<epoch ms>`
 * (with its -wal/-shm/-journal), the move is logged as an error, and the daemon gets a fresh empty store
 * with `recovered` set: it starts clean (its members re-register) instead of crash-looping. A key problem
 * (encrypted store and no key, a wrong key, a bad key file, a key for a plain store that holds values, a
 * plain store with a key check) is an operator error, not corruption: it throws StoreError and leaves the
 * file alone.
 */
import { chmodSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import type { Secret } from '@gvpn/crypto';
import { decodeValue, encodeValue } from './codec.js';
import { StoreError } from './errors.js';
import { openValue, resolveStateKey, sealValue } from './state-key.js';
import type { StateKeySource } from './state-key.js';

export const STORE_SCHEMA_VERSION = 1;

/** What the store logs through: pino, or anything with these two methods. */
export interface StoreLog {
  info(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

export interface StoreOptions extends StateKeySource {
  path: string;
  log: StoreLog;
  /** Epoch ms, for the name of a moved-aside file only; default Date.now. */
  now?: () => number;
}

export interface StoreEntry<T = unknown> {
  key: string;
  value: T;
}

export interface Recovery {
  /** What was wrong with the old file. */
  reason: string;
  /** Where the old file went (its -wal/-shm next to it, with those suffixes). */
  movedTo: string;
}

export interface SqliteSettings {
  version: string;
  journalMode: string;
  synchronous: number;
}

export interface Store {
  readonly path: string;
  readonly encrypted: boolean;
  /** Set when the file found at open was unusable and was moved aside; this store started empty. */
  readonly recovered: Recovery | undefined;
  /** Read back from the connection at open: SQLite version, journal mode ('wal'), synchronous (2 = FULL). */
  readonly sqlite: SqliteSettings;
  get<T = unknown>(ns: string, key: string): T | undefined;
  /** Durable when it returns (unless inside `transaction`: then when the outermost one returns). */
  put(ns: string, key: string, value: unknown): void;
  /** True when there was a value. */
  delete(ns: string, key: string): boolean;
  /** Every value of `ns`, ordered by key. */
  list<T = unknown>(ns: string): StoreEntry<T>[];
  /** Deletes every value of `ns`; returns how many there were. */
  clear(ns: string): number;
  /**
   * Runs `fn` (synchronous) in one transaction: all its writes commit together, or none if it throws.
   * Nests (inner calls become savepoints).
   */
  transaction<R>(fn: () => R): R;
  close(): void;
}

/**
 * Internal: the file is unusable; openStore moves it aside. `db` is the connection still open on it:
 * SQLite unlinks -wal/-shm when its last connection closes, so it is closed only after the move, and the
 * side files go with the main file for inspection.
 */
class Unusable extends Error {
  db: Db | undefined;

  constructor(readonly reason: string) {
    super(reason);
  }
}

const KEY_CHECK_NS = '\u0000meta';
const KEY_CHECK_KEY = 'key_check';
const KEY_CHECK_PLAIN = Buffer.from('gvpn state store key check v1', 'utf8');

const SCHEMA = `
  CREATE TABLE meta (name TEXT PRIMARY KEY NOT NULL, value NOT NULL) WITHOUT ROWID;
  CREATE TABLE kv (ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID;
`;

type Db = Database.Database;

function isSqliteError(e: unknown): e is Error & { code: string } {
  return e instanceof Error && e.name === 'SqliteError' && typeof (e as { code?: unknown }).code === 'string';
}

/** SQLite's verdicts that mean "this file is damaged or is not a database". */
function isCorruption(e: unknown): boolean {
  return isSqliteError(e) && (e.code === 'SQLITE_NOTADB' || e.code.startsWith('SQLITE_CORRUPT'));
}

function ioError(e: unknown, path: string): StoreError {
  if (e instanceof StoreError) return e;
  const what = isSqliteError(e) ? `${e.code}: ${e.message}` : (e as Error).message;
  return new StoreError('IO', `state store ${path}: ${what}`, { cause: e });
}

const SIDE_FILES = ['-wal', '-shm', '-journal'];

function prepareFiles(path: string): void {
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(path)) writeFileSync(path, '', { mode: 0o600, flag: 'wx' });
  for (const p of [path, ...SIDE_FILES.map((s) => path + s)]) {
    if (existsSync(p)) chmodSync(p, 0o600);
  }
}

function closeQuietly(db: Db | undefined): void {
  try {
    db?.close();
  } catch {
    // Closing a damaged database may fail; the file has been moved aside already.
  }
}

function moveAside(path: string, now: number): string {
  let at = now;
  while (existsSync(`${path}.corrupt-${at}`)) at++;
  const movedTo = `${path}.corrupt-${at}`;
  renameSync(path, movedTo);
  for (const s of SIDE_FILES) if (existsSync(path + s)) renameSync(path + s, movedTo + s);
  return movedTo;
}

function metaValue(db: Db, name: string): unknown {
  const row = db.prepare('SELECT value FROM meta WHERE name = ?').get(name) as { value: unknown } | undefined;
  return row?.value;
}

function tableNames(db: Db): string[] {
  return (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
}

function toBuffer(v: unknown): Buffer | undefined {
  return v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : undefined;
}

interface Opened {
  db: Db;
  encrypted: boolean;
}

/**
 * Opens and checks the file: throws Unusable (move aside), StoreError (key problems, I/O) — never leaves
 * the database open when it throws.
 */
function openChecked(path: string, key: Secret | undefined, log: StoreLog): Opened {
  let db: Db;
  try {
    db = new Database(path);
  } catch (e) {
    if (isCorruption(e)) throw new Unusable(`not a SQLite database (${(e as Error).message})`);
    throw ioError(e, path);
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    const check = db.pragma('quick_check', { simple: false }) as { quick_check: string }[];
    const problems = check.map((r) => r.quick_check.replace(/\s+/g, ' ')).filter((m) => m !== 'ok');
    if (problems.length > 0) throw new Unusable(`PRAGMA quick_check: ${problems.slice(0, 3).join('; ')}`);
    const tables = tableNames(db);
    if (tables.length === 0) {
      db.transaction(() => {
        db.exec(SCHEMA);
        const put = db.prepare('INSERT INTO meta (name, value) VALUES (?, ?)');
        put.run('schema_version', STORE_SCHEMA_VERSION);
        put.run('encrypted', key === undefined ? 0 : 1);
        if (key !== undefined) put.run(KEY_CHECK_KEY, sealValue(key, KEY_CHECK_NS, KEY_CHECK_KEY, KEY_CHECK_PLAIN));
      })();
      return { db, encrypted: key !== undefined };
    }
    if (!tables.includes('meta') || !tables.includes('kv')) throw new Unusable(`not a gvpn state store (tables: ${tables.join(', ')})`);
    const version = metaValue(db, 'schema_version');
    if (version !== STORE_SCHEMA_VERSION) {
      throw new Unusable(`schema version ${String(version)}, this build reads version ${STORE_SCHEMA_VERSION}`);
    }
    const encryptedFlag = metaValue(db, 'encrypted');
    if (encryptedFlag !== 0 && encryptedFlag !== 1) throw new Unusable(`meta "encrypted" is ${String(encryptedFlag)}`);
    const encrypted = encryptedFlag === 1;
    // Only a sealed store has a key check, and both are written in one transaction: this file was altered.
    if (!encrypted && metaValue(db, KEY_CHECK_KEY) !== undefined) {
      throw new StoreError('TAMPERED',
        `state store ${path} says it is not encrypted but has a key check: the file was altered and is not used; restore it from a backup, or move it away to start with an empty store`);
    }
    if (encrypted) {
      if (key === undefined) {
        throw new StoreError('NO_KEY', `state store ${path} is encrypted: give its key (key file option or GVPN_STATE_KEY)`);
      }
      const blob = toBuffer(metaValue(db, KEY_CHECK_KEY));
      const plain = blob === undefined ? undefined : openValue(key, KEY_CHECK_NS, KEY_CHECK_KEY, blob);
      if (plain === undefined || !plain.equals(KEY_CHECK_PLAIN)) {
        throw new StoreError('WRONG_KEY', `state store ${path}: the key given does not open it (wrong key, or its key check is damaged)`);
      }
    } else if (key !== undefined && db.prepare('SELECT 1 FROM kv LIMIT 1').get() !== undefined) {
      // The flag is not authenticated: anyone who can write the file could have cleared it and planted
      // values; sealing them now would make them look like ours.
      throw new StoreError('NOT_ENCRYPTED',
        `state store ${path} is not encrypted and holds values, and a state key was given: its values are not trusted under the key; run without the key to keep them, or move the file away to start with an empty encrypted store`);
    }
    const rows = db.prepare('SELECT ns, key, value FROM kv').all() as { ns: string; key: string; value: unknown }[];
    for (const r of rows) {
      const blob = toBuffer(r.value);
      if (blob === undefined) throw new Unusable(`value ${JSON.stringify(r.ns)}/${JSON.stringify(r.key)} is not a BLOB`);
      const text = encrypted && key !== undefined ? openValue(key, r.ns, r.key, blob) : blob;
      if (text === undefined) throw new Unusable(`value ${JSON.stringify(r.ns)}/${JSON.stringify(r.key)} fails to decrypt`);
      try {
        decodeValue(text.toString('utf8'));
      } catch (e) {
        throw new Unusable(`value ${JSON.stringify(r.ns)}/${JSON.stringify(r.key)}: ${(e as Error).message}`);
      }
    }
    if (!encrypted && key !== undefined) {
      // A key given for an empty plain store (checked above): from now on it is sealed.
      db.transaction(() => {
        db.prepare('UPDATE meta SET value = 1 WHERE name = ?').run('encrypted');
        db.prepare('INSERT INTO meta (name, value) VALUES (?, ?)').run(KEY_CHECK_KEY, sealValue(key, KEY_CHECK_NS, KEY_CHECK_KEY, KEY_CHECK_PLAIN));
      })();
      // Values deleted while it was plain may linger in free pages and the WAL: rewrite the file without them.
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.exec('VACUUM');
      db.pragma('wal_checkpoint(TRUNCATE)');
      log.info({ file: path }, 'state store encrypted');
      return { db, encrypted: true };
    }
    return { db, encrypted };
  } catch (e) {
    const unusable = e instanceof Unusable ? e : isCorruption(e) ? new Unusable(`SQLite ${(e as { code: string }).code}: ${(e as Error).message}`) : undefined;
    if (unusable !== undefined) {
      unusable.db = db;
      throw unusable;
    }
    db.close();
    throw e instanceof StoreError ? e : ioError(e, path);
  }
}

class SqliteStore implements Store {
  readonly path: string;
  readonly encrypted: boolean;
  readonly recovered: Recovery | undefined;
  readonly sqlite: SqliteSettings;
  #db: Db;
  #key: Secret | undefined;
  #closed = false;
  #get: Database.Statement<[string, string], { value: Buffer }>;
  #put: Database.Statement<[string, string, Buffer]>;
  #delete: Database.Statement<[string, string]>;
  #list: Database.Statement<[string], { key: string; value: Buffer }>;
  #clear: Database.Statement<[string]>;

  constructor(path: string, opened: Opened, key: Secret | undefined, recovered: Recovery | undefined) {
    this.path = path;
    this.#db = opened.db;
    this.encrypted = opened.encrypted;
    this.#key = opened.encrypted ? key : undefined;
    this.recovered = recovered;
    this.sqlite = {
      version: this.#db.prepare('SELECT sqlite_version()').pluck().get() as string,
      journalMode: this.#db.pragma('journal_mode', { simple: true }) as string,
      synchronous: this.#db.pragma('synchronous', { simple: true }) as number,
    };
    this.#get = this.#db.prepare('SELECT value FROM kv WHERE ns = ? AND key = ?');
    this.#put = this.#db.prepare('INSERT OR REPLACE INTO kv (ns, key, value) VALUES (?, ?, ?)');
    this.#delete = this.#db.prepare('DELETE FROM kv WHERE ns = ? AND key = ?');
    this.#list = this.#db.prepare('SELECT key, value FROM kv WHERE ns = ? ORDER BY key');
    this.#clear = this.#db.prepare('DELETE FROM kv WHERE ns = ?');
  }

  #run<R>(f: () => R): R {
    if (this.#closed) throw new StoreError('CLOSED', `state store ${this.path} is closed`);
    try {
      return f();
    } catch (e) {
      if (isSqliteError(e)) throw ioError(e, this.path);
      throw e;
    }
  }

  #decode(ns: string, key: string, blob: Buffer): unknown {
    const text = this.#key === undefined ? blob : openValue(this.#key, ns, key, blob);
    if (text === undefined) throw new StoreError('CORRUPT', `state store ${this.path}: value ${ns}/${key} fails to decrypt`);
    return decodeValue(text.toString('utf8'));
  }

  get<T = unknown>(ns: string, key: string): T | undefined {
    return this.#run(() => {
      const row = this.#get.get(ns, key);
      return row === undefined ? undefined : (this.#decode(ns, key, row.value) as T);
    });
  }

  put(ns: string, key: string, value: unknown): void {
    const text = Buffer.from(encodeValue(value), 'utf8');
    this.#run(() => {
      const blob = this.#key === undefined ? text : sealValue(this.#key, ns, key, text);
      this.#put.run(ns, key, blob);
    });
  }

  delete(ns: string, key: string): boolean {
    return this.#run(() => this.#delete.run(ns, key).changes > 0);
  }

  list<T = unknown>(ns: string): StoreEntry<T>[] {
    return this.#run(() => this.#list.all(ns).map((r) => ({ key: r.key, value: this.#decode(ns, r.key, r.value) as T })));
  }

  clear(ns: string): number {
    return this.#run(() => this.#clear.run(ns).changes);
  }

  transaction<R>(fn: () => R): R {
    return this.#run(() => this.#db.transaction(fn)());
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
    this.#key?.wipe();
  }
}

/**
 * Opens (creating when missing) the store at `options.path`. Throws StoreError for key problems and I/O
 * failures; an unusable file is moved aside and a fresh store returned with `recovered` set.
 */
export function openStore(options: StoreOptions): Store {
  const { path, log } = options;
  const key = resolveStateKey(options);
  try {
    prepareFiles(path);
  } catch (e) {
    key?.wipe();
    throw ioError(e, path);
  }
  let recovered: Recovery | undefined;
  let opened: Opened;
  try {
    opened = openChecked(path, key, log);
  } catch (e) {
    if (!(e instanceof Unusable)) {
      key?.wipe();
      throw e;
    }
    try {
      try {
        recovered = { reason: e.reason, movedTo: moveAside(path, (options.now ?? Date.now)()) };
      } finally {
        closeQuietly(e.db);
      }
      log.error({ file: path, movedTo: recovered.movedTo, reason: e.reason }, 'state store unusable: moved aside, starting empty');
      prepareFiles(path);
      opened = openChecked(path, key, log);
    } catch (e2) {
      key?.wipe();
      // A fresh file that cannot be used either is not a corruption to recover from.
      if (e2 instanceof Unusable) {
        closeQuietly(e2.db);
        throw new StoreError('IO', `state store ${path}: a fresh file is unusable: ${e2.reason}`);
      }
      throw ioError(e2, path);
    }
  }
  return new SqliteStore(path, opened, key, recovered);
}

/**
 * sysexits(3) EX_CONFIG: a key problem (no key, wrong key, bad key file, a key for a plain store that holds
 * values) or a tampered file, which a restart will not cure.
 */
const EXIT_CONFIG = 78;

/**
 * A daemon's store, `<stateDirectory>/state.db`, sealed with the key from `stateKeyFile` (configuration
 * `system.state-key-file`) or GVPN_STATE_KEY when either is given. A key problem ends the process with a
 * one-line error (exit 78) instead of a stack trace: restarting would not help. An unreadable file is not a
 * key problem: it is moved aside and the daemon starts clean (`recovered`).
 */
export function openDaemonStore(system: { stateDirectory: string; stateKeyFile: string | null }, log: StoreLog): Store {
  try {
    return openStore({ path: join(system.stateDirectory, 'state.db'), log, ...(system.stateKeyFile === null ? {} : { keyFile: system.stateKeyFile }) });
  } catch (error) {
    if (!(error instanceof StoreError)) throw error;
    log.error({ err: error.message, code: error.code }, 'cannot open the state store');
    console.error(`state store: ${error.message}`);
    process.exit(EXIT_CONFIG);
  }
}
