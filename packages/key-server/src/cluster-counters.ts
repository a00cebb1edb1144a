/**
 * The `cluster` section of `show security group-vpn server statistics` (docs/control-protocol.md), the same
 * keys on a root and on a sub-server (0 where a counter does not apply to the role). DPD probes and
 * timeouts are in the `ike` section.
 */
export interface ClusterCounters {
  clusterInitSent: number;
  clusterInitSucceeded: number;
  clusterInitFailed: number;
  clusterInitReceived: number;
  clusterInitAnswered: number;
  clusterUpdatesPublished: number;
  clusterUpdatesSent: number;
  clusterUpdatesAcked: number;
  clusterUpdatesRetransmitted: number;
  clusterUpdatesReceived: number;
  clusterUpdatesInstalled: number;
  clusterUpdateAcksSent: number;
  /** Cluster datagrams dropped: undecryptable, bad HASH, malformed, unexpected, unauthorised, duplicate ACKs. */
  clusterMessagesDropped: number;
  /** Times a cluster peer went from active to inactive (DPD, or a sub's hard expiry). */
  peersMarkedInactive: number;
  registrationsAccepted: number;
  registrationsRefusedThreshold: number;
  registrationsRefusedRootInactive: number;
}

export function emptyClusterCounters(): ClusterCounters {
  return {
    clusterInitSent: 0, clusterInitSucceeded: 0, clusterInitFailed: 0, clusterInitReceived: 0, clusterInitAnswered: 0,
    clusterUpdatesPublished: 0, clusterUpdatesSent: 0, clusterUpdatesAcked: 0, clusterUpdatesRetransmitted: 0,
    clusterUpdatesReceived: 0, clusterUpdatesInstalled: 0, clusterUpdateAcksSent: 0, clusterMessagesDropped: 0,
    peersMarkedInactive: 0, registrationsAccepted: 0, registrationsRefusedThreshold: 0, registrationsRefusedRootInactive: 0,
  };
}
