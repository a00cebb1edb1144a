/**
 * The R-CHG cells x role columns (Tables 1 and 2) that live-config.test.ts, live-config-groups.test.ts,
 * live-config-kek.test.ts and live-config-cluster.test.ts leave out, on real daemons in namespaces of this
 * test: a standalone key server (gm-0001, gm-0002, later gm-0003, each through its own gateway), then a root
 * serving gm-0001 itself and sub1 serving gm-0002. Each lab runs its tests in order on the state the
 * previous one left. "At the next rekey" is observed by `request ... rekey group` (TEKs) or by the KEK's
 * short lifetime (KEK_LIFETIME), so the file runs in about 25 s.
 *
 * IKE SAs are told apart by their initiator cookie: a member whose SA is deleted negotiates a new one only
 * when it registers again, which the tests ask for with `clear security group-vpn member group`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Cleanup, ClusterLab, memberGateways, probeOnly, rootWithSubs, useServers, type CommitReply, type ExampleNode, type IkeSaView, type NodeDocument,
} from '@gvpn/integration';

const GROUP = 'GROUP_ID-0001';
/** Seconds: the KEK is rekeyed about every 9 s (lifetime less the push window), so 1.4b's "next KEK rekey" comes soon. */
const KEK_LIFETIME = 15;
/** The new IKE lifetime a 1.1 change gives a gateway: the responder takes the lower one, so the new SA shows it. */
const SHORT_IKE_LIFETIME = 1800;

interface TekView { spi: string; state?: string; source: string; antiReplayWindowSeconds: number | null }
interface KekView { spi: string; algorithm: string; lifetimeSeconds: number; rekeyInSeconds?: number | null }

const server = (doc: NodeDocument): NodeDocument => doc.security['group-vpn'].server;
const group = (doc: NodeDocument): NodeDocument => server(doc).group[GROUP];

async function applied(lab: ClusterLab, node: ExampleNode, cells: string[], edit: (doc: NodeDocument) => void): Promise<CommitReply> {
  const r = await lab.commit(node, edit);
  assert.equal(r.result, 'applied', r.error ?? '');
  assert.deepEqual(r.changes.map((c) => c.cell), cells);
  return r;
}

/** A 1.1 edit: the gateway gets a policy of its own whose proposal has a shorter lifetime (same key and algorithms). */
function ownShortPolicy(gateway: string) {
  return (doc: NodeDocument): void => {
    const ike = server(doc).ike;
    const [name, proposal] = Object.entries(ike.proposal)[0] as [string, NodeDocument];
    ike.proposal[`${name}-SHORT`] = { ...structuredClone(proposal), 'lifetime-seconds': SHORT_IKE_LIFETIME };
    ike.policy[`${gateway}-OWN`] = { ...structuredClone(ike.policy[ike.gateway[gateway]['ike-policy']]), proposals: [`${name}-SHORT`] };
    ike.gateway[gateway]['ike-policy'] = `${gateway}-OWN`;
  };
}

