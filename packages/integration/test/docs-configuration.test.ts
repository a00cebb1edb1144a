// docs/configuration.md against the loader, so the reference cannot drift from the code unnoticed:
// - every YAML example block, completed where it elides (`ike: { ... }`, gateways it names but does not
//   define), passes `--check` of the daemon it is for;
// - every integer range the reference states (a table row `| `key` | A..B ...` or a `# A..B` comment in the
//   first example) holds at both ends: A and B accepted, A-1 and B+1 refused with an error naming the key's
//   path. Values the file gives as lists (`server-address`, `ike-gateway`) count items, not integers: not set.
// No daemon runs: `--check` validates and exits, and the ranges go through the loader in-process.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { ConfigError, parseConfig } from '@gvpn/runtime';

const root = resolve(import.meta.dirname, '../../../..');
const doc = readFileSync(join(root, 'docs/configuration.md'), 'utf8');

/** A parsed YAML document, edited in place: its shape is what the docs show. */
type Yaml = Record<string, any>;

/** The YAML blocks of the document, in order, as text. */
const blockTexts = [...doc.matchAll(/^```yaml\n([\s\S]*?)^```/gm)].map((m) => m[1] ?? '');
const blocks: Yaml[] = blockTexts.map((text) => parse(text) as Yaml);
const findBlock = (test: (b: Yaml) => boolean, what: string): Yaml => {
  const block = blocks.find(test);
  assert.ok(block, `docs/configuration.md has no YAML example of ${what}`);
  return structuredClone(block);
};

// The first, complete example (system + a server's ike); the others elide `ike` and `system` ("as above").
const base = (): Yaml => findBlock((b) => b.system !== undefined, 'a whole file (system and ike)');
const baseIke = (): Yaml => base().security['group-vpn'].server.ike;

/** The group example, with the gateways its groups name added to the first example's `ike`. */
function serverWithGroups(): Yaml {
  const file = base();
  const server = findBlock((b) => b.security?.['group-vpn']?.server?.group !== undefined, 'server groups').security['group-vpn'].server;
  const ike = baseIke();
  const template = Object.values(ike.gateway as Yaml)[0] as Yaml; // a cluster peer: fixed address, DPD always-send, initiates
  const policy = template['ike-policy'];
  let host = 100;
  for (const group of Object.values(server.group as Yaml) as Yaml[]) {
    for (const name of group['ike-gateway'] ?? []) ike.gateway[name] ??= { 'ike-policy': policy, address: `127.0.9.${host++}` };
    for (const name of group['server-cluster']?.['ike-gateway'] ?? []) ike.gateway[name] ??= { ...template, address: `127.0.9.${host++}` };
  }
  server.ike = ike;
  file.security['group-vpn'].server = server;
  return file;
}

/** The chassis-cluster example on the group example made a root (a pair is a root), towards the first example's gateway. */
function rootPair(): Yaml {
  const file = serverWithGroups();
  const { server } = file.security['group-vpn'];
  const sub = Object.keys(baseIke().gateway)[0];
  for (const group of Object.values(server.group as Yaml) as Yaml[]) {
    if (group['server-cluster'] !== undefined) group['server-cluster'] = { ...group['server-cluster'], 'server-role': 'root-server', 'ike-gateway': [sub] };
  }
  file['chassis-cluster'] = findBlock((b) => b['chassis-cluster'] !== undefined, 'chassis-cluster')['chassis-cluster'];
  return file;
}

/** The member example with the first example's system, proposals and policies. */
function member(): Yaml {
  const file = base();
  const m = findBlock((b) => b.security?.['group-vpn']?.member !== undefined, 'a member').security['group-vpn'].member;
  const ike = baseIke();
  m.ike = { ...m.ike, proposal: ike.proposal, policy: ike.policy };
  file.security['group-vpn'] = { member: m };
  return file;
}

