/**
 * The difference between a running and a new configuration, as the cells of the spec's Tables 1 and 2
 * (config-changes.md, R-CHG; issue 6). Pure: no I/O, no clock, nothing mutated.
 *
 * Server configurations:
 * - 1.1 / 2.1: one change per IKE gateway (fixed or dynamic) added, deleted, or whose own settings, policy
 *   (pre-shared key, mode, proposal list) or proposals changed. A gateway that is a server-cluster peer in
 *   the new configuration (or, if it is none there, in the running one) gives 2.1, any other gateway 1.1.
 *   IKE proposals and policies no gateway uses give nothing: they have no effect.
 * - Groups are matched by name. 1.3a: gone. 'group-added': new. 1.3b: group-id changed; the group is then
 *   rebuilt from the new configuration, so its other Table 1 cells and 'group-other' are not listed
 *   (Table 2 cells still are). 1.2: one per group whose ipsec-sa keeps its proposal name while the proposal's
 *   values changed (an ipsec-sa that names another proposal is 1.5b). 1.3c: one per gateway added to or
 *   removed from the group's `ike-gateway` list (order is ignored). 1.3d: the window added, changed or
 *   removed (kind). 1.3e: `no-anti-replay` set (`added`) or cleared (`deleted`). 1.4a/b/c and 1.5a/b/c as
 *   the tables say; 1.5b's `matchPolicyChanged` compares the selectors, not the policy's name.
 *   'group-other': member-threshold and activation-time-delay, one change per group.
 * - Table 2, per group present in both: 2.2a / 2.2f server-cluster added / deleted; 2.2b server-role
 *   changed, which replaces 2.2c/d/e for that group (every peer is affected anyway); 2.2c / 2.2d one per
 *   peer gateway added to / removed from the cluster list; 2.2e retransmission-period.
 *
 * Member configurations (kept simple): 1.1 per member gateway (`ike.gateway.NAME`, not the `NAME/ADDRESS`
 * peers the IKE engine is given) added, deleted, or whose policy, proposals, server list, port,
 * local-address or phase1-doi changed; 'group-other' per vpn added, deleted or changed (`group` is the vpn
 * name), and one 'group-other' without `group` for any data-plane change.
 *
 * `restartRequired`: a role change (server <-> member; then no changes are listed), any `system.*`
 * difference (log-level included, for now), `ike.options` (the IKE engine takes them at start) and any
 * `chassis-cluster` difference. The file name itself is never a difference.
 *
 * Pre-shared keys are compared in constant time on their revealed bytes and never described beyond
 * "pre-shared-key changed".
 */
import { isDeepStrictEqual } from 'node:util';
import { equalBytes, type Secret } from '@gvpn/crypto';
import type {
  ChassisClusterConfig,
  DaemonConfig,
  DataPlaneConfig,
  GroupIpsecSaConfig,
  IkePolicyConfig,
  IkeProposalConfig,
  IkeServerGatewayConfig,
  IpsecProposalConfig,
  MatchPolicyConfig,
  MemberConfig,
  MemberGatewayConfig,
  MemberVpnConfig,
  ServerClusterConfig,
  ServerConfig,
  ServerGroupConfig,
  ServerMemberCommunicationConfig,
} from './config-types.js';

/** A cell of Table 1 or 2, or a group change the tables do not name. */
export type ChangeCell =
  | '1.1' | '1.2' | '1.3a' | '1.3b' | '1.3c' | '1.3d' | '1.3e' | '1.4a' | '1.4b' | '1.4c' | '1.5a' | '1.5b' | '1.5c'
  | '2.1' | '2.2a' | '2.2b' | '2.2c' | '2.2d' | '2.2e' | '2.2f' | 'group-added' | 'group-other';

/**
 * The order changes are listed (and applied) in: Table 1 rows, a new group and other group fields after
 * them (the group's gateways and the groups it replaces are settled by then), then Table 2.
 */