function labHelpers(lab: () => ClusterLab) {
  const h = {
    async ikeSas(node: ExampleNode, gateway?: string): Promise<IkeSaView[]> {
      return (await lab().ikeSas(node)).filter((s) => s.state === 'UP' && (gateway === undefined || s.gateway === gateway));
    },
    async cookies(node: ExampleNode, gateway?: string): Promise<string[]> {
      return (await h.ikeSas(node, gateway)).map((s) => s.icookie).sort();
    },
    /** TEKs as `show ... ipsec security-associations detail` shows them (server) or the member holds them. */
    async teks(node: ExampleNode): Promise<TekView[]> {
      const { sas } = await lab().show<{ sas: TekView[] }>(node, 'ipsec security-associations', { detail: true });
      return sas.filter((s) => s.state === undefined || s.state === 'active');
    },
    async tek(node: ExampleNode, spi: string): Promise<TekView | undefined> {
      return (await lab().show<{ sas: TekView[] }>(node, 'ipsec security-associations', { detail: true })).sas.find((s) => s.spi === spi);
    },
    async kek(node: ExampleNode): Promise<KekView | undefined> {
      return (await lab().show<{ sas: KekView[] }>(node, 'kek security-associations')).sas[0];
    },
    /** The root's KEK once its rekey is at least 3 s away: a commit made now comes before that rekey. */
    async kekBeforeCommit(root: ExampleNode): Promise<KekView> {
      return lab().until('a KEK rekey far enough off', 15_000, async () => {
        const k = await h.kek(root);
        return k !== undefined && (k.rekeyInSeconds ?? 0) >= 3 ? k : undefined;
      });
    },
    async rekey(node: ExampleNode): Promise<string> {
      const spis = await lab().rekey(node, GROUP);
      assert.equal(spis.length, 1);
      return spis[0] as string;
    },
    /** The member registers again at once and holds a TEK. */
    async reRegister(member: ExampleNode): Promise<void> {
      await lab().request(member, ['clear', 'security', 'group-vpn', 'member', 'group']);
      await lab().until(`${member} registered again`, 20_000, async () => (await lab().tekSpis(member)).length > 0);
    },
    async registered(members: readonly ExampleNode[]): Promise<void> {
      for (const m of members) await lab().until(`${m} registered`, 40_000, async () => (await lab().tekSpis(m)).length > 0);
    },
    /** The current TEK keeps its SPI and window on every node; a rekey on `root` gives every node a TEK with `window`. */
    async windowAtNextRekey(root: ExampleNode, nodes: readonly ExampleNode[], window: number | null): Promise<void> {
      const current = await h.teks(root);
      assert.equal(current.length, 1);
      const old = current[0] as TekView;
      assert.notEqual(old.antiReplayWindowSeconds, window, 'the test changes the window');
      for (const n of nodes) {
        const held = (await h.teks(n)).find((t) => t.spi === old.spi);
        assert.equal(held?.antiReplayWindowSeconds, old.antiReplayWindowSeconds, `${n}: the current TEK unchanged`);
      }
      const spi = await h.rekey(root);
      assert.equal((await h.tek(root, spi))?.antiReplayWindowSeconds, window, `${root}: the new TEK carries the new value`);
      for (const n of nodes) {
        await lab().until(`${n} holding the new TEK ${spi}`, 15_000, async () => (await h.tek(n, spi)) !== undefined);
        assert.equal((await h.tek(n, spi))?.antiReplayWindowSeconds, window, `${n}: the new TEK's window`);
      }
    },
    /**
     * With `members` stopped (SIGSTOP), a rekey push to them gives up after exactly one retransmission, about
     * 2 s (the committed period 1 s x (1 + 1)) instead of the 6 s of the first settings; they are then
     * removed, and register again once resumed.
     */
    async retransmissionsNow(root: ExampleNode, servers: readonly ExampleNode[], members: readonly ExampleNode[]): Promise<void> {
      const before = await Promise.all(servers.map(async (s) => ({
        retransmissions: await lab().counter(s, 'gdoi', 'pushRetransmissions'),
        unacknowledged: await lab().counter(s, 'gdoi', 'pushesUnacknowledged'),
      })));
      for (const m of members) lab().signal(m, 'SIGSTOP');
      try {
        const started = Date.now();
        await h.rekey(root);
        for (const [i, s] of servers.entries()) {
          await lab().until(`${s} gives up on the stopped member`, 10_000, async () => (await lab().counter(s, 'gdoi', 'pushesUnacknowledged')) > (before[i]?.unacknowledged ?? 0));
          assert.equal(await lab().counter(s, 'gdoi', 'pushRetransmissions'), (before[i]?.retransmissions ?? 0) + 1, `${s}: number-of-retransmission 1`);
        }
        assert.ok(Date.now() - started < 4500, `given up after ${Date.now() - started} ms: retransmission-period 1 s`);
      } finally {
        for (const m of members) lab().signal(m, 'SIGCONT');
      }
      for (const m of members) await h.reRegister(m);
    },
  };
  return h;
}

/** 1.4b: retransmissions faster and fewer (at once), KEK algorithm and lifetime (at the next KEK rekey). */
function newCommunication(doc: NodeDocument): void {
  Object.assign(group(doc)['server-member-communication'], {
    'retransmission-period': 1, 'number-of-retransmission': 1, 'lifetime-seconds': KEK_LIFETIME + 5, 'encryption-algorithm': 'aes-128-cbc',
  });
}

function shortKek(doc: NodeDocument): void {
  group(doc)['server-member-communication']['lifetime-seconds'] = KEK_LIFETIME;
}

const setWindow = (doc: NodeDocument): void => { group(doc)['anti-replay-time-window'] = 120; };
const noAntiReplay = (doc: NodeDocument): void => {
  delete group(doc)['anti-replay-time-window'];
  group(doc)['no-anti-replay'] = true;
};

