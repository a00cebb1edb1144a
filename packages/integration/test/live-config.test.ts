/**
 * Live configuration changes (R-CHG, issue 6) on the running example cluster — root, sub1, gm-0001, gm-0002 in
 * a namespace of this test. Each test names its table cell. Covered so far: a commit that cannot be read
 * changes nothing; a change that needs a restart refuses the whole commit; R-CHG-1.2 (IPsec proposal
 * changed: current SAs kept, the next TEK rekey uses the new proposal) on root and sub; R-CHG-1.5b with new
 * selectors (TEK ended at once, delete pushed through the cluster); R-CHG-1.3c (a member gateway taken out of
 * a sub's group: its IKE SA and its members go, the others stay); R-CHG-2.2e.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanup, ClusterLab, memberGateways, probeOnly, rootWithSubs, useServers } from '@gvpn/integration';

const GROUP = 'GROUP_ID-0001';

describe('live configuration changes on a running cluster (R-CHG)', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;

  before(async () => {
    lab = await ClusterLab.startRootSubMembers(cleanup, 'live-config');
  });
  after(() => cleanup.run());


  const group = (doc: any) => doc.security['group-vpn'].server.group[GROUP];

  it('a file that does not validate is refused with its path; the running configuration stays', async () => {
    const r = await lab.commit('root', (doc) => { group(doc)['group-id'] = 70_000; });
    assert.equal(r.result, 'invalid');
    assert.match(r.error ?? '', /group-id/);
    const { commits } = (await lab.request('root', ['show', 'system', 'commit'])) as { commits: { result: string }[] };
    assert.equal(commits[0]?.result, 'invalid');
  });

  it('a change that needs a restart refuses the whole commit: a group deleted (R-CHG-1.3a) in the same file is not applied, keys and members stay', async () => {
    const teks = await lab.tekSpis('root');
    const r = await lab.commit('root', (doc) => {
      const groups = doc.security['group-vpn'].server.group;
      groups.OTHER = { ...groups[GROUP], 'group-id': 2 };
      delete groups[GROUP];
      doc.system['log-level'] = 'debug';
    });
    assert.equal(r.result, 'refused');
    assert.match(r.error ?? '', /needs a restart: system\.log-level/);
    assert.deepEqual(r.changes.map((c) => c.cell), ['1.3a', 'group-added']);
    assert.deepEqual(await lab.tekSpis('root'), teks);
  });

  it('R-CHG-1.2 root and sub: an IPsec proposal change keeps the current TEK; the next rekey makes it from the new proposal', async () => {
    const teks = await lab.tekSpis('root');
    const toGcm = (doc: any): void => {
      const proposal = doc.security['group-vpn'].server.ipsec.proposal['AES256-SHA256'];
      proposal['encryption-algorithm'] = 'aes-256-gcm';
      delete proposal['authentication-algorithm'];
    };
    const root = await lab.commit('root', toGcm);
    assert.equal(root.result, 'applied', root.error ?? '');
    assert.deepEqual(root.changes.map((c) => c.cell), ['1.2']);
    const sub = await lab.commit('sub1', toGcm);
    assert.equal(sub.result, 'applied', sub.error ?? '');
    assert.deepEqual(await lab.tekSpis('root'), teks, 'takes effect at the next TEK rekey: same TEK now');
    const { spis } = (await lab.request('root', ['request', 'security', 'group-vpn', 'server', 'rekey', 'group'], { group: GROUP })) as { spis: string[] };
    const { sas } = await lab.show<{ sas: { spi: string; algorithm: string }[] }>('root', 'ipsec security-associations');
    assert.equal(sas.find((s) => s.spi === spis[0])?.algorithm, 'aes-256-gcm');
    for (const m of ['gm-0001', 'gm-0002'] as const) await lab.until(`${m} on the new GCM TEK`, 15_000, async () => (await lab.tekSpis(m)).includes(spis[0] ?? '-'));
    const before = await Promise.all(['gm-0001', 'gm-0002'].map((m) => lab.probe(m as 'gm-0001')));
    await lab.until('probes under the GCM TEK', 15_000, async () => (await lab.probe('gm-0001')).received > (before[0]?.received ?? 0) + 4);
    assert.equal((await lab.probe('gm-0001')).authFailures, before[0]?.authFailures);
  });

  it('R-CHG-2.2e root: a new retransmission-period is taken; nothing else happens', async () => {
    const teks = await lab.tekSpis('root');
    const r = await lab.commit('root', (doc) => { group(doc)['server-cluster']['retransmission-period'] = 3; });
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.deepEqual(r.changes.map((c) => c.cell), ['2.2e']);
    assert.deepEqual(await lab.tekSpis('root'), teks);
    assert.equal((await lab.cluster('root')).groups[0]?.peers[0]?.state, 'active');
  });

  it('R-CHG-1.5b root and sub: new traffic selectors end the TEK at once (delete pushed through the cluster); the next rekey brings one with them', async () => {
    const old = await lab.tekSpis('root');
    const narrow = (doc: any): void => {
      const mp = group(doc)['ipsec-sa'][GROUP]['match-policy'];
      for (const p of Object.values(mp) as { source: string; destination: string }[]) {
        p.source = '172.16.0.0/16';
        p.destination = '172.16.0.0/16';
      }
    };
    const root = await lab.commit('root', narrow);
    assert.equal(root.result, 'applied', root.error ?? '');
    assert.deepEqual(root.changes.map((c) => c.cell), ['1.5b']);
    assert.deepEqual(await lab.tekSpis('root'), [], 'the TEK ended at once on the root');
    for (const m of ['gm-0001', 'gm-0002'] as const) {
      await lab.until(`${m} told to delete the TEK (through sub1's push)`, 15_000, async () => !(await lab.tekSpis(m)).some((spi) => old.includes(spi)));
    }
    const sub = await lab.commit('sub1', narrow);
    assert.equal(sub.result, 'applied', sub.error ?? '');
    const { spis } = (await lab.request('root', ['request', 'security', 'group-vpn', 'server', 'rekey', 'group'], { group: GROUP })) as { spis: string[] };
    const { sas } = await lab.show<{ sas: { spi: string; source: string }[] }>('root', 'ipsec security-associations');
    assert.equal(sas.find((s) => s.spi === spis[0])?.source, '172.16.0.0/16');
    for (const m of ['gm-0001', 'gm-0002'] as const) await lab.until(`${m} on the new TEK`, 15_000, async () => (await lab.tekSpis(m)).includes(spis[0] ?? '-'));
  });

  it('R-CHG-1.5a root and sub: an IPsec SA added gets its TEK at once, on the root, the sub and both members; the first TEK stays', async () => {
    const before = await lab.tekSpis('root');
    assert.equal(before.length, 1);
    const addSa = (doc: any): void => {
      const sas = group(doc)['ipsec-sa'];
      sas.EXTRA = structuredClone(sas[GROUP]);
      for (const p of Object.values(sas.EXTRA['match-policy']) as { source: string; destination: string }[]) {
        p.source = '10.20.0.0/16';
        p.destination = '10.20.0.0/16';
      }
    };
    const root = await lab.commit('root', addSa);
    assert.equal(root.result, 'applied', root.error ?? '');
    assert.deepEqual(root.changes.map((c) => c.cell), ['1.5a']);
    const after = await lab.tekSpis('root');
    assert.equal(after.length, 2);
    assert.ok(before.every((spi) => after.includes(spi)), 'the existing TEK stays');
    for (const node of ['sub1', 'gm-0001', 'gm-0002'] as const) {
      await lab.until(`${node} holding both TEKs`, 15_000, async () => {
        const held = await lab.tekSpis(node);
        return after.every((spi) => held.includes(spi));
      });
    }
    const sub = await lab.commit('sub1', addSa);
    assert.equal(sub.result, 'applied', sub.error ?? '');
    assert.deepEqual(await lab.tekSpis('sub1'), after, 'the sub makes no key of its own (R-TOPO-2)');
  });

  it('R-CHG-2.2c then 2.2d root: a sub-server added (with its gateway) is expected, inactive until its cluster-init; deleted again, it is gone and sub1 unaffected', async () => {
    const teks = await lab.tekSpis('root');
    const added = await lab.commit('root', (doc) => {
      const server = doc.security['group-vpn'].server;
      server.ike.gateway.SubSrv02 = { ...structuredClone(server.ike.gateway.SubSrv01), address: '127.0.3.12' };
      group(doc)['server-cluster']['ike-gateway'] = ['SubSrv01', 'SubSrv02'];
    });
    assert.equal(added.result, 'applied', added.error ?? '');
    assert.deepEqual(added.changes.map((c) => c.cell), ['2.1', '2.2c']);
    const peers = (await lab.cluster('root')).groups[0]?.peers ?? [];
    assert.deepEqual(peers.map((p) => [p.name, p.state]), [['SubSrv01', 'active'], ['SubSrv02', 'inactive']]);
    const deleted = await lab.commit('root', (doc) => {
      delete doc.security['group-vpn'].server.ike.gateway.SubSrv02;
      group(doc)['server-cluster']['ike-gateway'] = ['SubSrv01'];
    });
    assert.equal(deleted.result, 'applied', deleted.error ?? '');
    assert.deepEqual(deleted.changes.map((c) => c.cell), ['2.1', '2.2d']);
    assert.deepEqual((await lab.cluster('root')).groups[0]?.peers.map((p) => [p.name, p.state]), [['SubSrv01', 'active']]);
    assert.deepEqual(await lab.tekSpis('root'), teks);
    assert.equal((await lab.cluster('sub1')).groups[0]?.root, 'active');
  });

  it('R-CHG-1.3c sub: a member gateway taken out of the group loses its IKE SA and its members; the other member stays', async () => {
    const r = await lab.commit('sub1', (doc) => {
      group(doc)['ike-gateway'] = group(doc)['ike-gateway'].filter((g: string) => g !== 'GM-0002');
    });
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.deepEqual(r.changes.map((c) => c.cell), ['1.3c']);
    const { groups } = await lab.show<{ groups: { members: { address: string }[] }[] }>('sub1', 'registered-members');
    assert.deepEqual(groups[0]?.members.map((m) => m.address), ['127.0.3.21']);
    const { sas } = await lab.show<{ sas: { gateway: string; state: string }[] }>('sub1', 'ike security-associations');
    assert.ok(!sas.some((s) => s.gateway === 'GM-0002' && s.state === 'UP'), 'no IKE SA through GM-0002');
  });
});

describe('R-OPS-3 migration: a standalone key server becomes the root by a commit (R-CHG-2.2a root), members see no loss', () => {
  const cleanup = new Cleanup();
  let lab: ClusterLab;

  before(async () => {
    lab = await ClusterLab.start(cleanup, {
      label: 'migration', nodes: ['root', 'sub1', 'gm-0001', 'gm-0002'], start: false,
      edit: (node, doc) => {
        if (node === 'root') {
          // Standalone: no server-cluster; members register with it through their own gateways.
          rootWithSubs(doc, ['sub1']);
          memberGateways(doc, ['GM-0001', 'GM-0002']);
          delete doc.security['group-vpn'].server.group[GROUP]['server-cluster'];
        }
        if (node.startsWith('gm-')) {
          useServers(doc, ['root']);
          probeOnly(doc, ['gm-0001', 'gm-0002']);
        }
      },
    });
    for (const node of ['root', 'gm-0001', 'gm-0002'] as const) await lab.startNode(node);
    await lab.membersUp(40_000);
  });
  after(() => cleanup.run());

  it('server-cluster added on the running standalone server: applied, same keys; a sub then joins by cluster-init; probes lose nothing', async () => {
    const teks = await lab.tekSpis('root');
    const before = await Promise.all((['gm-0001', 'gm-0002'] as const).map((m) => lab.probe(m)));
    const r = await lab.commit('root', (doc) => {
      doc.security['group-vpn'].server.group[GROUP]['server-cluster'] = { 'server-role': 'root-server', 'ike-gateway': ['SubSrv01'], 'retransmission-period': 2 };
    });
    assert.equal(r.result, 'applied', r.error ?? '');
    assert.deepEqual(r.changes.map((c) => c.cell), ['2.2a']);
    assert.deepEqual(await lab.tekSpis('root'), teks, 'the group keeps its keys');
    assert.equal((await lab.cluster('root')).groups[0]?.role, 'root-server');
    await lab.startNode('sub1');
    await lab.clusterUp(30_000);
    assert.deepEqual(await lab.tekSpis('sub1'), teks, 'the new sub holds the root\'s keys');
    await lab.until('probes flowing after the migration', 15_000, async () => (await lab.probe('gm-0001')).received > (before[0]?.received ?? 0) + 6);
    for (const [i, m] of (['gm-0001', 'gm-0002'] as const).entries()) {
      const p = await lab.probe(m);
      assert.equal(p.authFailures, before[i]?.authFailures, `${m} auth failures`);
      assert.equal(p.noSa, before[i]?.noSa, `${m} packets without an SA`);
      assert.deepEqual(await lab.tekSpis(m), teks, `${m} keeps its TEK`);
    }
  });
});
