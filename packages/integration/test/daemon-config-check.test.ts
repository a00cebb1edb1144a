// The daemons refuse a configuration they cannot run, before opening any socket: exit code 78
// (EX_CONFIG) and one line naming the file, the path in it and the problem.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../../../..');
const example = (name: string): string => join(root, 'configs/examples', name);

function check(daemon: string, configFile: string) {
  const r = spawnSync(process.execPath, [join(root, 'packages', daemon, 'dist/src/main.js'), '--config', configFile, '--check'], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

describe('daemon --check', () => {
  it('accepts every example with the daemon of its role', () => {
    for (const [daemon, file] of [['root-server', 'root-server.yaml'], ['root-server', 'standalone-server.yaml'], ['sub-server', 'sub-server.yaml']] as const) {
      const r = check(daemon, example(file));
      assert.equal(r.status, 0, `${daemon} ${file}: ${r.err}`);
      assert.match(r.out, /configuration OK/);
    }
  });

  it('refuses a sub configuration on the root-server daemon, naming file and path', () => {
    const r = check('root-server', example('sub-server.yaml'));
    assert.equal(r.status, 78);
    assert.match(r.err, /sub-server\.yaml: security\.group-vpn\.server\.group: server-role sub-server runs as the sub-server daemon/);
  });

  it('accepts a root or standalone configuration on the sub-server daemon (a commit may change its role: R-CHG-2.2b/2.2f)', () => {
    for (const file of ['root-server.yaml', 'standalone-server.yaml']) {
      const r = check('sub-server', example(file));
      assert.equal(r.status, 0, `${file}: ${r.err}`);
    }
  });

  it('refuses a member configuration on a server daemon', () => {
    const r = check('root-server', example('member-srx.yaml'));
    assert.equal(r.status, 78);
    assert.match(r.err, /member-srx\.yaml: security\.group-vpn\.member: this is a member configuration/);
  });

  it('reports a bad value with its path and line, and never echoes the pre-shared key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gvpn-check-'));
    try {
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, [
        'system: { host-name: x, platform: vsrx, listen: { address: 127.0.9.1 }, state-directory: run }',
        'security:',
        '  group-vpn:',
        '    server:',
        '      ike:',
        '        proposal: { P: { authentication-method: pre-shared-keys, dh-group: group14, authentication-algorithm: sha-256, encryption-algorithm: aes-256-cbc } }',
        '        policy: { POL: { proposals: [P], pre-shared-key: { ascii-text: "do-not-print-me" } } }',
        '        gateway:',
        '          G:',
        '            ike-policy: POL',
        '            address: 127.0.9.2',
        '            dead-peer-detection: { always-send: true, interval: 1 }',
        '',
      ].join('\n'));
      const r = check('root-server', file);
      assert.equal(r.status, 78);
      assert.match(r.err, /bad\.yaml: security\.group-vpn\.server\.ike\.gateway\.G\.dead-peer-detection\.interval: .*\(line 12\)/);
      assert.doesNotMatch(r.err + r.out, /do-not-print-me/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
