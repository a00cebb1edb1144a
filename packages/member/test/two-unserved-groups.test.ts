/**
 * Two vpns whose groups the key server does not serve, beside one it does, through ONE gateway (real processes
 * on 127.0.23.1-2): the server refuses the pulls of groups 3 and 4 silently. Both pulls start when the IKE SA
 * comes up and time out together, so each sends its R-U-THERE in the same turn: two probes outstanding on one
 * SA. Both are answered, and the SA group 1 registered over stays (same cookies, one Main Mode). Before, the
 * first ACK cleared the outstanding count and the second was dropped, so group 4 took the server for one that
 * forgot the SA and deleted it under groups 1 and 3, every round (packages/ike/src/dpd.ts `acknowledge`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanup, assertIntegrationRequirements, waitFor, workDirectory } from '@gvpn/integration';
import { RootServerDaemon, standaloneGcksConfig } from './daemons.js';
import { MemberDaemon } from './harness.js';

const SERVER = '127.0.23.1';
const PSK = 'member-two-unserved-groups-psk';
const M = { name: 'gm232', address: '127.0.23.2', memberId: 1 } as const;

interface IkeSaView { icookie: string; rcookie: string; state: string }

const count = (text: string, pattern: RegExp): number => text.match(pattern)?.length ?? 0;

describe('two vpns whose groups the key server does not serve, through one gateway', () => {
  const cleanup = new Cleanup();
  let gm: MemberDaemon;
  const config = standaloneGcksConfig({
    name: 'gcks231', address: SERVER, psk: PSK, members: [M], group: 'GROUP_ID-0001', groupId: 1, kekLifetimeSeconds: 3600, retransmissionPeriod: 1,
  });
  after(() => cleanup.run());

  const ikeSas = async (): Promise<IkeSaView[]> =>
    ((await gm.request(['show', 'security', 'group-vpn', 'member', 'ike', 'security-associations'])) as { sas: IkeSaView[] }).sas;

  before(async () => {
    await assertIntegrationRequirements();
    const workDir = await workDirectory(cleanup, 'member-two-unserved-groups');
    const gcks = await RootServerDaemon.start('gcks231', config, workDir);
    cleanup.defer('root-server', () => gcks.stop());
    gm = await MemberDaemon.start({
      name: M.name, address: M.address, servers: [SERVER], psk: PSK, groupId: 1, memberId: M.memberId,
      peers: [{ name: 'gm233', memberId: 2, address: '127.0.23.3' }], // the probe needs a peer; none runs there
      moreVpns: [{ name: 'GROUP3-VPN', groupId: 3 }, { name: 'GROUP4-VPN', groupId: 4 }],
    }, workDir);
    cleanup.defer(`${M.name} daemon`, () => gm.stop());
    await waitFor(async () => (await gm.kek()).sas.some((k) => k.groupId === 1), 15_000, 'registered for group 1');
  });

  it('keeps the one IKE SA (same cookies) while both time out, round after round', async () => {
    let first: IkeSaView[] = [];
    await waitFor(async () => (first = await ikeSas()).length === 1 && first[0]!.state === 'UP', 10_000, () => `the IKE SA up (last: ${JSON.stringify(first)})`);
    let rounds = 0;
    await waitFor(async () => (rounds = (await gm.statistics()).registration['rounds']!) >= 4, 20_000, () => `two rounds of groups 3 and 4 (last: ${rounds})`);
    assert.deepEqual((await ikeSas()).map((s) => [s.icookie, s.rcookie, s.state]), first.map((s) => [s.icookie, s.rcookie, 'UP']), 'the same IKE SA, up');
    const log = gm.log();
    assert.equal(count(log, /"IKE SA deleted"/g), 0, 'no IKE SA deleted');
    assert.equal(count(log, /main mode initiator started/g), 1, 'one Main Mode');
    assert.ok((await gm.kek()).sas.some((k) => k.groupId === 1), 'group 1 still registered');
  });
});
