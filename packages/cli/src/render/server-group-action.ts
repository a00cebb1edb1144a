/*
 * `request security group-vpn server rekey group NAME` (gvpn: an operator-triggered TEK rekey) and
 * `clear security group-vpn server group NAME` (delete-all push to the members, then fresh keys).
 */

export interface ServerGroupActionResult {
  group: string;
  groupId: number;
  action: 'tek-rekey' | 'delete-all';
  /** True when a push to members was still in progress: the action runs when it ends. */
  queued: boolean;
  /** False for a group without a KEK: nothing is pushed, members get the new keys at their next pull. */
  pushed: boolean;
  seq: number;
  spis: string[];
  kekSpi: string | null;
}

export function renderServerGroupAction(data: ServerGroupActionResult): string {
  const what = data.action === 'tek-rekey' ? 'TEK rekey' : 'delete-all and new keys';
  if (data.queued) return `Group ${data.group} (ID ${data.groupId}): ${what} queued behind the push in progress\n`;
  const keys = `TEK SPI(s) ${data.spis.join(', ')}${data.kekSpi === null ? '' : `, KEK SPI ${data.kekSpi}, seq ${data.seq}`}`;
  const unsent = data.pushed ? '' : '; no KEK: nothing pushed, members keep their TEKs until they pull again';
  return `Group ${data.group} (ID ${data.groupId}): ${what} started; ${keys}${unsent}\n`;
}
