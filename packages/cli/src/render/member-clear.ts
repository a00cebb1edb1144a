/* `clear security group-vpn member ipsec security-associations` and `clear security group-vpn member group`. */

export interface MemberClearResult {
  cleared: { group: string; tekCount: number }[];
}

export function renderMemberClear(data: MemberClearResult): string {
  if (data.cleared.length === 0) return 'Nothing to clear.\n';
  return data.cleared.map((c) => `Group ${c.group}: ${c.tekCount} IPsec SA(s) cleared; registering again\n`).join('');
}
