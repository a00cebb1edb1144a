/**
 * Everything the root distributes, as one JSON-able record: what the durable store keeps across a restart
 * and what the active node of the root pair replicates to the standby (docs/root-pair.md).
 *
 * Per group: the KEK with its signing key, the previous KEK (ACKs of the last KEK push are keyed by it),
 * the TEKs, the SEQ, when each was made (rekey timers follow from that), the deactivating TEKs; the members
 * registered with the root itself are rows of their own, committed with it. Per group with a server cluster: update numbers and, per sub,
 * active/inactive, pending cluster-updates and the last exchange. Push campaigns to the root's own members
 * are not kept (those members re-register if a push is lost); counters travel separately (heartbeats).
 *
 * Times are wall-clock milliseconds in the record (two processes do not share a monotonic clock) and are
 * converted to and from the local monotonic clock at the edges (the groups' part: key-server's group-record.ts).
 */
import { hex, type ClusterUpdate, type SenderState } from '@gvpn/gdoi';
import {
  GroupRecordError, checkArray, checkTime, groupRecords, isObject, resumeGroups, toMono, toWall,
  type Clocks, type Gcks, type GroupRecord, type Registration, type ResumedGroup,
} from '@gvpn/key-server';
import { kekFromRecord, kekRecord, tekFromRecord, tekRecord, type KekRecord, type TekRecord } from '@gvpn/store';

export type { Clocks } from '@gvpn/key-server';

/** Where a root keeps its record in its store, with a version (+1 per commit) and the RG0 epoch. */
export const ROOT_STATE = { ns: 'root', key: 'state' } as const;

export interface StoredRoot {
  version: number;
  epoch: number;
  record: RootRecord;
}

export interface RootRecord {
  groups: GroupRecord[];
  cluster: { group: string; state: SenderStateRecord }[];
}

type UpdateRecord = Omit<ClusterUpdate, 'keys' | 'teks'> & {
  keys?: { kek: KekRecord | null; teks: TekRecord[]; seq: number | null; activationDelaySeconds: number | null; deactivationDelaySeconds: number | null };
  lifetimes?: { spi: string; remainingSeconds: number }[];
  teks?: string[];
};

interface SenderStateRecord {
  seqs: [number, number][];
  subs: { name: string; state: 'active' | 'inactive'; queue: UpdateRecord[]; lastExchangeAt: number | null }[];
}

const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

function updateRecord(u: ClusterUpdate): UpdateRecord {
  switch (u.kind) {
    case 'update-keys':
      return {
        ...u,
        keys: {
          kek: u.keys.kek === undefined ? null : kekRecord(u.keys.kek), teks: u.keys.teks.map(tekRecord), seq: u.keys.seq ?? null,
          activationDelaySeconds: u.keys.activationDelaySeconds ?? null, deactivationDelaySeconds: u.keys.deactivationDelaySeconds ?? null,
        },
        lifetimes: u.lifetimes.map((l) => ({ spi: hex(l.spi), remainingSeconds: l.remainingSeconds })),
      };
    case 'update-delete-sas':
      return { ...u, teks: u.teks.map(hex) };
    case 'update-delete-members':
      return { ...u };
  }
}

function updateFromRecord(r: UpdateRecord): ClusterUpdate {
  if (r.kind === 'update-keys' && r.keys !== undefined) {
    const k = r.keys;
    return {
      kind: 'update-keys', groupId: r.groupId, updateSeq: r.updateSeq,
      keys: {
        teks: k.teks.map(tekFromRecord),
        ...(k.kek === null ? {} : { kek: kekFromRecord(k.kek) }),
        ...(k.seq === null ? {} : { seq: k.seq }),
        ...(k.activationDelaySeconds === null ? {} : { activationDelaySeconds: k.activationDelaySeconds }),
        ...(k.deactivationDelaySeconds === null ? {} : { deactivationDelaySeconds: k.deactivationDelaySeconds }),
      },
      lifetimes: (r.lifetimes ?? []).map((l) => ({ spi: bytes(l.spi), remainingSeconds: l.remainingSeconds })),
    };
  }
  if (r.kind === 'update-delete-sas') return { ...(r as unknown as Extract<ClusterUpdate, { kind: 'update-delete-sas' }>), teks: (r.teks ?? []).map(bytes) };
  return r as unknown as ClusterUpdate;
}

export function rootRecord(gcks: Gcks, cluster: readonly { group: string; state: SenderState }[], c: Clocks): RootRecord {
  return {
    groups: groupRecords(gcks, c),
    cluster: cluster.map(({ group, state }) => ({
      group,
      state: {
        seqs: state.seqs,
        subs: state.subs.map((s) => ({
          name: s.name, state: s.state, queue: s.queue.map(updateRecord),
          lastExchangeAt: s.lastExchangeAt === undefined ? null : toWall(s.lastExchangeAt, c),
        })),
      },
    })),
  };
}