function addExtraSa(doc: NodeDocument): void {
  const sas = group(doc)['ipsec-sa'];
  sas.EXTRA = structuredClone(sas[GROUP]);
  for (const p of Object.values(sas.EXTRA['match-policy']) as { source: string; destination: string }[]) {
    p.source = '10.20.0.0/16';
    p.destination = '10.20.0.0/16';
  }
}
const deleteExtraSa = (doc: NodeDocument): void => { delete group(doc)['ipsec-sa'].EXTRA; };

describe('R-CHG cells on a standalone key server', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;
  const h = labHelpers(() => lab);

  before(async () => {
    lab = await ClusterLab.start(cleanup, {
      label: 'live-cells-standalone', nodes: ['root', 'gm-0001', 'gm-0002', 'gm-0003'], start: false,
      edit: (node, doc) => {
        if (node === 'root') {
          rootWithSubs(doc, []);
          delete group(doc)['server-cluster'];
          memberGateways(doc, ['GM-0001', 'GM-0002', 'GM-0003'], ['GM-0001', 'GM-0002', 'GM-0003', 'GM-0004']);
          shortKek(doc);
        } else {
          useServers(doc, ['root']);
          probeOnly(doc, ['gm-0001', 'gm-0002']);
        }
      },
    });
    for (const node of ['root', 'gm-0001', 'gm-0002'] as const) await lab.startNode(node);
    await h.registered(['gm-0001', 'gm-0002']);
  });
  after(() => cleanup.run());

  it('R-CHG-1.2 standalone: the IPsec proposal changed keeps the current TEK; the next rekey makes one from the new proposal, members get it', async () => {
    const teks = await lab.tekSpis('root');
    await applied(lab, 'root', ['1.2'], (doc) => {
      const proposal = server(doc).ipsec.proposal['AES256-SHA256'];
      proposal['encryption-algorithm'] = 'aes-256-gcm';
      delete proposal['authentication-algorithm'];
    });
    assert.deepEqual(await lab.tekSpis('root'), teks);
    for (const m of ['gm-0001', 'gm-0002'] as const) assert.deepEqual(await lab.tekSpis(m), teks);
    const spi = await h.rekey('root');
    const { sas } = await lab.show<{ sas: { spi: string; algorithm: string }[] }>('root', 'ipsec security-associations');
    assert.equal(sas.find((s) => s.spi === spi)?.algorithm, 'aes-256-gcm');
    for (const m of ['gm-0001', 'gm-0002'] as const) {
      await lab.until(`${m} on the GCM TEK`, 15_000, async () => (await lab.show<{ sas: { spi: string; transform: string }[] }>(m, 'ipsec security-associations')).sas.find((s) => s.spi === spi)?.transform === 'aes-gcm-16');
    }
  });

  it('R-CHG-1.3d standalone: an anti-replay window added keeps the current TEK; the TEK of the next rekey carries it, on the server and the members', async () => {
    await applied(lab, 'root', ['1.3d'], setWindow);
    await h.windowAtNextRekey('root', ['gm-0001', 'gm-0002'], 120);
  });

  it('R-CHG-1.3e standalone: no-anti-replay set (in place of the window, so with 1.3d) keeps the current TEK\'s window; the TEK of the next rekey has none', async () => {
    await applied(lab, 'root', ['1.3d', '1.3e'], noAntiReplay);
    await h.windowAtNextRekey('root', ['gm-0001', 'gm-0002'], null);
  });

  it('R-CHG-1.5a standalone: an IPsec SA added gets its TEK at once, pushed to both members; the first TEK stays', async () => {
    const before = await lab.tekSpis('root');
    await applied(lab, 'root', ['1.5a'], addExtraSa);
    const after = await lab.tekSpis('root');
    assert.equal(after.length, 2);
    assert.ok(before.every((spi) => after.includes(spi)));
    for (const m of ['gm-0001', 'gm-0002'] as const) await lab.until(`${m} holding both TEKs`, 15_000, async () => (await lab.tekSpis(m)).join() === after.join());
  });

  it('R-CHG-1.5c standalone: an IPsec SA deleted ends its TEK at once, a delete pushed to both members; the other TEK stays', async () => {
    const extra = (await h.teks('root')).find((t) => t.source === '10.20.0.0/16')?.spi;
    assert.ok(extra !== undefined);
    const acks = await lab.counter('root', 'gdoi', 'acksReceived');
    await applied(lab, 'root', ['1.5c'], deleteExtraSa);
    const left = await lab.tekSpis('root');
    assert.deepEqual(left.length, 1);
    assert.ok(!left.includes(extra), 'the TEK ended at once');
    for (const m of ['gm-0001', 'gm-0002'] as const) await lab.until(`${m} told to delete it`, 15_000, async () => (await lab.tekSpis(m)).join() === left.join());
    await lab.until('both members acknowledged the delete', 10_000, async () => (await lab.counter('root', 'gdoi', 'acksReceived')) >= acks + 2);
  });

  it('R-CHG-1.5b standalone: another proposal takes effect at the next rekey; new traffic selectors end the TEK at once (delete pushed), the next rekey brings one with them', async () => {
    const current = await lab.tekSpis('root');
    await applied(lab, 'root', ['1.5b'], (doc) => {
      const ipsec = server(doc).ipsec;
      ipsec.proposal['AES128-GCM'] = { ...structuredClone(ipsec.proposal['AES256-SHA256']), 'encryption-algorithm': 'aes-128-gcm' };
      group(doc)['ipsec-sa'][GROUP].proposal = 'AES128-GCM';
    });
    assert.deepEqual(await lab.tekSpis('root'), current, 'another proposal: the TEK stays');
    const gcm128 = await h.rekey('root');
    const { sas } = await lab.show<{ sas: { spi: string; algorithm: string }[] }>('root', 'ipsec security-associations');
    assert.equal(sas.find((t) => t.spi === gcm128)?.algorithm, 'aes-128-gcm');
    for (const m of ['gm-0001', 'gm-0002'] as const) await lab.until(`${m} on the AES-128-GCM TEK`, 15_000, async () => (await lab.tekSpis(m)).includes(gcm128));

    const old = await lab.tekSpis('root');
    await applied(lab, 'root', ['1.5b'], (doc) => {
      for (const p of Object.values(group(doc)['ipsec-sa'][GROUP]['match-policy']) as { source: string; destination: string }[]) {
        p.source = '172.16.0.0/16';
        p.destination = '172.16.0.0/16';
      }
    });
    assert.deepEqual(await lab.tekSpis('root'), [], 'the TEK ended at once');
    for (const m of ['gm-0001', 'gm-0002'] as const) await lab.until(`${m} told to delete the TEK`, 15_000, async () => !(await lab.tekSpis(m)).some((s) => old.includes(s)));
    const spi = await h.rekey('root');
    assert.equal((await h.tek('root', spi))?.source, '172.16.0.0/16');
    for (const m of ['gm-0001', 'gm-0002'] as const) await lab.until(`${m} on the new TEK`, 15_000, async () => (await h.tek(m, spi))?.source === '172.16.0.0/16');
  });

  it('R-CHG-1.4b standalone: new retransmission settings are used at once; the KEK keeps its values until the next KEK rekey, which has the new ones', async () => {
    const kek = await h.kekBeforeCommit('root');
    await applied(lab, 'root', ['1.4b'], newCommunication);
    assert.deepEqual(pick(await h.kek('root')), pick(kek), 'the current KEK unchanged');
    await h.retransmissionsNow('root', ['root'], ['gm-0002']);
    await newKekAtNextRekey(h, lab, 'root', kek, ['gm-0001', 'gm-0002']);
  });

  it('R-CHG group-other standalone: a lower member-threshold refuses a new member at once; raised again, the member registers', async () => {
    assert.deepEqual(await lab.registeredMembers('root'), ['127.0.3.21', '127.0.3.22']);
    const refused = await lab.counter('root', 'gdoi', 'refusedThreshold');
    await applied(lab, 'root', ['group-other'], (doc) => { group(doc)['member-threshold'] = 2; });
    await lab.startNode('gm-0003');
    await lab.until('gm-0003 refused: the group is at its threshold', 15_000, async () => (await lab.counter('root', 'gdoi', 'refusedThreshold')) > refused);
    assert.deepEqual(await lab.tekSpis('gm-0003'), []);
    await applied(lab, 'root', ['group-other'], (doc) => { group(doc)['member-threshold'] = 3; });
    await h.reRegister('gm-0003');
    assert.deepEqual(await lab.registeredMembers('root'), ['127.0.3.21', '127.0.3.22', '127.0.3.23']);
  });

  it('R-CHG-1.1 standalone: a member gateway\'s IKE settings changed delete its IKE SA (the member gets the Delete); the SA comes back under the new settings', async () => {
    const [gm1] = await h.cookies('root', 'GM-0001');
    assert.ok(gm1 !== undefined);
    const others = await h.cookies('root', 'GM-0002');
    const teks = await lab.tekSpis('gm-0001');
    await applied(lab, 'root', ['1.1'], ownShortPolicy('GM-0001'));
    assert.ok(!(await h.cookies('root')).includes(gm1), 'the SA through GM-0001 deleted');
    await lab.until('gm-0001 got the Delete', 10_000, async () => !(await h.cookies('gm-0001')).includes(gm1));
    assert.deepEqual(await h.cookies('root', 'GM-0002'), others, 'the other gateways keep theirs');
    assert.deepEqual(await lab.registeredMembers('root'), ['127.0.3.21', '127.0.3.22', '127.0.3.23'], 'a changed gateway keeps its members');
    assert.deepEqual(await lab.tekSpis('gm-0001'), teks);
    await h.reRegister('gm-0001');
    const [sa] = await h.ikeSas('root', 'GM-0001');
    assert.equal(sa?.lifetimeSeconds, SHORT_IKE_LIFETIME, 'the new SA has the new proposal\'s lifetime');
  });

  it('R-CHG-1.3c standalone: a gateway added to the group changes nothing; one removed loses its IKE SA and its members', async () => {
    const cookies = await h.cookies('root');
    const members = await lab.registeredMembers('root');
    await applied(lab, 'root', ['1.3c'], (doc) => { group(doc)['ike-gateway'].push('GM-0004'); });
    assert.deepEqual(await h.cookies('root'), cookies, 'added: every IKE SA stays');
    assert.deepEqual(await lab.registeredMembers('root'), members, 'added: every member stays');
    const [gm2] = await h.cookies('root', 'GM-0002');
    assert.ok(gm2 !== undefined);
    await applied(lab, 'root', ['1.3c'], (doc) => { group(doc)['ike-gateway'] = group(doc)['ike-gateway'].filter((g: string) => g !== 'GM-0002'); });
    assert.deepEqual(await lab.registeredMembers('root'), ['127.0.3.21', '127.0.3.23'], 'removed: its member forgotten');
    assert.deepEqual(await h.cookies('root', 'GM-0002'), [], 'removed: its IKE SA deleted');
    await lab.until('gm-0002 got the Delete', 10_000, async () => !(await h.cookies('gm-0002')).includes(gm2));
    assert.deepEqual(await h.cookies('root'), cookies.filter((c) => c !== gm2), 'the others stay');
  });

  it('R-CHG-1.1 standalone (deleted): a member gateway deleted (so out of the group, 1.3c) loses its IKE SA and its registered members', async () => {
    const [gm3] = await h.cookies('root', 'GM-0003');
    assert.ok(gm3 !== undefined);
    await applied(lab, 'root', ['1.1', '1.3c'], (doc) => {
      delete server(doc).ike.gateway['GM-0003'];
      group(doc)['ike-gateway'] = group(doc)['ike-gateway'].filter((g: string) => g !== 'GM-0003');
    });
    assert.deepEqual(await lab.registeredMembers('root'), ['127.0.3.21']);
    assert.ok(!(await h.cookies('root')).includes(gm3));
    await lab.until('gm-0003 got the Delete', 10_000, async () => !(await h.cookies('gm-0003')).includes(gm3));
  });
});

