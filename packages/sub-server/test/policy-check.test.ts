/**
 * R-CONF-4: a sub-server notices where its group configuration differs from the root's, comparing its own
 * policy with the policy that came in a cluster-init answer. The root's keys go through the real wire
 * encoding (CLUSTER-INIT answer payloads, encoded and decoded) so the comparison sees what a sub receives.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { seededRandom } from '@gvpn/crypto';
import { GROUPKEY_PUSH, GcksGroup, clusterChain, clusterMessageFrom, clusterPayloads, signingKeyFrom, type ClusterKeys, type GroupPolicy } from '@gvpn/gdoi';
import { PayloadType, decodePayloads } from '@gvpn/wire';
import { policyMismatches } from '../src/policy-check.js';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
const signing = signingKeyFrom(privateKey, publicKey);

function policy(): GroupPolicy {
  return {
    groupId: 1,
    kek: {
      cipher: 'aes-256-cbc', lifetimeSeconds: 600, sigHash: 'sha256', rsaBits: 1024, ackRequested: true,
      pushSource: { address: '127.0.3.1', port: 848 }, pushDestination: { address: '0.0.0.0', port: 848 },
    },
    teks: [{
      name: 'GROUP_ID-0001', cipher: 'aes-256-cbc', integrity: 'hmac-sha-256-128', protocol: 0,
      source: { prefix: '172.16.0.0/12', port: 0 }, destination: { prefix: '172.16.0.0/12', port: 0 }, lifetimeSeconds: 120,
      antiReplayWindowSeconds: 100,
    }],
    activationDelaySeconds: 2, deactivationDelaySeconds: 8,
  };
}

/** The root's keys for `p`, as a sub decodes them from a CLUSTER-INIT answer. */
function received(p: GroupPolicy): ClusterKeys {
  const g = new GcksGroup(p, seededRandom('policy-check'), signing);
  const payloads = clusterPayloads({
    kind: 'init-response', groupId: 1, updateSeq: 0, lifetimes: [],
    keys: { kek: g.kek, teks: g.teks, seq: 0, activationDelaySeconds: p.activationDelaySeconds, deactivationDelaySeconds: p.deactivationDelaySeconds },
  });
  const bytes = clusterChain(payloads);
  const decoded = decodePayloads(bytes, PayloadType.N, 0, bytes.length, { exchangeType: GROUPKEY_PUSH });
  const m = clusterMessageFrom(240, decoded.payloads.map((d) => d.payload));
  assert.ok(typeof m !== 'string' && m.kind === 'init-response', String(m));
  return m.keys;
}

describe('R-CONF-4: policy differences between a sub-server and its root', () => {
  it('the same configuration: no difference', () => {
    assert.deepEqual(policyMismatches(policy(), received(policy())), []);
  });

  it('names each difference: TEK selectors and lifetime, KEK lifetime and cipher, activation delay', () => {
    const root = policy();
    const mine = policy();
    mine.teks[0] = { ...mine.teks[0]!, destination: { prefix: '10.0.0.0/8', port: 0 }, lifetimeSeconds: 300 };
    mine.kek = { ...mine.kek, lifetimeSeconds: 900, cipher: 'aes-128-cbc' };
    mine.activationDelaySeconds = 5;
    const found = policyMismatches(mine, received(root));
    assert.equal(found.length, 4, found.join('\n'));
    assert.match(found.join('\n'), /KEK encryption: root aes-256-cbc, here aes-128-cbc/);
    assert.match(found.join('\n'), /KEK lifetime: root 600 s, here 900 s/);
    assert.match(found.join('\n'), /IPsec SAs: root \[.*172\.16\.0\.0\/12:0 .*120 s.*\], here \[.*10\.0\.0\.0\/8:0.*300 s/);
    assert.match(found.join('\n'), /activation-time-delay: root 2 s, here 5 s/);
  });

  it('anti-replay on one side and not the other is a difference', () => {
    const mine = policy();
    delete mine.teks[0]!.antiReplayWindowSeconds;
    assert.match(policyMismatches(mine, received(policy())).join('\n'), /anti-replay 100.*anti-replay off/);
  });
});
