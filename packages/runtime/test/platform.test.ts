import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, listPlatformProfiles, loadAllPlatformProfiles, parsePlatformProfile } from '../src/index.js';

const PROFILE = `model: SRX300
family: srx
roles: [root-server, sub-server, member]
chassis-cluster-root: true
max-members: null
max-members-source: not published
commands:
  - show security group-vpn member policy
`;

function profileError(text: string): ConfigError {
  try {
    parsePlatformProfile(text, 'p.yaml', 'p');
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.ok(error.message.startsWith(`p.yaml: ${error.path}: `), error.message);
    return error;
  }
  assert.fail('accepted an invalid profile');
}

function edited(from: string, to: string): string {
  assert.ok(PROFILE.includes(from));
  return PROFILE.replace(from, to);
}

describe('platform profiles', () => {
  it('ships the eleven documented platforms and all of them validate', async () => {
    assert.deepEqual(await listPlatformProfiles(), [
      'mx', 'srx1500', 'srx300', 'srx320', 'srx340', 'srx345', 'srx4100', 'srx4200', 'srx4600', 'srx550hm', 'vsrx',
    ]);
    const profiles = await loadAllPlatformProfiles();
    assert.equal(profiles.length, 11);
    for (const profile of profiles) {
      assert.ok(profile.commands.length > 0, profile.name);
      assert.ok(profile.maxMembersSource.length > 0, profile.name);
      if (profile.family === 'mx') continue;
      assert.deepEqual(profile.roles, ['root-server', 'sub-server', 'member'], profile.name);
      assert.equal(profile.chassisClusterRoot, true, profile.name);
      assert.ok(profile.commands.includes('show security group-vpn member policy'), profile.name);
      // protocol.md §4.2: nobody has published per-platform member maxima.
      assert.equal(profile.maxMembers, null, profile.name);
    }
  });

  it('makes the MX a member only, without the SRX-only policy command', async () => {
    const mx = (await loadAllPlatformProfiles()).find((profile) => profile.name === 'mx');
    assert.ok(mx);
    assert.equal(mx.family, 'mx');
    assert.deepEqual(mx.roles, ['member']);
    assert.equal(mx.chassisClusterRoot, false);
    assert.ok(mx.commands.includes('show security group-vpn member ike security-associations'));
    assert.ok(!mx.commands.includes('show security group-vpn member policy'));
    assert.ok(!mx.commands.some((command) => command.includes(' server')));
  });

  it('parses a well-formed profile', () => {
    const profile = parsePlatformProfile(edited('max-members: null', 'max-members: 2000'), 'p.yaml', 'p');
    assert.equal(profile.maxMembers, 2000);
    assert.equal(profile.model, 'SRX300');
  });

  it('rejects malformed profiles with the file and key', () => {
    const cases: Array<[string, string, string]> = [
      [edited('family: srx', 'family: ex'), 'INVALID_VALUE', 'family'],
      [edited('member]', 'member, router]'), 'INVALID_VALUE', 'roles'],
      [edited('[root-server, sub-server, member]', '[member, member]'), 'INVALID_VALUE', 'roles'],
      [edited('[root-server, sub-server, member]', '[member]'), 'INVALID_VALUE', 'chassis-cluster-root'],
      [edited('max-members: null\n', ''), 'MISSING', 'max-members'],
      [edited('max-members: null', 'max-members: lots'), 'WRONG_TYPE', 'max-members'],
      [edited('max-members-source: not published\n', ''), 'MISSING', 'max-members-source'],
      [edited('  - show', '  - reboot now; show'), 'INVALID_VALUE', 'commands'],
      [`${PROFILE}cpu: arm\n`, 'UNKNOWN_KEY', 'cpu'],
    ];
    for (const [text, code, path] of cases) {
      const error = profileError(text);
      assert.equal(error.code, code, error.message);
      assert.equal(error.path, path, error.message);
    }
  });
});
