/**
 * Soft and hard lifetime expiry on a sub-server that hears no update from its root (R-MSG-6/7, R-MSG-3):
 * root, sub1 and gm-0001 (registered with sub1 only) as real processes in a namespace of this test. The
 * root is frozen (SIGSTOP) before its TEK rekey, so the TEK sub1 holds runs out there. DPD between sub1 and
 * the root is set far longer than the test (60 s x 5) so that only lifetimes act, never DPD.
 *
 * Timeline with a 40 s TEK (TEK_LIFETIME): the root would rekey 8 s before the end (max(15 %, ATD 2 s + push
 * window 2 s x 3)); sub1 soft-expires the TEK at 90 % (36 s) and hard-expires it at 100 % (40 s). Measured
 * moments and the cluster-init retry spacing are printed as a `measured` line.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanup, ClusterLab, useServers, type NodeDocument } from '@gvpn/integration';

const TEK_LIFETIME = 40;
const SOFT_FRACTION = 0.9;
const INIT_RETRY_MS = 5000;
/** Seconds into the TEK's life at which gm-0001 registers. */
const MEMBER_LAG = 5;
const LONG_DPD = { 'always-send': true, interval: 60, threshold: 5 };

interface Members { groups: { members: { address: string }[] }[] }
interface ServerSa { spi: string; state?: string; expiresInSeconds: number }