function withTempDir<T>(body: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'gvpn-docs-'));
  try {
    return body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function check(daemon: string, file: Yaml): { status: number | null; err: string; out: string } {
  return withTempDir((dir) => {
    const path = join(dir, `${daemon}.yaml`);
    // The examples' paths (/run/gvpn/root, /tmp/ike-keys.txt) stay untouched: --check creates nothing.
    writeFileSync(path, stringify(file));
    const r = spawnSync(process.execPath, [join(root, 'packages', daemon, 'dist/src/main.js'), '--config', path, '--check'], { encoding: 'utf8' });
    return { status: r.status, err: r.stderr, out: r.stdout };
  });
}

describe('docs/configuration.md examples', () => {
  it('has the four examples this test completes', () => {
    assert.equal(blocks.length, 4, 'an example was added or removed: teach this test to complete it');
  });

  for (const [what, daemon, file] of [
    ['the first example (system and a server ike)', 'root-server', base],
    ['the key-server groups (a sub-server)', 'sub-server', serverWithGroups],
    ['the chassis-cluster section (a root pair)', 'root-server', rootPair],
    ['the group member', 'member', member],
  ] as const) {
    it(`${what} passes ${daemon} --check`, () => {
      const r = check(daemon, file());
      assert.equal(r.status, 0, r.err);
      assert.match(r.out, /configuration OK/);
    });
  }
});

/** One integer key the reference gives a range for, and the completed file it lives in. */
interface RangeRow {
  section: string;
  path: string[];
  min: number;
  max: number;
  file: () => Yaml;
}

const server = ['security', 'group-vpn', 'server'];
const group = [...server, 'group', 'GROUP_ID-0001'];
const memberPath = ['security', 'group-vpn', 'member'];
/** Where each reference table's keys live in the completed examples, by the table's heading. */
const SECTIONS: Array<{ heading: RegExp; path: string[]; file: () => Yaml }> = [
  { heading: /^### `ipsec proposal NAME`/, path: [...server, 'ipsec', 'proposal', 'AES256-SHA256'], file: serverWithGroups },
  { heading: /^### `group NAME`$/, path: group, file: serverWithGroups },
  { heading: /^### `group NAME server-member-communication`/, path: [...group, 'server-member-communication'], file: serverWithGroups },
  { heading: /^### `group NAME server-cluster`/, path: [...group, 'server-cluster'], file: serverWithGroups },
  { heading: /^## Root pair/, path: ['chassis-cluster'], file: rootPair },
  { heading: /^### `ike gateway NAME` \(member\)/, path: [...memberPath, 'ike', 'gateway', 'GW-GROUP1'], file: member },
  { heading: /^### `ipsec vpn NAME` \(member\)/, path: [...memberPath, 'ipsec', 'vpn', 'GROUP_ID-0001-VPN'], file: member },
  { heading: /^### `data-plane`/, path: [...memberPath, 'data-plane'], file: member },
];
// The `match-policy` table sits under `group NAME`, after the sentence that introduces it.
const MATCH_POLICY = [...group, 'ipsec-sa', 'GROUP_ID-0001', 'match-policy', 'POL1'];

function tableRanges(): RangeRow[] {
  const rows: RangeRow[] = [];
  let section: (typeof SECTIONS)[number] | undefined;
  let prefix: string[] = [];
  let heading = '';
  for (const line of doc.split('\n')) {
    if (line.startsWith('#')) {
      heading = line;
      section = SECTIONS.find((s) => s.heading.test(line));
      prefix = section?.path ?? [];
      continue;
    }
    if (section !== undefined && line.startsWith('`ipsec-sa NAME`')) prefix = MATCH_POLICY;
    const cells = line.split('|').map((cell) => cell.trim());
    if (section === undefined || !line.startsWith('| `') || cells.length < 4) continue;
    const range = /(\d[\d,]*)\.\.(\d[\d,]*)/.exec(cells[2] ?? '');
    if (range === null) continue;
    const keys = [...(cells[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '');
    const first = (keys[0] ?? '').split('.');
    for (const key of keys) {
      // `.node1-priority` after `redundancy-group-0.node0-priority`: the same parent.
      const relative = key.startsWith('.') ? [...first.slice(0, -1), key.slice(1)] : key.split('.');
      rows.push({
        section: heading,
        path: [...prefix, ...relative],
        min: Number((range[1] ?? '').replaceAll(',', '')),
        max: Number((range[2] ?? '').replaceAll(',', '')),
        file: section.file,
      });
    }
  }
  return rows;
}

/** `key: value  # A..B` lines of the first example; the path comes from the indentation. */
function commentRanges(): RangeRow[] {
  const rows: RangeRow[] = [];
  const stack: Array<{ indent: number; key: string }> = [];
  for (const line of (blockTexts[0] ?? '').split('\n')) {
    const m = /^( *)([\w-]+):(.*)$/.exec(line);
    if (m === null) continue;
    const indent = (m[1] ?? '').length;
    while (stack.length > 0 && (stack.at(-1)?.indent ?? 0) >= indent) stack.pop();
    stack.push({ indent, key: m[2] ?? '' });
    const range = /#\s*(\d+)\.\.(\d+)/.exec(m[3] ?? '');
    if (range !== null) {
      rows.push({ section: 'first example', path: stack.map((s) => s.key), min: Number(range[1]), max: Number(range[2]), file: base });
    }
  }
  return rows;
}

function at(file: Yaml, path: string[]): { parent: Yaml; key: string } {
  let node = file;
  for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Yaml;
  return { parent: node, key: path.at(-1) ?? '' };
}

async function load(file: Yaml): Promise<ConfigError | undefined> {
  try {
    await parseConfig(stringify(file), join(tmpdir(), 'docs-configuration-example.yaml'));
    return undefined;
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
}

describe('docs/configuration.md ranges', () => {
  const rows = [...tableRanges(), ...commentRanges()];

  it('finds the ranges of every reference table', () => {
    for (const section of SECTIONS) {
      assert.ok(rows.some((row) => section.path.every((key, i) => row.path[i] === key)), `no range read under ${section.heading}`);
    }
  });

  // A range of a value the file gives as a list (`server-address`, `ike-gateway`) counts its items: not an integer to set.
  const integers = rows.filter((row) => {
    const { parent, key } = at(row.file(), row.path);
    return parent[key] === undefined || typeof parent[key] === 'number';
  });
  for (const row of integers) {
    const dotted = row.path.join('.');
    it(`${dotted}: ${row.min}..${row.max} (${row.section})`, async () => {
      for (const value of [row.min, row.max]) {
        const file = row.file();
        const place = at(file, row.path);
        place.parent[place.key] = value;
        const error = await load(file);
        assert.equal(error, undefined, `${dotted}: ${value} refused: ${error?.message}`);
      }
      for (const value of [row.min - 1, row.max + 1]) {
        const file = row.file();
        const place = at(file, row.path);
        place.parent[place.key] = value;
        const error = await load(file);
        assert.ok(error !== undefined, `${dotted}: ${value} accepted, outside the documented ${row.min}..${row.max}`);
        assert.equal(error.path, dotted, `${dotted}: ${value} refused at another path: ${error.message}`);
      }
    });
  }
});
