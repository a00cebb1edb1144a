/**
 * GROUPKEY-PULL, GCKS (responder) side, RFC 6407 §3.2 (formulas in pull-initiator.ts).
 *
 * State rules:
 * - Nothing about the group changes before message 3 verifies (RFC 6407 §3.2, §7.2.5): message 1 only
 *   creates a pending exchange (at most `maxExchanges` at once, each expiring after `exchangeTimeoutMs`);
 *   the registration hook `commit` runs once, when a valid HASH(3) (which covers Nr) arrives. A completed
 *   exchange is kept as long again to answer a repeated message 3, but no longer counts as pending (else
 *   the bound would cap registrations at `maxExchanges` per timeout: 4096 per 30 s); completed ones
 *   beyond `maxExchanges` are forgotten oldest first.
 * - Authorisation: `authorize(sa, groupId)` runs for message 1 and again for message 3 (a threshold may
 *   have been reached in between). A refusal sends nothing (`refusal: 'silent'`, R-REG-5) or a protected
 *   informational with a Notify (`refusal: 'notify'`).
 * - Duplicates: an identical message 1 or 3 is answered with the cached message 2 or 4, byte for byte,
 *   and not processed again (`duplicateRequests`). Anything else that fails a check is dropped and counted.
 * - IVs: message 1 with hash(last phase-1 block | M-ID); then each message chains from the previous last
 *   ciphertext block; a received message moves the running IV only after its HASH verified.
 * - Keys: message 2's SA and message 4's KD come from one snapshot taken at message 1 (so they always
 *   match); SEQ in message 4 is the group's value when message 4 is built.
 */
import { GapAttr, IdType, MessageRules, NotifyType, PayloadType, WireError, groupIdFromKeyId } from '@gvpn/wire';
import type { Attribute, GdoiSaPayload, Header, KeyPacket } from '@gvpn/wire';
import { equalBytes } from '@gvpn/crypto';
import type { RandomSource } from '@gvpn/crypto';
import { RateLimitedWarn, chainBytes, ciphertextOf, encryptedMessage, freshMessageId, lastBlock, parseDecrypted, payloadsOf, u32Bytes } from '@gvpn/ike';
import type { Endpoint, IkeSa, Logger, ParsedMessage } from '@gvpn/ike';
import { equal, kekKeyPacket, satPayload, tekKeyPacket } from './keys.js';
import type { Kek, Tek } from './keys.js';
import type { GroupPolicy } from './group-policy.js';
import { GROUPKEY_PULL } from './pull-initiator.js';

/** What the responder needs to know about a group at the moment of a pull. */
export interface GroupSnapshot {
  policy: GroupPolicy;
  kek: Kek | undefined;
  teks: readonly Tek[];
  /** Current SEQ of the KEK (0 before any push). */
  seq(): number;
  /**
   * Whole seconds the current TEKs have left. A pull hands out that, not the configured lifetime: a member
   * registering late in a TEK's life must not keep it after the servers dropped it. Absent: the full lifetime.
   */
  teksLifetimeLeft?(): number;
}

export type Authorization = { ok: true } | { ok: false; reason: string; notifyType?: number };

export interface PullResponderConfig {
  /** The group with this number, if configured. */
  group(groupId: number): GroupSnapshot | undefined;
  /**
   * The daemon's rules: gateway allowed for the group, member threshold, platform maximum ... `messageId`
   * names the exchange (asked at its message 1 and message 3), as an IKE SA may carry several pulls.
   */
  authorize(sa: IkeSa, groupId: number, now: number, messageId: number): Authorization;
  /** Registers the member; called exactly once per exchange, after HASH(3) verified. */
  commit(sa: IkeSa, groupId: number, now: number, messageId: number): void;
  /** What a refused member gets: nothing (R-REG-5) or an encrypted Notify. */
  refusal: 'silent' | 'notify';
  random: RandomSource;
  send(bytes: Uint8Array, to: Endpoint): void;
  log?: Logger;
  nonceLength?: number;
  exchangeTimeoutMs?: number;
  maxExchanges?: number;
  /** Exchanges waiting for message 3 from one peer address (default 8). */
  maxExchangesPerPeer?: number;
}

