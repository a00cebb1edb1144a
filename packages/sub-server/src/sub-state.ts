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
 * converted to and from the local monotonic clock at the edges (the groups' part is key-server's group-record.ts,
 * shared with the root).
 */
import { hex, type SubClusterSnapshot, type TrackedSa } from '@gvpn/gdoi';
import {
  GroupRecordError, checkArray, checkTime, groupRecords, isObject, resumeGroups, toMono, toWall,
  type Clocks, type Gcks, type GroupRecord, type Registration, type ResumedGroup,
} from '@gvpn/key-server';

/** Where a sub-server keeps its record in its store, with a version (+1 per commit). */
export const SUB_STATE = { ns: 'sub', key: 'state' } as const;

export interface StoredSub {
  version: number;
  record: SubRecord;
}

export interface SubRecord {
  groups: GroupRecord[];
  cluster: { group: string; updateSeq: number | null; sas: TrackedSaRecord[] }[];
}

type TrackedSaRecord = TrackedSa;

export function subRecord(gcks: Gcks, cluster: readonly { group: string; state: SubClusterSnapshot }[], c: Clocks): SubRecord {
  return {
    groups: groupRecords(gcks, c),
    cluster: cluster.map(({ group, state }) => ({
      group,
      updateSeq: state.updateSeq ?? null,
      sas: state.sas.map((s) => ({ ...s, softAt: toWall(s.softAt, c), hardAt: toWall(s.hardAt, c) })),
    })),
  };
}

export interface ResumedSub {
  /** Per group name. */
  groups: Map<string, ResumedGroup>;
  /** Per group name. */
  cluster: Map<string, SubClusterSnapshot>;
}

/**
 * Everything the record holds as live objects (keys rebuilt, times on the monotonic clock). Throws
 * GroupRecordError or StoreError (BAD_RECORD) before touching anything, so a bad record leaves no half-resumed
 * group behind.
 */
export function resumeSub(record: unknown, members: ReadonlyMap<string, Registration[]>, c: Clocks): ResumedSub {
  if (!isObject(record)) throw new GroupRecordError('the record is not an object');
  const groups = resumeGroups(record['groups'], members, c);
  const cluster = new Map<string, SubClusterSnapshot>();
  for (const x of checkArray(record['cluster'], 'cluster')) {
    if (!isObject(x) || typeof x['group'] !== 'string') throw new GroupRecordError('a cluster group lacks its name');
    const updateSeq = x['updateSeq'];
    if (updateSeq !== null && typeof updateSeq !== 'number') throw new GroupRecordError(`${x['group']} update number`);
    const sas = checkArray(x['sas'], `${x['group']} SAs`).map((s): TrackedSa => {
      if (!isObject(s) || (s['kind'] !== 'kek' && s['kind'] !== 'tek') || !(s['spi'] instanceof Uint8Array) || typeof s['softExpired'] !== 'boolean') {
        throw new GroupRecordError(`a tracked SA of ${x['group']} is malformed`);
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
 * leaves: keys or SEQ installed (pushes carry them), an update applied (its ACK to the root), SAs tracked
 * anew or soft-expired. Members are rows of their own, written when Registrations reports them changed (a
 * registration: its pull answer waits for its row; a campaign's end: every member's acknowledged SEQ, so a
 * campaign to many members costs one commit, not one per ACK). Cheap enough to compute after every datagram.
 */
export function subFingerprint(gcks: Gcks, cluster: readonly { group: string; state: SubClusterSnapshot }[]): string {
  const parts: (string | number | boolean)[] = [];
  for (const g of gcks.groups()) parts.push(g.name, g.version, g.gcks.seq(), hex(g.gcks.kek.spi), g.retired.length);
  for (const { group, state } of cluster) {
    parts.push(group, state.updateSeq ?? '-');
    for (const s of state.sas) parts.push(s.kind, hex(s.spi), Math.round(s.hardAt), s.softExpired);
  }
  return parts.join('|');
}
