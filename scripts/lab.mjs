// Lab driver behind scripts/lab. Starts each node of a topology as its own process, records PIDs in
// .lab/, and talks to the nodes only through the gvpn CLI (the same way an operator would).
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const labDir = join(root, '.lab');
const YAML = createRequire(join(root, 'packages/runtime/package.json'))('yaml');
const cliMain = join(root, 'packages/cli/dist/src/main.js');

const [verb = 'help', ...args] = process.argv.slice(2);

function loadTopology(name) {
  const dir = join(root, 'configs/lab', name);
  const file = join(dir, 'topology.yaml');
  if (!existsSync(file)) fail(`no topology '${name}' (expected ${file})`);
  const topo = YAML.parse(readFileSync(file, 'utf8'));
  return topo.nodes.map((n) => {
    const configPath = join(dir, n.config);
    const config = YAML.parse(readFileSync(configPath, 'utf8'));
    return { ...n, configPath, stateDir: resolve(dir, config.system['state-directory']) };
  });
}

function fail(msg) {
  console.error(`lab: ${msg}`);
  process.exit(1);
}

function saved() {
  const file = join(labDir, 'lab.json');
  if (!existsSync(file)) fail('no lab is running (run ./scripts/lab up)');
  return JSON.parse(readFileSync(file, 'utf8'));
}

function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

function startNode(node) {
  mkdirSync(join(labDir, 'logs'), { recursive: true });
  const log = openSync(join(labDir, 'logs', `${node.name}.log`), 'a');
  const child = spawn(process.execPath, [join(root, 'packages', node.daemon, 'dist/src/main.js'), '--config', node.configPath], {
    cwd: root, detached: true, stdio: ['ignore', log, log],
  });
  child.unref();
  return child.pid;
}

function cli(node, words, { json = false } = {}) {
  const argv = [cliMain, '--socket', join(node.stateDir, 'control.sock'), ...(json ? ['--json'] : []), ...words];
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8' });
  return { ok: r.status === 0, out: r.stdout, err: r.stderr };
}

function roleOf(node) { return node.daemon === 'member' ? 'member' : 'server'; }

async function waitUntil(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return;
    if (Date.now() > deadline) fail(`timed out after ${timeoutMs / 1000}s waiting for ${what} (logs in .lab/logs/)`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function ikeUp(node) {
  const r = cli(node, ['show', 'security', 'group-vpn', roleOf(node), 'ike', 'security-associations'], { json: true });
  if (!r.ok) return false;
  return JSON.parse(r.out).sas.some((sa) => sa.state === 'UP');
}

async function up() {
  const topology = args[0] ?? 'demo';
  if (existsSync(join(labDir, 'lab.json'))) {
    const running = saved().nodes.filter((n) => alive(n.pid));
    if (running.length) fail(`a lab is already running (${running.map((n) => n.name).join(', ')}); run ./scripts/lab down first`);
  }
  const nodes = loadTopology(topology);
  for (const node of nodes) rmSync(node.stateDir, { recursive: true, force: true });
  const started = nodes.map((n) => ({ ...n, pid: startNode(n) }));
  mkdirSync(labDir, { recursive: true });
  writeFileSync(join(labDir, 'lab.json'), JSON.stringify({ topology, nodes: started }, null, 2));
  console.log(`lab: started ${started.map((n) => `${n.name} (pid ${n.pid})`).join(', ')}`);
  for (const node of started) {
    await waitUntil(`${node.name} to bring its IKE SA up`, () => {
      if (!alive(node.pid)) fail(`${node.name} exited; see .lab/logs/${node.name}.log`);
      return ikeUp(node);
    }, 30_000);
  }
  console.log('lab: every node is up\n');
  show(started);
}

function show(nodes = saved().nodes) {
  for (const node of nodes) {
    for (const cmd of [['ike', 'security-associations'], ['statistics']]) {
      const words = ['show', 'security', 'group-vpn', roleOf(node), ...cmd];
      console.log(`${node.name}> ${words.join(' ')}`);
      const r = cli(node, words);
      process.stdout.write(r.ok ? r.out : r.err);
      console.log();
    }
  }
}

function nodeByName(name) {
  const node = saved().nodes.find((n) => n.name === name);
  if (!node) fail(`no node '${name}' in the running lab (${saved().nodes.map((n) => n.name).join(', ')})`);
  return node;
}

async function stopPid(pid) {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGCONT');
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 5000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

async function down() {
  if (!existsSync(join(labDir, 'lab.json'))) { console.log('lab: nothing running'); return; }
  const { nodes } = saved();
  await Promise.all(nodes.map((n) => stopPid(n.pid)));
  rmSync(join(labDir, 'lab.json'));
  console.log(`lab: stopped ${nodes.map((n) => n.name).join(', ')}`);
}

async function fault() {
  const [kind, name] = args;
  const node = nodeByName(name);
  const signals = { kill: 'SIGKILL', stop: 'SIGSTOP', cont: 'SIGCONT' };
  if (kind in signals) {
    process.kill(node.pid, signals[kind]);
  } else if (kind === 'restart') {
    await stopPid(node.pid);
    const lab = saved();
    const entry = lab.nodes.find((n) => n.name === name);
    entry.pid = startNode(entry);
    writeFileSync(join(labDir, 'lab.json'), JSON.stringify(lab, null, 2));
  } else {
    fail('usage: lab fault kill|stop|cont|restart NODE');
  }
  console.log(`lab: ${kind} ${name}`);
}

const verbs = {
  up,
  down,
  show: () => show(),
  cli: () => {
    const [name, ...words] = args;
    const r = spawnSync(process.execPath, [cliMain, '--socket', join(nodeByName(name).stateDir, 'control.sock'), ...words], { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  },
  fault,
  help: () => console.log(readFileSync(join(root, 'scripts/lab'), 'utf8').split('\n').filter((l) => l.startsWith('#  ')).join('\n')),
};
if (!(verb in verbs)) fail(`unknown verb '${verb}'; try ./scripts/lab help`);
await verbs[verb]();