export const CHANGE_CELLS: readonly ChangeCell[] = [
  '1.1', '1.2', '1.3a', '1.3b', '1.3c', '1.3d', '1.3e', '1.4a', '1.4b', '1.4c', '1.5a', '1.5b', '1.5c',
  'group-added', 'group-other',
  '2.1', '2.2a', '2.2b', '2.2c', '2.2d', '2.2e', '2.2f',
];

export interface ConfigChange {
  cell: ChangeCell;
  /** Group name (1.2 ... 1.5c, group-added, group-other, 2.2x); on a member, the vpn name. */
  group?: string;
  /** IKE gateway name (1.1, 1.3c, 2.1, 2.2c, 2.2d). */
  gateway?: string;
  /** 1.5a/b/c. */
  ipsecSa?: string;
  kind?: 'added' | 'changed' | 'deleted';
  /** 1.5b: the TEK's traffic selectors changed (delete it at once instead of waiting for the rekey). */
  matchPolicyChanged?: boolean;
  /** One readable line; never a secret. */
  detail: string;
}

export interface ConfigDiff {
  /** In `CHANGE_CELLS` order; within a cell, in the order of the configuration. */
  changes: ConfigChange[];
  /** Differences that cannot be applied live, one line each; the changes are not applied then. */
  restartRequired: string[];
}

export function diffConfigs(running: DaemonConfig, next: DaemonConfig): ConfigDiff {
  const restartRequired = systemDifferences(running, next);
  if (running.role !== next.role) {
    return { changes: [], restartRequired: [...restartRequired, `role changed (${running.role} -> ${next.role})`] };
  }
  if (!isDeepStrictEqual(running.ike.options, next.ike.options)) {
    restartRequired.push(`ike.options changed (${fieldDifferences(running.ike.options, next.ike.options, IKE_OPTION_NAMES).join(', ')})`);
  }
  restartRequired.push(...chassisDifferences(running.chassisCluster, next.chassisCluster));

  const changes: ConfigChange[] = [];
  if (running.server !== null && next.server !== null) {
    changes.push(...serverGatewayChanges(running, next));
    diffServer(running.server, next.server, changes);
  }
  if (running.member !== null && next.member !== null) diffMember(running.member, next.member, changes);
  const rank = (change: ConfigChange): number => CHANGE_CELLS.indexOf(change.cell);
  // Array.prototype.sort is stable: within a cell the configuration's order stays.
  changes.sort((a, b) => rank(a) - rank(b));
  return { changes, restartRequired };
}

// ---- restart-only sections --------------------------------------------------------------------------

const IKE_OPTION_NAMES = {
  allowLegacyGroups: 'allow-legacy-groups',
  maxHalfOpen: 'max-half-open',
  retransmitInitialMs: 'retransmit-initial-ms',
  retransmitTries: 'retransmit-tries',
  dhReuseSeconds: 'dh-reuse-seconds',
} as const;

function systemDifferences(running: DaemonConfig, next: DaemonConfig): string[] {
  const a = running.system;
  const b = next.system;
  const lines: string[] = [];
  const compare = (path: string, from: unknown, to: unknown, shown: string = `${show(from)} -> ${show(to)}`): void => {
    if (!isDeepStrictEqual(from, to)) lines.push(`system.${path} changed (${shown})`);
  };
  compare('host-name', a.hostName, b.hostName);
  compare('platform', a.platform, b.platform, `${a.platform.name} -> ${b.platform.name}`);
  compare('listen', a.listen, b.listen, `${a.listen.address}:${a.listen.port} -> ${b.listen.address}:${b.listen.port}`);
  compare('state-directory', a.stateDirectory, b.stateDirectory);
  compare('log-level', a.logLevel, b.logLevel);
  compare('debug.ike-key-log', a.debug.ikeKeyLog, b.debug.ikeKeyLog);
  compare('debug.short-timers', a.debug.shortTimers, b.debug.shortTimers);
  return lines;
}