describe('a sub-server whose root goes silent: soft and hard TEK expiry without an update (R-MSG-6/7)', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;
  /** Wall-clock moment (Date.now()) at which the TEK sub1 holds ends (its hard lifetime). */
  let tekEnd = 0;
  let frozenTek = '';
  let softSeenAt = 0;
  let hardSeenAt = 0;
  const initSamples: { at: number; sent: number }[] = [];
  const measured: Record<string, unknown> = { tekLifetimeSeconds: TEK_LIFETIME };

  const sub1 = async () => {
    const g = (await lab.cluster('sub1')).groups[0];
    assert.ok(g !== undefined, 'sub1 shows its group');
    return g;
  };
  const stat = async (node: 'root' | 'sub1', section: string, name: string): Promise<number> =>
    (await lab.statistics(node))[section]?.[name] ?? 0;
  /** Samples sub1's clusterInitSent (with the moment it was read) for the retry-spacing check. */
  const sampleInit = async (): Promise<number> => {
    const sent = await stat('sub1', 'cluster', 'clusterInitSent');
    const last = initSamples.at(-1);
    if (last === undefined || last.sent !== sent) initSamples.push({ at: Date.now(), sent });
    return sent;
  };

  before(async () => {
    lab = await ClusterLab.start(cleanup, {
      label: 'cluster-expiry', nodes: ['root', 'sub1', 'gm-0001'], start: false,
      edit: (node, doc: NodeDocument) => {
        const server = doc.security['group-vpn'].server;
        if (server !== undefined) {
          // The same group on both servers (R-CONF-4): a short TEK, the lab's long (600 s) KEK.
          server.ipsec.proposal['AES256-SHA256']['lifetime-seconds'] = TEK_LIFETIME;
          const gateway = server.ike.gateway[node === 'root' ? 'SubSrv01' : 'RootSrv'];
          gateway['dead-peer-detection'] = { ...LONG_DPD };
        } else {
          useServers(doc, ['sub1']); // its probes go to members that are not started: harmless
        }
      },
    });
    await lab.startNode('root');
    await lab.startNode('sub1');
    // A frozen process would take SIGTERM only once continued: continue it before the lab is torn down.
    cleanup.defer('continue the root', () => {
      if (lab.running('root')) lab.signal('root', 'SIGCONT');
    });
  });
  after(() => cleanup.run());

  it('bring-up: sub1 active by cluster-init, gm-0001 registered with it; the root frozen before its TEK rekey', async () => {
    await lab.clusterUp(20_000);
    const [tek] = await lab.tekSpis('root');
    assert.ok(tek !== undefined);
    // A pull hands out the TEK's full configured lifetime, not what is left of it, so gm-0001 keeps its copy
    // for a whole lifetime from its pull and pulls again 2 s before that ends. Registering it MEMBER_LAG s
    // into the TEK's life puts that pull MEMBER_LAG - 2 s after sub1's hard expiry, never just before it
    // (a pull just before would be answered with the dying TEK, and gm-0001 would keep it another 40 s).
    const rootTekLeft = async () => (await lab.show<{ sas: ServerSa[] }>('root', 'ipsec security-associations')).sas.find((s) => s.spi === tek)?.expiresInSeconds;
    await lab.until(`the root's TEK ${MEMBER_LAG} s old`, (MEMBER_LAG + 2) * 1000, async () => ((await rootTekLeft()) ?? TEK_LIFETIME) <= TEK_LIFETIME - MEMBER_LAG);
    await lab.startNode('gm-0001');
    await lab.until('gm-0001 holding a TEK', 20_000, async () => (await lab.tekSpis('gm-0001')).length > 0);
    assert.deepEqual(await lab.tekSpis('gm-0001'), [tek]);
    const { groups } = await lab.show<Members>('sub1', 'registered-members');
    assert.deepEqual(groups[0]?.members.map((m) => m.address), ['127.0.3.21']);
    // Find the moment the TEK ends, to a fraction of a second: wait for sub1's whole-second countdown to tick.
    const hardIn = async () => (await sub1()).sas?.find((s) => s.kind === 'tek' && s.spi === tek)?.hardInSeconds;
    const first = await hardIn();
    assert.ok(first !== undefined, 'sub1 tracks the root\'s TEK');
    const tick = await lab.until('sub1\'s TEK countdown to tick', 2000, async () => {
      const h = await hardIn();
      return h !== undefined && h !== first ? h : undefined;
    });
    tekEnd = Date.now() + (tick + 1) * 1000;
    // The root rekeys 8 s before the end (see above); freeze it well before that.
    const left = (await rootTekLeft()) ?? 0;
    assert.ok(left > 10, `the root's TEK has ${left} s left: bring-up was too slow to freeze the root before its rekey`);
    lab.signal('root', 'SIGSTOP');
    frozenTek = tek;
    measured.frozenWithSecondsLeft = Math.round((tekEnd - Date.now()) / 100) / 10;
    const g = await sub1();
    assert.equal(g.root, 'active');
    assert.equal(g.initInProgress, false, 'no cluster-init before soft expiry');
  });

  it('R-MSG-6, R-MSG-3: at 90 % of the TEK lifetime sub1 starts cluster-init and holds pushes; the root stays active', async () => {
    const pushes = await stat('sub1', 'gdoi', 'pushesSent');
    const initBefore = await sampleInit();
    const softDue = tekEnd - (1 - SOFT_FRACTION) * TEK_LIFETIME * 1000;
    const g = await lab.until('sub1 soft-expiring the TEK', TEK_LIFETIME * 1000, async () => {
      const c = await sub1();
      return c.initInProgress === true ? c : undefined;
    });
    softSeenAt = Date.now();
    await sampleInit();
    measured.softAtFractionOfLifetime = Math.round((1 - (tekEnd - softSeenAt) / (TEK_LIFETIME * 1000)) * 1000) / 1000;
    measured.softLateMs = softSeenAt - softDue;
    assert.ok(softSeenAt >= softDue - 700, `soft expiry ${softDue - softSeenAt} ms before 90 % of the lifetime`);
    assert.ok(softSeenAt <= softDue + 1500, `soft expiry ${softSeenAt - softDue} ms after 90 % of the lifetime`);
    assert.equal(g.pushesHeld, true, 'pushes held while the TEK is past its soft lifetime');
    assert.equal(g.root, 'active', 'the root stays active until the hard lifetime');
    assert.equal(g.peers[0]?.state, 'active');
    assert.ok((await sampleInit()) >= initBefore + 1, 'a cluster-init went out at soft expiry');
    // Until the hard lifetime: nothing pushed, the root still active, the registration kept.
    while (Date.now() < tekEnd - 500) {
      const c = await sub1();
      assert.equal(c.root, 'active');
      assert.equal(c.pushesHeld, true);
      await sampleInit();
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(await stat('sub1', 'gdoi', 'pushesSent'), pushes, 'no GROUPKEY-PUSH while pushes are held');
    const { groups } = await lab.show<Members>('sub1', 'registered-members');
    assert.equal(groups[0]?.members.length, 1, 'members kept until the hard lifetime');
  });

  it('R-MSG-7: at the hard lifetime sub1 marks the root inactive, deletes its members, keeps sending cluster-init and refuses pulls', async () => {
    const pushes = await stat('sub1', 'gdoi', 'pushesSent');
    const refusedBefore = await stat('sub1', 'cluster', 'registrationsRefusedRootInactive');
    const g = await lab.until('sub1 hard-expiring the TEK', 5000, async () => {
      await sampleInit();
      const c = await sub1();
      return c.root === 'inactive' ? c : undefined;
    });
    hardSeenAt = Date.now();
    measured.hardAtFractionOfLifetime = Math.round((1 - (tekEnd - hardSeenAt) / (TEK_LIFETIME * 1000)) * 1000) / 1000;
    measured.hardLateMs = hardSeenAt - tekEnd;
    assert.ok(hardSeenAt >= tekEnd - 700, `hard expiry ${tekEnd - hardSeenAt} ms before the end of the lifetime`);
    assert.ok(hardSeenAt <= tekEnd + 1500, `hard expiry ${hardSeenAt - tekEnd} ms after the end of the lifetime`);
    assert.equal(g.peers[0]?.state, 'inactive');
    assert.equal(g.initInProgress, true, 'cluster-init goes on');
    assert.deepEqual(g.sas?.map((s) => s.kind), ['kek'], 'the expired TEK forgotten (the KEK has long to go)');
    const { groups } = await lab.show<Members>('sub1', 'registered-members');
    assert.deepEqual(groups[0]?.members ?? [], [], 'every registered member deleted');
    assert.deepEqual(await lab.tekSpis('sub1'), [], 'sub1 holds no TEK');
    // gm-0001's own copy of the TEK ends a few seconds later; it pulls again, is refused (R-MSG-1, R-DPD-4)
    // and keeps retrying.
    await lab.until('refused pulls from gm-0001', 20_000, async () => {
      await sampleInit();
      return (await stat('sub1', 'cluster', 'registrationsRefusedRootInactive')) >= refusedBefore + 2;
    });
    measured.firstRefusalsAfterHardMs = Date.now() - hardSeenAt;
    // Sample the init counter for 16 s from the soft expiry (attempts at +0, +5, +10, +15 s), then check the spacing.
    while (Date.now() < softSeenAt + 16_000) {
      await sampleInit();
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await sub1()).root, 'inactive');
    assert.equal(await stat('sub1', 'gdoi', 'pushesSent'), pushes, 'nothing pushed with the root inactive');
    const fromSoft = initSamples.filter((s) => s.at >= softSeenAt - 1000);
    const steps = fromSoft.slice(1).map((s, i) => ({ by: s.sent - (fromSoft[i]?.sent ?? 0), after: s.at - (fromSoft[i]?.at ?? 0) }));
    measured.initRetrySpacingMs = steps.map((s) => s.after);
    measured.initSentSinceSoft = (fromSoft.at(-1)?.sent ?? 0) - (fromSoft[0]?.sent ?? 0);
    measured.registrationsRefusedRootInactive = await stat('sub1', 'cluster', 'registrationsRefusedRootInactive');
    assert.ok(steps.length >= 3, `at least three cluster-init retries after soft expiry (${JSON.stringify(fromSoft)})`);
    for (const s of steps) {
      assert.equal(s.by, 1, 'one cluster-init at a time');
      assert.ok(s.after >= INIT_RETRY_MS - 400 && s.after <= INIT_RETRY_MS + 600, `cluster-init retried after ${s.after} ms, not every 5 s (R-MSG-3)`);
    }
  });

  it('SIGCONT: the next cluster-init succeeds, the root is active again, gm-0001 registers again with the root\'s current TEK', async () => {
    const succeeded = await stat('sub1', 'cluster', 'clusterInitSucceeded');
    const continuedAt = Date.now();
    lab.signal('root', 'SIGCONT');
    await lab.until('sub1 active again', INIT_RETRY_MS + 5000, async () => (await sub1()).root === 'active');
    measured.rootActiveAfterContinueMs = Date.now() - continuedAt;
    assert.equal(await stat('sub1', 'cluster', 'clusterInitSucceeded'), succeeded + 1);
    const g = await sub1();
    assert.equal(g.initInProgress, false, 'cluster-init stops once the fresh TEK is installed');
    assert.equal(g.pushesHeld, false);
    await lab.until('gm-0001 registered again on the root\'s current TEK', 20_000, async () => {
      const root = await lab.tekSpis('root');
      const gm = await lab.tekSpis('gm-0001');
      return root.length > 0 && !root.includes(frozenTek) && gm.length > 0 && gm.every((spi) => root.includes(spi));
    });
    measured.memberBackAfterContinueMs = Date.now() - continuedAt;
    assert.deepEqual(await lab.tekSpis('sub1'), await lab.tekSpis('root'));
    const { groups } = await lab.show<Members>('sub1', 'registered-members');
    assert.deepEqual(groups[0]?.members.map((m) => m.address), ['127.0.3.21']);
    console.log(`measured ${JSON.stringify(measured)}`);
  });
});
