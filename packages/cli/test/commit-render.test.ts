import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import {
  renderCommit, renderCommitCheck, renderCommitHistory, renderConfiguration, runCli,
  type CommitCheck, type CommitOutcome, type CommitRecord,
} from '../src/index.js';

const CHANGES = [
  { cell: '1.1', gateway: 'GM-0001', kind: 'changed' as const, detail: 'ike gateway GM-0001: policy GMs changed' },
  { cell: '1.5a', group: 'G1', ipsecSa: 'SA2', kind: 'added' as const, detail: 'group G1: ipsec-sa SA2 added' },
];

const APPLIED: CommitOutcome = {
  time: '2026-11-28T02:03:04.567Z', file: '/etc/gvpn/root.yaml', trigger: 'cli', result: 'applied', changes: CHANGES,
  applied: ['IKE SAs of GM-0001 deleted'], error: null, restartRequired: [], warnings: [],
};

describe('commit renderers', () => {
  it('commit: the result, then one line per change', () => {
    assert.equal(renderCommit(APPLIED), [
      'commit complete: /etc/gvpn/root.yaml',
      '  1.1   ike gateway GM-0001: policy GMs changed',
      '  1.5a  group G1: ipsec-sa SA2 added',
      '',
    ].join('\n'));
    assert.equal(renderCommit({ ...APPLIED, result: 'no-change', changes: [] }), 'commit complete: /etc/gvpn/root.yaml: no changes\n');
    assert.equal(
      renderCommit({ ...APPLIED, result: 'refused', changes: [], error: 'needs a restart: system.host-name changed', restartRequired: ['system.host-name changed'] }),
      'error: commit refused: needs a restart: system.host-name changed\n',
    );
    assert.equal(
      renderCommit({ ...APPLIED, result: 'invalid', changes: [], error: '/etc/gvpn/root.yaml: security.group-vpn: required (line 3)', warnings: ['w1'] }),
      'warning: w1\nerror: configuration check-out failed: /etc/gvpn/root.yaml: security.group-vpn: required (line 3)\n',
    );
  });

  it('commit check', () => {
    const check: CommitCheck = { file: '/etc/gvpn/root.yaml', result: 'ok', changes: CHANGES.slice(0, 1), restartRequired: [], warnings: [], error: null };
    assert.equal(renderCommitCheck(check), 'configuration check succeeds: /etc/gvpn/root.yaml\n  1.1  ike gateway GM-0001: policy GMs changed\n');
    assert.equal(
      renderCommitCheck({ ...check, result: 'refused', error: 'this daemon cannot apply changes live yet' }),
      'configuration check succeeds, but a commit would be refused: this daemon cannot apply changes live yet\n  1.1  ike gateway GM-0001: policy GMs changed\n',
    );
  });

  it('show configuration prints the text under a header', () => {
    assert.equal(renderConfiguration({ file: '/a.yaml', text: 'system:\n  host-name: r' }), '## Running configuration, from /a.yaml\nsystem:\n  host-name: r\n');
  });

  it('show system commit: a table, newest first', () => {
    const older: CommitRecord = { ...APPLIED, time: '2026-11-28T01:00:00.000Z', trigger: 'sighup', result: 'invalid', changes: [], applied: [], error: 'bad' };
    assert.equal(renderCommitHistory({ commits: [APPLIED, older] }), [
      '  #  Time                     Result   Via     File                 Changes',
      '  0  2026-11-28 02:03:04 UTC  applied  cli     /etc/gvpn/root.yaml  1.1,1.5a',
      '  1  2026-11-28 01:00:00 UTC  invalid  sighup  /etc/gvpn/root.yaml  -',
      '',
    ].join('\n'));
    assert.equal(renderCommitHistory({ commits: [] }), 'No commits since the daemon started.\n');
  });
});

describe('gvpn commit (command line)', () => {
  function run(args: string[], answer: unknown) {
    const sent: Array<{ words: readonly string[]; options: Record<string, unknown> }> = [];
    let stdout = '';
    let stderr = '';
    const io = { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } };
    return runCli(['--socket', '/nowhere.sock', ...args], io, async (_socket, words, options) => {
      sent.push({ words, options });
      return answer;
    }).then((code) => ({ code, sent, stdout, stderr }));
  }

  it('sends --file as an absolute path; an applied commit exits 0', async () => {
    const r = await run(['commit', '--file', 'configs/new.yaml'], APPLIED);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.sent, [{ words: ['commit'], options: { file: resolve('configs/new.yaml') } }]);
    assert.match(r.stdout, /^commit complete/);
  });

  it('commit check takes --file too; without it no file is sent (the daemon uses its running file)', async () => {
    const check: CommitCheck = { file: '/x.yaml', result: 'no-change', changes: [], restartRequired: [], warnings: [], error: null };
    assert.deepEqual((await run(['commit', 'check', '--file', '/abs/x.yaml'], check)).sent, [{ words: ['commit', 'check'], options: { file: '/abs/x.yaml' } }]);
    assert.deepEqual((await run(['commit', 'check'], check)).sent, [{ words: ['commit', 'check'], options: {} }]);
  });

  it('a refused or invalid commit prints its reason and exits 1', async () => {
    const refused = await run(['commit'], { ...APPLIED, result: 'refused', error: 'needs a restart: x' });
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /commit refused: needs a restart: x/);
    assert.equal((await run(['commit', 'check'], { file: '/x', result: 'invalid', changes: [], restartRequired: [], warnings: [], error: 'bad' })).code, 1);
  });

  it('show configuration passes --show-keys through', async () => {
    const r = await run(['--show-keys', 'show', 'configuration'], { file: '/a.yaml', text: 'x: 1\n' });
    assert.equal(r.code, 0);
    assert.deepEqual(r.sent, [{ words: ['show', 'configuration'], options: { showKeys: true } }]);
  });
});
