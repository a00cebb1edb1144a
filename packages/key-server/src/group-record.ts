/**
 * A key server's groups as a durable record, the part the root's record (root-state.ts) and a sub-server's
 * (sub-state.ts) share: per group the KEK with its signing key, the previous KEK (ACKs of the last KEK push
 * are keyed by it), the TEKs, the SEQ, when the KEK and the TEKs were made, the deactivating TEKs. The
 * members registered with this server (where pushes go, the last SEQ each acknowledged) are rows of their
 * own (`MEMBER_ROWS`, one per member), written only when that member changed: a registration costs one row,
 * not a rewrite of every member of the group.
 *
 * Times are wall-clock milliseconds in the record (a monotonic clock does not survive the process, nor
 * cross to the other node of the root pair) and are converted at the edges. Reading a record checks every
 * field before anything is built, so a damaged record leaves no half-resumed group: it throws
 * GroupRecordError (or the store's StoreError for a bad key record) and the caller starts clean.
 */
import type { Kek, Tek } from '@gvpn/gdoi';
import { kekFromRecord, kekRecord, tekFromRecord, tekRecord, type KekRecord, type Store, type TekRecord } from '@gvpn/store';
import type { Gcks, ResumedGroup } from './gcks.js';
import type { Registration } from './registrations.js';

/** This process's monotonic clock and wall time at one instant. */
export interface Clocks {
  mono: number;
  wall: number;
}

export const toWall = (t: number, c: Clocks): number => c.wall + (t - c.mono);
export const toMono = (t: number, c: Clocks): number => c.mono + (t - c.wall);

type RegistrationRecord = Omit<Registration, 'registeredAtMono'> & { registeredAtWall: number };

export interface GroupRecord {
  name: string;
  kek: KekRecord;
  previousKek: KekRecord | null;
  teks: TekRecord[];
  seq: number;
  kekCreatedAt: number;
  teksCreatedAt: number;
  retired: { tek: TekRecord; createdAt: number; removeAt: number }[];
}

/** The store namespace of member rows, keyed `group NUL address`. */
export const MEMBER_ROWS = 'members';

/** A member row to write (`record`) or delete (undefined), as a commit or the root pair's replication carries it. */
export interface MemberChange {
  key: string;
  record: RegistrationRecord | undefined;
}

/** The stored record cannot be taken over (missing or mistyped fields). */
export class GroupRecordError extends Error {
  override readonly name = 'GroupRecordError';
}

/** KEK records are cached per KEK object: exporting the RSA key on every commit would cost more than the rest. */
const kekRecords = new WeakMap<Kek, KekRecord>();
const tekRecords = new WeakMap<Tek, TekRecord>();
const kekRec = (k: Kek): KekRecord => kekRecords.get(k) ?? kekRecords.set(k, kekRecord(k)).get(k) as KekRecord;
const tekRec = (t: Tek): TekRecord => tekRecords.get(t) ?? tekRecords.set(t, tekRecord(t)).get(t) as TekRecord;

export function groupRecords(gcks: Gcks, c: Clocks): GroupRecord[] {
  return gcks.groups().map((g) => ({
    name: g.name,
    kek: kekRec(g.gcks.kek),
    previousKek: g.gcks.previousKek === undefined || g.gcks.previousKek.key.wiped ? null : kekRec(g.gcks.previousKek),
    teks: g.gcks.teks.map(tekRec),
    seq: g.gcks.seq(),
    kekCreatedAt: toWall(g.kekCreatedAt, c),
    teksCreatedAt: toWall(g.teksCreatedAt, c),
    retired: g.retired.filter((r) => !r.tek.encKey.wiped).map((r) => ({ tek: tekRec(r.tek), createdAt: toWall(r.createdAt, c), removeAt: toWall(r.removeAt, c) })),
  }));
}

const memberRow = (r: Registration, c: Clocks): MemberChange => {
  const { registeredAtMono, ...rest } = r;
  return { key: `${r.group}\0${r.address}`, record: { ...rest, registeredAtWall: toWall(registeredAtMono, c) } };
};

/** Every member as a row, the journal untouched (a full copy for the other node of a root pair). */
export function allMemberRows(gcks: Gcks, c: Clocks): MemberChange[] {
  return gcks.groups().flatMap((g) => gcks.registrations.members(g.name).map((r) => memberRow(r, c)));
}