/** The KEK view fields a commit must not change before the next KEK rekey. */
function pick(k: KekView | undefined): Partial<KekView> {
  return k === undefined ? {} : { spi: k.spi, algorithm: k.algorithm, lifetimeSeconds: k.lifetimeSeconds };
}

/** The KEK keeps its values until its rekey; the next KEK (on `root`, then everywhere) has the committed ones. */
async function newKekAtNextRekey(h: ReturnType<typeof labHelpers>, lab: ClusterLab, root: ExampleNode, old: KekView, nodes: readonly ExampleNode[]): Promise<void> {
  const now = await h.kek(root);
  if (now?.spi === old.spi) assert.deepEqual(pick(now), pick(old), 'the current KEK keeps its values');
  const next = await lab.until('the next KEK rekey', 20_000, async () => {
    const k = await h.kek(root);
    return k !== undefined && k.spi !== old.spi ? k : undefined;
  });
  assert.equal(next.lifetimeSeconds, KEK_LIFETIME + 5);
  assert.notEqual(next.algorithm, old.algorithm);
  for (const n of nodes) {
    await lab.until(`${n} holding the new KEK`, 20_000, async () => {
      const k = await h.kek(n);
      return k !== undefined && k.spi !== old.spi && k.lifetimeSeconds === KEK_LIFETIME + 5 && k.algorithm === next.algorithm;
    });
  }
}