function chassisDifferences(a: ChassisClusterConfig | null, b: ChassisClusterConfig | null): string[] {
  if (a === null && b === null) return [];
  if (a === null) return ['chassis-cluster added'];
  if (b === null) return ['chassis-cluster deleted'];
  const changed = fieldDifferences(a, b, { node: 'node', heartbeatIntervalMs: 'heartbeat-interval', heartbeatThreshold: 'heartbeat-threshold', priorities: 'redundancy-group-0' });
  const link = fieldDifferences(a.controlLink, b.controlLink, { localAddress: 'local-address', peerAddress: 'peer-address', port: 'port' })
    .map((line) => `control-link.${line}`);
  if (!sameSecret(a.controlLink.preSharedKey, b.controlLink.preSharedKey)) link.push('control-link.pre-shared-key');
  const all = [...changed, ...link];
  return all.length === 0 ? [] : [`chassis-cluster changed (${all.join(', ')})`];
}

// ---- server -----------------------------------------------------------------------------------------

function diffServer(running: ServerConfig, next: ServerConfig, out: ConfigChange[]): void {
  const nextNames = new Set(next.groups.map((g) => g.name));
  for (const group of running.groups) {
    if (!nextNames.has(group.name)) out.push({ cell: '1.3a', group: group.name, kind: 'deleted', detail: `group ${group.name}: deleted` });
  }
  for (const group of next.groups) {
    const old = running.groups.find((g) => g.name === group.name);
    if (old === undefined) {
      out.push({ cell: 'group-added', group: group.name, kind: 'added', detail: `group ${group.name}: added (group-id ${group.groupId})` });
      continue;
    }
    diffGroup(old, group, out);
    diffServerCluster(group.name, old.serverCluster, group.serverCluster, out);
  }
}