export type PullResponderCounter =
  | 'pullRequests' | 'registrations' | 'malformedDropped' | 'decryptFailedDropped' | 'invalidPayloadDropped'
  | 'hashMismatchDropped' | 'duplicateRequests' | 'unexpectedMessageDropped' | 'unknownGroupRefused'
  | 'unauthorizedRefused' | 'exchangesExpired' | 'exchangeLimitDropped' | 'refusalNotifiesSent';

interface Exchange {
  key: string;
  sa: IkeSa;
  messageId: number;
  groupId: number;
  state: 'msg2-sent' | 'done';
  ni: Uint8Array;
  nr: Uint8Array;
  iv: Uint8Array;
  request: Uint8Array;
  reply: Uint8Array;
  /** The group's keys as encoded at message 1 (message 4's KD comes from them); undefined once done. */
  keys: EncodedKeys | undefined;
  hasKek: boolean;
  expiresAt: number;
}

const INFORMATIONAL = 5;

/**
 * What a pull hands out of one key generation of a group, encoded once: message 2's SA payload and message
 * 4's KD payload, each as a chain of one payload (next payload 0). Valid while the snapshot holds the same
 * policy, KEK and TEK objects (GcksGroup replaces them on rekey, it never changes them in place). The KD
 * holds key bytes: once a newer generation replaced it and no pending pull uses it, it is zeroed.
 */
interface EncodedKeys {
  /** Pending pulls that will send this KD in message 4. */
  users: number;
  /** A newer key generation is cached: zero the KD when the last user is done. */
  retired: boolean;
  policy: GroupPolicy;
  kek: Kek | undefined;
  teks: readonly Tek[];
  teksCopy: Tek[];
  hasKeys: boolean;
  /** TEK lifetime written into the SATs (seconds left when encoded; re-encoded when that changes). */
  teksLifetime: number | undefined;
  sa: Uint8Array;
  kd: Uint8Array;
}

function sameKeys(e: EncodedKeys, group: GroupSnapshot): boolean {
  if (e.teksLifetime !== group.teksLifetimeLeft?.()) return false;
  if (e.policy !== group.policy || e.kek !== group.kek || e.teks !== group.teks || e.teksCopy.length !== group.teks.length) return false;
  for (let i = 0; i < e.teksCopy.length; i++) if (e.teksCopy[i] !== group.teks[i]) return false;
  return true;
}

function encodeKeys(group: GroupSnapshot): EncodedKeys {
  const teksLifetime = group.teksLifetimeLeft?.();
  const sa2: GdoiSaPayload = { type: 1, layout: 'gdoi', doi: 2, situation: 0, teks: group.teks.map((t) => satPayload(t, teksLifetime)) };
  const kd: KeyPacket[] = [];
  if (group.kek !== undefined) {
    sa2.kek = group.kek.sak;
    kd.push(kekKeyPacket(group.kek));
  }
  const gap: Attribute[] = [
    { type: GapAttr.ActivationTimeDelay, value: group.policy.activationDelaySeconds },
    { type: GapAttr.DeactivationTimeDelay, value: group.policy.deactivationDelaySeconds },
  ];
  sa2.gap = { type: 22, attributes: gap };
  for (const t of group.teks) kd.push(tekKeyPacket(t));
  return {
    users: 0, retired: false, teksLifetime,
    policy: group.policy, kek: group.kek, teks: group.teks, teksCopy: [...group.teks],
    hasKeys: sa2.kek !== undefined || sa2.teks.length > 0,
    sa: chainBytes([sa2], GROUPKEY_PULL), kd: chainBytes([{ type: PayloadType.KD, packets: kd }], GROUPKEY_PULL),
  };
}

