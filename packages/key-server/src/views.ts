/**
 * The `data` of the server's GDOI control commands (docs/control-protocol.md). SPIs are lower-case hex.
 * Key material appears only when the request carries `options.showKeys: true` (CLI `--show-keys`).
 */
import { hex, type Kek, type Tek } from '@gvpn/gdoi';
import type { ServerGroupConfig } from '@gvpn/runtime';
import { tekAlgorithmName, type GroupState } from './group-state.js';
import type { GroupRekey } from './rekey.js';
import type { Registrations } from './registrations.js';

const seconds = (ms: number): number => Math.max(0, Math.floor(ms / 1000));

export function kekView(group: GroupState, rekey: GroupRekey, now: number, showKeys: boolean) {
  const kek: Kek = group.gcks.kek;
  const smc = group.config.serverMemberCommunication;
  return {
    group: group.name,
    groupId: group.groupId,
    spi: hex(kek.spi),
    algorithm: kek.cipher,
    lifetimeSeconds: kek.lifetimeSeconds,
    expiresInSeconds: seconds(group.kekCreatedAt + kek.lifetimeSeconds * 1000 - now),
    rekeyInSeconds: rekey.kekRekeyAt === Infinity ? null : seconds(rekey.kekRekeyAt - now),
    seq: group.gcks.seq(),
    sigHash: kek.sigHash,
    sigAlgorithm: 'rsa',
    sigKeyBits: kek.sigBits,
    ackRequested: kek.ackType !== undefined,
    communicationType: smc?.communicationType ?? 'unicast',
    retransmissionPeriodSeconds: smc?.retransmissionPeriodSeconds ?? null,
    numberOfRetransmission: smc?.numberOfRetransmission ?? null,
    rekeyInProgress: rekey.campaign === undefined ? null : {
      kind: rekey.campaign.kind, seq: rekey.campaign.seq, awaitingAcks: rekey.campaign.targets.size,
    },
    ...(showKeys ? { keys: { encryptionKey: hex(kek.key.reveal()), iv: hex(kek.iv), signaturePublicKey: hex(kek.publicKeyDer) } } : {}),
  };
}

export function tekView(group: GroupState, tek: Tek, state: 'active' | 'deactivating', createdAt: number, now: number, showKeys: boolean) {
  // The TEK's own algorithms: after a proposal change (R-CHG-1.2) the current TEK keeps the old ones until the next rekey.
  const p = tek.policy;
  return {
    group: group.name,
    groupId: group.groupId,
    ipsecSa: p.name,
    spi: hex(tek.spi),
    state,
    protocol: 'esp',
    mode: 'tunnel',
    algorithm: tekAlgorithmName(p.cipher),
    authentication: p.integrity ?? null,
    lifetimeSeconds: p.lifetimeSeconds,
    expiresInSeconds: seconds(createdAt + p.lifetimeSeconds * 1000 - now),
    source: p.source.prefix,
    destination: p.destination.prefix,
    sourcePort: p.source.port,
    destinationPort: p.destination.port,
    ipProtocol: p.protocol,
    antiReplayWindowSeconds: p.antiReplayWindowSeconds ?? null,
    activationDelaySeconds: group.gcks.policy.activationDelaySeconds,
    deactivationDelaySeconds: group.gcks.policy.deactivationDelaySeconds,
    ...(showKeys ? {
      keys: {
        encryptionKey: hex(tek.encKey.reveal()),
        ...(tek.salt === undefined ? {} : { salt: hex(tek.salt) }),
        ...(tek.authKey === undefined ? {} : { authenticationKey: hex(tek.authKey.reveal()) }),
      },
    } : {}),
  };
}

export function tekViews(group: GroupState, now: number, showKeys: boolean) {
  return [
    ...group.gcks.teks.map((t) => tekView(group, t, 'active', group.teksCreatedAt, now, showKeys)),
    ...group.retired.map((r) => tekView(group, r.tek, 'deactivating', r.createdAt, now, showKeys)),
  ];
}

export function registeredMembersView(groups: readonly ServerGroupConfig[], registrations: Registrations, platformMaxMembers: number) {
  return {
    totalMembers: registrations.total,
    platformMaxMembers,
    groups: groups.map((g) => ({
      name: g.name,
      groupId: g.groupId,
      memberThreshold: g.memberThreshold,
      memberCount: registrations.count(g.name),
      members: registrations.members(g.name).map((r) => ({
        address: r.address,
        port: r.endpoint.port,
        gateway: r.gateway,
        registeredAt: new Date(r.registeredAt).toISOString(),
        lastAckedSeq: r.lastAckedSeq,
        pendingSeq: r.pendingSeq,
        pushesSent: r.pushesSent,
        retransmissions: r.retransmissions,
        icookie: r.icookie,
        rcookie: r.rcookie,
      })),
    })),
  };
}