function diffGroup(a: ServerGroupConfig, b: ServerGroupConfig, out: ConfigChange[]): void {
  const group = b.name;
  const line = (text: string): string => `group ${group}: ${text}`;
  if (a.groupId !== b.groupId) {
    // The group is rebuilt from the new configuration: finer Table 1 cells would repeat or undo that.
    out.push({ cell: '1.3b', group, kind: 'changed', detail: line(`group-id ${a.groupId} -> ${b.groupId}`) });
    return;
  }

  const changedProposals: string[] = [];
  for (const sa of b.ipsecSas) {
    const old = a.ipsecSas.find((s) => s.name === sa.name);
    if (old === undefined || old.proposal.name !== sa.proposal.name || changedProposals.includes(sa.proposal.name)) continue;
    const fields = ipsecProposalDifferences(old.proposal, sa.proposal);
    if (fields.length === 0) continue;
    changedProposals.push(sa.proposal.name);
    out.push({ cell: '1.2', group, kind: 'changed', detail: line(`ipsec proposal ${sa.proposal.name} changed (${fields.join(', ')})`) });
  }

  const oldGateways = a.memberGateways.map((g) => g.name);
  const newGateways = b.memberGateways.map((g) => g.name);
  for (const name of oldGateways) {
    if (!newGateways.includes(name)) out.push({ cell: '1.3c', group, gateway: name, kind: 'deleted', detail: line(`ike-gateway ${name} removed`) });
  }
  for (const name of newGateways) {
    if (!oldGateways.includes(name)) out.push({ cell: '1.3c', group, gateway: name, kind: 'added', detail: line(`ike-gateway ${name} added`) });
  }

  const windowA = a.antiReplayTimeWindowSeconds;
  const windowB = b.antiReplayTimeWindowSeconds;
  if (windowA !== windowB) {
    const kind = windowA === null ? 'added' : windowB === null ? 'deleted' : 'changed';
    out.push({ cell: '1.3d', group, kind, detail: line(`anti-replay-time-window ${show(windowA)} -> ${show(windowB)}`) });
  }
  if (a.noAntiReplay !== b.noAntiReplay) {
    out.push({ cell: '1.3e', group, kind: b.noAntiReplay ? 'added' : 'deleted', detail: line(`no-anti-replay ${a.noAntiReplay} -> ${b.noAntiReplay}`) });
  }

  const smcA = a.serverMemberCommunication;
  const smcB = b.serverMemberCommunication;
  if (smcA === null && smcB !== null) {
    out.push({ cell: '1.4a', group, kind: 'added', detail: line('server-member-communication added') });
  } else if (smcA !== null && smcB === null) {
    out.push({ cell: '1.4c', group, kind: 'deleted', detail: line('server-member-communication deleted') });
  } else if (smcA !== null && smcB !== null) {
    const fields = fieldDifferences<ServerMemberCommunicationConfig>(smcA, smcB, SMC_NAMES);
    if (fields.length > 0) out.push({ cell: '1.4b', group, kind: 'changed', detail: line(`server-member-communication changed (${fields.join(', ')})`) });
  }

  for (const sa of b.ipsecSas) {
    const old = a.ipsecSas.find((s) => s.name === sa.name);
    if (old === undefined) {
      out.push({ cell: '1.5a', group, ipsecSa: sa.name, kind: 'added', detail: line(`ipsec-sa ${sa.name} added`) });
      continue;
    }
    const change = ipsecSaChange(old, sa);
    if (change !== null) {
      out.push({ cell: '1.5b', group, ipsecSa: sa.name, kind: 'changed', matchPolicyChanged: change.matchPolicyChanged, detail: line(`ipsec-sa ${sa.name}: ${change.fields.join(', ')}`) });
    }
  }
  for (const sa of a.ipsecSas) {
    if (!b.ipsecSas.some((s) => s.name === sa.name)) out.push({ cell: '1.5c', group, ipsecSa: sa.name, kind: 'deleted', detail: line(`ipsec-sa ${sa.name} deleted`) });
  }

  const other = fieldDifferences(a, b, { memberThreshold: 'member-threshold', activationTimeDelaySeconds: 'activation-time-delay' });
  if (other.length > 0) out.push({ cell: 'group-other', group, kind: 'changed', detail: line(other.join(', ')) });
}

const SMC_NAMES: Record<keyof ServerMemberCommunicationConfig, string> = {
  communicationType: 'communication-type',
  encryptionAlgorithm: 'encryption-algorithm',
  encryptionKeyLength: 'encryption-key-length',
  lifetimeSeconds: 'lifetime-seconds',
  retransmissionPeriodSeconds: 'retransmission-period',
  numberOfRetransmission: 'number-of-retransmission',
  sigHashAlgorithm: 'sig-hash-algorithm',
};

function ipsecProposalDifferences(a: IpsecProposalConfig, b: IpsecProposalConfig): string[] {
  return fieldDifferences(a, b, {
    encryptionAlgorithm: 'encryption-algorithm',
    authenticationAlgorithm: 'authentication-algorithm',
    lifetimeSeconds: 'lifetime-seconds',
  });
}

/** 1.5b: another proposal, or other selectors (or only the match-policy's name); null when the same. */
function ipsecSaChange(a: GroupIpsecSaConfig, b: GroupIpsecSaConfig): { fields: string[]; matchPolicyChanged: boolean } | null {
  const fields: string[] = [];
  if (a.proposal.name !== b.proposal.name) fields.push(`proposal ${a.proposal.name} -> ${b.proposal.name}`);
  const selectors = fieldDifferences<MatchPolicyConfig>(a.matchPolicy, b.matchPolicy, {
    source: 'source',
    destination: 'destination',
    sourcePort: 'source-port',
    destinationPort: 'destination-port',
    protocol: 'protocol',
  });
  if (selectors.length > 0) fields.push(`match-policy changed (${selectors.join(', ')})`);
  if (a.matchPolicy.name !== b.matchPolicy.name) fields.push(`match-policy renamed ${a.matchPolicy.name} -> ${b.matchPolicy.name}`);
  return fields.length === 0 ? null : { fields, matchPolicyChanged: selectors.length > 0 };
}

