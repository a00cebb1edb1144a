// The harness's readers of other programs' output, on lines those programs printed on this machine
// (strongSwan 5.9.8 charon with ike = 4 / mgr = 2, ike-scan 1.9.5), and its configuration writers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { charonIkeKeys, ikeScanTransform, parseIkeKeyLog, parseIkeScanOutput, swanctlConf } from '../src/index.js';

// charon lines arranged so that two worker threads interleave: 05 derives the key of SA 21768ef8818e548a
// while 14 dumps bytes of another SA in between.
const CHARON_LOG = `10[MGR] checkout IKEv1 SA by message with SPIs 21768ef8818e548a_i a97b7c417b485b1b_r
05[MGR] checkout IKEv1 SA by message with SPIs 21768ef8818e548a_i a97b7c417b485b1b_r
14[MGR] checkout IKEv1 SA by message with SPIs d755b7202796a07e_i cae3ae4d9d72633b_r
05[IKE] encryption key Ka => 32 bytes @ 0x565299746680
05[IKE]    0: 09 18 21 4D 50 7C 0A 03 57 DD 57 D8 D4 26 BA 1E  ..!MP|..W.W..&..
14[IKE]    0: 42 F5 F2 F6 AA E8 91 18 C4 57 86 A7 AF CE D4 01  B........W......
05[IKE]   16: 78 EB 66 09 1E 3E F5 7C 45 11 48 CD 73 B7 18 5C  x.f..>.|E.H.s..\\
05[IKE] initial IV => 16 bytes @ 0x565299746680
05[IKE]    0: A7 AE 4F 9D 77 F9 26 DB 5B 5A 49 13 48 57 5F DB  ..O.w.&.[ZI.HW_.
`;

test('charonIkeKeys pairs each logged key with the cookie its thread checked out', () => {
  assert.deepEqual(charonIkeKeys(CHARON_LOG), [
    { icookie: '21768ef8818e548a', key: '0918214d507c0a0357dd57d8d426ba1e78eb66091e3ef57c451148cd73b7185c' },
  ]);
});

test('charonIkeKeys refuses a key it cannot pair (log written without mgr = 2)', () => {
  const withoutCheckout = CHARON_LOG.split('\n').filter((line) => !line.includes('[MGR]')).join('\n');
  assert.throws(() => charonIkeKeys(withoutCheckout), /before any SA checkout/);
});

test('parseIkeKeyLog reads our daemons\' key log and rejects other lines', () => {
  assert.deepEqual(parseIkeKeyLog('21768EF8818E548A,0918214d507c0a03\n\n'), [
    { icookie: '21768ef8818e548a', key: '0918214d507c0a03' },
  ]);
  assert.throws(() => parseIkeKeyLog('21768ef8818e548a 0918'), /line 1/);
  assert.throws(() => parseIkeKeyLog('21768ef8818e54,0918'), /line 1/);
});

test('parseIkeScanOutput reads the selected SA, a notify, or silence', () => {
  const handshake = `Starting ike-scan 1.9.5 with 1 hosts (http://www.nta-monitor.com/tools/ike-scan/)
198.18.0.2\tMain Mode Handshake returned HDR=(CKY-R=bd10ca226251a5b9) SA=(Enc=AES KeyLength=256 Hash=SHA2-256 Group=14:modp2048 Auth=PSK LifeType=Seconds LifeDuration=0) VID=afcad71368a1f1c96b8696fc77570100 (Dead Peer Detection v1.0)

Ending ike-scan 1.9.5: 1 hosts scanned in 0.020 seconds (49.18 hosts/sec).  1 returned handshake; 0 returned notify
`;
  const result = parseIkeScanOutput('198.18.0.2', handshake);
  assert.equal(result.outcome, 'handshake');
  assert.deepEqual(result.selected, {
    Enc: 'AES', KeyLength: '256', Hash: 'SHA2-256', Group: '14:modp2048', Auth: 'PSK', LifeType: 'Seconds', LifeDuration: '0',
  });

  const notify = '198.18.0.2\tNotify message 14 (NO-PROPOSAL-CHOSEN) HDR=(CKY-R=93a004b3c171e44c, msgid=69a02a67)\n';
  assert.deepEqual(parseIkeScanOutput('198.18.0.2', notify).notify, '14 (NO-PROPOSAL-CHOSEN)');
  assert.equal(parseIkeScanOutput('198.18.0.20', notify).outcome, 'none', 'another host\'s line is not ours');
});

test('ikeScanTransform writes RFC 2409 attribute numbers in ike-scan syntax', () => {
  assert.equal(ikeScanTransform({ encryption: 7, keyLength: 256, hash: 4, auth: 1, group: 14 }), '(1=7,14=256,2=4,3=1,4=14)');
  assert.equal(ikeScanTransform({ encryption: 5, hash: 2, auth: 1, group: 2 }), '(1=5,2=2,3=1,4=2)');
});

test('swanctlConf writes an IKEv1 Main Mode PSK connection and refuses values that would break the file', () => {
  const conf = swanctlConf([
    { name: 'gw', localAddress: '198.18.0.1', remoteAddress: '198.18.0.2', psk: 'a "quoted" secret', dpdDelaySeconds: 5 },
  ]);
  for (const line of ['version = 1', 'aggressive = no', 'proposals = aes256-sha256-modp2048', 'dpd_delay = 5s',
    'local_port = 500', 'id = 198.18.0.2', `secret = 0x${Buffer.from('a "quoted" secret').toString('hex')}`]) {
    assert.ok(conf.includes(line), `has "${line}"`);
  }
  assert.throws(() => swanctlConf([{ name: 'gw }', localAddress: '198.18.0.1', remoteAddress: '198.18.0.2', psk: 'k' }]), /not a plain token/);
});