/**
 * A payload with a generic header (RFC 2408 §3.2) and body `data`, followed by the encoded chain `rest`
 * whose first payload is of type `next` (0: none). Same bytes as encoding the whole chain at once.
 */
/** `one` (an encoded chain of exactly one payload) followed by `rest`, whose first payload is of type `next`. */
function concatChain(one: Uint8Array, next: number, rest: Uint8Array): Uint8Array {
  const out = new Uint8Array(one.length + rest.length);
  out.set(one, 0);
  out[0] = next;
  out.set(rest, one.length);
  return out;
}

function prependPayload(data: Uint8Array, next: number, rest: Uint8Array): Uint8Array {
  const length = 4 + data.length;
  const out = new Uint8Array(length + rest.length);
  out[0] = next;
  out[2] = length >>> 8;
  out[3] = length & 0xff;
  out.set(data, 4);
  out.set(rest, length);
  return out;
}

export class PullResponder {
  readonly counters: Record<PullResponderCounter, number> = {
    pullRequests: 0, registrations: 0, malformedDropped: 0, decryptFailedDropped: 0, invalidPayloadDropped: 0,
    hashMismatchDropped: 0, duplicateRequests: 0, unexpectedMessageDropped: 0, unknownGroupRefused: 0,
    unauthorizedRefused: 0, exchangesExpired: 0, exchangeLimitDropped: 0, refusalNotifiesSent: 0,
  };
  /** In expiry order: every entry gets `now + timeout` when inserted, and is re-inserted when it completes. */
  private readonly exchanges = new Map<string, Exchange>();
  private pending = 0;
  /**
   * Exchanges waiting for message 3, per peer address: one member (any holder of a member PSK) must not hold
   * the server-wide bound and shut every other member out. A member needs one pull at a time.
   */
  private readonly pendingByPeer = new Map<string, number>();
  private readonly timeoutMs: number;
  private readonly maxExchanges: number;
  private readonly maxExchangesPerPeer: number;
  private readonly refusalLog: RateLimitedWarn | undefined;
  /** Exchange keys per IKE SA, so that an SA going down costs its own exchanges only. */
  private readonly bySa = new Map<IkeSa, Set<string>>();
  /** Encoded keys per group id (the latest key generation seen). */
  private readonly encoded = new Map<number, EncodedKeys>();

  constructor(private readonly config: PullResponderConfig) {
    this.timeoutMs = config.exchangeTimeoutMs ?? 30_000;
    this.maxExchanges = config.maxExchanges ?? 4096;
    this.maxExchangesPerPeer = config.maxExchangesPerPeer ?? 8;
    this.refusalLog = config.log === undefined ? undefined : new RateLimitedWarn(config.log, { add: () => {} });
  }

  /** Exchanges waiting for message 3. */
  get pendingExchanges(): number {
    return this.pending;
  }

  nextDeadline(): number | undefined {
    return this.exchanges.values().next().value?.expiresAt;
  }

  poll(now: number): void {
    for (const x of this.exchanges.values()) {
      if (x.expiresAt > now) break;
      if (x.state !== 'done') this.counters.exchangesExpired++;
      this.forget(x);
    }
  }

  /** Forget the exchanges of an IKE SA that went down. */
  forgetSa(sa: IkeSa): void {
    const keys = this.bySa.get(sa);
    if (keys === undefined) return;
    for (const key of [...keys]) {
      const x = this.exchanges.get(key);
      if (x !== undefined) this.forget(x);
    }
    this.bySa.delete(sa);
  }

  private forget(x: Exchange): void {
    if (!this.exchanges.delete(x.key)) return;
    if (x.state !== 'done') {
      this.pending--;
      const n = (this.pendingByPeer.get(x.sa.peer.address) ?? 1) - 1;
      if (n > 0) this.pendingByPeer.set(x.sa.peer.address, n);
      else this.pendingByPeer.delete(x.sa.peer.address);
    }
    this.release(x);
    const keys = this.bySa.get(x.sa);
    if (keys !== undefined && keys.delete(x.key) && keys.size === 0) this.bySa.delete(x.sa);
  }

