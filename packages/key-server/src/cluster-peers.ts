/** What the root's and the sub-servers' cluster layers both need about their IKE SAs with cluster peers. */
import type { IkeSa, IkeSaStatus } from '@gvpn/ike';

/**
 * The SA to send on when a peer has several (both sides negotiated at once, or a re-key overlap, R-DPD-5):
 * the newest; messages on the others are still accepted.
 */
export function newestSa(sas: readonly IkeSa[], gateway: string): IkeSa | undefined {
  let best: IkeSa | undefined;
  for (const sa of sas) if (sa.gateway.name === gateway && (best === undefined || (sa.establishedAt ?? 0) > (best.establishedAt ?? 0))) best = sa;
  return best;
}

/** `UP` with an established SA, `NEGOTIATING` while one is being made, `DOWN` otherwise. */
export function ikeSaState(status: readonly IkeSaStatus[], gateway: string): 'UP' | 'NEGOTIATING' | 'DOWN' {
  const mine = status.filter((s) => s.gateway === gateway);
  if (mine.some((s) => s.state === 'established')) return 'UP';
  return mine.length > 0 ? 'NEGOTIATING' : 'DOWN';
}

export function secondsAgo(at: number | undefined, now: number): number | null {
  return at === undefined ? null : Math.max(0, Math.floor((now - at) / 1000));
}
