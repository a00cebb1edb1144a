// Lab driver behind scripts/lab. Starts each node of a topology as its own process, records PIDs in
// .lab/, and talks to the nodes only through the gvpn CLI (the same way an operator would). The CLI runs
// in this process (its runCli, with the same argv as `gvpn`): a node process per query cost ~0.2 s, so a
// nine-node summary took ~10 s and its SPIs could straddle a rekey.
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '..');
const labDir = join(root, '.lab');
const YAML = createRequire(join(root, 'packages/runtime/package.json'))('yaml');
const cliMain = join(root, 'packages/cli/dist/src/main.js');
// loaded on first use, so `lab down` and `lab help` work even before the CLI is built
let runCli;
const DEFAULT_TOPOLOGY = 'example';
/** Per node, from the moment the driver starts waiting for it. */
const UP_TIMEOUT_MS = 30_000;

const [verb = 'help', ...args] = process.argv.slice(2);
// `lab show | head`: a reader that goes away ends the output, not with a stack trace
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

function loadTopology(name) {
  const dir = join(root, 'configs/lab', name);
  const file = join(dir, 'topology.yaml');
  if (!existsSync(file)) fail(`no topology '${name}' (expected ${file})`);
  const topo = YAML.parse(readFileSync(file, 'utf8'));
  return topo.nodes.map((n) => withFacts({ ...n, configPath: join(dir, n.config) }));
}

/**
 * What the driver needs from a node's configuration, read again on every run (lab.json written by an
 * older driver lacks some of it). The daemons validate the file; this only reads it.
 */
function withFacts(node) {
  const config = YAML.parse(readFileSync(node.configPath, 'utf8'));
  const groupVpn = config.security?.['group-vpn'] ?? {};
  const groups = Object.values(groupVpn.server?.group ?? {});
  const clusterRoles = new Set(groups.map((g) => g?.['server-cluster']?.['server-role'] ?? 'standalone'));
  const platform = config.system.platform;
  const profile = join(root, 'configs/platforms', `${platform}.yaml`);
  const platformInfo = existsSync(profile) ? YAML.parse(readFileSync(profile, 'utf8')) : undefined;
  return {
    ...node,
    stateDir: resolve(node.configPath, '..', config.system['state-directory']),
    address: config.system.listen?.address,
    platform,
    model: platformInfo?.model ?? platform,
    // null: unknown profile, so no command is skipped.
    platformCommands: platformInfo?.commands ?? null,
    hasGroups: groupVpn.member?.ipsec?.vpn !== undefined,
    // 'root-server' | 'sub-server' | 'standalone' | null (a server without groups: the IKE demo)
    clusterRole: groups.length === 0 ? null : [...clusterRoles].join('+'),
    // 0 | 1: a node of the root pair (`chassis-cluster node`); null: a single process
    pairNode: config['chassis-cluster']?.node ?? null,
  };
}

function fail(msg) {
  console.error(`lab: ${msg}`);
  process.exit(1);
}

function saved() {
  const file = join(labDir, 'lab.json');
  if (!existsSync(file)) fail('no lab is running (run ./scripts/lab up)');
  const lab = JSON.parse(readFileSync(file, 'utf8'));
  return { ...lab, nodes: lab.nodes.map((n) => (existsSync(n.configPath) ? withFacts(n) : n)) };
}

function save(topology, nodes) {
  mkdirSync(labDir, { recursive: true });
  writeFileSync(join(labDir, 'lab.json'), JSON.stringify({ topology, nodes }, null, 2));
}