/** The member rows changed since the last call (Registrations.drainChanges). */
export function memberChanges(gcks: Gcks, c: Clocks): MemberChange[] {
  return gcks.registrations.drainChanges().map(({ group, address, now }) =>
    (now === undefined ? { key: `${group}\0${address}`, record: undefined } : memberRow(now, c)));
}

/** Writes member rows (inside the caller's transaction, with the record they go with). */
export function applyMemberChanges(store: Store, changes: readonly MemberChange[]): void {
  for (const ch of changes) {
    if (ch.record === undefined) store.delete(MEMBER_ROWS, ch.key);
    else store.put(MEMBER_ROWS, ch.key, ch.record);
  }
}

/**
 * A role resumed from its stored record (`state`) and the member rows, or undefined when they cannot be taken
 * over: then both are deleted and the error logged, and the caller starts clean (fresh keys, members register
 * again) rather than crash on every start or takeover.
 */
export function resumeOrDiscard<T>(
  store: Store, state: { ns: string; key: string }, log: { error(o: object, msg: string): void }, what: string,
  c: Clocks, resume: (members: Map<string, Registration[]>) => T,
): T | undefined {
  try {
    return resume(readMembers(store, c));
  } catch (e) {
    log.error({ err: (e as Error).message, file: store.path }, `stored ${what} state unusable: starting clean (members register again)`);
    store.transaction(() => {
      store.delete(state.ns, state.key);
      store.clear(MEMBER_ROWS);
    });
    return undefined;
  }
}

/** Every stored member, by group name (times on the monotonic clock). A damaged row throws GroupRecordError. */
export function readMembers(store: Store, c: Clocks): Map<string, Registration[]> {
  const out = new Map<string, Registration[]>();
  for (const { key, value } of store.list(MEMBER_ROWS)) {
    const group = key.slice(0, key.indexOf('\0'));
    const list = out.get(group) ?? [];
    list.push(registrationFrom(value, group, c));
    out.set(group, list);
  }
  return out;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function checkArray(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new GroupRecordError(`${what} is not a list`);
  return v;
}

export function checkTime(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new GroupRecordError(`${what} is not a time`);
  return v;
}

function registrationFrom(r: unknown, group: string, c: Clocks): Registration {
  if (!isObject(r) || typeof r['address'] !== 'string' || !isObject(r['endpoint']) || typeof r['gateway'] !== 'string') {
    throw new GroupRecordError(`a registration of ${group} lacks address, endpoint or gateway`);
  }
  const { registeredAtWall, ...rest } = r as unknown as RegistrationRecord;
  // The push campaign it waited for died with the previous process: nothing is pending any more.
  return { ...rest, group, pendingSeq: null, registeredAtMono: toMono(checkTime(registeredAtWall, `registration ${rest.address} time`), c) };
}

/** The groups of a record as live objects (keys rebuilt, times on the monotonic clock), by name, with their members. */
export function resumeGroups(records: unknown, members: ReadonlyMap<string, Registration[]>, c: Clocks): Map<string, ResumedGroup> {
  const groups = new Map<string, ResumedGroup>();
  for (const g of checkArray(records, 'groups')) {
    if (!isObject(g) || typeof g['name'] !== 'string' || typeof g['seq'] !== 'number') throw new GroupRecordError('a group lacks its name or SEQ');
    const name = g['name'];
    const r = g as unknown as GroupRecord;
    const kek = kekFromRecord(r.kek);
    if (kek.privateKey === undefined) throw new GroupRecordError(`the KEK of ${name} lacks its signing key`);
    groups.set(name, {
      kek, teks: checkArray(r.teks, `${name} teks`).map(tekFromRecord), seq: r.seq,
      kekCreatedAt: toMono(checkTime(r.kekCreatedAt, `${name} KEK time`), c), teksCreatedAt: toMono(checkTime(r.teksCreatedAt, `${name} TEK time`), c),
      ...(r.previousKek === null || r.previousKek === undefined ? {} : { previousKek: kekFromRecord(r.previousKek) }),
      retired: checkArray(r.retired, `${name} retired`).map((x) => {
        if (!isObject(x)) throw new GroupRecordError(`a retired TEK of ${name} is not an object`);
        return { tek: tekFromRecord(x['tek']), createdAt: toMono(checkTime(x['createdAt'], 'retired TEK time'), c), removeAt: toMono(checkTime(x['removeAt'], 'retired TEK time'), c) };
      }),
      registrations: members.get(name) ?? [],
    });
  }
  return groups;
}
