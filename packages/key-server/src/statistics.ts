/**
 * The `gdoi` section of `show security group-vpn server statistics`. Refusals are counted per refused
 * request: a member that retransmits a refused pull message is counted again each time.
 */
export interface GdoiCounters {
  /** GROUPKEY-PULL message 1s whose HASH(1) verified. */
  pullsStarted: number;
  /** Pulls completed (message 3 verified, member registered). */
  registrations: number;
  /** Registrations from an address that was not registered in that group before. */
  newMembers: number;
  refusedUnknownGroup: number;
  refusedUnauthorizedGateway: number;
  refusedThreshold: number;
  refusedPlatformMax: number;
  /** Pull message 1s refused by a sub-server whose root is inactive (R-DPD-4). */
  refusedRootInactive: number;
  /** Pulls refused at message 3 because the group was rekeyed after their message 1 (gcks.ts). */
  refusedKeysChanged: number;
  /** Pull messages dropped by the responder (bad HASH, undecryptable, malformed, unexpected, limits). */
  pullDropped: number;
  pullDuplicates: number;
  tekRekeys: number;
  kekRekeys: number;
  deleteAllPushes: number;
  /** First transmissions of pushes (one per member per push). */
  pushesSent: number;
  pushRetransmissions: number;
  /** Pushes whose retransmission budget was spent without an ACK. */
  pushesUnacknowledged: number;
  membersRemovedUnacknowledged: number;
  /** Members of a group without a KEK removed for not pulling again within their TEK lifetime (rekey.ts). */
  membersExpired: number;
  /** Verified RFC 8263 ACKs. */
  acksReceived: number;
  /** Datagrams of exchange 35 naming one of our KEKs that failed RFC 8263 verification (others go to IKE). */
  ackInvalid: number;
}

export function emptyGdoiCounters(): GdoiCounters {
  return {
    pullsStarted: 0, registrations: 0, newMembers: 0, refusedUnknownGroup: 0, refusedUnauthorizedGateway: 0,
    refusedThreshold: 0, refusedPlatformMax: 0, refusedRootInactive: 0, refusedKeysChanged: 0, pullDropped: 0, pullDuplicates: 0, tekRekeys: 0, kekRekeys: 0,
    deleteAllPushes: 0, pushesSent: 0, pushRetransmissions: 0, pushesUnacknowledged: 0, membersRemovedUnacknowledged: 0, membersExpired: 0,
    acksReceived: 0, ackInvalid: 0,
  };
}
