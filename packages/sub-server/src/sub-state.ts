/**
 * What a sub-server keeps across a restart, as one record in its durable store (issue 5: kill -9 and
 * restart of a sub-server must lead to no member re-registering, no push refused as a replay, the same SPIs).
 *
 * Per group holding keys: the root's KEK with its signing key, the previous KEK (ACKs of the last KEK push
 * are keyed by it), the TEKs, the SEQ (the root's, continued by every push this server sends), when the root
 * made the KEK and the TEKs, the retiring TEKs, and this server's registered members (where pushes go, the
 * last SEQ each acknowledged). Per cluster group: the last update number applied and the SAs tracked for
 * soft/hard expiry (R-MSG-6/7). Not kept: the root's state (a restarted sub starts with its root
 * 'inactive' and cluster-inits, R-MSG-2a), IKE SAs, push campaigns in flight (a member that had not
 * acknowledged the last push when the process died gets no retransmission; it re-registers when its keys
 * near expiry), counters.
 *
 * Times are wall-clock milliseconds in the record (a monotonic clock does not survive the process) and are
 * converted to and from the local monotonic clock at the edges, as root-state.ts does for the root.
 */
import { hex, type Kek, type SubClusterSnapshot, type Tek, type TrackedSa } from '@gvpn/gdoi';
import type { Gcks, GivenKeys, Registration } from '@gvpn/key-server';
import { kekFromRecord, kekRecord, tekFromRecord, tekRecord, type KekRecord, type TekRecord } from '@gvpn/store';

/** Where a sub-server keeps its record in its store, with a version (+1 per commit). */
export const SUB_STATE = { ns: 'sub', key: 'state' } as const;

export interface StoredSub {
  version: number;
  record: SubRecord;
}

export interface SubRecord {
  groups: HeldGroupRecord[];
  cluster: { group: string; updateSeq: number | null; sas: TrackedSaRecord[] }[];
}

type RegistrationRecord = Omit<Registration, 'registeredAtMono'> & { registeredAtWall: number };

interface HeldGroupRecord {
  name: string;
  kek: KekRecord;
  previousKek: KekRecord | null;
  teks: TekRecord[];
  seq: number;
  kekCreatedAt: number;
  teksCreatedAt: number;
  retired: { tek: TekRecord; createdAt: number; removeAt: number }[];
  registrations: RegistrationRecord[];
}

type TrackedSaRecord = TrackedSa;

/** This process's monotonic clock and wall time at one instant. */
export interface Clocks {
  mono: number;
  wall: number;
}

const toWall = (t: number, c: Clocks): number => c.wall + (t - c.mono);
const toMono = (t: number, c: Clocks): number => c.mono + (t - c.wall);

/** KEK records are cached per KEK object: exporting the RSA key on every commit would cost more than the rest. */
const kekRecords = new WeakMap<Kek, KekRecord>();
const tekRecords = new WeakMap<Tek, TekRecord>();
const kekRec = (k: Kek): KekRecord => kekRecords.get(k) ?? kekRecords.set(k, kekRecord(k)).get(k) as KekRecord;
const tekRec = (t: Tek): TekRecord => tekRecords.get(t) ?? tekRecords.set(t, tekRecord(t)).get(t) as TekRecord;

export function subRecord(gcks: Gcks, cluster: readonly { group: string; state: SubClusterSnapshot }[], c: Clocks): SubRecord {
  return {
    groups: gcks.groups().map((g) => ({
      name: g.name,
      kek: kekRec(g.gcks.kek),
      previousKek: g.gcks.previousKek === undefined || g.gcks.previousKek.key.wiped ? null : kekRec(g.gcks.previousKek),
      teks: g.gcks.teks.map(tekRec),
      seq: g.gcks.seq(),
      kekCreatedAt: toWall(g.kekCreatedAt, c),
      teksCreatedAt: toWall(g.teksCreatedAt, c),
      retired: g.retired.filter((r) => !r.tek.encKey.wiped).map((r) => ({ tek: tekRec(r.tek), createdAt: toWall(r.createdAt, c), removeAt: toWall(r.removeAt, c) })),
      registrations: gcks.registrations.members(g.name).map(({ registeredAtMono, ...r }) => ({ ...r, registeredAtWall: toWall(registeredAtMono, c) })),
    })),
    cluster: cluster.map(({ group, state }) => ({
      group,
      updateSeq: state.updateSeq ?? null,
      sas: state.sas.map((s) => ({ ...s, softAt: toWall(s.softAt, c), hardAt: toWall(s.hardAt, c) })),
    })),
  };
}

/** A held group as a restart takes it over (monotonic times). */
export interface ResumedSubGroup {
  keys: GivenKeys;
  previousKek: Kek | undefined;
  retired: { tek: Tek; createdAt: number; removeAt: number }[];
  registrations: Registration[];
}

