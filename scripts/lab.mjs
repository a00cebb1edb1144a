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
    const member = config.security?.['group-vpn']?.member;
    return { ...n, configPath, stateDir: resolve(dir, config.system['state-directory']), hasGroups: member?.ipsec?.vpn !== undefined };
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

function json(node, words) {
  const r = cli(node, words, { json: true });
  return r.ok ? JSON.parse(r.out) : undefined;
}

// Commands the summary and `show` run, per role: the operator's verification commands.
const SHOW_COMMANDS = {
  server: [['ike', 'security-associations'], ['kek', 'security-associations'], ['ipsec', 'security-associations'], ['registered-members']],
  member: [['kek', 'security-associations'], ['ipsec', 'security-associations'], ['ipsec', 'statistics']],
};

async function waitUntil(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return;
    if (Date.now() > deadline) fail(`timed out after ${timeoutMs / 1000}s waiting for ${what} (logs in .lab/logs/)`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function ikeUp(node) {
  return json(node, ['show', 'security', 'group-vpn', roleOf(node), 'ike', 'security-associations'])?.sas.some((sa) => sa.state === 'UP') ?? false;
}

/** Up: a server holds an IKE SA; a member with groups holds TEKs and has received probes from its peers. */
function nodeUp(node) {
  if (!ikeUp(node)) return false;
  if (roleOf(node) === 'server' || !node.hasGroups) return true;
  const teks = json(node, ['show', 'security', 'group-vpn', 'member', 'ipsec', 'security-associations'])?.sas ?? [];
  const probe = json(node, ['show', 'security', 'group-vpn', 'member', 'ipsec', 'statistics'])?.probe;
  return teks.length > 0 && (probe?.received ?? 0) > 0;
}

async function up() {
  const topology = args[0] ?? 'gdoi';
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
    await waitUntil(`${node.name} to come up`, () => {
      if (!alive(node.pid)) fail(`${node.name} exited; see .lab/logs/${node.name}.log`);
      return nodeUp(node);
    }, 30_000);
  }
  console.log('lab: every node is up\n');
  summary(started);
  console.log('\nMore: ./scripts/lab show (every verification command), ./scripts/lab cli NODE COMMAND..., ./scripts/lab down');
}

/** One line per node: what an operator checks first. */
function summary(nodes) {
  const rows = [['node', 'daemon', 'pid', 'IKE SAs up', 'KEK SPI', 'TEK SPIs', 'members / probes sent-received']];
  for (const node of nodes) {
    const role = roleOf(node);
    const ike = json(node, ['show', 'security', 'group-vpn', role, 'ike', 'security-associations'])?.sas ?? [];
    const kek = json(node, ['show', 'security', 'group-vpn', role, 'kek', 'security-associations'])?.sas ?? [];
    const tek = json(node, ['show', 'security', 'group-vpn', role, 'ipsec', 'security-associations'])?.sas ?? [];
    let last = '';
    if (role === 'server') {
      const groups = json(node, ['show', 'security', 'group-vpn', 'server', 'registered-members'])?.groups ?? [];
      last = `${groups.reduce((n, g) => n + g.members.length, 0)} registered`;
    } else {
      const probe = json(node, ['show', 'security', 'group-vpn', 'member', 'ipsec', 'statistics'])?.probe;
      last = probe === undefined ? '' : `${probe.sent}-${probe.received}`;
    }
    rows.push([node.name, node.daemon, String(node.pid), String(ike.filter((sa) => sa.state === 'UP').length),
      kek.map((k) => k.spi.slice(0, 8)).join(',') || '-', tek.map((t) => t.spi).join(',') || '-', last]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd());
}

function show(nodes = saved().nodes) {
  for (const node of nodes) {
    const commands = node.hasGroups === false && roleOf(node) === 'member' ? [] : SHOW_COMMANDS[roleOf(node)];
    for (const cmd of [...commands, ...(roleOf(node) === 'server' ? [['statistics']] : [])]) {
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