function diffServerCluster(group: string, a: ServerClusterConfig | null, b: ServerClusterConfig | null, out: ConfigChange[]): void {
  const line = (text: string): string => `group ${group}: ${text}`;
  if (a === null && b === null) return;
  if (a === null && b !== null) {
    out.push({ cell: '2.2a', group, kind: 'added', detail: line(`server-cluster added (${b.serverRole})`) });
    return;
  }
  if (a !== null && b === null) {
    out.push({ cell: '2.2f', group, kind: 'deleted', detail: line(`server-cluster deleted (was ${a.serverRole})`) });
    return;
  }
  if (a === null || b === null) return;
  if (a.serverRole !== b.serverRole) {
    // The role change acts on every peer, old and new; peer and timer cells would only repeat it.
    out.push({ cell: '2.2b', group, kind: 'changed', detail: line(`server-cluster server-role ${a.serverRole} -> ${b.serverRole}`) });
    return;
  }
  const oldPeers = a.peers.map((p) => p.name);
  const newPeers = b.peers.map((p) => p.name);
  for (const name of newPeers) {
    if (!oldPeers.includes(name)) out.push({ cell: '2.2c', group, gateway: name, kind: 'added', detail: line(`server-cluster peer ${name} added`) });
  }
  for (const name of oldPeers) {
    if (!newPeers.includes(name)) out.push({ cell: '2.2d', group, gateway: name, kind: 'deleted', detail: line(`server-cluster peer ${name} deleted`) });
  }
  if (a.retransmissionPeriodSeconds !== b.retransmissionPeriodSeconds) {
    out.push({ cell: '2.2e', group, kind: 'changed', detail: line(`server-cluster retransmission-period ${a.retransmissionPeriodSeconds} -> ${b.retransmissionPeriodSeconds}`) });
  }
}

// ---- IKE gateways (1.1, 2.1) ------------------------------------------------------------------------

/** Every gateway of a server configuration by name, in file order: fixed ones, then the dynamic one. */
function serverGateways(config: DaemonConfig): IkeServerGatewayConfig[] {
  return [...config.ike.gateways, ...config.ike.dynamicGateways];
}

function clusterPeerNames(config: DaemonConfig): Set<string> {
  return new Set(config.server?.groups.flatMap((g) => g.serverCluster?.peers.map((p) => p.name) ?? []) ?? []);
}

/** 1.1 and 2.1: every gateway the IKE engine knows, fixed or dynamic. */
function serverGatewayChanges(running: DaemonConfig, next: DaemonConfig): ConfigChange[] {
  const out: ConfigChange[] = [];
  const oldPeers = clusterPeerNames(running);
  const newPeers = clusterPeerNames(next);
  const before = serverGateways(running);
  const after = serverGateways(next);
  const cellOf = (name: string): ChangeCell => (newPeers.has(name) || oldPeers.has(name) ? '2.1' : '1.1');
  const label = (name: string): string => (cellOf(name) === '2.1' ? `cluster peer ike gateway ${name}` : `ike gateway ${name}`);
  for (const gateway of after) {
    const old = before.find((g) => g.name === gateway.name);
    if (old === undefined) {
      out.push({ cell: cellOf(gateway.name), gateway: gateway.name, kind: 'added', detail: `${label(gateway.name)}: added` });
      continue;
    }
    const fields = serverGatewayDifferences(old, gateway);
    if (fields.length > 0) out.push({ cell: cellOf(gateway.name), gateway: gateway.name, kind: 'changed', detail: `${label(gateway.name)}: ${fields.join('; ')}` });
  }
  for (const gateway of before) {
    if (!after.some((g) => g.name === gateway.name)) {
      out.push({ cell: cellOf(gateway.name), gateway: gateway.name, kind: 'deleted', detail: `${label(gateway.name)}: deleted` });
    }
  }
  return out;
}

