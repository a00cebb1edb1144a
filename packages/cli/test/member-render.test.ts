import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderMemberClear } from '../src/render/member-clear.js';
import { renderMemberIpsecSecurityAssociations, type MemberIpsecSa } from '../src/render/member-ipsec-security-associations.js';
import { renderMemberIpsecStatistics } from '../src/render/member-ipsec-statistics.js';
import { renderMemberKekSecurityAssociations, type MemberKekSa } from '../src/render/member-kek-security-associations.js';
import { renderMemberPolicy } from '../src/render/member-policy.js';
import { runCli } from '../src/cli.js';

const KEK: MemberKekSa = {
  group: 'GROUP_ID-0001-VPN', groupId: 1, spi: '5dc1f92dcb4cd6fa33302dd498e3ff6d', server: '127.0.2.1', serverPort: 848,
  gateway: 'GW-GROUP1/127.0.2.1', algorithm: 'aes-256-cbc', signatureHash: 'sha256', signatureKeyBits: 2048, ackRequested: true,
  seq: 3, lifetimeSeconds: 600, expiresInSeconds: 592, registeredSecondsAgo: 7,
};

const TEK: MemberIpsecSa = {
  group: 'GROUP_ID-0001-VPN', groupId: 1, spi: '3d5cf075', algorithm: 'aes-256-cbc', integrity: 'hmac-sha-256-128',
  transform: 'aes-cbc-hmac-sha256-128', state: 'active', outbound: true, server: '127.0.2.1', source: '172.16.0.0/12',
  destination: '172.16.0.0/12', sourcePort: 0, destinationPort: 0, protocol: 0, mode: 'tunnel', lifetimeSeconds: 120,
  activatesInSeconds: 0, expiresInSeconds: 111,
};

