export { StoreError, type StoreErrorCode } from './errors.js';
export { decodeValue, encodeValue } from './codec.js';
export { STATE_KEY_ENV, STATE_KEY_LENGTH, readKeyFile, resolveStateKey, type StateKeySource } from './state-key.js';
export { STORE_SCHEMA_VERSION, openDaemonStore, openStore } from './store.js';
export type { Recovery, SqliteSettings, Store, StoreEntry, StoreLog, StoreOptions } from './store.js';
export { kekFromRecord, kekRecord, tekFromRecord, tekRecord, type KekRecord, type TekRecord } from './gdoi-records.js';
