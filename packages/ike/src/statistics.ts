/**
 * Endpoint-wide counters. Every datagram that is not acted on is counted under exactly one *Dropped name
 * (or halfOpenRejected / duplicateRequests), so a flood shows up in `statistics()`.
 */
export const COUNTER_NAMES = [
  'datagramsReceived',
  'datagramsSent',
  'malformedDropped',
  'unknownCookieDropped',
  'peerAddressDropped',
  'unknownPeerDropped',
  'unexpectedExchangeDropped',
  'unexpectedMessageDropped',
  'invalidPayloadDropped',
  'decryptFailedDropped',
  'hashMismatchDropped',
  'duplicateRequests',
  'duplicateRepliesDropped',
  'replySuppressed',
  'retransmissions',
  'negotiationsStarted',
  'negotiationsFailed',
  'negotiationTimeouts',
  'halfOpenRejected',
  'halfOpenExpired',
  'halfOpenEvicted',
  'noProposalChosen',
  'authFailed',
  'errorNotifiesReceived',
  'dhComputations',
  'dhKeyPairsReused',
  'saEstablished',
  'saDeleted',
  'saExpired',
  'peerSasEvicted',
  'saRekeyStarted',
  'initialContactReceived',
  'informationalReceived',
  'informationalSent',
  'unencryptedInformationalDropped',
  'unencryptedDpdDropped',
  'unknownNotifyIgnored',
  'deletesReceived',
  'deletesSent',
  'deleteUnknownSpiIgnored',
  'dpdRequestsSent',
  'dpdRequestsReceived',
  'dpdAcksSent',
  'dpdAcksReceived',
  'dpdAckMismatchDropped',
  'dpdSpiMismatchDropped',
  'initialContactSpiMismatchDropped',
  'dpdStaleSequenceDropped',
  'peersDead',
  'phase2Routed',
  'phase2NoHandlerDropped',
  'logsSuppressed',
] as const;

export type CounterName = (typeof COUNTER_NAMES)[number];

export class Counters {
  private readonly values = new Map<CounterName, number>(COUNTER_NAMES.map((n) => [n, 0]));

  add(name: CounterName, n = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + n);
  }

  get(name: CounterName): number {
    return this.values.get(name) ?? 0;
  }

  snapshot(): Record<CounterName, number> {
    return Object.fromEntries(this.values) as Record<CounterName, number>;
  }
}