describe('member renderers', () => {
  it('KEK security associations, brief and detail; keys only when the daemon sent them', () => {
    const registrations = [{ group: KEK.group, groupId: 1, registered: true, server: '127.0.2.1', attempt: null, trying: null }];
    assert.equal(renderMemberKekSecurityAssociations({ sas: [KEK], registrations }, false), [
      '  Group              Group ID  Server     SPI                               Algorithm    Seq  Lifetime',
      '  GROUP_ID-0001-VPN  1         127.0.2.1  5dc1f92dcb4cd6fa33302dd498e3ff6d  aes-256-cbc  3    592',
      '',
    ].join('\n'));
    assert.equal(renderMemberKekSecurityAssociations({ sas: [KEK], registrations }, true), [
      'Group VPN Name: GROUP_ID-0001-VPN, Group ID: 1',
      '  Server: 127.0.2.1:848, Gateway: GW-GROUP1/127.0.2.1',
      '  KEK SPI: 5dc1f92dcb4cd6fa33302dd498e3ff6d',
      '  Encryption: aes-256-cbc, Signature: rsa-2048 sha256, ACK requested: yes',
      '  Sequence number: 3',
      '  Lifetime: Expires in 592 seconds (of 600), registered 7 seconds ago',
      '',
    ].join('\n'));
    assert.match(renderMemberKekSecurityAssociations({ sas: [{ ...KEK, key: 'aa'.repeat(32), iv: 'bb'.repeat(16) }], registrations }, true), /Key: a{64}\n {2}IV: b{32}/);
    assert.equal(
      renderMemberKekSecurityAssociations({ sas: [], registrations: [{ ...registrations[0]!, registered: false, server: null, attempt: 'connecting', trying: '127.0.2.2' }] }, false),
      'Group GROUP_ID-0001-VPN (ID 1): not registered, trying 127.0.2.2 (connecting)\nNo KEK security associations.\n',
    );
  });

  it('KEK security associations: a group registered without a KEK still shows, as --json has it', () => {
    // As a member answers after registering in a group without server-member-communication.
    const registrations = [{ group: KEK.group, groupId: 1, registered: true, server: '127.0.2.1', attempt: null, trying: null }];
    for (const detail of [false, true]) {
      assert.equal(
        renderMemberKekSecurityAssociations({ sas: [], registrations }, detail),
        'Group GROUP_ID-0001-VPN (ID 1): registered with 127.0.2.1, no KEK (no server-member-communication)\nNo KEK security associations.\n',
      );
    }
  });

  it('IPsec security associations, brief and detail', () => {
    assert.equal(renderMemberIpsecSecurityAssociations({ sas: [TEK, { ...TEK, spi: '0000abcd', state: 'retiring', outbound: false, expiresInSeconds: 2 }] }, false), [
      '  Group              SPI       Algorithm                         State     Out  Lifetime  Source         Destination',
      '  GROUP_ID-0001-VPN  3d5cf075  ESP:aes-256-cbc/hmac-sha-256-128  active    yes  111       172.16.0.0/12  172.16.0.0/12',
      '  GROUP_ID-0001-VPN  0000abcd  ESP:aes-256-cbc/hmac-sha-256-128  retiring  no   2         172.16.0.0/12  172.16.0.0/12',
      '',
    ].join('\n'));
    assert.equal(renderMemberIpsecSecurityAssociations({ sas: [TEK] }, true), [
      'Group VPN Name: GROUP_ID-0001-VPN, Group ID: 1, Server: 127.0.2.1',
      '  SPI: 3d5cf075, State: active, outbound',
      '  Protocol: ESP, Mode: tunnel, Encryption: aes-256-cbc, Integrity: hmac-sha-256-128',
      '  Match: source 172.16.0.0/12 port any, destination 172.16.0.0/12 port any, protocol any',
      '  Lifetime: Expires in 111 seconds (of 120)',
      '',
    ].join('\n'));
    assert.equal(renderMemberIpsecSecurityAssociations({ sas: [] }, false), 'No IPsec security associations.\n');
  });

  it('policy, statistics and clear', () => {
    assert.equal(renderMemberPolicy({ policies: [{ group: 'G', groupId: 1, action: 'encrypt', source: '172.16.0.0/12', destination: '172.16.0.0/12', sourcePort: 0, destinationPort: 500, protocol: 17, spis: ['3d5cf075'] }] }), [
      '  Group  Source         Destination    Protocol  Ports    Action   SPIs',
      '  G      172.16.0.0/12  172.16.0.0/12  17        any/500  encrypt  3d5cf075',
      '',
    ].join('\n'));
    const stats = renderMemberIpsecStatistics({
      probe: { sent: 54, received: 53 }, esp: { authFailures: 0 }, push: { pushesAccepted: 2 }, registration: { registrations: 1 },
      probePeers: [{ name: 'GM-0002', memberId: 2, address: '127.0.2.12', port: 4500, sent: 18, sendFailures: 0, received: 17, highest: 18 }],
    });
    assert.equal(stats, [
      'Probe statistics:', '  Sent      54', '  Received  53', '',
      'ESP statistics:', '  Auth failures  0', '',
      'Push statistics:', '  Pushes accepted  2', '',
      'Registration statistics:', '  Registrations  1', '',
      'Probe peers:',
      '  Peer     Member ID  Address          Sent  Send failures  Received  Highest seq',
      '  GM-0002  2          127.0.2.12:4500  18    0              17        18',
      '',
    ].join('\n'));
    assert.equal(renderMemberClear({ cleared: [{ group: 'G', tekCount: 2 }] }), 'Group G: 2 IPsec SA(s) cleared; registering again\n');
  });

  it('the CLI sends the member commands with their words and brief/detail', async () => {
    const sent: { words: readonly string[]; options: Record<string, unknown> }[] = [];
    const io = { stdout: { write: () => true }, stderr: { write: () => true } };
    const request = async (_socket: string, words: readonly string[], options: Record<string, unknown>) => {
      sent.push({ words, options });
      return words.includes('kek') ? { sas: [], registrations: [] } : words.includes('clear') ? { cleared: [] } : { sas: [] };
    };
    assert.equal(await runCli(['--socket', '/x', 'show', 'security', 'group-vpn', 'member', 'kek', 'security-associations', 'detail'], io, request), 0);
    assert.equal(await runCli(['--socket', '/x', 'show', 'security', 'group-vpn', 'member', 'ipsec', 'security-associations'], io, request), 0);
    assert.equal(await runCli(['--socket', '/x', 'clear', 'security', 'group-vpn', 'member', 'group'], io, request), 0);
    assert.deepEqual(sent.map((s) => [s.words.join(' '), s.options]), [
      ['show security group-vpn member kek security-associations', { detail: true }],
      ['show security group-vpn member ipsec security-associations', { detail: false }],
      ['clear security group-vpn member group', {}],
    ]);
  });
});
