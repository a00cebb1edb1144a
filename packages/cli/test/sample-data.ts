import type { IkeSecurityAssociation } from '../src/index.js';
import type { ServerCluster } from '../src/render/server-cluster.js';

/** Two SAs as a root server would report them; shared by the renderer and end-to-end tests. */
export const SAS: IkeSecurityAssociation[] = [
  {
    index: 738936,
    gateway: 'SubSrv01',
    role: 'initiator',
    state: 'UP',
    icookie: 'a1b2c3d4e5f60708',
    rcookie: '0102030405060708',
    local: { address: '127.0.1.1', port: 848 },
    remote: { address: '127.0.1.2', port: 848 },
    exchangeType: 'main',
    authMethod: 'pre-shared-keys',
    encryption: 'aes-256-cbc',
    hash: 'sha256',
    dhGroup: 14,
    lifetimeSeconds: 3600,
    expiresInSeconds: 3412,
    dpd: { interval: 10, threshold: 5, sentSeq: 12, lastAckSeq: 12, outstanding: 0, peerSupportsDpd: true },
  },
  {
    index: 5,
    gateway: 'SubSrv02',
    role: 'responder',
    state: 'NEGOTIATING',
    icookie: '1111111111111111',
    rcookie: '0000000000000000',
    local: { address: '127.0.1.1', port: 848 },
    remote: { address: '127.0.1.3', port: 10848 },
    exchangeType: 'main',
    authMethod: 'pre-shared-keys',
    encryption: 'aes-128-cbc',
    hash: 'sha1',
    dhGroup: 19,
    lifetimeSeconds: 28800,
    expiresInSeconds: 28800,
    dpd: { interval: 2, threshold: 1, sentSeq: 0, lastAckSeq: null, outstanding: 0, peerSupportsDpd: false },
  },
];

/**
 * An SA as a daemon reports it while Main Mode waits for message 2 (a member whose key server is down): no
 * proposal chosen yet, so its fields are `null`; and a gateway without `always-send` DPD (every member
 * gateway of the lab), so no probe interval or threshold either.
 */
export const NEGOTIATING_SA: IkeSecurityAssociation = {
  index: 89189769,
  gateway: 'GW-GROUP1/127.0.2.1',
  role: 'initiator',
  state: 'NEGOTIATING',
  icookie: '550ed890e20056b7',
  rcookie: '0000000000000000',
  local: { address: '127.0.2.13', port: 848 },
  remote: { address: '127.0.2.1', port: 848 },
  exchangeType: 'main',
  authMethod: 'pre-shared-keys',
  encryption: null,
  hash: null,
  dhGroup: null,
  lifetimeSeconds: null,
  expiresInSeconds: null,
  dpd: { interval: null, threshold: null, sentSeq: 0, lastAckSeq: null, outstanding: 0, peerSupportsDpd: false },
};

/** A root server's `server-cluster` view: four sub-servers, SubSrv04 inactive (DPD declared it dead). */
export const CLUSTER_ROOT: ServerCluster = {
  groups: [{
    name: 'GROUP_ID-0001', groupId: 1, role: 'root-server', retransmissionPeriodSeconds: 10,
    root: null, updateSeq: 5, initInProgress: null, pushesHeld: null,
    peers: [
      { name: 'SubSrv01', address: '127.0.1.2', port: 848, role: 'sub-server', state: 'active', ikeSa: 'UP', lastExchangeSecondsAgo: 12, pendingUpdates: 0 },
      { name: 'SubSrv02', address: '127.0.1.3', port: 848, role: 'sub-server', state: 'active', ikeSa: 'UP', lastExchangeSecondsAgo: 3, pendingUpdates: 1 },
      { name: 'SubSrv03', address: '127.0.1.4', port: 10848, role: 'sub-server', state: 'active', ikeSa: 'NEGOTIATING', lastExchangeSecondsAgo: 140, pendingUpdates: 2 },
      { name: 'SubSrv04', address: '127.0.1.5', port: 848, role: 'sub-server', state: 'inactive', ikeSa: 'DOWN', lastExchangeSecondsAgo: null, pendingUpdates: 0 },
    ],
    sas: [],
  }],
};

/** A sub-server's view: root active, one KEK and two TEKs tracked (detail); a1b2c3d4 was replaced by 3d5cf075. */
export const CLUSTER_SUB: ServerCluster = {
  groups: [{
    name: 'GROUP_ID-0001', groupId: 1, role: 'sub-server', retransmissionPeriodSeconds: 10,
    root: 'active', updateSeq: 3, initInProgress: false, pushesHeld: false,
    peers: [
      { name: 'RootSrv', address: '127.0.1.1', port: 848, role: 'root-server', state: 'active', ikeSa: 'UP', lastExchangeSecondsAgo: 12, pendingUpdates: null },
    ],
    sas: [
      { kind: 'kek', spi: '5dc1f92dcb4cd6fa33302dd498e3ff6d', softInSeconds: 3060, hardInSeconds: 3420 },
      { kind: 'tek', spi: '3d5cf075', softInSeconds: 100, hardInSeconds: 200 },
      { kind: 'tek', spi: 'a1b2c3d4', softInSeconds: -5, hardInSeconds: 15 },
    ],
  }],
};