function serverGatewayDifferences(a: IkeServerGatewayConfig, b: IkeServerGatewayConfig): string[] {
  const fields: string[] = [];
  const addressA = a.dynamic ? 'dynamic' : a.remote.address;
  const addressB = b.dynamic ? 'dynamic' : b.remote.address;
  if (addressA !== addressB) fields.push(`address ${addressA} -> ${addressB}`);
  if (!a.dynamic && !b.dynamic) {
    fields.push(...fieldDifferences(a.remote, b.remote, { port: 'port' }));
    fields.push(...fieldDifferences(a, b, { initiate: 'initiate' }));
  }
  fields.push(...fieldDifferences(a, b, { localAddress: 'local-address' }));
  if (a.phase1Doi !== b.phase1Doi) fields.push(`phase1-doi ${doiName(a.phase1Doi)} -> ${doiName(b.phase1Doi)}`);
  const dpd = fieldDifferences(a.dpd, b.dpd, { alwaysSend: 'always-send', intervalSeconds: 'interval', threshold: 'threshold' });
  if (dpd.length > 0) fields.push(`dead-peer-detection changed (${dpd.join(', ')})`);
  fields.push(...policyDifferences(a.policy, b.policy));
  return fields;
}

/** Nothing when the same in effect; else one entry ("ike-policy A -> B" or "policy P changed (...)"). */
function policyDifferences(a: IkePolicyConfig, b: IkePolicyConfig): string[] {
  if (a.name !== b.name) return [`ike-policy ${a.name} -> ${b.name}`];
  const fields = fieldDifferences(a, b, { mode: 'mode' });
  const namesA = a.proposals.map((p) => p.name);
  const namesB = b.proposals.map((p) => p.name);
  if (!isDeepStrictEqual(namesA, namesB)) fields.push(`proposals [${namesA.join(', ')}] -> [${namesB.join(', ')}]`);
  for (const proposal of b.proposals) {
    const old = a.proposals.find((p) => p.name === proposal.name);
    if (old === undefined) continue;
    const changed = ikeProposalDifferences(old, proposal);
    if (changed.length > 0) fields.push(`proposal ${proposal.name} changed (${changed.join(', ')})`);
  }
  if (!sameSecret(a.preSharedKey, b.preSharedKey)) fields.push('pre-shared-key changed');
  return fields.length === 0 ? [] : [`policy ${b.name} changed (${fields.join(', ')})`];
}

function ikeProposalDifferences(a: IkeProposalConfig, b: IkeProposalConfig): string[] {
  return fieldDifferences(a, b, {
    authenticationMethod: 'authentication-method',
    dhGroup: 'dh-group',
    hash: 'authentication-algorithm',
    encryptionAlgorithm: 'encryption-algorithm',
    lifetimeSeconds: 'lifetime-seconds',
  });
}

function doiName(doi: 1 | 2): string {
  return doi === 2 ? 'gdoi' : 'ipsec';
}

// ---- member -----------------------------------------------------------------------------------------

