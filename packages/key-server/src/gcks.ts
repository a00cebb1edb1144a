/**
 * The standalone key server (GCKS) as a `RoleModule` of the daemon host: GROUPKEY-PULL responder on the
 * established IKE SAs of member gateways, registered members, rekey timers and unicast pushes with
 * retransmission until RFC 8263 ACK, and the server's GDOI control commands.
 *
 * Wiring: IKE hands GROUPKEY-PULL datagrams of established SAs to `ikeEvents.phase2` -> PullResponder;
 * ACKs (exchange 35, cookies = a KEK SPI, no IKE SA) reach `preIke` before IKE and never get to it.
 *
 * The same module serves every server role. A standalone server and a root make their keys here (key
 * source `local`); a root's cluster layer hears of each change through `onKeysChanged`. A sub-server's
 * groups hold no keys until its cluster layer `adopt`s the root's, answer pulls only while `accepting`
 * says so (root active, R-DPD-4), and change keys only as the root says (`rekeyOf(group).install*`).
 */
import { PullResponder, hex, tryHeader, verifyAck, type Authorization, type Kek, type PullResponderCounter, type SigningKey, type Tek } from '@gvpn/gdoi';
import type { IkeSa } from '@gvpn/ike';
import { ControlCommandError, type ConfigChange, type ControlHandler, type Endpoint, type RoleContext, type RoleModule, type ServerGroupConfig } from '@gvpn/runtime';
import { DEFAULT_PLATFORM_MAX_MEMBERS, authorizeMember } from './authorization.js';
import { GroupState, type GivenKeys } from './group-state.js';
import { addedGroups, addedIpsecSas, endedGroups, endedIpsecSas, gatewaysLosingMembers, gatewaysToClear, kekChanges, serverRefusal } from './live-config.js';
import { GroupRekey, type KeyChange } from './rekey.js';
import { Registrations, type Registration } from './registrations.js';
import { emptyGdoiCounters, type GdoiCounters } from './statistics.js';
import { kekView, registeredMembersView, tekViews } from './views.js';

/** Exchange type of an RFC 8263 GROUPKEY-PUSH ACK, and its offset in the ISAKMP header. */
const PUSH_ACK = 35;
const EXCHANGE_TYPE_OFFSET = 18;
const HEADER_LENGTH = 28;

const PULL_DROPS: PullResponderCounter[] = [
  'malformedDropped', 'decryptFailedDropped', 'invalidPayloadDropped', 'hashMismatchDropped',
  'unexpectedMessageDropped', 'exchangesExpired', 'exchangeLimitDropped',
];

/** The control commands the key server answers (a root-pair node that is not primary must refuse them). */
export const GCKS_COMMANDS = [
  'show security group-vpn server kek security-associations',
  'show security group-vpn server ipsec security-associations',
  'show security group-vpn server registered-members',
  'request security group-vpn server rekey group',
  'clear security group-vpn server group',
] as const;

export interface GcksOptions {
  /** `local` (default): keys made here; `root`: a sub-server's, adopted from its root. */
  keySource?: 'local' | 'root';
  /** Each locally made key change, before any member is pushed. */
  onKeysChanged?(group: GroupState, change: KeyChange, now: number): void;
  /** May members of this group register now? Asked only with key source `root`. */
  accepting?(groupId: number): boolean;
  /**
   * Key source `local`: what a previous run (durable store) or the other node of the root pair held, by group
   * name. A group found here resumes with those keys, SEQ, key ages and registrations; others get fresh keys.
   */
  resume?: ReadonlyMap<string, ResumedGroup>;
  /** Key source `local`: signature keys made beforehand (off the event loop) for groups that start fresh, by name. */
  signingKeys?: ReadonlyMap<string, SigningKey>;
}

/** A group as a restart or a failover takes it over. Times are on this process's monotonic clock. */
export interface ResumedGroup extends GivenKeys {
  previousKek?: Kek;
  retired: { tek: Tek; createdAt: number; removeAt: number }[];
  registrations: Registration[];
}