export interface ResumedSub {
  /** Per group name. */
  groups: Map<string, ResumedSubGroup>;
  /** Per group name. */
  cluster: Map<string, SubClusterSnapshot>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkArray(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new SubStateError(`${what} is not a list`);
  return v;
}

function checkTime(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new SubStateError(`${what} is not a time`);
  return v;
}

/** The stored record cannot be taken over (missing or mistyped fields); the caller starts clean. */
export class SubStateError extends Error {
  override readonly name = 'SubStateError';
}

function registrationFrom(r: unknown, group: string, c: Clocks): Registration {
  if (!isObject(r) || typeof r['address'] !== 'string' || !isObject(r['endpoint']) || typeof r['gateway'] !== 'string') {
    throw new SubStateError(`a registration of ${group} lacks address, endpoint or gateway`);
  }
  const { registeredAtWall, ...rest } = r as unknown as RegistrationRecord;
  // The push campaign it waited for died with the previous process: nothing is pending any more.
  return { ...rest, group, pendingSeq: null, registeredAtMono: toMono(checkTime(registeredAtWall, `registration ${rest.address} time`), c) };
}

/**
 * Everything the record holds as live objects (keys rebuilt, times on the monotonic clock). Throws
 * SubStateError or StoreError (BAD_RECORD) before touching anything, so a bad record leaves no half-resumed
 * group behind.
 */
export function resumeSub(record: unknown, c: Clocks): ResumedSub {
  if (!isObject(record)) throw new SubStateError('the record is not an object');
  const groups = new Map<string, ResumedSubGroup>();
  for (const g of checkArray(record['groups'], 'groups')) {
    if (!isObject(g) || typeof g['name'] !== 'string' || typeof g['seq'] !== 'number') throw new SubStateError('a group lacks its name or SEQ');
    const name = g['name'];
    const r = g as unknown as HeldGroupRecord;
    const kek = kekFromRecord(r.kek);
    if (kek.privateKey === undefined) throw new SubStateError(`the KEK of ${name} lacks its signing key`);
    groups.set(name, {
      keys: {
        kek, teks: checkArray(r.teks, `${name} teks`).map(tekFromRecord), seq: r.seq,
        kekCreatedAt: toMono(checkTime(r.kekCreatedAt, `${name} KEK time`), c), teksCreatedAt: toMono(checkTime(r.teksCreatedAt, `${name} TEK time`), c),
      },
      previousKek: r.previousKek === null || r.previousKek === undefined ? undefined : kekFromRecord(r.previousKek),
      retired: checkArray(r.retired, `${name} retired`).map((x) => {
        if (!isObject(x)) throw new SubStateError(`a retired TEK of ${name} is not an object`);
        return { tek: tekFromRecord(x['tek']), createdAt: toMono(checkTime(x['createdAt'], 'retired TEK time'), c), removeAt: toMono(checkTime(x['removeAt'], 'retired TEK time'), c) };
      }),
      registrations: checkArray(r.registrations, `${name} registrations`).map((m) => registrationFrom(m, name, c)),
    });
  }
  const cluster = new Map<string, SubClusterSnapshot>();
  for (const x of checkArray(record['cluster'], 'cluster')) {
    if (!isObject(x) || typeof x['group'] !== 'string') throw new SubStateError('a cluster group lacks its name');
    const updateSeq = x['updateSeq'];
    if (updateSeq !== null && typeof updateSeq !== 'number') throw new SubStateError(`${x['group']} update number`);
    const sas = checkArray(x['sas'], `${x['group']} SAs`).map((s): TrackedSa => {
      if (!isObject(s) || (s['kind'] !== 'kek' && s['kind'] !== 'tek') || !(s['spi'] instanceof Uint8Array) || typeof s['softExpired'] !== 'boolean') {
        throw new SubStateError(`a tracked SA of ${x['group']} is malformed`);
      }
      return {
        kind: s['kind'], spi: s['spi'], softExpired: s['softExpired'],
        softAt: toMono(checkTime(s['softAt'], 'SA soft time'), c), hardAt: toMono(checkTime(s['hardAt'], 'SA hard time'), c),
      };
    });
    cluster.set(x['group'], { updateSeq: updateSeq ?? undefined, sas });
  }
  return { groups, cluster };
}

/**
 * Changes whenever the record changes in a way that must be stored before a datagram that depends on it
 * leaves: keys or SEQ installed (pushes carry them), a member registered (its pull answer) or removed, a
 * push campaign started or finished (the members' acknowledged SEQs), an update applied (its ACK to the
 * root), SAs tracked anew or soft-expired. Single ACKs inside a campaign are not: they are written with
 * the campaign's end, so a campaign to many members costs two commits, not one per member.
 * Cheap enough to compute after every datagram.
 */
export function subFingerprint(gcks: Gcks, cluster: readonly { group: string; state: SubClusterSnapshot }[]): string {
  const parts: (string | number | boolean)[] = [gcks.statistics().registrations];
  for (const g of gcks.groups()) {
    parts.push(g.name, g.version, g.gcks.seq(), hex(g.gcks.kek.spi), g.retired.length, gcks.registrations.count(g.name), gcks.rekeyOf(g).campaign?.seq ?? '-');
  }
  for (const { group, state } of cluster) {
    parts.push(group, state.updateSeq ?? '-');
    for (const s of state.sas) parts.push(s.kind, hex(s.spi), Math.round(s.hardAt), s.softExpired);
  }
  return parts.join('|');
}
