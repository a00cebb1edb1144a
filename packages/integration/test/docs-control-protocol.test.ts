// docs/control-protocol.md against the daemons: every command it heads a section with is one the daemon
// answers, and every JSON example has the keys of the real answer, no more and no fewer (an object with a
// `"..."` key is an excerpt: its keys must be there, others may be too). Values are not compared: they are
// illustrations. Real processes on 127.0.46.x (no other test uses it): the GDOI lab's standalone key
// server and one member, registered, so every list has an entry to compare. Commands that change state
// (rekey, clear, commit) run after the others. The root pair's commands need a pair: only their absence on a
// single root is checked, as the document says.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { ControlClientError, controlRequest } from '@gvpn/runtime';
import { Cleanup, ManagedProcess, waitFor, workDirectory } from '../src/index.js';

const root = resolve(import.meta.dirname, '../../../..');
const doc = readFileSync(join(root, 'docs/control-protocol.md'), 'utf8');
const GROUP = 'GROUP_ID-0001';

interface Section {
  heading: string;
  words: string[];
  /** The operand the heading names (`group NAME`, `node N`), sent under its option name. */
  operand: string | undefined;
  daemon: 'server' | 'member';
  /** The first JSON example after the heading (before the next example-bearing heading), parsed. */
  example: unknown;
}

/** `### `words [brief|detail]`` headings with the JSON example that follows; headings in a row share it. */
function sections(): Section[] {
  const out: Section[] = [];
  let waiting: Section[] = [];
  const lines = doc.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const heading = /^### `([a-z][^`]*)`$/.exec(line);
    if (heading !== null) {
      const text = heading[1] ?? '';
      const words = text.replace(/\s*\[brief\|detail\]/, '').split(' ');
      const last = words.at(-1) ?? '';
      const operand = /^[A-Z]+$/.test(last) ? (words.pop(), words.at(-1)) : undefined;
      const section: Section = { heading: text, words, operand, daemon: words.includes('member') ? 'member' : 'server', example: undefined };
      if (waiting.length > 0 && waiting.every((s) => s.example !== undefined)) waiting = [];
      waiting.push(section);
      out.push(section);
      continue;
    }
    if (line.startsWith('## ')) waiting = [];
    if (line === '```json' && waiting.length > 0 && waiting.every((s) => s.example === undefined)) {
      const end = lines.indexOf('```', i + 1);
      const text = lines.slice(i + 1, end).join('\n');
      let example: unknown = null; // not JSON (`[...]`, `{...}` elisions): nothing to compare
      try {
        example = JSON.parse(text);
      } catch {
        // an elided example documents its keys in prose only
      }
      for (const s of waiting) s.example = example;
      i = end;
    }
  }
  return out;
}

/** Where the keys of `documented` and `answered` differ, as `path: missing|undocumented key`. */
function keyDrift(documented: unknown, answered: unknown, path: string): string[] {
  if (Array.isArray(documented) && Array.isArray(answered)) {
    return documented.length > 0 && answered.length > 0 ? keyDrift(documented[0], answered[0], `${path}[0]`) : [];
  }
  if (!isObject(documented) || !isObject(answered)) return [];
  const excerpt = '...' in documented;
  const drift: string[] = [];
  for (const key of Object.keys(documented)) {
    if (key === '...') continue;
    if (!(key in answered)) drift.push(`${path}.${key}: documented, not answered`);
    else drift.push(...keyDrift(documented[key], answered[key], `${path}.${key}`));
  }
  if (!excerpt) {
    for (const key of Object.keys(answered)) if (!(key in documented)) drift.push(`${path}.${key}: answered, not documented`);
  }
  return drift;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A lab file with its addresses moved to 127.0.46.x and its state in `dir`. */
function labFile(name: string, dir: string): string {
  const text = readFileSync(join(root, 'configs/lab/gdoi', name), 'utf8').replaceAll('127.0.2.', '127.0.46.');
  const config = parse(text) as { system: { 'state-directory': string } };
  config.system['state-directory'] = join(dir, name.replace('.yaml', ''));
  const file = join(dir, name);
  writeFileSync(file, stringify(config));
  return file;
}

const cleanup = new Cleanup();
after(() => cleanup.run());
const sockets = { server: '', member: '' };

async function start(dir: string, name: string, daemon: string): Promise<string> {
  const file = labFile(`${name}.yaml`, dir);
  const proc = ManagedProcess.start(name, process.execPath, [join(root, 'packages', daemon, 'dist/src/main.js'), '--config', file], { logDir: dir });
  cleanup.defer(name, () => proc.stop());
  const socket = join(dir, name, 'control.sock');
  await waitFor(() => controlRequest(socket, ['request', 'system', 'ping']).catch(() => undefined), 10_000, `${name} answering (${proc.stderrPath})`);
  return socket;
}

before(async () => {
  const dir = await workDirectory(cleanup, 'docs-control');
  sockets.server = await start(dir, 'root', 'root-server');
  sockets.member = await start(dir, 'gm-0001', 'member');
  const registered = async (): Promise<boolean> => {
    const kek = (await controlRequest(sockets.member, ['show', 'security', 'group-vpn', 'member', 'kek', 'security-associations'])) as { registrations: { registered: boolean }[] };
    return kek.registrations.every((r) => r.registered);
  };
  await waitFor(registered, 20_000, 'gm-0001 registered');
});

const MUTATING = /^(request security|clear|commit$)/;

describe('docs/control-protocol.md against the daemons', () => {
  const all = sections();

  it('finds the commands and their examples', () => {
    assert.ok(all.length >= 20, `only ${all.length} command headings`);
    assert.ok(all.filter((s) => isObject(s.example)).length >= 12, 'too few JSON examples read');
  });

  it('names every counter of the statistics sections it describes (all but ike, which it only samples)', async () => {
    const missing: string[] = [];
    for (const socket of [sockets.server, sockets.member]) {
      const role = socket === sockets.server ? 'server' : 'member';
      const stats = (await controlRequest(socket, ['show', 'security', 'group-vpn', role, 'statistics'])) as Record<string, Record<string, number>>;
      for (const [name, counters] of Object.entries(stats)) {
        if (name === 'ike') continue;
        if (!doc.includes(`\`${name}\``)) missing.push(`section ${name} (${role})`);
        for (const counter of Object.keys(counters)) if (!doc.includes(`\`${counter}\``)) missing.push(`${name}.${counter} (${role})`);
      }
    }
    assert.deepEqual(missing, []);
  });

  for (const section of [...all.filter((s) => !MUTATING.test(s.heading)), ...all.filter((s) => MUTATING.test(s.heading))]) {
    it(section.heading, async () => {
      const options: Record<string, unknown> = { showKeys: true, detail: true };
      if (section.operand !== undefined) options[section.operand] = section.operand === 'group' ? GROUP : 0;
      const ask = () => controlRequest(sockets[section.daemon], section.words, { options });
      if (section.words.includes('chassis')) {
        await assert.rejects(ask(), (e: unknown) => e instanceof ControlClientError && e.code === 'UNKNOWN_COMMAND', 'a single root has no pair commands');
        return;
      }
      const answer = await ask();
      assert.deepEqual(keyDrift(section.example, answer, 'data'), []);
    });
  }
});