  private remember(x: Exchange): void {
    this.exchanges.set(x.key, x);
    let keys = this.bySa.get(x.sa);
    if (keys === undefined) this.bySa.set(x.sa, (keys = new Set()));
    keys.add(x.key);
  }


  private keysOf(groupId: number, group: GroupSnapshot): EncodedKeys {
    const cached = this.encoded.get(groupId);
    if (cached !== undefined && sameKeys(cached, group)) return cached;
    if (cached !== undefined) {
      cached.retired = true;
      if (cached.users === 0) cached.kd.fill(0);
    }
    const fresh = encodeKeys(group);
    this.encoded.set(groupId, fresh);
    return fresh;
  }

  /** The exchange no longer needs its key generation's KD (message 4 sent, or the exchange is gone). */
  private release(x: Exchange): void {
    const keys = x.keys;
    if (keys === undefined) return;
    x.keys = undefined;
    keys.users--;
    if (keys.users === 0 && keys.retired) keys.kd.fill(0);
  }

  /** Keeps at most `maxExchanges` completed exchanges (their only use is answering a repeated message 3). */
  private forgetOldestDone(): void {
    let excess = this.exchanges.size - this.pending - this.maxExchanges;
    for (const x of this.exchanges.values()) {
      if (excess <= 0) return;
      if (x.state === 'done') {
        this.forget(x);
        excess--;
      }
    }
  }

  private drop(counter: PullResponderCounter, sa: IkeSa, detail: string): void {
    this.counters[counter]++;
    this.config.log?.debug({ peer: `${sa.peer.address}:${sa.peer.port}`, counter, detail }, 'GROUPKEY-PULL datagram dropped');
  }

  /** The phase-2 hook: a datagram for `sa` with an exchange type other than 2/5. */
  handle(sa: IkeSa, datagram: Uint8Array, header: Header, now: number): void {
    if (header.exchangeType !== GROUPKEY_PULL) return this.drop('unexpectedMessageDropped', sa, `exchange ${header.exchangeType}`);
    if (header.messageId === 0) return this.drop('malformedDropped', sa, 'M-ID 0');
    const key = `${sa.cookiesHex.icookie}${sa.cookiesHex.rcookie}:${header.messageId}`;
    const x = this.exchanges.get(key);
    if (x !== undefined) {
      if (equal(datagram, x.request)) {
        this.counters.duplicateRequests++;
        this.config.send(x.reply, sa.peer);
        return;
      }
      if (x.state === 'msg2-sent') return this.message3(x, datagram, header, now);
      return this.drop('unexpectedMessageDropped', sa, 'exchange finished');
    }
    this.message1(sa, key, datagram, header, now);
  }

  private open(sa: IkeSa, datagram: Uint8Array, header: Header, iv: Uint8Array, rule: (typeof MessageRules)[keyof typeof MessageRules]):
    { rest: Uint8Array; hash: Uint8Array; parsed: ParsedMessage; ct: Uint8Array } | PullResponderCounter {
    const ct = ciphertextOf(datagram);
    if (ct === undefined || (header.flags & 1) === 0) return 'malformedDropped';
    const plain = sa.decrypt(ct, iv);
    let parsed;
    try {
      parsed = parseDecrypted(header, plain, rule);
    } catch (e) {
      if (e instanceof WireError) return 'decryptFailedDropped';
      throw e;
    }
    const h = payloadsOf(parsed, PayloadType.HASH)[0];
    if (h === undefined) return 'invalidPayloadDropped';
    return { rest: parsed.body.subarray(h.end, parsed.chainEnd), hash: h.payload.data, parsed, ct };
  }

