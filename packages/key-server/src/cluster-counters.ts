/**
 * The `cluster` section of `show security group-vpn server statistics` (docs/control-protocol.md), the same
 * keys on a root and on a sub-server (0 where a counter does not apply to the role). DPD probes and
 * timeouts are in the `ike` section.
 */
import type { GdoiCounters } from './statistics.js';

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

/** The drops every cluster exchange counts alike: undecryptable, bad HASH, malformed, unexpected. */
export function messageDrops(c: {
  malformedDropped: number; decryptFailedDropped: number; hashMismatchDropped: number; invalidPayloadDropped: number; unexpectedMessageDropped: number;
}): number {
  return c.malformedDropped + c.decryptFailedDropped + c.hashMismatchDropped + c.invalidPayloadDropped + c.unexpectedMessageDropped;
}

/** The registration counters of the `cluster` section, from the key server's `gdoi` counters. */
export function withRegistrations(c: ClusterCounters, g: GdoiCounters): ClusterCounters {
  return { ...c, registrationsAccepted: g.registrations, registrationsRefusedThreshold: g.refusedThreshold, registrationsRefusedRootInactive: g.refusedRootInactive };
}