export interface Resumed {
  groups: Map<string, ResumedGroup>;
  /** Per group name. */
  cluster: Map<string, SenderState>;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** One pending cluster-update: its kind and numbers, and the lists its kind carries (their items: the store's checks). */
function checkUpdate(u: unknown, where: string): UpdateRecord {
  if (!isObject(u) || !isCount(u['groupId']) || !isCount(u['updateSeq'])) throw new GroupRecordError(`an update of ${where} lacks its group ID or number`);
  switch (u['kind']) {
    case 'update-keys': {
      const keys = u['keys'];
      if (!isObject(keys)) throw new GroupRecordError(`an update-keys of ${where} lacks its keys`);
      checkArray(keys['teks'], `${where} update TEKs`);
      for (const l of checkArray(u['lifetimes'] ?? [], `${where} update lifetimes`)) {
        if (!isObject(l) || typeof l['spi'] !== 'string' || typeof l['remainingSeconds'] !== 'number') throw new GroupRecordError(`a lifetime of an update of ${where} is malformed`);
      }
      break;
    }
    case 'update-delete-sas':
      if (!checkArray(u['teks'] ?? [], `${where} deleted TEKs`).every((t) => typeof t === 'string')) throw new GroupRecordError(`a deleted TEK of ${where} is not hex`);
      break;
    case 'update-delete-members':
      if (!checkArray(u['members'], `${where} deleted members`).every((m) => typeof m === 'string')) throw new GroupRecordError(`a deleted member of ${where} is not an address`);
      break;
    default:
      throw new GroupRecordError(`an update of ${where} has no known kind`);
  }
  return u as unknown as UpdateRecord;
}

/** The `cluster` part, checked throughout before anything is built (as the groups' part is). */
function checkCluster(value: unknown): RootRecord['cluster'] {
  return checkArray(value, 'cluster').map((x) => {
    if (!isObject(x) || typeof x['group'] !== 'string' || !isObject(x['state'])) throw new GroupRecordError('a cluster group lacks its name or state');
    const group = x['group'];
    const state = x['state'];
    for (const pair of checkArray(state['seqs'], `${group} SEQs`)) {
      if (!Array.isArray(pair) || pair.length !== 2 || !pair.every(isCount)) throw new GroupRecordError(`a SEQ pair of ${group} is malformed`);
    }
    for (const sub of checkArray(state['subs'], `${group} subs`)) {
      if (!isObject(sub) || typeof sub['name'] !== 'string' || (sub['state'] !== 'active' && sub['state'] !== 'inactive')) {
        throw new GroupRecordError(`a sub of ${group} lacks its name or state`);
      }
      if (sub['lastExchangeAt'] !== null) checkTime(sub['lastExchangeAt'], `${group} ${sub['name']} last exchange`);
      for (const u of checkArray(sub['queue'], `${group} ${sub['name']} queue`)) checkUpdate(u, `${group} ${sub['name']}`);
    }
    return x as unknown as RootRecord['cluster'][number];
  });
}

/**
 * The live state of a stored or replicated record. A damaged one throws GroupRecordError (or the store's
 * StoreError for a bad key record) before anything is built, and the caller starts clean.
 */
export function resumeFrom(r: RootRecord, members: ReadonlyMap<string, Registration[]>, c: Clocks): Resumed {
  if (!isObject(r)) throw new GroupRecordError('the record is not an object');
  const checked = checkCluster(r.cluster);
  const groups = resumeGroups(r.groups, members, c);
  const cluster = new Map<string, SenderState>();
  for (const { group, state } of checked) {
    cluster.set(group, {
      seqs: state.seqs,
      subs: state.subs.map((s) => ({
        name: s.name, state: s.state, queue: s.queue.map(updateFromRecord),
        lastExchangeAt: s.lastExchangeAt === null ? undefined : toMono(s.lastExchangeAt, c),
      })),
    });
  }
  return { groups, cluster };
}

/**
 * Changes whenever something the record holds changes in a way a peer must learn before we act on it: new
 * keys or SEQ, a published or acknowledged update, a sub going active or inactive. Members are rows of their
 * own (key-server group-record.ts), committed when Registrations reports them changed.
 * Cheap enough to compute after every datagram.
 */
export function rootFingerprint(gcks: Gcks, cluster: readonly { group: string; state: SenderState }[]): string {
  const parts: (string | number)[] = [];
  // The group ID too: a group renumbered by a commit (R-CHG-1.3b) may restart at the same version and SEQ.
  for (const g of gcks.groups()) parts.push(g.name, g.groupId, g.version, g.gcks.seq(), g.retired.length);
  for (const { group, state } of cluster) {
    parts.push(group, ...state.seqs.flat());
    for (const s of state.subs) parts.push(s.name, s.state, s.queue.length, s.queue[0]?.updateSeq ?? 0);
  }
  return parts.join('|');
}