  private message1(sa: IkeSa, key: string, datagram: Uint8Array, header: Header, now: number): void {
    if (this.pending >= this.maxExchanges) return this.drop('exchangeLimitDropped', sa, 'too many pending pulls');
    const ofPeer = this.pendingByPeer.get(sa.peer.address) ?? 0;
    if (ofPeer >= this.maxExchangesPerPeer) return this.drop('exchangeLimitDropped', sa, 'too many pending pulls from this peer');
    const mid = u32Bytes(header.messageId);
    const opened = this.open(sa, datagram, header, sa.phase2Iv(header.messageId), MessageRules.pull1);
    if (typeof opened === 'string') return this.drop(opened, sa, 'message 1');
    if (!equalBytes(sa.prfA(mid, opened.rest), opened.hash)) return this.drop('hashMismatchDropped', sa, 'HASH(1)');
    this.counters.pullRequests++;
    const ni = payloadsOf(opened.parsed, PayloadType.NONCE)[0]?.payload.data;
    const id = payloadsOf(opened.parsed, PayloadType.ID)[0]?.payload;
    if (ni === undefined || id === undefined || ni.length > 128) return this.drop('invalidPayloadDropped', sa, 'nonce or ID');
    if (id.idType !== IdType.KeyId || id.data.length !== 4 || id.protocolId !== 0 || id.port !== 0) {
      return this.refuse(now, sa, header, 'unknownGroupRefused', 'ID is not a 4-octet ID_KEY_ID', NotifyType.InvalidIdInformation);
    }
    const resolved = this.resolveGroup(id.data);
    if (resolved === undefined) return this.refuse(now, sa, header, 'unknownGroupRefused', 'no such group', NotifyType.InvalidIdInformation);
    const { groupId, group } = resolved;
    const auth = this.config.authorize(sa, groupId, now, header.messageId);
    if (!auth.ok) return this.refuse(now, sa, header, 'unauthorizedRefused', auth.reason, auth.notifyType ?? NotifyType.InvalidIdInformation, groupId);
    // Snapshot: SA for message 2 and the matching KD for message 4.
    const keys = this.keysOf(groupId, group);
    if (!keys.hasKeys) return this.refuse(now, sa, header, 'unknownGroupRefused', 'group has no keys yet', NotifyType.InvalidIdInformation, groupId);
    const nr = this.config.random.bytes(this.config.nonceLength ?? 16);
    const after = prependPayload(nr, PayloadType.SA, keys.sa); // NONCE, SA
    const hash2 = sa.prfA(mid, ni, after);
    const iv = lastBlock(opened.ct);
    const ct2 = sa.encrypt(prependPayload(hash2, PayloadType.NONCE, after), iv);
    const reply = encryptedMessage(
      { icookie: sa.icookie, rcookie: sa.rcookie, exchangeType: GROUPKEY_PULL, messageId: header.messageId },
      PayloadType.HASH, ct2,
    );
    this.remember({
      key, sa, messageId: header.messageId, groupId, state: 'msg2-sent', ni: Uint8Array.from(ni), nr, iv: lastBlock(ct2),
      request: Uint8Array.from(datagram), reply, keys, hasKek: group.kek !== undefined, expiresAt: now + this.timeoutMs,
    });
    keys.users++;
    this.pending++;
    this.pendingByPeer.set(sa.peer.address, ofPeer + 1);
    this.config.send(reply, sa.peer);
  }

