import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderStatistics } from '../src/index.js';
import { renderServerCluster, type ServerCluster, type ServerClusterGroup } from '../src/render/server-cluster.js';
import { CLUSTER_ROOT, CLUSTER_SUB } from './sample-data.js';

const ROOT_PEERS = [
  '  Peers:',
  '    Name      Address          Role        State     IKE SA       Last exchange  Pending updates',
  '    SubSrv01  127.0.1.2:848    sub-server  active    UP           12 s ago       0',
  '    SubSrv02  127.0.1.3:848    sub-server  active    UP           3 s ago        1',
  '    SubSrv03  127.0.1.4:10848  sub-server  active    NEGOTIATING  140 s ago      2',
  '    SubSrv04  127.0.1.5:848    sub-server  inactive  DOWN         never          0',
];
const SUB_PEERS = [
  '  Peers:',
  '    Name     Address        Role         State   IKE SA  Last exchange',
  '    RootSrv  127.0.1.1:848  root-server  active  UP      12 s ago',
];

describe('server-cluster renderer', () => {
  it('root brief: header, then every sub with its pending updates; an inactive sub never exchanged', () => {
    assert.equal(renderServerCluster(CLUSTER_ROOT, false), [
      'Group: GROUP_ID-0001, Group ID: 1, Role: root-server',
      '  Last update published: 5',
      ...ROOT_PEERS,
      '',
    ].join('\n'));
  });

  it('root detail adds the retransmission period and no SA table (a root tracks none)', () => {
    assert.equal(renderServerCluster(CLUSTER_ROOT, true), [
      'Group: GROUP_ID-0001, Group ID: 1, Role: root-server',
      '  Last update published: 5',
      '  Retransmission period: 10 seconds',
      ...ROOT_PEERS,
      '',
    ].join('\n'));
  });

  it('sub brief: root state, update applied, cluster-init and held pushes; no pending-updates column', () => {
    assert.equal(renderServerCluster(CLUSTER_SUB, false), [
      'Group: GROUP_ID-0001, Group ID: 1, Role: sub-server',
      '  Root server: active, Last update applied: 3',
      '  Cluster-init in progress: no, Pushes held: no',
      ...SUB_PEERS,
      '',
    ].join('\n'));
  });

  it('sub detail adds the tracked SA lifetimes', () => {
    assert.equal(renderServerCluster(CLUSTER_SUB, true), [
      'Group: GROUP_ID-0001, Group ID: 1, Role: sub-server',
      '  Root server: active, Last update applied: 3',
      '  Cluster-init in progress: no, Pushes held: no',
      '  Retransmission period: 10 seconds',
      ...SUB_PEERS,
      '  Tracked SAs:',
      '    Kind  SPI                               Soft lifetime  Hard lifetime',
      '    KEK   5dc1f92dcb4cd6fa33302dd498e3ff6d  in 3060 s      in 3420 s',
      '    TEK   3d5cf075                          in 100 s       in 200 s',
      '    TEK   a1b2c3d4                          passed         in 15 s',
      '',
    ].join('\n'));
  });

  it('says so when no group has a server cluster', () => {
    assert.equal(renderServerCluster({ groups: [] }, false), 'No server cluster configured.\n');
    assert.equal(renderServerCluster({ groups: [] }, true), 'No server cluster configured.\n');
  });

  it('prints null and absent fields as "-" and never throws', () => {
    const starting: ServerClusterGroup = {
      name: 'G2', groupId: 2, role: 'sub-server', retransmissionPeriodSeconds: null,
      root: 'inactive', updateSeq: null, initInProgress: true, pushesHeld: null,
      peers: [{ name: 'RootSrv', address: '127.0.1.1', port: 848, role: 'root-server', state: 'inactive', ikeSa: 'NEGOTIATING', lastExchangeSecondsAgo: null, pendingUpdates: null }],
      sas: [],
    };
    assert.equal(renderServerCluster({ groups: [starting] }, true), [
      'Group: G2, Group ID: 2, Role: sub-server',
      '  Root server: inactive, Last update applied: -',
      '  Cluster-init in progress: yes, Pushes held: -',
      '  Retransmission period: -',
      '  Peers:',
      '    Name     Address        Role         State     IKE SA       Last exchange',
      '    RootSrv  127.0.1.1:848  root-server  inactive  NEGOTIATING  never',
      '  Tracked SAs: none',
      '',
    ].join('\n'));

    // What an older or partial daemon might send: keys left out altogether.
    const sparse = { groups: [
      { name: 'G3', groupId: 3, role: 'sub-server' },
      { name: 'G4', groupId: 4, role: 'root-server', peers: [{ name: 'SubSrv01', address: '127.0.1.2' }] },
    ] } as unknown as ServerCluster;
    for (const detail of [false, true]) {
      assert.equal(renderServerCluster(sparse, detail), [
        'Group: G3, Group ID: 3, Role: sub-server',
        '  Root server: -, Last update applied: -',
        '  Cluster-init in progress: -, Pushes held: -',
        ...(detail ? ['  Retransmission period: -'] : []),
        '  Peers: none',
        '',
        'Group: G4, Group ID: 4, Role: root-server',
        '  Last update published: -',
        ...(detail ? ['  Retransmission period: -'] : []),
        '  Peers:',
        '    Name      Address    Role  State  IKE SA  Last exchange  Pending updates',
        '    SubSrv01  127.0.1.2  -     -      -       never          -',
        '',
      ].join('\n'));
    }
  });

  it('renders the cluster counters of server statistics as their own section', () => {
    assert.equal(renderStatistics({ cluster: { clusterInitSent: 2, clusterUpdatesAcked: 14, peersMarkedInactive: 1, registrationsRefusedRootInactive: 0 } }), [
      'Cluster statistics:',
      '  Cluster init sent                     2',
      '  Cluster updates acked                14',
      '  Peers marked inactive                 1',
      '  Registrations refused root inactive   0',
      '',
    ].join('\n'));
  });
});

describe('server-cluster renderer: configuration differences (R-CONF-4)', () => {
  it('a sub prints each difference from the root under its header', () => {
    const group = CLUSTER_SUB.groups[0] as ServerClusterGroup;
    const text = renderServerCluster({ groups: [{ ...group, configMismatches: ['KEK lifetime: root 600 s, here 900 s'] }] }, false);
    assert.match(text, /\n {2}Configuration differs from the root: KEK lifetime: root 600 s, here 900 s\n/);
  });
});
