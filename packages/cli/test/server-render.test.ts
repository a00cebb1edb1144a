import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderServerGroupAction } from '../src/render/server-group-action.js';
import { renderServerIpsecSecurityAssociations, type ServerIpsecSa } from '../src/render/server-ipsec-security-associations.js';
import { renderServerKekSecurityAssociations, type ServerKekSa } from '../src/render/server-kek-security-associations.js';
import { renderServerRegisteredMembers } from '../src/render/server-registered-members.js';

const KEK: ServerKekSa = {
  group: 'G1', groupId: 101, spi: '00112233445566778899aabbccddeeff', algorithm: 'aes-256-cbc', lifetimeSeconds: 3600,
  expiresInSeconds: 3412, rekeyInSeconds: 2872, seq: 4, sigHash: 'sha256', sigAlgorithm: 'rsa', sigKeyBits: 2048, ackRequested: true,
  communicationType: 'unicast', retransmissionPeriodSeconds: 10, numberOfRetransmission: 2, rekeyInProgress: null,
};
const TEK: ServerIpsecSa = {
  group: 'G1', groupId: 101, ipsecSa: 'SA1', spi: 'a1b2c3d4', state: 'active', protocol: 'esp', mode: 'tunnel',
  algorithm: 'aes-128-gcm', authentication: null, lifetimeSeconds: 3600, expiresInSeconds: 3000, source: '10.10.0.0/16',
  destination: '10.20.0.0/16', sourcePort: 0, destinationPort: 5000, ipProtocol: 17, antiReplayWindowSeconds: null,
  activationDelaySeconds: 15, deactivationDelaySeconds: 45,
};

describe('server GDOI renderers', () => {
  it('KEK brief and detail, keys only when the daemon sent them', () => {
    assert.equal(renderServerKekSecurityAssociations({ sas: [KEK] }, false), [
      '  Group  Group ID  SPI                               Algorithm    Seq  Lifetime',
      '  G1     101       00112233445566778899aabbccddeeff  aes-256-cbc  4    3412',
      '',
    ].join('\n'));
    const detail = renderServerKekSecurityAssociations({ sas: [KEK] }, true);
    assert.equal(detail, [
      'Group VPN Name: G1, Group ID: 101',
      '  KEK SPI: 00112233445566778899aabbccddeeff',
      '  Encryption: aes-256-cbc, Signature: rsa-2048 sha256, ACK requested: yes',
      '  Sequence number: 4',
      '  Lifetime: Expires in 3412 seconds (of 3600), rekey in 2872 seconds',
      '  Server-member communication: unicast, retransmission period 10 seconds, retransmissions 2',
      '  Rekey in progress: no',
      '',
    ].join('\n'));
    assert.match(renderServerKekSecurityAssociations({ sas: [{ ...KEK, keys: { encryptionKey: 'aa', iv: 'bb', signaturePublicKey: 'cc' } }] }, true), /  Key: aa\n  IV: bb\n$/);
    assert.equal(renderServerKekSecurityAssociations({ sas: [] }, false), 'No KEK security associations.\n');
  });

  it('TEK brief and detail', () => {
    assert.equal(renderServerIpsecSecurityAssociations({ sas: [TEK] }, false), [
      '  Group  Group ID  SPI       State   Algorithm    Source        Destination   Lifetime',
      '  G1     101       a1b2c3d4  active  aes-128-gcm  10.10.0.0/16  10.20.0.0/16  3000',
      '',
    ].join('\n'));
    assert.equal(renderServerIpsecSecurityAssociations({ sas: [{ ...TEK, keys: { encryptionKey: 'k', salt: 's' } }] }, true), [
      'Group VPN Name: G1, Group ID: 101, IPsec SA: SA1',
      '  SPI: a1b2c3d4, State: active, Protocol: ESP, Mode: tunnel',
      '  Encryption: aes-128-gcm, Authentication: none (AEAD)',
      '  Match policy: source 10.10.0.0/16 port any, destination 10.20.0.0/16 port 5000, protocol 17',
      '  Anti-replay time window: none',
      '  Activation delay: 15 seconds, deactivation delay: 45 seconds',
      '  Lifetime: Expires in 3000 seconds (of 3600)',
      '  Encryption key: k',
      '  Salt: s',
      '',
    ].join('\n'));
  });

  it('registered members and group actions', () => {
    assert.equal(renderServerRegisteredMembers({
      totalMembers: 1, platformMaxMembers: 10000,
      groups: [
        { name: 'G1', groupId: 101, memberThreshold: 2, memberCount: 1, members: [{
          address: '127.0.7.11', port: 848, gateway: 'GM1', registeredAt: '2026-11-27T23:10:09.000Z', lastAckedSeq: 4,
          pendingSeq: null, pushesSent: 4, retransmissions: 0, icookie: '0011223344556677', rcookie: '8899aabbccddeeff',
        }] },
        { name: 'G2', groupId: 102, memberThreshold: null, memberCount: 0, members: [] },
      ],
    }), [
      'Registered members: 1 (platform maximum 10000)',
      '',
      'Group: G1, Group ID: 101, Members: 1 (threshold 2)',
      '  Member      Gateway  Registered                Last ACKed seq  Pending seq',
      '  127.0.7.11  GM1      2026-11-27T23:10:09.000Z  4               -',
      '',
      'Group: G2, Group ID: 102, Members: 0',
      '',
    ].join('\n'));
    assert.equal(renderServerGroupAction({ group: 'G1', groupId: 101, action: 'delete-all', queued: true, pushed: true, seq: 0, spis: [], kekSpi: null }),
      'Group G1 (ID 101): delete-all and new keys queued behind the push in progress\n');
    assert.equal(renderServerGroupAction({ group: 'G2', groupId: 102, action: 'delete-all', queued: false, pushed: false, seq: 0, spis: ['a1b2c3d4'], kekSpi: null }),
      'Group G2 (ID 102): delete-all and new keys started; TEK SPI(s) a1b2c3d4; no KEK: nothing pushed, members keep their TEKs until they pull again\n');
  });
});