export interface Gcks extends RoleModule {
  /** The groups holding keys (every configured group, with key source `local`). */
  groups(): GroupState[];
  group(name: string): GroupState | undefined;
  rekeyOf(group: GroupState): GroupRekey;
  /** Key source `root`: the group now holds `keys` (replacing any it held). */
  adopt(name: string, keys: GivenKeys, now: number): GroupState;
  /** Key source `root`: the group holds no keys any more (its members are forgotten). */
  forget(name: string): void;
  readonly registrations: Registrations;
  statistics(): GdoiCounters;
}

function groupOption(options: Record<string, unknown>): string {
  const name = options.group;
  if (typeof name !== 'string' || name === '') throw new ControlCommandError('BAD_REQUEST', 'give the group name (options.group)');
  return name;
}

/** When a change the commit accepted without acting at once takes effect (Table 1: new values go into the next keys). */
function whenInEffect(c: ConfigChange): string {
  if (['1.2', '1.3d', '1.3e'].includes(c.cell) || (c.cell === '1.5b' && c.matchPolicyChanged !== true)) return 'in effect at the next TEK rekey';
  if (c.cell === '1.4b') return 'in effect at the next KEK rekey';
  return 'in effect';
}

export function createGcks(ctx: RoleContext, options: GcksOptions = {}): Gcks {
  const { config, clock } = ctx;
  if (config.role !== 'server') throw new Error('the key server needs a server configuration');
  const log = ctx.log.child({ component: 'gcks' });
  const counters = emptyGdoiCounters();
  const registrations = new Registrations();
  const platformMaxMembers = config.system.platform.maxMembers ?? DEFAULT_PLATFORM_MAX_MEMBERS;
  const keySource = options.keySource ?? 'local';
  let configs = new Map(config.server.groups.map((g) => [g.name, g]));
  const byId = new Map<number, GroupState>();
  const byName = new Map<string, GroupState>();
  const rekeys = new Map<string, GroupRekey>();
  const rekeyOf = (g: GroupState): GroupRekey => rekeys.get(g.name) as GroupRekey;
  const groups = (): GroupState[] => [...byName.values()];
  /** Rekeys of groups a commit ended (R-CHG-1.3a/b) whose "delete all" push still waits for ACKs. */
  let leaving: GroupRekey[] = [];
  // Each signature key made beforehand serves one group once: a group renumbered later gets a new one.
  const premade = new Map(options.signingKeys ?? []);

  function add(groupConfig: ServerGroupConfig, now: number, given?: GivenKeys): GroupState {
    const signing = premade.get(groupConfig.name);
    premade.delete(groupConfig.name);
    const g = new GroupState(groupConfig, config.system.listen, ctx.random, now, given, () => clock.now(), signing);
    byId.set(g.groupId, g);
    byName.set(g.name, g);
    rekeys.set(g.name, new GroupRekey(g, registrations, {
      send: ctx.send, log, counters, keySource,
      ...(options.onKeysChanged === undefined ? {} : { onKeysChanged: (change, at) => options.onKeysChanged?.(g, change, at) }),
    }));
    return g;
  }

  /** The group holds no keys any more (its members are forgotten by the caller). */
  function remove(name: string): GroupState | undefined {
    const g = byName.get(name);
    if (g === undefined) return undefined;
    byName.delete(name);
    byId.delete(g.groupId);
    rekeys.delete(name);
    return g;
  }
  if (keySource === 'local') {
    for (const g of configs.values()) {
      const resumed = options.resume?.get(g.name);
      const group = add(g, clock.now(), resumed);
      if (resumed === undefined) continue;
      if (resumed.previousKek !== undefined) group.gcks.previousKek = resumed.previousKek;
      group.retired = [...resumed.retired];
      for (const r of resumed.registrations) registrations.upsert(r);
    }
  }

  /** Refusals for want of the root's keys that the responder counts as unknown groups (they are not). */
  let refusedNoRootKeys = 0;
  /**
   * Groups that answer pulls: all keyed ones. Key source `root`: a group the root never gave keys is refused
   * here; one whose root went inactive, in `authorize`, which knows the member.
   */
  const serving = (groupId: number): GroupState | undefined => {
    const g = byId.get(groupId);
    if (keySource === 'local' || g !== undefined) return g;
    const name = [...configs.values()].find((c) => c.groupId === groupId)?.name;
    if (name === undefined) return undefined;
    refusedNoRootKeys++;
    counters.refusedRootInactive++;
    log.info({ group: name }, 'pull refused: no keys from an active root for this group (R-MSG-1, R-DPD-4)');
    return undefined;
  };

  /**
   * R-DPD-4: no registration while the root is inactive. A member registered here that pulls again has dropped
   * the keys it got here or replaces them (a pull that succeeds replaces its entry); refused, it moves on to its
   * next server (R-REG-4), so its entry goes too: listed, it would hold a place under member-threshold and be
   * pushed keys it no longer follows.
   */
  function refuseRootInactive(sa: IkeSa, group: GroupState): Authorization {
    counters.refusedRootInactive++;
    const member = sa.peer.address;
    log.info({ group: group.name, member }, 'pull refused: no keys from an active root for this group (R-MSG-1, R-DPD-4)');
    if (registrations.remove(group.name, member)) log.info({ group: group.name, member }, 'registered member pulled again while the root is inactive: forgotten');
    return { ok: false, reason: 'root inactive' };
  }

  const responder = new PullResponder({
    group: (groupId) => serving(groupId)?.snapshot(),
    authorize,
    commit,
    refusal: 'silent',
    random: ctx.random,
    send: ctx.send,
    log,
  });

  /**
   * The pull responder takes message 2's SA and message 4's KD from one snapshot made at message 1, but
   * message 4's SEQ is the group's SEQ when message 4 is built. A rekey between messages 1 and 3 would hand
   * out old keys with the new SEQ, and the member would then refuse the rekey push as a replay. So the
   * group's key version is noted at message 1 (the first `authorize` of a pull) and a pull whose keys
   * changed before message 3 is refused (silently: the member times out and pulls again). `authorize` is
   * asked at message 1 and message 3 of each pull, and `commit` follows the second at once. A pull is known
   * by its IKE SA, group and M-ID: a member whose message 2 was lost pulls again on the same SA, and that
   * pull's message 1 must not pass for the lost one's message 3.
   */
  const pullVersions = new Map<string, { version: number; at: number }>();
  const PULL_VERSION_TTL_MS = 30_000;
  const authorization = { group: (id: number) => byId.get(id), registrations, platformMaxMembers, counters, log };
  const cookiesOf = (sa: IkeSa): { icookie: string; rcookie: string; prefix: string } => {
    const { icookie, rcookie } = sa.cookiesHex;
    return { icookie, rcookie, prefix: `${icookie}${rcookie}:` };
  };

  function authorize(sa: IkeSa, groupId: number, now: number, messageId: number): Authorization {
    const group = byId.get(groupId);
    if (keySource === 'root' && group !== undefined && options.accepting?.(groupId) === false) return refuseRootInactive(sa, group);
    const result = authorizeMember(authorization, sa, groupId);
    if (!result.ok || group === undefined) return result;
    const key = `${cookiesOf(sa).prefix}${groupId}:${messageId}`;
    const seen = pullVersions.get(key);
    if (seen === undefined || now - seen.at > PULL_VERSION_TTL_MS) {
      if (pullVersions.size >= 4096) for (const [k, v] of pullVersions) if (now - v.at > PULL_VERSION_TTL_MS) pullVersions.delete(k);
      pullVersions.set(key, { version: group.version, at: now });
      return result;
    }
    pullVersions.delete(key);
    if (seen.version === group.version) return result;
    counters.refusedKeysChanged++;
    log.info({ member: sa.peer.address, group: group.name }, 'pull refused: the group was rekeyed during it (the member will pull again)');
    return { ok: false, reason: 'group rekeyed during the pull' };
  }

  function commit(sa: IkeSa, groupId: number, now: number, messageId: number): void {
    const group = byId.get(groupId);
    const cookies = cookiesOf(sa);
    pullVersions.delete(`${cookies.prefix}${groupId}:${messageId}`);
    if (group === undefined) return;
    const fresh = registrations.upsert({
      group: group.name, groupId, address: sa.peer.address, endpoint: { ...sa.peer }, gateway: sa.gateway.name,
      icookie: cookies.icookie, rcookie: cookies.rcookie, registeredAt: Date.now(), registeredAtMono: now,
      lastAckedSeq: null, pendingSeq: null, pushesSent: 0, retransmissions: 0,
    });
    if (fresh) counters.newMembers++;
    rekeyOf(group).registered(sa.peer.address, now);
    log.info({ group: group.name, groupId, member: sa.peer.address, gateway: sa.gateway.name, members: registrations.count(group.name) }, 'member registered');
  }

  /** The group and KEK whose SPI an ACK's cookies name (the running push's, the current or the previous KEK). */
  function ackTarget(bytes: Uint8Array): { rekey: GroupRekey; kek: Kek } | undefined {
    const cookies = hex(bytes.subarray(0, 16));
    const named = (k: Kek | undefined): k is Kek => k !== undefined && !k.key.wiped && hex(k.spi) === cookies;
    for (const group of byName.values()) {
      const rekey = rekeyOf(group);
      // Without a KEK only the running push's (the delete of the KEK, R-CHG-1.4c) is still acknowledged.
      const kek = (group.hasKek ? [rekey.campaign?.ackKek, group.gcks.kek, group.gcks.previousKek] : [rekey.campaign?.ackKek]).find(named);
      if (kek !== undefined) return { rekey, kek };
    }
    for (const rekey of leaving) {
      const kek = rekey.campaign?.ackKek;
      if (named(kek)) return { rekey, kek };
    }
    return undefined;
  }

  function handleAck(rekey: GroupRekey, kek: Kek, bytes: Uint8Array, from: Endpoint, now: number): void {
    const { group } = rekey;
    const result = verifyAck(kek, bytes);
    if (!result.ok) {
      counters.ackInvalid++;
      log.debug({ group: group.name, from: from.address, reason: result.reason }, 'GROUPKEY-PUSH ACK dropped');
      return;
    }
    counters.acksReceived++;
    log.debug({ group: group.name, member: result.memberAddress, from: from.address, seq: result.seq }, 'push acknowledged');
    // By the source address, which registrations are keyed by, not the ACK's ID payload: every member holds
    // the KEK, so the ID could name any other member (and a member behind NAT names its private address).
    // A member that forges its source address can still ACK for another: a group key identifies no one.
    rekey.acked(from.address, result.seq, now, kek);
  }

  function statistics(): GdoiCounters {
    const r = responder.counters;
    return {
      ...counters,
      pullsStarted: r.pullRequests,
      registrations: r.registrations,
      refusedUnknownGroup: r.unknownGroupRefused - refusedNoRootKeys,
      pullDropped: PULL_DROPS.reduce((sum, k) => sum + r[k], 0),
      pullDuplicates: r.duplicateRequests,
    };
  }

  const findGroup = (options: Record<string, unknown>): GroupState => {
    const name = groupOption(options);
    const group = byName.get(name);
    if (group === undefined) throw new ControlCommandError('NOT_FOUND', `no group named ${name}`);
    return group;
  };

  const operatorAction = (kind: 'tek-rekey' | 'delete-all'): ControlHandler => (opts) => {
    if (keySource === 'root') throw new ControlCommandError('NOT_SUPPORTED', 'a sub-server changes keys only when its root says so (R-TOPO-2, R-MSG-9): run this on the root');
    const group = findGroup(opts);
    const rekey = rekeyOf(group);
    const queued = rekey.busy;
    rekey.request(kind);
    rekey.poll(clock.now());
    ctx.rearm();
    return {
      // `pushed`: without a KEK the members are not told; they keep their TEKs until they pull again.
      group: group.name, groupId: group.groupId, action: kind, queued, pushed: group.hasKek,
      seq: group.gcks.seq(), spis: group.gcks.teks.map((t) => hex(t.spi)), kekSpi: group.hasKek ? hex(group.gcks.kek.spi) : null,
    };
  };

  const handlers: Record<(typeof GCKS_COMMANDS)[number], ControlHandler> = {
    'show security group-vpn server kek security-associations': (opts) => {
      const now = clock.now();
      return { sas: groups().filter((g) => g.hasKek).map((g) => kekView(g, rekeyOf(g), now, opts.showKeys === true)) };
    },
    'show security group-vpn server ipsec security-associations': (opts) => {
      const now = clock.now();
      return { sas: groups().flatMap((g) => tekViews(g, now, opts.showKeys === true)) };
    },
    'show security group-vpn server registered-members': () => registeredMembersView([...configs.values()], registrations, platformMaxMembers),
    'request security group-vpn server rekey group': operatorAction('tek-rekey'),
    'clear security group-vpn server group': operatorAction('delete-all'),
  };

  /** R-CHG: the cells live-config.ts accepts. New values now; new keys from them at the next rekey. */
  const applyConfig: RoleModule['applyConfig'] = (next, changes, now) => {
    const refusal = serverRefusal(changes, keySource === 'root' ? 'sub' : 'root');
    if (refusal !== undefined) return { refused: refusal };
    if (next.role !== 'server') return { refused: 'not a server configuration' };
    const previous = configs;
    configs = new Map(next.server.groups.map((g) => [g.name, g]));
    const applied: string[] = [];
    const resetGateways = replaceGroups(changes, previous, next.server.groups, now, applied);
    const touched = new Set(changes.map((c) => c.group));
    for (const g of byName.values()) {
      const updated = configs.get(g.name);
      if (updated === undefined) continue;
      if (!touched.has(g.name)) {
        g.config = updated; // the same values, from the new file (gateway objects may be new)
        continue;
      }
      g.reconfigure(updated);
      rekeyOf(g).reconfigured();
    }
    for (const { group, ipsecSa } of endedIpsecSas(changes)) {
      const g = byName.get(group);
      if (g === undefined) continue;
      // The TEK made for that ipsec-sa (its policy carries the name) ends now; a sub only drops it, as the
      // root's cluster-update tells its members (R-MSG-9).
      const spis = [...g.gcks.teks, ...g.retired.map((r) => r.tek)].filter((t) => t.policy.name === ipsecSa).map((t) => t.spi);
      if (keySource === 'local') rekeyOf(g).endTeks(spis, now);
      else rekeyOf(g).deleteTeks(spis, undefined, now);
      applied.push(`group ${group}: ipsec-sa ${ipsecSa}: TEK ${spis.map(hex).join(', ') || '(none)'} ended${keySource === 'local' ? ', delete pushed' : ''}`);
    }
    for (const { group, ipsecSa } of addedIpsecSas(changes)) {
      const g = byName.get(group);
      if (g === undefined) continue;
      if (keySource !== 'local') {
        applied.push(`group ${group}: ipsec-sa ${ipsecSa}: its TEK comes with the root's cluster-update`);
        continue;
      }
      rekeyOf(g).addTeks(g.gcks.policy.teks.filter((t) => t.name === ipsecSa), now);
      applied.push(`group ${group}: ipsec-sa ${ipsecSa}: TEK ${g.gcks.teks.filter((t) => t.policy.name === ipsecSa).map((t) => hex(t.spi)).join(', ')} made and pushed`);
    }
    // R-CHG-1.4a/c, after the TEK cells (a TEK delete must still be pushed under the KEK). A root also resets
    // its member gateways' IKE SAs (the host does, after the module settled: pushes and updates left first).
    for (const { group, added } of kekChanges(changes)) {
      const g = byName.get(group);
      if (g === undefined) continue;
      const members = registrations.count(group);
      const root = keySource === 'local' && g.config.serverCluster !== null;
      if (root) resetGateways.push(...g.config.memberGateways.map((m) => m.name));
      if (added) rekeyOf(g).kekAdded(now);
      else if (keySource === 'local') rekeyOf(g).endKek(now);
      else rekeyOf(g).dropKek(undefined, now);
      log.info({ group, kek: g.hasKek ? hex(g.gcks.kek.spi) : null, members }, added ? 'KEK added by a commit (R-CHG-1.4a)' : 'KEK deleted by a commit (R-CHG-1.4c)');
      const ike = root ? '; member IKE SAs reset' : '';
      if (added) {
        const kek = keySource === 'local' ? `KEK ${hex(g.gcks.kek.spi)} made${root ? ' and sent to the sub-servers' : ''}` : 'the KEK comes with the root\'s cluster-update';
        applied.push(`group ${group}: server-member-communication added: ${kek}; ${members} members registered without a KEK forgotten${ike}`);
      } else {
        const told = keySource === 'local' ? `delete of the KEK pushed to ${members} members${root ? ' and sent to the sub-servers' : ''}` : 'members told only by the root\'s cluster-update';
        applied.push(`group ${group}: server-member-communication deleted: ${told}; no KEK any more${ike}`);
      }
    }
    // R-CHG-2.2f on a root (a sub refused it): the cluster layer told the subs already; every key goes at
    // once, members are told "delete all" and register again for the keys made now from the configuration.
    for (const c of changes) {
      const g = c.cell === '2.2f' && c.group !== undefined ? byName.get(c.group) : undefined;
      if (g === undefined || keySource !== 'local') continue;
      const members = registrations.count(g.name);
      rekeyOf(g).deleteAllNow(now);
      applied.push(`group ${g.name}: every KEK and TEK deleted ("delete all" pushed to ${members} members); new KEK ${g.hasKek ? hex(g.gcks.kek.spi) : '(none)'}, TEKs ${g.gcks.teks.map((t) => hex(t.spi)).join(', ')}`);
    }
    for (const c of changes) if (c.group !== undefined && !['1.1', '2.1', '1.5a', '1.5c', '2.2f', '1.3a', '1.3b', '1.4a', '1.4c', 'group-added'].includes(c.cell)) applied.push(`R-CHG-${c.cell} ${c.detail}: ${whenInEffect(c)}`);
    for (const { gateway, group } of gatewaysLosingMembers(changes)) {
      for (const g of byName.values()) {
        if (group !== undefined && g.name !== group) continue;
        for (const m of registrations.members(g.name)) if (m.gateway === gateway) registrations.remove(g.name, m.address);
      }
      applied.push(`members registered through ${gateway}${group === undefined ? '' : ` in ${group}`} forgotten`);
    }
    return { applied, resetGateways };
  };

  /**
   * R-CHG-1.3a/b and 'group-added', before the commit's other cells: a group that ends loses its keys and
   * members at once (standalone and root push "delete all" first; the root's cluster layer has told the subs
   * already); renumbered or new, a standalone server or a root makes its keys now, as at start-up, while a
   * sub waits for its cluster-init (sub-cluster.ts). Returns the ended groups' member gateways that no
   * remaining group uses: the host deletes their IKE SAs after the module settled (the push left first).
   */
  function replaceGroups(changes: readonly ConfigChange[], previous: ReadonlyMap<string, ServerGroupConfig>, next: readonly ServerGroupConfig[], now: number, applied: string[]): string[] {
    const ended = endedGroups(changes);
    const gateways: string[] = [];
    const made: string[] = [];
    for (const { group, renumbered } of ended) {
      gateways.push(...(previous.get(group)?.memberGateways.map((m) => m.name) ?? []));
      const members = registrations.count(group);
      const rekey = rekeys.get(group);
      const pushed = keySource === 'local' && rekey !== undefined && rekey.group.hasKek;
      remove(group);
      if (keySource === 'local' && rekey !== undefined) {
        rekey.end(now);
        if (rekey.busy) leaving.push(rekey);
      }
      registrations.clearGroup(group);
      log.info({ group, renumbered, members }, 'group ended by a commit: keys and registered members deleted (R-CHG-1.3a/b)');
      applied.push(`group ${group}: ${renumbered ? 'group-id changed' : 'deleted'}: its keys and ${members} registered members deleted${pushed ? ', "delete all" pushed to them' : ''}`);
      if (renumbered) made.push(group);
    }
    made.push(...addedGroups(changes));
    for (const name of made) {
      const groupConfig = configs.get(name);
      if (groupConfig === undefined || keySource !== 'local') continue;
      const g = add(groupConfig, now);
      log.info({ group: name, groupId: g.groupId, kek: g.hasKek ? hex(g.gcks.kek.spi) : null, teks: g.gcks.teks.map((t) => hex(t.spi)) }, 'group keys made (R-CHG)');
      applied.push(`group ${name} (group-id ${g.groupId}): keys made: KEK ${g.hasKek ? hex(g.gcks.kek.spi) : '(none)'}, TEKs ${g.gcks.teks.map((t) => hex(t.spi)).join(', ')}`);
    }
    return gatewaysToClear(gateways, next, new Set(ended.map((e) => e.group)));
  }

  return {
    applyConfig,
    groups,
    group: (name) => byName.get(name),
    rekeyOf,
    adopt: (name, keys, now) => {
      const groupConfig = configs.get(name);
      if (groupConfig === undefined) throw new Error(`no group ${name}`);
      const previous = byName.get(name);
      const g = add(groupConfig, now, keys);
      // Retiring TEKs stay shown until their time; members keep their registrations.
      if (previous !== undefined) g.retired = previous.retired;
      return g;
    },
    forget: (name) => {
      if (remove(name) !== undefined) registrations.clearGroup(name);
    },
    registrations,
    statistics,
    statisticsSections: () => ({ gdoi: statistics() }),
    handlers,
    ikeEvents: {
      phase2: (sa, datagram, now) => {
        const header = tryHeader(datagram);
        if (header !== undefined) responder.handle(sa, datagram, header, now);
      },
      saDown: (sa) => {
        responder.forgetSa(sa);
        if (pullVersions.size === 0) return;
        const prefix = cookiesOf(sa).prefix;
        for (const k of pullVersions.keys()) if (k.startsWith(prefix)) pullVersions.delete(k);
      },
    },
    // Only an ACK naming one of our KEKs is taken; anything else goes on to IKE, which counts its drops.
    preIke: (bytes, from, now) => {
      if (bytes.length < HEADER_LENGTH || bytes[EXCHANGE_TYPE_OFFSET] !== PUSH_ACK) return false;
      const target = ackTarget(bytes);
      if (target === undefined) return false;
      handleAck(target.rekey, target.kek, bytes, from, now);
      return true;
    },
    nextDeadline: () => {
      let min = responder.nextDeadline();
      for (const rekey of [...rekeys.values(), ...leaving]) {
        const d = rekey.nextDeadline();
        if (d !== undefined && (min === undefined || d < min)) min = d;
      }
      return min;
    },
    poll: (now) => {
      responder.poll(now);
      for (const g of byName.values()) rekeyOf(g).poll(now);
      if (leaving.length === 0) return;
      for (const rekey of leaving) rekey.poll(now);
      leaving = leaving.filter((r) => r.busy);
    },
    start: (now) => {
      log.info({
        keySource, groups: [...configs.values()].map((g) => ({ name: g.name, groupId: g.groupId })),
        platformMaxMembers, started: now,
      }, 'key server started');
    },
  };
}
