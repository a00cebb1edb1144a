// The container files cannot run here (no Docker engine on the development and CI machines), so this test
// keeps them from drifting away from what does run: each compose file has one service per node of its lab
// topology, starting that node's daemon with that node's config file (which --check accepts), and the
// image installs the pnpm the repository pins and leaves the host's modules and builds out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

const root = resolve(import.meta.dirname, '../../../..');

interface Service { image?: string; network_mode?: string; command: string[] }

for (const topology of ['demo', 'example']) {
  test(`docker/compose.${topology}.yaml runs every node of configs/lab/${topology} with its daemon and config`, () => {
    const compose = parse(readFileSync(join(root, `docker/compose.${topology}.yaml`), 'utf8'), { merge: true }) as { services: Record<string, Service> };
    const nodes = (parse(readFileSync(join(root, `configs/lab/${topology}/topology.yaml`), 'utf8')) as { nodes: { name: string; daemon: string; config: string }[] }).nodes;
    assert.deepEqual(Object.keys(compose.services).sort(), nodes.map((n) => n.name).sort());
    for (const node of nodes) {
      const service = compose.services[node.name]!;
      assert.equal(service.network_mode, 'host', `${node.name}: the configs use loopback addresses`);
      const [main, flag, config] = service.command;
      assert.equal(main, `packages/${node.daemon}/dist/src/main.js`, `${node.name}: daemon`);
      assert.equal(flag, '--config');
      assert.equal(config, `configs/lab/${topology}/${node.config}`, `${node.name}: config file`);
      const check = spawnSync(process.execPath, [join(root, main), '--config', join(root, config), '--check'], { encoding: 'utf8' });
      assert.equal(check.status, 0, `${node.name}: ${check.stderr}`);
    }
  });
}

test('docker/Dockerfile installs the pinned pnpm; .dockerignore keeps host modules and builds out', () => {
  const pinned = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { packageManager: string }).packageManager;
  const dockerfile = readFileSync(join(root, 'docker/Dockerfile'), 'utf8');
  assert.match(dockerfile, new RegExp(`npm install -g ${pinned.replace(/[.]/g, '\\.')}\\n`));
  assert.match(dockerfile, /^FROM node:20-/m, 'the Node.js major version the repository targets');
  assert.ok(existsSync(join(root, '.dockerignore')));
  const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n');
  for (const entry of ['**/node_modules', '**/dist']) assert.ok(ignored.includes(entry), `.dockerignore: ${entry}`);
});