function diffMember(a: MemberConfig, b: MemberConfig, out: ConfigChange[]): void {
  for (const gateway of b.gateways) {
    const old = a.gateways.find((g) => g.name === gateway.name);
    if (old === undefined) {
      out.push({ cell: '1.1', gateway: gateway.name, kind: 'added', detail: `ike gateway ${gateway.name}: added` });
      continue;
    }
    const fields = memberGatewayDifferences(old, gateway);
    if (fields.length > 0) out.push({ cell: '1.1', gateway: gateway.name, kind: 'changed', detail: `ike gateway ${gateway.name}: ${fields.join('; ')}` });
  }
  for (const gateway of a.gateways) {
    if (!b.gateways.some((g) => g.name === gateway.name)) out.push({ cell: '1.1', gateway: gateway.name, kind: 'deleted', detail: `ike gateway ${gateway.name}: deleted` });
  }

  for (const vpn of b.vpns) {
    const old = a.vpns.find((v) => v.name === vpn.name);
    if (old === undefined) {
      out.push({ cell: 'group-other', group: vpn.name, kind: 'added', detail: `vpn ${vpn.name}: added (group ${vpn.groupId})` });
      continue;
    }
    const fields = vpnDifferences(old, vpn);
    if (fields.length > 0) out.push({ cell: 'group-other', group: vpn.name, kind: 'changed', detail: `vpn ${vpn.name}: ${fields.join(', ')}` });
  }
  for (const vpn of a.vpns) {
    if (!b.vpns.some((v) => v.name === vpn.name)) out.push({ cell: 'group-other', group: vpn.name, kind: 'deleted', detail: `vpn ${vpn.name}: deleted` });
  }

  const dataPlane = dataPlaneDifferences(a.dataPlane, b.dataPlane);
  if (dataPlane.length > 0) out.push({ cell: 'group-other', kind: 'changed', detail: `data-plane: ${dataPlane.join(', ')}` });
}

function memberGatewayDifferences(a: MemberGatewayConfig, b: MemberGatewayConfig): string[] {
  const fields: string[] = [];
  const serversA = a.servers.map((s) => s.remote.address);
  const serversB = b.servers.map((s) => s.remote.address);
  if (!isDeepStrictEqual(serversA, serversB)) fields.push(`server-address [${serversA.join(', ')}] -> [${serversB.join(', ')}]`);
  const firstA = a.servers[0];
  const firstB = b.servers[0];
  if (firstA !== undefined && firstB !== undefined) {
    fields.push(...fieldDifferences(firstA.remote, firstB.remote, { port: 'port' }));
    if (firstA.phase1Doi !== firstB.phase1Doi) fields.push(`phase1-doi ${doiName(firstA.phase1Doi)} -> ${doiName(firstB.phase1Doi)}`);
  }
  fields.push(...fieldDifferences(a, b, { localAddress: 'local-address' }));
  fields.push(...policyDifferences(a.policy, b.policy));
  return fields;
}

function vpnDifferences(a: MemberVpnConfig, b: MemberVpnConfig): string[] {
  const fields: string[] = [];
  if (a.gateway.name !== b.gateway.name) fields.push(`ike-gateway ${a.gateway.name} -> ${b.gateway.name}`);
  fields.push(...fieldDifferences(a, b, {
    groupId: 'group',
    externalInterface: 'group-vpn-external-interface',
    registrationTimeoutSeconds: 'registration-timeout-seconds',
  }));
  return fields;
}

function dataPlaneDifferences(a: DataPlaneConfig, b: DataPlaneConfig): string[] {
  const fields = fieldDifferences(a, b, { listenAddress: 'listen-address', listenPort: 'listen-port', memberId: 'member-id' });
  if (!isDeepStrictEqual(a.probe, b.probe)) fields.push('probe changed');
  return fields;
}

// ---- helpers ----------------------------------------------------------------------------------------

/**
 * "name old -> new" for each listed field that differs. Only for plain data: `isDeepStrictEqual` does not
 * see a `Secret`'s private bytes, so secrets are compared with `sameSecret` instead.
 */
function fieldDifferences<T extends object>(a: T, b: T, names: Partial<Record<keyof T, string>>): string[] {
  const fields: string[] = [];
  for (const key of Object.keys(names) as Array<keyof T>) {
    const name = names[key];
    if (name === undefined || isDeepStrictEqual(a[key], b[key])) continue;
    fields.push(`${name} ${show(a[key])} -> ${show(b[key])}`);
  }
  return fields;
}

/** Constant-time equality of two keys' bytes (the lengths are not hidden). */
function sameSecret(a: Secret, b: Secret): boolean {
  return equalBytes(a.reveal(), b.reveal());
}

function show(value: unknown): string {
  if (value === null || value === undefined) return 'none';
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  return String(value);
}
