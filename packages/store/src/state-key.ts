/**
 * The optional key that encrypts values at rest, and the value cipher.
 *
 * Where the key comes from, first match wins: `encryptionKey` (given by the daemon), `keyFile` (32 raw bytes
 * or 64 hex digits, a trailing newline allowed; the file must be mode 0600 or stricter), the environment
 * variable GVPN_STATE_KEY (64 hex digits). None of them: values are stored plain, protected by the file's
 * mode 0600 only.
 *
 * Each value is sealed on its own with AES-256-GCM (node:crypto):
 *
 *   blob = version (1 byte, 0x01) | IV (12 random bytes) | ciphertext | tag (16 bytes)
 *   AAD  = u32be(len(ns)) | ns | key          (UTF-8; the length prefix keeps ("a","bc") and ("ab","c") apart)
 *
 * so a value moved to another row, or to another namespace, fails to open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { Secret } from '@gvpn/crypto';
import { StoreError } from './errors.js';

export const STATE_KEY_ENV = 'GVPN_STATE_KEY';
export const STATE_KEY_LENGTH = 32;
const BLOB_VERSION = 1;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;

export interface StateKeySource {
  encryptionKey?: Secret | Uint8Array;
  keyFile?: string;
  /** Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

function fromHex(text: string, where: string): Secret {
  if (!/^[0-9a-fA-F]{64}$/.test(text)) {
    throw new StoreError('BAD_KEY', `${where}: a state key is ${STATE_KEY_LENGTH} bytes, written as 64 hex digits`);
  }
  return new Secret(new Uint8Array(Buffer.from(text, 'hex')));
}

/** Reads a key file: mode 0600 or stricter, 32 raw bytes or 64 hex digits (surrounding whitespace allowed). */
export function readKeyFile(path: string): Secret {
  let mode: number;
  let raw: Buffer;
  try {
    mode = statSync(path).mode & 0o777;
    raw = readFileSync(path);
  } catch (e) {
    throw new StoreError('BAD_KEY', `state key file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  if ((mode & 0o077) !== 0) {
    raw.fill(0);
    throw new StoreError('KEY_FILE_MODE',
      `state key file ${path} is mode 0${mode.toString(8)}; it must not be readable by group or others (chmod 600 ${path})`);
  }
  try {
    if (raw.length === STATE_KEY_LENGTH) return Secret.copyOf(raw);
    return fromHex(raw.toString('latin1').trim(), `state key file ${path}`);
  } finally {
    raw.fill(0);
  }
}

/** The key to use, or undefined for a plain store. */
export function resolveStateKey(source: StateKeySource): Secret | undefined {
  if (source.encryptionKey !== undefined) {
    const bytes = source.encryptionKey instanceof Secret ? source.encryptionKey.reveal() : source.encryptionKey;
    if (bytes.length !== STATE_KEY_LENGTH) throw new StoreError('BAD_KEY', `encryption key of ${bytes.length} bytes, need ${STATE_KEY_LENGTH}`);
    return Secret.copyOf(bytes);
  }
  if (source.keyFile !== undefined) return readKeyFile(source.keyFile);
  const env = (source.env ?? process.env)[STATE_KEY_ENV];
  if (env !== undefined && env !== '') return fromHex(env.trim(), STATE_KEY_ENV);
  return undefined;
}

function aad(ns: string, key: string): Buffer {
  const n = Buffer.from(ns, 'utf8');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(n.length, 0);
  return Buffer.concat([head, n, Buffer.from(key, 'utf8')]);
}

export function sealValue(key: Secret, ns: string, rowKey: string, plain: Uint8Array): Buffer {
  const iv = randomBytes(IV_LENGTH);
  const c = createCipheriv('aes-256-gcm', key.reveal(), iv, { authTagLength: TAG_LENGTH });
  c.setAAD(aad(ns, rowKey));
  const body = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([Buffer.of(BLOB_VERSION), iv, body, c.getAuthTag()]);
}

/** The plaintext, or undefined when the blob is malformed, was sealed under another key or for another row. */
export function openValue(key: Secret, ns: string, rowKey: string, blob: Uint8Array): Buffer | undefined {
  if (blob.length < 1 + IV_LENGTH + TAG_LENGTH || blob[0] !== BLOB_VERSION) return undefined;
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  try {
    const d = createDecipheriv('aes-256-gcm', key.reveal(), b.subarray(1, 1 + IV_LENGTH), { authTagLength: TAG_LENGTH });
    d.setAAD(aad(ns, rowKey));
    d.setAuthTag(b.subarray(b.length - TAG_LENGTH));
    return Buffer.concat([d.update(b.subarray(1 + IV_LENGTH, b.length - TAG_LENGTH)), d.final()]);
  } catch {
    return undefined;
  }
}