function readIfExists(file) {
  try { return readFileSync(file, 'utf8'); } catch { return undefined; }
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

/** `gvpn --socket NODE/control.sock [--json] WORDS...`, in process. */
async function cli(node, words, { json = false } = {}) {
  let out = '';
  let err = '';
  const io = { stdout: { write: (text) => { out += text; } }, stderr: { write: (text) => { err += text; } } };
  runCli ??= (await import(pathToFileURL(join(root, 'packages/cli/dist/src/index.js')).href)).runCli;
  const code = await runCli(['--socket', join(node.stateDir, 'control.sock'), ...(json ? ['--json'] : []), ...words], io);
  return { ok: code === 0, out, err };
}

function roleOf(node) { return node.daemon === 'member' ? 'member' : 'server'; }

async function json(node, words) {
  const r = await cli(node, words, { json: true });
  if (!r.ok) return undefined;
  try { return JSON.parse(r.out); } catch { return undefined; }
}

const gvpn = (node, ...words) => ['show', 'security', 'group-vpn', roleOf(node), ...words];

// The operator's verification commands (spec R-EX), per role and in R-EX's order; `detail` is appended
// to those that take brief|detail when the user asks for it (`lab show detail`).
const SHOW_COMMANDS = {
  server: [
    { words: ['server-cluster'], verbosity: true },
    { words: ['statistics'] },
    { words: ['kek', 'security-associations'], verbosity: true },
    { words: ['ike', 'security-associations'], verbosity: true },
    { words: ['ipsec', 'security-associations'], verbosity: true },
    { words: ['registered-members'] },
  ],
  member: [
    { words: ['kek', 'security-associations'], verbosity: true },
    { words: ['ipsec', 'security-associations'], verbosity: true },
    { words: ['ipsec', 'statistics'] },
    { words: ['policy'] }, // SRX/vSRX only: skipped where the platform profile lacks it (MX)
  ],
};

async function waitUntil(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) fail(`timed out after ${timeoutMs / 1000}s waiting for ${what} (logs in .lab/logs/; ./scripts/lab down stops what started)`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function ikeUp(node) {
  return (await json(node, gvpn(node, 'ike', 'security-associations')))?.sas?.some((sa) => sa.state === 'UP') ?? false;
}

/**
 * The groups of `show ... server server-cluster`, or undefined when the node has none to show: a member,
 * a daemon without the command (it answers an error), a standalone server or the IKE demo (no groups).
 */
async function clusterGroups(node) {
  if (roleOf(node) !== 'server') return undefined;
  const groups = (await json(node, gvpn(node, 'server-cluster')))?.groups;
  return Array.isArray(groups) && groups.length > 0 ? groups : undefined;
}

/** Cluster peers by gateway name, active only if active in every group that lists them (DPD is per gateway). */
function clusterPeers(groups) {
  const peers = new Map();
  for (const g of groups) for (const p of g.peers ?? []) peers.set(p.name, (peers.get(p.name) ?? true) && p.state === 'active');
  return peers;
}

/** A sub-server sees its root active in every group; a root sees every sub-server active. */
function clusterUp(groups) {
  return groups.every((g) => (g.role === 'sub-server' ? g.root === 'active' : (g.peers ?? []).length > 0 && g.peers.every((p) => p.state === 'active')));
}

// ---- the root pair (RG0): two root-server processes, one primary (docs/root-pair.md) -----------------

const CHASSIS_STATUS = ['show', 'chassis', 'cluster', 'status'];
const isPairNode = (node) => node.pairNode !== null && node.pairNode !== undefined;

/**
 * Each pair node's own answer to `show chassis cluster status`: `role` is what the node says it is, or
 * null when it does not answer (not running, stopped); `peerHealthy` is whether it hears the other node.
 */
async function pairView(nodes) {
  return Promise.all(nodes.filter(isPairNode).map(async (node) => {
    const status = await json(node, CHASSIS_STATUS);
    const self = status?.nodes?.find((n) => n.self);
    const other = status?.nodes?.find((n) => !n.self);
    return { node, status, role: self?.role ?? null, peerHealthy: other?.healthy === true };
  }));
}

const primariesOf = (view) => view.filter((v) => v.role === 'primary').map((v) => v.node);

/** `root pair: root-node0 primary, root-node1 secondary`, each node as it describes itself. */
function pairLine(view) {
  const parts = view.map((v) => `${v.node.name} ${v.role ?? 'not answering'}`);
  const primaries = primariesOf(view);
  const note = primaries.length > 1 ? ' (both primary: split brain)'
    : primaries.length === 0 ? ' (no primary)'
      : view.some((v) => v.role !== null && !v.peerHealthy) ? ' (peer lost)' : '';
  return `root pair: ${parts.join(', ')}${note}`;
}

/** Formed: this node and its peer hear each other, one primary and one secondary. */
async function pairFormed(node) {
  const status = await json(node, CHASSIS_STATUS);
  const self = status?.nodes?.find((n) => n.self);
  const other = status?.nodes?.find((n) => !n.self);
  if (self === undefined || other?.healthy !== true || self.role === other.role) return undefined;
  return self.role;
}

/** A pair node is up when the pair is formed and, on the primary, the cluster is up (every sub active). */
async function pairNodeUp(node) {
  const role = await pairFormed(node);
  if (role !== 'primary') return role === 'secondary';
  const groups = await clusterGroups(node);
  return groups !== undefined && clusterUp(groups);
}

/**
 * Up: a root pair node when pairNodeUp; a cluster server when clusterUp; any other server once it holds an
 * IKE SA; a member with groups once it holds TEKs and has received probes from its peers.
 */
async function nodeUp(node) {
  if (isPairNode(node)) return pairNodeUp(node);
  const groups = await clusterGroups(node);
  if (groups !== undefined) return clusterUp(groups);
  if (!(await ikeUp(node))) return false;
  if (roleOf(node) === 'server' || !node.hasGroups) return true;
  const teks = (await json(node, gvpn(node, 'ipsec', 'security-associations')))?.sas ?? [];
  const probe = (await json(node, gvpn(node, 'ipsec', 'statistics')))?.probe;
  return teks.length > 0 && (probe?.received ?? 0) > 0;
}

/**
 * Ready for members: a cluster server is up (a sub answers pulls only after cluster-init, R-MSG-1); any
 * other server answers on its control socket (a standalone server gets IKE SAs only once members come).
 */
async function serverReady(node) {
  if (isPairNode(node)) return pairNodeUp(node);
  const groups = await clusterGroups(node);
  if (groups !== undefined) return clusterUp(groups);
  return (await cli(node, ['request', 'system', 'ping'])).ok;
}

async function waitFor(nodes, what, check) {
  for (const node of nodes) {
    await waitUntil(`${node.name} ${what}`, () => {
      if (!alive(node.pid)) fail(`${node.name} exited; see .lab/logs/${node.name}.log`);
      return check(node);
    }, UP_TIMEOUT_MS);
  }
}

/**
 * Servers first, members once the servers are ready: configure the root, then the subs (R-CONF-7), and
 * let members find their first sub-server ready, so each registers where its server-address list starts.
 * A root pair starts before the other servers, and they only once it has elected its primary: the subs'
 * first IKE SA then goes to a node that serves.
 */
async function up() {
  const topology = args[0] ?? DEFAULT_TOPOLOGY;
  if (existsSync(join(labDir, 'lab.json'))) {
    const running = saved().nodes.filter((n) => alive(n.pid));
    if (running.length) fail(`a lab is already running (${running.map((n) => n.name).join(', ')}); run ./scripts/lab down first`);
  }
  const nodes = loadTopology(topology);
  // Never wipe the state directory of a live daemon this lab did not start (a test, another session).
  for (const node of nodes) {
    const pid = Number.parseInt(readIfExists(join(node.stateDir, 'daemon.pid')) ?? '', 10);
    if (pid > 0 && alive(pid)) fail(`a daemon (pid ${pid}) already runs in ${node.stateDir}, not started by this lab; stop it first (or delete its daemon.pid if that pid is no gvpn daemon)`);
  }
  for (const node of nodes) rmSync(node.stateDir, { recursive: true, force: true });
  const pids = new Map();
  const startAll = (list) => {
    for (const n of list) pids.set(n.name, startNode(n));
    // lab.json before any wait, so `lab down` stops whatever started even if `up` fails
    save(topology, nodes.filter((n) => pids.has(n.name)).map((n) => ({ ...n, pid: pids.get(n.name) })));
    console.log(`lab: started ${list.map((n) => `${n.name} (pid ${pids.get(n.name)})`).join(', ')}`);
  };
  const pair = nodes.filter(isPairNode);
  const servers = nodes.filter((n) => roleOf(n) === 'server' && !isPairNode(n));
  const members = nodes.filter((n) => roleOf(n) === 'member');
  const started = () => nodes.filter((n) => pids.has(n.name)).map((n) => ({ ...n, pid: pids.get(n.name) }));

  if (pair.length) {
    startAll(pair);
    await waitFor(started(), 'to join the root pair (one primary, one secondary)', async (n) => (await pairFormed(n)) !== undefined);
  }
  if (servers.length) startAll(servers);
  await waitFor(started().filter((n) => roleOf(n) === 'server'), 'to be ready for members', serverReady);
  if (members.length) startAll(members);
  await waitFor(started(), 'to come up', nodeUp);
  console.log('lab: every node is up\n');
  await summary(started());
  const pairVerbs = pair.length ? ', ./scripts/lab failover, ./scripts/lab fault kill node0' : '';
  console.log(`\nMore: ./scripts/lab show (every verification command), ./scripts/lab cli NODE COMMAND...${pairVerbs}, ./scripts/lab down`);
}

/** `sub1 (127.0.3.11)`: a server address as the lab's node name, when it is one. */
function serverName(address, nodes) {
  const node = nodes.find((n) => n.address === address && roleOf(n) === 'server');
  return node === undefined ? address : `${node.name} (${address})`;
}

/** The last summary column: a server's cluster state, or the server(s) a member registered with. */
async function clusterCell(node, nodes, kekData) {
  if (roleOf(node) === 'member') {
    if (!node.hasGroups) return '-';
    const registrations = kekData?.registrations ?? [];
    if (registrations.length === 0) return 'not registered';
    return registrations.map((r) => (r.registered
      ? serverName(r.server, nodes)
      : `not registered${r.attempt ? ` (${r.attempt}${r.trying ? ` ${r.trying}` : ''})` : ''}`)).join(', ');
  }
  const pairRole = isPairNode(node) ? (await json(node, CHASSIS_STATUS))?.nodes?.find((n) => n.self)?.role ?? '-' : undefined;
  // the secondary of a root pair answers no group-vpn server command: its role is all there is to show
  if (pairRole !== undefined && pairRole !== 'primary') return pairRole;
  const groups = await clusterGroups(node);
  if (groups === undefined) return pairRole ?? (node.clusterRole === 'standalone' ? 'standalone' : '-');
  const roles = new Set(groups.map((g) => g.role));
  if (roles.has('root-server')) {
    const peers = [...clusterPeers(groups.filter((g) => g.role === 'root-server')).values()];
    return `${pairRole === undefined ? '' : `${pairRole}, `}${peers.filter(Boolean).length}/${peers.length} subs active`;
  }
  const active = groups.filter((g) => g.root === 'active').length;
  if (active === groups.length) return 'root active';
  return active === 0 ? 'root inactive' : `root active in ${active}/${groups.length} groups`;
}

/** One line per node: what an operator checks first. Cells are never empty ('-'), so tools can split on 2+ spaces. */
async function summary(nodes) {
  const header = ['node', 'daemon', 'pid', 'IKE SAs up', 'KEK SPI', 'TEK SPIs', 'members / probes sent-received', 'cluster / registered with'];
  // every node at once: one snapshot, as close to the same instant as the nodes allow
  const rows = [header, ...await Promise.all(nodes.map(async (node) => {
    const role = roleOf(node);
    const [ike, kekData, tekData, lastData] = await Promise.all([
      json(node, gvpn(node, 'ike', 'security-associations')),
      json(node, gvpn(node, 'kek', 'security-associations')),
      json(node, gvpn(node, 'ipsec', 'security-associations')),
      json(node, role === 'server' ? gvpn(node, 'registered-members') : gvpn(node, 'ipsec', 'statistics')),
    ]);
    const kek = kekData?.sas ?? [];
    const tek = tekData?.sas ?? [];
    let last;
    if (role === 'server') {
      // undefined: the node did not answer (the secondary of a root pair refuses group commands)
      last = lastData === undefined ? '-' : `${(lastData.groups ?? []).reduce((n, g) => n + g.members.length, 0)} registered`;
    } else {
      const probe = lastData?.probe;
      last = probe === undefined ? '-' : `${probe.sent}-${probe.received}`;
    }
    return [node.name, node.daemon, String(node.pid), String((ike?.sas ?? []).filter((sa) => sa.state === 'UP').length),
      kek.map((k) => k.spi.slice(0, 8)).join(',') || '-', tek.map((t) => t.spi).join(',') || '-', last, await clusterCell(node, nodes, kekData)];
  }))];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd());
  if (nodes.some(isPairNode)) console.log(`\n${pairLine(await pairView(nodes))}`);
}

/**
 * Every verification command on every node. A root pair: `show chassis cluster status` on both nodes, the
 * group-vpn server commands on the primary only (the secondary refuses them: "ask the primary").
 */
async function show(nodes = saved().nodes) {
  const detail = args[0] === 'detail';
  if (args.length > 0 && !detail) fail('usage: lab show [detail]');
  const view = nodes.some(isPairNode) ? await pairView(nodes) : [];
  const primaries = primariesOf(view);
  if (view.length) console.log(`${pairLine(view)}\n`);
  for (const node of nodes) {
    let commands = node.hasGroups === false && roleOf(node) === 'member' ? [] : SHOW_COMMANDS[roleOf(node)];
    if (isPairNode(node)) {
      console.log(`${node.name}> ${CHASSIS_STATUS.join(' ')}`);
      const r = await cli(node, CHASSIS_STATUS);
      process.stdout.write(r.ok ? r.out : r.err);
      console.log();
      if (!primaries.includes(node)) {
        const served = primaries.length ? `the primary, ${primaries.map((n) => n.name).join(' and ')}, answers them` : 'no node is primary';
        console.log(`${node.name}> show security group-vpn server ...: skipped, not the primary of the root pair (${served})\n`);
        commands = [];
      }
    }
    for (const cmd of commands) {
      const words = gvpn(node, ...cmd.words);
      if (node.platformCommands && !node.platformCommands.includes(words.join(' '))) {
        console.log(`${node.name}> ${words.join(' ')}: skipped, not available on ${node.model}\n`);
        continue;
      }
      const typed = [...words, ...(detail && cmd.verbosity ? ['detail'] : [])];
      console.log(`${node.name}> ${typed.join(' ')}`);
      const r = await cli(node, typed);
      process.stdout.write(r.ok ? r.out : r.err);
      console.log();
    }
  }
}

/**
 * A node of the running lab by name. In a lab with a root pair, `node0` and `node1` name its nodes (as the
 * chassis cluster does) and `root` names whichever is primary now.
 */
async function nodeByName(name) {
  const { nodes } = saved();
  const exact = nodes.find((n) => n.name === name);
  if (exact) return exact;
  const pairAlias = /^node([01])$/.exec(name);
  const byPair = pairAlias && nodes.find((n) => isPairNode(n) && n.pairNode === Number(pairAlias[1]));
  if (byPair) return byPair;
  if (name === 'root' && nodes.some(isPairNode)) {
    const view = await pairView(nodes);
    const primaries = primariesOf(view);
    if (primaries.length !== 1) fail(`'root' names the primary of the root pair, but ${pairLine(view)}`);
    return primaries[0];
  }
  const aliases = nodes.some(isPairNode) ? ', or node0, node1, root (the primary)' : '';
  fail(`no node '${name}' in the running lab (${nodes.map((n) => n.name).join(', ')}${aliases})`);
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
  if (name === undefined) fail('usage: lab fault kill|stop|cont|restart NODE');
  const node = await nodeByName(name);
  const signals = { kill: 'SIGKILL', stop: 'SIGSTOP', cont: 'SIGCONT' };
  if (kind in signals) {
    if (!alive(node.pid)) fail(`${node.name} (pid ${node.pid}) is not running; ./scripts/lab fault restart ${node.name} starts it again`);
    process.kill(node.pid, signals[kind]);
  } else if (kind === 'restart') {
    await stopPid(node.pid);
    const lab = JSON.parse(readFileSync(join(labDir, 'lab.json'), 'utf8'));
    const entry = lab.nodes.find((n) => n.name === node.name);
    entry.pid = startNode(entry);
    writeFileSync(join(labDir, 'lab.json'), JSON.stringify(lab, null, 2));
  } else {
    fail('usage: lab fault kill|stop|cont|restart NODE');
  }
  console.log(`lab: ${kind} ${node.name}`);
}

/**
 * `lab failover`: the graceful switch of RG0. Asks the pair which node is primary, runs
 * `request chassis cluster failover redundancy-group 0 node N` there for the other node, waits until the
 * other node is primary with the old one as its healthy secondary, then until the new primary holds an
 * IKE SA with every sub-server, and prints the new status.
 */
async function failover() {
  if (args.length > 0) fail('usage: lab failover');
  const { nodes } = saved();
  const pair = nodes.filter(isPairNode);
  if (pair.length !== 2) fail('this lab has no root pair (its topology has no chassis-cluster nodes)');
  const before = await pairView(nodes);
  const primaries = primariesOf(before);
  if (primaries.length !== 1) fail(`no failover: ${pairLine(before)}`);
  const from = primaries[0];
  const to = pair.find((n) => n !== from);
  const started = Date.now();
  const r = await cli(from, ['request', 'chassis', 'cluster', 'failover', 'redundancy-group', '0', 'node', String(to.pairNode)], { json: true });
  if (!r.ok) fail(`${from.name}: ${r.err.trim()}`);
  const answer = JSON.parse(r.out);
  if (!answer.done) fail(`${from.name}: no failover: ${answer.reason ?? 'refused'}`);
  console.log(`lab: ${from.name} hands redundancy group 0 over to ${to.name} (node${to.pairNode})`);
  await waitUntil(`${to.name} to become primary with ${from.name} as its secondary`, async () => (await pairFormed(to)) === 'primary' && (await pairFormed(from)) === 'secondary', 10_000);
  const primaryAfter = Date.now() - started;
  // The sub-servers' states come with the replicated state; the IKE SAs are the new node's own (it
  // negotiates one with each sub at once, INITIAL-CONTACT making the sub drop the old node's).
  let ikeUp = 0;
  await waitUntil(`${to.name} to hold an IKE SA with every sub-server`, async () => {
    const groups = await clusterGroups(to);
    ikeUp = (await json(to, gvpn(to, 'ike', 'security-associations')))?.sas?.filter((sa) => sa.state === 'UP').length ?? 0;
    return groups === undefined || (clusterUp(groups) && ikeUp >= clusterPeers(groups).size);
  }, UP_TIMEOUT_MS);
  console.log(`lab: ${to.name} is primary after ${(primaryAfter / 1000).toFixed(1)} s\n`);
  console.log(pairLine(await pairView(nodes)));
  console.log(`${to.name}> ${CHASSIS_STATUS.join(' ')}`);
  const status = await cli(to, CHASSIS_STATUS);
  process.stdout.write(status.ok ? status.out : status.err);
  console.log(`${to.name}: ${await clusterCell(to, nodes)}; IKE SAs up: ${ikeUp}`);
}

const verbs = {
  up,
  down,
  show: () => show(),
  cli: async () => {
    const [name, ...words] = args;
    if (name === undefined) fail('usage: lab cli NODE COMMAND...');
    const r = spawnSync(process.execPath, [cliMain, '--socket', join((await nodeByName(name)).stateDir, 'control.sock'), ...words], { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  },
  fault,
  failover,
  // the comment at the top of scripts/lab: the verbs, then the topologies and node names
  help: () => console.log(readFileSync(join(root, 'scripts/lab'), 'utf8').split('\n').filter((l) => l.startsWith('# ')).join('\n')),
};
if (!(verb in verbs)) fail(`unknown verb '${verb}'; try ./scripts/lab help`);
await verbs[verb]();
