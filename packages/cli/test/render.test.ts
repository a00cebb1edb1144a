import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { duration, renderIkeSecurityAssociations, renderPing, renderStatistics, renderVersion } from '../src/index.js';
import { NEGOTIATING_SA, SAS } from './sample-data.js';

describe('IKE security association renderers', () => {
  it('renders the brief table with columns as wide as their widest cell', () => {
    assert.equal(
      renderIkeSecurityAssociations({ sas: SAS }, false),
      [
        '  Index   State        Initiator cookie  Responder cookie  Mode  Remote Address',
        '  738936  UP           a1b2c3d4e5f60708  0102030405060708  Main  127.0.1.2',
        '  5       NEGOTIATING  1111111111111111  0000000000000000  Main  127.0.1.3',
        '',
      ].join('\n'),
    );
  });

  it('renders every detail field', () => {
    assert.equal(
      renderIkeSecurityAssociations({ sas: SAS }, true),
      [
        'IKE peer 127.0.1.2, Index 738936, Gateway Name: SubSrv01',
        '  Role: Initiator, State: UP',
        '  Initiator cookie: a1b2c3d4e5f60708, Responder cookie: 0102030405060708',
        '  Exchange type: Main, Authentication method: Pre-shared-keys',
        '  Local: 127.0.1.1:848, Remote: 127.0.1.2:848',
        '  Lifetime: Expires in 3412 seconds (of 3600)',
        '  Algorithms:',
        '   Authentication        : sha-256',
        '   Encryption            : aes-256-cbc',
        '   Diffie-Hellman group  : group14',
        '  Dead peer detection:',
        '   Peer supports DPD: yes, Interval: 10 seconds, Threshold: 5',
        '   Sequence sent: 12, Last acknowledged: 12, Outstanding probes: 0',
        '',
        'IKE peer 127.0.1.3, Index 5, Gateway Name: SubSrv02',
        '  Role: Responder, State: NEGOTIATING',
        '  Initiator cookie: 1111111111111111, Responder cookie: 0000000000000000',
        '  Exchange type: Main, Authentication method: Pre-shared-keys',
        '  Local: 127.0.1.1:848, Remote: 127.0.1.3:10848',
        '  Lifetime: Expires in 28800 seconds (of 28800)',
        '  Algorithms:',
        '   Authentication        : sha1',
        '   Encryption            : aes-128-cbc',
        '   Diffie-Hellman group  : group19',
        '  Dead peer detection:',
        '   Peer supports DPD: no, Interval: 2 seconds, Threshold: 1',
        '   Sequence sent: 0, Last acknowledged: none, Outstanding probes: 0',
        '',
      ].join('\n'),
    );
  });

  it('prints - for what a negotiating SA does not have yet, and for DPD without probes', () => {
    assert.equal(
      renderIkeSecurityAssociations({ sas: [NEGOTIATING_SA] }, true),
      [
        'IKE peer 127.0.2.1, Index 89189769, Gateway Name: GW-GROUP1/127.0.2.1',
        '  Role: Initiator, State: NEGOTIATING',
        '  Initiator cookie: 550ed890e20056b7, Responder cookie: 0000000000000000',
        '  Exchange type: Main, Authentication method: Pre-shared-keys',
        '  Local: 127.0.2.13:848, Remote: 127.0.2.1:848',
        '  Lifetime: - (of -)',
        '  Algorithms:',
        '   Authentication        : -',
        '   Encryption            : -',
        '   Diffie-Hellman group  : -',
        '  Dead peer detection:',
        '   Peer supports DPD: no, Interval: -, Threshold: -',
        '   Sequence sent: 0, Last acknowledged: none, Outstanding probes: 0',
        '',
      ].join('\n'),
    );
  });

  it('says so when there is no SA', () => {
    assert.equal(renderIkeSecurityAssociations({ sas: [] }, false), 'No IKE security associations.\n');
    assert.equal(renderIkeSecurityAssociations({ sas: [] }, true), 'No IKE security associations.\n');
  });
});

describe('statistics renderer', () => {
  it('labels counters in words, upper-cases acronyms and right-aligns values', () => {
    assert.equal(
      renderStatistics({ ike: { datagramsReceived: 12345, malformedDropped: 7, dpdAcksSent: 0, saUp: 2 } }),
      [
        'IKE statistics:',
        '  Datagrams received  12345',
        '  Malformed dropped       7',
        '  DPD ACKs sent           0',
        '  SA up                   2',
        '',
      ].join('\n'),
    );
    // The `process` section every daemon ends its statistics with.
    assert.equal(
      renderStatistics({ process: { eventLoopBusyMs: 614, cpuUserMs: 652, residentKb: 68876 } }),
      'Process statistics:\n  Event loop busy ms    614\n  CPU user ms           652\n  Resident KB         68876\n',
    );
    assert.equal(renderStatistics({}), 'No statistics.\n');
  });
});

describe('system renderers', () => {
  it('renders version and ping', () => {
    assert.equal(
      renderVersion({ hostName: 'root', platform: 'vsrx', model: 'vSRX', daemon: 'gvpn-root-server', version: '0.1.0', node: 'v20.19.0' }),
      'Hostname: root\nModel: vSRX (platform vsrx)\ngvpn-root-server 0.1.0 on Node.js v20.19.0\n',
    );
    assert.equal(
      renderPing({ name: 'sub1', role: 'sub-server', platform: 'srx4100', pid: 4242, uptimeSeconds: 3725.6 }),
      'sub1: sub-server on srx4100, pid 4242, up 1h 2m 5s\n',
    );
  });

  it('writes durations with the leading zero units left out', () => {
    assert.equal(duration(0), '0s');
    assert.equal(duration(59), '59s');
    assert.equal(duration(60), '1m 0s');
    assert.equal(duration(86_400 + 5), '1d 0h 0m 5s');
  });
});