  private message3(x: Exchange, datagram: Uint8Array, header: Header, now: number): void {
    const mid = u32Bytes(x.messageId);
    const opened = this.open(x.sa, datagram, header, x.iv, MessageRules.pull3);
    if (typeof opened === 'string') return this.drop(opened, x.sa, 'message 3');
    if (!equalBytes(x.sa.prfA(mid, x.ni, x.nr, opened.rest), opened.hash)) return this.drop('hashMismatchDropped', x.sa, 'HASH(3)');
    if (payloadsOf(opened.parsed, PayloadType.GAP)[0] !== undefined) return this.drop('invalidPayloadDropped', x.sa, 'SENDER_ID_REQUEST not supported');
    const group = this.config.group(x.groupId);
    if (group === undefined) return this.refuse(now, x.sa, header, 'unknownGroupRefused', 'group removed', NotifyType.InvalidIdInformation, x.groupId);
    const auth = this.config.authorize(x.sa, x.groupId, now, x.messageId);
    if (!auth.ok) {
      this.forget(x);
      return this.refuse(now, x.sa, header, 'unauthorizedRefused', auth.reason, auth.notifyType ?? NotifyType.InvalidIdInformation, x.groupId);
    }
    // Registration is committed only now (RFC 6407 §3.2).
    this.config.commit(x.sa, x.groupId, now, x.messageId);
    this.counters.registrations++;
    const kd = (x.keys as EncodedKeys).kd;
    let after = kd; // [SEQ,] KD
    if (x.hasKek) {
      after = chainBytes([{ type: PayloadType.SEQ, seq: group.seq() }], GROUPKEY_PULL);
      after = concatChain(after, PayloadType.KD, kd);
    }
    const hash4 = x.sa.prfA(mid, x.ni, x.nr, after);
    const ct4 = x.sa.encrypt(prependPayload(hash4, x.hasKek ? PayloadType.SEQ : PayloadType.KD, after), lastBlock(opened.ct));
    x.reply = encryptedMessage(
      { icookie: x.sa.icookie, rcookie: x.sa.rcookie, exchangeType: GROUPKEY_PULL, messageId: x.messageId },
      PayloadType.HASH, ct4,
    );
    x.request = Uint8Array.from(datagram);
    this.forget(x); // releases the KD too
    x.state = 'done';
    x.expiresAt = now + this.timeoutMs;
    this.remember(x); // to the end: expiry order
    this.forgetOldestDone();
    this.config.send(x.reply, x.sa.peer);
    this.config.log?.info({ peer: `${x.sa.peer.address}:${x.sa.peer.port}`, groupId: x.groupId }, 'member registered');
  }

  private resolveGroup(data: Uint8Array): { groupId: number; group: GroupSnapshot } | undefined {
    const be = groupIdFromKeyId(data, { littleEndian: false });
    const g = this.config.group(be);
    if (g !== undefined) return { groupId: be, group: g };
    const le = groupIdFromKeyId(data, { littleEndian: true });
    const gl = this.config.group(le);
    if (gl !== undefined && gl.policy.compat?.groupIdLittleEndian === true) return { groupId: le, group: gl };
    return undefined;
  }

  private refuse(now: number, sa: IkeSa, header: Header, counter: PullResponderCounter, reason: string, notifyType: number, groupId?: number): void {
    this.counters[counter]++;
    // Rate-limited: a member may send refused pulls as fast as it likes; the counters keep every one.
    this.refusalLog?.warn(now, { peer: `${sa.peer.address}:${sa.peer.port}`, groupId, reason }, 'GROUPKEY-PULL refused');
    if (this.config.refusal === 'silent') return;
    // HDR*, HASH(1), N under the IKE SA (RFC 2409 §5.7), the M-ID of the refused pull in the notify data.
    const messageId = freshMessageId(this.config.random);
    const notify = { type: PayloadType.N, doi: 2, protocolId: 0, spi: new Uint8Array(0), notifyType, data: u32Bytes(header.messageId) } as const;
    const hash = sa.prfA(u32Bytes(messageId), chainBytes([notify], INFORMATIONAL));
    const ct = sa.encrypt(chainBytes([{ type: PayloadType.HASH, data: hash }, notify], INFORMATIONAL), sa.phase2Iv(messageId));
    this.counters.refusalNotifiesSent++;
    this.config.send(encryptedMessage({ icookie: sa.icookie, rcookie: sa.rcookie, exchangeType: INFORMATIONAL, messageId }, PayloadType.HASH, ct), sa.peer);
  }
}
