import { renderTable } from './table.js';

/*
 * `show security group-vpn server kek security-associations [detail]`: the KEK of each group this key
 * server serves. Layout modelled on the Junos server KEK display (documented field names), not copied.
 */

export interface ServerKekSa {
  group: string;
  groupId: number;
  /** 32 lower-case hex digits: the cookies of the PUSH headers. */
  spi: string;
  algorithm: string;
  lifetimeSeconds: number;
  expiresInSeconds: number;
  rekeyInSeconds: number;
  /** SEQ of the last push under this KEK (0 before any). */
  seq: number;
  sigHash: string;
  sigAlgorithm: string;
  sigKeyBits: number;
  ackRequested: boolean;
  communicationType: string;
  retransmissionPeriodSeconds: number | null;
  numberOfRetransmission: number | null;
  rekeyInProgress: { kind: string; seq: number; awaitingAcks: number } | null;
  /** Only with `--show-keys`. */
  keys?: { encryptionKey: string; iv: string; signaturePublicKey: string };
}

export interface ServerKekSecurityAssociations {
  sas: ServerKekSa[];
}

export function renderServerKekSecurityAssociations(data: ServerKekSecurityAssociations, detail: boolean): string {
  if (data.sas.length === 0) return 'No KEK security associations.\n';
  if (!detail) {
    return renderTable(
      ['Group', 'Group ID', 'SPI', 'Algorithm', 'Seq', 'Lifetime'],
      data.sas.map((sa) => [sa.group, String(sa.groupId), sa.spi, sa.algorithm, String(sa.seq), String(sa.expiresInSeconds)]),
    );
  }
  return data.sas.map((sa) => [
    `Group VPN Name: ${sa.group}, Group ID: ${sa.groupId}`,
    `  KEK SPI: ${sa.spi}`,
    `  Encryption: ${sa.algorithm}, Signature: ${sa.sigAlgorithm}-${sa.sigKeyBits} ${sa.sigHash}, ACK requested: ${sa.ackRequested ? 'yes' : 'no'}`,
    `  Sequence number: ${sa.seq}`,
    `  Lifetime: Expires in ${sa.expiresInSeconds} seconds (of ${sa.lifetimeSeconds}), rekey in ${sa.rekeyInSeconds} seconds`,
    `  Server-member communication: ${sa.communicationType}, retransmission period ${sa.retransmissionPeriodSeconds ?? '-'} seconds, retransmissions ${sa.numberOfRetransmission ?? '-'}`,
    `  Rekey in progress: ${sa.rekeyInProgress === null ? 'no' : `${sa.rekeyInProgress.kind}, seq ${sa.rekeyInProgress.seq}, awaiting ${sa.rekeyInProgress.awaitingAcks} ACK(s)`}`,
    ...(sa.keys === undefined ? [] : [`  Key: ${sa.keys.encryptionKey}`, `  IV: ${sa.keys.iv}`]),
  ].join('\n') + '\n').join('\n');
}