describe('R-CHG cells on a root and a sub-server', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;
  const h = labHelpers(() => lab);

  before(async () => {
    lab = await ClusterLab.start(cleanup, {
      label: 'live-cells-cluster', nodes: ['root', 'sub1', 'gm-0001', 'gm-0002'],
      edit: (node, doc) => {
        if (node === 'root') {
          rootWithSubs(doc, ['sub1']);
          memberGateways(doc, ['GM-0001'], ['GM-0001', 'GM-0003']);
        }
        if (node === 'root' || node === 'sub1') shortKek(doc);
        if (node === 'gm-0001') useServers(doc, ['root']);
        if (node === 'gm-0002') useServers(doc, ['sub1']);
        if (node.startsWith('gm-')) probeOnly(doc, ['gm-0001', 'gm-0002']);
      },
    });
    await lab.clusterUp(30_000);
    await lab.membersUp(40_000);
  });
  after(() => cleanup.run());

  const ALL = ['sub1', 'gm-0001', 'gm-0002'] as const;

  it('R-CHG-1.3d root and sub: an anti-replay window added keeps the current TEK everywhere; the root\'s next TEK carries it to the sub and both members', async () => {
    await applied(lab, 'root', ['1.3d'], setWindow);
    await applied(lab, 'sub1', ['1.3d'], setWindow);
    await h.windowAtNextRekey('root', ALL, 120);
  });

  it('R-CHG-1.3e root and sub: no-anti-replay set (in place of the window, so with 1.3d) keeps the current TEK\'s window; the root\'s next TEK has none, on the sub and both members', async () => {
    await applied(lab, 'root', ['1.3d', '1.3e'], noAntiReplay);
    await applied(lab, 'sub1', ['1.3d', '1.3e'], noAntiReplay);
    await h.windowAtNextRekey('root', ALL, null);
  });

  it('R-CHG-1.4b root and sub: each server\'s pushes use the new retransmission settings at once; the root\'s next KEK has the new values, on the sub and both members', async () => {
    const kek = await h.kekBeforeCommit('root');
    await applied(lab, 'root', ['1.4b'], newCommunication);
    assert.deepEqual(pick(await h.kek('root')), pick(kek), 'the current KEK unchanged');
    await applied(lab, 'sub1', ['1.4b'], newCommunication);
    assert.deepEqual(pick(await h.kek('sub1')), pick(kek), 'the sub\'s KEK unchanged');
    await h.retransmissionsNow('root', ['root', 'sub1'], ['gm-0001', 'gm-0002']);
    await newKekAtNextRekey(h, lab, 'root', kek, ALL);
  });

  it('R-CHG-1.5c root and sub: an IPsec SA deleted on the root ends its TEK at once; the sub deletes it and pushes the delete to its member; the root to its own', async () => {
    await applied(lab, 'root', ['1.5a'], addExtraSa);
    await applied(lab, 'sub1', ['1.5a'], addExtraSa);
    const both = await lab.tekSpis('root');
    for (const n of ALL) await lab.until(`${n} holding both TEKs`, 15_000, async () => (await lab.tekSpis(n)).join() === both.join());
    const extra = (await h.teks('root')).find((t) => t.source === '10.20.0.0/16')?.spi;
    assert.ok(extra !== undefined);
    await applied(lab, 'root', ['1.5c'], deleteExtraSa);
    const left = await lab.tekSpis('root');
    assert.equal(left.length, 1);
    assert.ok(!left.includes(extra));
    for (const n of ALL) await lab.until(`${n} deleted the TEK`, 15_000, async () => (await lab.tekSpis(n)).join() === left.join());
    await applied(lab, 'sub1', ['1.5c'], deleteExtraSa);
    assert.deepEqual(await lab.tekSpis('sub1'), left);
    assert.equal((await lab.cluster('sub1')).groups[0]?.root, 'active');
  });

  it('R-CHG-1.1 root: the root\'s member gateway changed loses its IKE SA (Delete to the member); the cluster SA stays; the member\'s SA comes back under the new settings', async () => {
    const [gm1] = await h.cookies('root', 'GM-0001');
    assert.ok(gm1 !== undefined);
    const cluster = await h.cookies('root', 'SubSrv01');
    await applied(lab, 'root', ['1.1'], ownShortPolicy('GM-0001'));
    assert.ok(!(await h.cookies('root')).includes(gm1));
    await lab.until('gm-0001 got the Delete', 10_000, async () => !(await h.cookies('gm-0001')).includes(gm1));
    assert.deepEqual(await h.cookies('root', 'SubSrv01'), cluster);
    await h.reRegister('gm-0001');
    assert.equal((await h.ikeSas('root', 'GM-0001'))[0]?.lifetimeSeconds, SHORT_IKE_LIFETIME);
  });

  it('R-CHG-1.1 sub: the sub\'s member gateway changed loses its IKE SA (Delete to the member); the SA with the root stays; the member\'s comes back under the new settings', async () => {
    const [gm2] = await h.cookies('sub1', 'GM-0002');
    assert.ok(gm2 !== undefined);
    const toRoot = await h.cookies('sub1', 'RootSrv');
    await applied(lab, 'sub1', ['1.1'], ownShortPolicy('GM-0002'));
    assert.ok(!(await h.cookies('sub1')).includes(gm2));
    await lab.until('gm-0002 got the Delete', 10_000, async () => !(await h.cookies('gm-0002')).includes(gm2));
    assert.deepEqual(await h.cookies('sub1', 'RootSrv'), toRoot);
    assert.deepEqual(await lab.registeredMembers('sub1'), ['127.0.3.22'], 'a changed gateway keeps its members');
    await h.reRegister('gm-0002');
    assert.equal((await h.ikeSas('sub1', 'GM-0002'))[0]?.lifetimeSeconds, SHORT_IKE_LIFETIME);
  });

  /** The SA between root and sub1 was reset by a commit on `node`: both sides get a new one, the sub is active on both, and the next rekey reaches gm-0002. */
  async function clusterSaRenewed(node: 'root' | 'sub1', old: string[]): Promise<void> {
    assert.deepEqual((await h.cookies(node, node === 'root' ? 'SubSrv01' : 'RootSrv')).filter((c) => old.includes(c)), [], 'the cluster IKE SA deleted');
    await lab.until('a new IKE SA root <-> sub1', 15_000, async () => {
      const root = await h.cookies('root', 'SubSrv01');
      const sub = await h.cookies('sub1', 'RootSrv');
      return root.length > 0 && root.every((c) => !old.includes(c)) && sub.some((c) => root.includes(c));
    });
    await lab.clusterUp(15_000);
    const spi = await h.rekey('root');
    await lab.until('gm-0002 gets the next TEK through sub1', 15_000, async () => (await lab.tekSpis('gm-0002')).includes(spi));
  }

  it('R-CHG-2.1 root: the sub\'s cluster gateway changed resets the IKE SA with the sub; it comes back, the sub stays active; a cluster gateway added changes nothing', async () => {
    const old = await h.cookies('root', 'SubSrv01');
    assert.equal(old.length, 1);
    await applied(lab, 'root', ['2.1'], (doc) => { server(doc).ike.gateway.SubSrv01['dead-peer-detection'].interval = 4; });
    await clusterSaRenewed('root', old);
    const renewed = await h.cookies('root', 'SubSrv01');
    await applied(lab, 'root', ['2.1', '2.2c'], (doc) => {
      server(doc).ike.gateway.SubSrv02 = { ...structuredClone(server(doc).ike.gateway.SubSrv01), address: '127.0.3.12' };
      group(doc)['server-cluster']['ike-gateway'] = ['SubSrv01', 'SubSrv02'];
    });
    assert.deepEqual(await h.cookies('root', 'SubSrv01'), renewed, 'a cluster gateway added: the other peer\'s SA stays');
    assert.equal((await lab.cluster('root')).groups[0]?.peers.find((p) => p.name === 'SubSrv01')?.state, 'active');
    await applied(lab, 'root', ['2.1', '2.2d'], (doc) => {
      delete server(doc).ike.gateway.SubSrv02;
      group(doc)['server-cluster']['ike-gateway'] = ['SubSrv01'];
    });
  });

  it('R-CHG-2.1 sub: the root\'s cluster gateway changed resets the IKE SA with the root; the sub negotiates it again and keeps serving', async () => {
    const old = await h.cookies('sub1', 'RootSrv');
    assert.equal(old.length, 1);
    await applied(lab, 'sub1', ['2.1'], (doc) => { server(doc).ike.gateway.RootSrv['dead-peer-detection'].interval = 4; });
    await clusterSaRenewed('sub1', old);
  });

  it('R-CHG-2.2e sub: a new cluster retransmission-period changes nothing: the root stays active, the keys stay, the next rekey arrives', async () => {
    const teks = await lab.tekSpis('sub1');
    const toRoot = await h.cookies('sub1', 'RootSrv');
    await applied(lab, 'sub1', ['2.2e'], (doc) => { group(doc)['server-cluster']['retransmission-period'] = 3; });
    assert.deepEqual(await lab.tekSpis('sub1'), teks);
    assert.deepEqual(await h.cookies('sub1', 'RootSrv'), toRoot);
    assert.equal((await lab.cluster('sub1')).groups[0]?.root, 'active');
    const spi = await h.rekey('root');
    await lab.until('sub1 and gm-0002 get the next TEK', 15_000, async () => (await lab.tekSpis('sub1')).includes(spi) && (await lab.tekSpis('gm-0002')).includes(spi));
  });

  it('R-CHG-2.2c sub: the root\'s gateway replaced by a new one (2.1 added and deleted, 2.2c with 2.2d): the sub keeps its keys and serves; the root is reached through the new gateway', async () => {
    const teks = await lab.tekSpis('sub1');
    const old = await h.cookies('sub1', 'RootSrv');
    await applied(lab, 'sub1', ['2.1', '2.1', '2.2c', '2.2d'], (doc) => {
      const gateways = server(doc).ike.gateway;
      gateways.RootSrvB = structuredClone(gateways.RootSrv);
      delete gateways.RootSrv;
      group(doc)['server-cluster']['ike-gateway'] = ['RootSrvB'];
    });
    assert.deepEqual(await lab.tekSpis('sub1'), teks, 'the keys stay');
    assert.ok(!(await h.cookies('sub1')).some((c) => old.includes(c)), 'the old gateway\'s SA deleted');
    await lab.until('sub1 reaches the root through RootSrvB', 15_000, async () => (await h.cookies('sub1', 'RootSrvB')).length > 0
      && (await lab.cluster('sub1')).groups[0]?.root === 'active' && (await lab.cluster('root')).groups[0]?.peers[0]?.state === 'active');
    const spi = await h.rekey('root');
    await lab.until('sub1 and gm-0002 get the next TEK', 15_000, async () => (await lab.tekSpis('sub1')).includes(spi) && (await lab.tekSpis('gm-0002')).includes(spi));
  });

  it('R-CHG-1.3c root: a member gateway added to the root\'s group changes nothing; removed, its IKE SA and members go; the sub is untouched', async () => {
    const cookies = await h.cookies('root');
    await applied(lab, 'root', ['1.3c'], (doc) => { group(doc)['ike-gateway'] = ['GM-0001', 'GM-0003']; });
    assert.deepEqual(await h.cookies('root'), cookies);
    assert.deepEqual(await lab.registeredMembers('root'), ['127.0.3.21']);
    const [gm1] = await h.cookies('root', 'GM-0001');
    assert.ok(gm1 !== undefined);
    await applied(lab, 'root', ['1.3c'], (doc) => { group(doc)['ike-gateway'] = ['GM-0003']; });
    assert.deepEqual(await lab.registeredMembers('root'), []);
    assert.deepEqual(await h.cookies('root', 'GM-0001'), []);
    await lab.until('gm-0001 got the Delete', 10_000, async () => !(await h.cookies('gm-0001')).includes(gm1));
    assert.equal((await lab.cluster('root')).groups[0]?.peers[0]?.state, 'active');
    assert.deepEqual(await lab.registeredMembers('sub1'), ['127.0.3.22']);
  });

  it('R-CHG-1.1 root and sub (deleted): a member gateway deleted (so out of the group, 1.3c) loses its IKE SA and its registered members', async () => {
    await applied(lab, 'root', ['1.3c'], (doc) => { group(doc)['ike-gateway'] = ['GM-0001', 'GM-0003']; });
    await h.reRegister('gm-0001');
    for (const [node, gateway, member, address] of [['root', 'GM-0001', 'gm-0001', '127.0.3.21'], ['sub1', 'GM-0002', 'gm-0002', '127.0.3.22']] as const) {
      assert.deepEqual(await lab.registeredMembers(node), [address]);
      const [sa] = await h.cookies(node, gateway);
      assert.ok(sa !== undefined);
      await applied(lab, node, ['1.1', '1.3c'], (doc) => {
        delete server(doc).ike.gateway[gateway];
        group(doc)['ike-gateway'] = group(doc)['ike-gateway'].filter((g: string) => g !== gateway);
      });
      assert.deepEqual(await lab.registeredMembers(node), [], `${node}: the member through ${gateway} forgotten`);
      assert.ok(!(await h.cookies(node)).includes(sa), `${node}: the IKE SA through ${gateway} deleted`);
      await lab.until(`${member} got the Delete`, 10_000, async () => !(await h.cookies(member)).includes(sa));
    }
    assert.equal((await lab.cluster('sub1')).groups[0]?.root, 'active', 'the cluster untouched');
  });
});
