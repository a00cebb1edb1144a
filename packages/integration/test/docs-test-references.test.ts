// The docs name the tests that prove what they say. A renamed or removed test leaves the claim unproven and
// the reader looking for a file that is not there: every `X.test.ts` the docs and READMEs name exists, and
// every test title docs/config-changes.md quotes in its tables' test column is in the file named before it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../../../..');
const packages = readdirSync(join(root, 'packages'));

/** Every test source, by file name (several packages have a `live-config.test.ts`). */
const testsByName = new Map<string, string[]>();
function collect(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) collect(path);
    else if (entry.name.endsWith('.test.ts')) testsByName.set(entry.name, [...(testsByName.get(entry.name) ?? []), path]);
  }
}
for (const p of packages) {
  const dir = join(root, 'packages', p, 'test');
  if (existsSync(dir)) collect(dir);
}

const docs = [
  'README.md',
  ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
  ...packages.map((p) => `packages/${p}/README.md`).filter((f) => existsSync(join(root, f))),
];

const REFERENCE = /((?:packages\/[\w-]+\/)?(?:test\/)?[\w.-]+\.test\.ts)\b/g;

/** The files a reference names: a path as written, else the file name in the doc's package, else anywhere. */
function resolveReference(doc: string, reference: string): string[] {
  if (reference.startsWith('packages/')) return existsSync(join(root, reference)) ? [join(root, reference)] : [];
  const all = testsByName.get(basename(reference)) ?? [];
  const own = all.filter((path) => path.startsWith(join(root, dirname(doc), 'test') + '/'));
  return own.length > 0 ? own : all;
}

describe('test files named in the docs', () => {
  for (const doc of docs) {
    it(doc, () => {
      const text = readFileSync(join(root, doc), 'utf8');
      const missing = [...new Set([...text.matchAll(REFERENCE)].map((m) => m[1] ?? ''))].filter((ref) => resolveReference(doc, ref).length === 0);
      assert.deepEqual(missing, [], `${doc} names test files that do not exist`);
    });
  }
});

describe('test titles quoted in docs/config-changes.md', () => {
  const doc = 'docs/config-changes.md';
  const rows = readFileSync(join(root, doc), 'utf8').split('\n').filter((line) => /^\| (?:\d\.\d+[a-f]?|—) \|/.test(line));

  it('reads the rows of both tables', () => {
    assert.ok(rows.length >= 20, `only ${rows.length} table rows found`);
  });

  for (const row of rows) {
    const cell = row.split('|').at(-2) ?? '';
    it(row.split('|')[1]?.trim() + ': ' + (row.split('|')[2]?.trim() ?? ''), () => {
      // A title belongs to the last file named before it in the cell, and opens an it/test/describe there.
      let files: string[] = [];
      const problems: string[] = [];
      for (const m of cell.matchAll(/`?((?:packages\/[\w-]+\/test\/)?[\w.-]+\.test\.ts)`?|"([^"]+)"/g)) {
        if (m[1] !== undefined) {
          files = resolveReference(doc, m[1]);
          continue;
        }
        const title = m[2] ?? '';
        const opening = new RegExp(`\\b(?:it|test|describe)\\(\\s*['"\`]${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);
        if (!files.some((file) => opening.test(readFileSync(file, 'utf8')))) {
          problems.push(`"${title}" is in none of ${files.map((f) => relative(root, f)).join(', ') || '(no file named before it)'}`);
        }
      }
      assert.deepEqual(problems, []);
    });
  }
});
