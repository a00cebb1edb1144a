/** What the CLI prints for a daemon's answer: `show version` as the daemon sends it, and data no renderer expects. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExitCode, runCli } from '../src/cli.js';

function run(args: string[], answer: unknown) {
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } };
  return runCli(['--socket', '/nowhere.sock', ...args], io, async () => answer).then((code) => ({ code, stdout, stderr }));
}

describe('daemon answers in the CLI', () => {
  it('show version prints host, model and platform as the daemon sends them', async () => {
    // The shape of daemon-host.ts's `show version` handler (runtime's commit.test.ts checks the daemon side).
    const answer = { hostName: 'gm-0001', platform: 'srx340', model: 'SRX340', daemon: 'gvpn-member', version: '0.1.0', node: 'v20.19.0' };
    const r = await run(['show', 'version'], answer);
    assert.equal(r.code, ExitCode.Ok, r.stderr);
    assert.equal(r.stdout, 'Hostname: gm-0001\nModel: SRX340 (platform srx340)\ngvpn-member 0.1.0 on Node.js v20.19.0\n');
    assert.doesNotMatch(r.stdout, /undefined/);
  });

  it('data a renderer cannot show is one line on stderr and exit code 3, not a stack', async () => {
    for (const answer of [null, {}, { sas: null }]) {
      const r = await run(['show', 'security', 'group-vpn', 'server', 'kek', 'security-associations'], answer);
      assert.equal(r.code, ExitCode.UnexpectedAnswer, JSON.stringify(answer));
      assert.equal(ExitCode.UnexpectedAnswer, 3);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^gvpn: unexpected answer from the daemon: [^\n]+\n$/);
    }
  });

  it('a commit answer without a result is an unexpected answer too', async () => {
    const r = await run(['commit', 'check'], null);
    assert.equal(r.code, ExitCode.UnexpectedAnswer);
    assert.match(r.stderr, /^gvpn: unexpected answer from the daemon: /);
  });

  it('--json prints any data as it came', async () => {
    const r = await run(['--json', 'show', 'security', 'group-vpn', 'server', 'kek', 'security-associations'], null);
    assert.equal(r.code, ExitCode.Ok);
    assert.equal(r.stdout, 'null\n');
  });
});
