/**
 * The part every daemon shares: read and check the configuration, open the UDP socket, drive the IKE
 * engine from datagrams and one deadline timer, serve the control socket, and shut down cleanly on
 * SIGTERM/SIGINT. What differs between the root-server, sub-server and member is a `RoleModule` the
 * daemon package plugs in: it sees datagrams before IKE (a GROUPKEY-PUSH carries no IKE SA cookies),
 * gets the phase-2 exchanges of established IKE SAs, adds control commands, and has its own deadlines,
 * which the host folds into its one timer.
 *
 * Configuration commits (SIGHUP, the `commit` control command) are the host's too (config-commit.ts): it
 * validates the new file, computes the difference, and asks the module to apply it (`applyConfig`).
 */
import { appendFileSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { systemRandom, type RandomSource } from '@gvpn/crypto';
import { ANY_PEER, IkeEndpoint, type GatewayPolicy, type IkeEvents, type IkeSaStatus } from '@gvpn/ike';
import { systemClock, type Clock } from './clock.js';
import { CANNOT_APPLY_LIVE, ConfigCommitter, readConfigFile, type ApplyResult, type ReadConfig } from './config-commit.js';
import type { ConfigChange } from './config-diff.js';
import type { DaemonConfig, IkeDynamicGatewayConfig, IkeGatewayConfig } from './config-types.js';
import { ControlCommandError, CONTROL_SOCKET_NAME, PID_FILE_NAME } from './control-protocol.js';
import { ControlServer, type ControlHandler } from './control-server.js';
import { DeadlineTimer } from './deadline-timer.js';
import { ConfigError } from './errors.js';
import { createLogger, rateLimited, type Logger } from './logger.js';
import { removePidFile, writePidFile } from './pid-file.js';
import type { PlatformRole } from './platform.js';
import type { Endpoint } from './endpoint.js';
import { UdpTransport } from './udp-transport.js';

/** sysexits(3) EX_CONFIG: the configuration is wrong, restarting will not help. */
const EXIT_CONFIG = 78;
/** sysexits(3) EX_OSERR: the system refused something the configuration asks for (the listen port is taken). */
const EXIT_OSERR = 71;

/** A start-up step failed on what one configuration key names; the message is one line for the operator. */
class StartupError extends Error {
  override readonly name = 'StartupError';
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

/** Runs a start-up step, turning its OS error into a StartupError naming the file, the key and what was tried. */
async function startupStep<T>(file: string, key: string, what: string, exitCode: number, step: () => T | Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw new StartupError(`${file}: ${key}: ${what}: ${(error as Error).message}`, exitCode);
  }
}

const USAGE = 'usage: DAEMON --config FILE [--check]';

export interface Daemon {
  /** The running configuration: the start-up one, then the last one committed. */
  readonly config: DaemonConfig;
  readonly log: Logger;
  stop(): Promise<void>;
}

/** What the host gives a role module. */
export interface RoleContext {
  /** The running configuration (a getter: after a commit it is the new one). */
  readonly config: DaemonConfig;
  readonly log: Logger;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly ike: IkeEndpoint;
  /** Sends from the daemon's IKE/GDOI socket (UDP 848 by default). */
  send(bytes: Uint8Array, to: Endpoint): void;
  /** Call after anything that may move `nextDeadline()` outside a host callback (e.g. a socket of the module's own). */
  rearm(): void;
  /** With `deferBind`: binds the daemon's socket (SO_REUSEADDR, see UdpTransport.bind) / closes it. */
  bind(): Promise<void>;
  unbind(): Promise<void>;
}

/** The role-specific part of a daemon; every member is optional. */
export interface RoleModule {
  /** Sees each datagram first; returns true when it consumed it (IKE then never sees it). */
  preIke?(bytes: Uint8Array, from: Endpoint, now: number): boolean;
  /** IKE SA events; `phase2` receives GROUPKEY-PULL and other exchanges under an established SA. */
  ikeEvents?: IkeEvents;
  /** In a composed module: the exchange types whose phase-2 datagrams go to this part (see `composeRoles`). */
  phase2Exchanges?: readonly number[];
  /** Control commands, keyed by their words joined with one space. */
  handlers?: Record<string, ControlHandler>;
  /** Sections added to `show security group-vpn ROLE statistics`, beside `ike` and `transport`. */
  statisticsSections?(): Record<string, unknown>;
  nextDeadline?(): number | undefined;
  poll?(now: number): void;
  /** Called once the socket is bound and IKE has started. */
  start?(now: number): Promise<void> | void;
  stop?(now: number): Promise<void> | void;
  /** After every batch of datagrams, each timer and control request the host handled (state may have changed). */
  settle?(now: number): void;
  /**
   * Datagrams `settle` still holds (their state is being committed, e.g. to the other node of a root pair):
   * a promise resolved once they are sent; undefined when nothing is held.
   */
  drained?(): Promise<void> | undefined;
  /** The socket is bound only when the module calls `ctx.bind()` (a standby node of the root pair). */
  deferBind?: boolean;
  /**
   * false: this node must not act (a root-pair node that is not, or may no longer be, the active one):
   * the host drops datagrams unseen and runs no IKE timer. Asked before every datagram and timer.
   */
  serving?(now: number): boolean;
  /** Counters carried over from a previous run or the other node: added to every statistics section. */
  statisticsBaseline?(): Record<string, Record<string, number>>;
  /**
   * A configuration commit (SIGHUP or `commit`): `changes` is the validated difference from the running
   * configuration (never empty, never one that needs a restart), in the order of the spec's tables.
   * Apply every change, in order, and say what was done; or refuse the whole commit with a reason and
   * change nothing. `ctx.config` is still the old configuration during the call and becomes `next` after
   * an `applied` answer. Without this member every change is refused. The IKE part of 1.1, 1.3c (removal)
   * and 2.1 is the host's, after an `applied` answer: `ike.setGateways` with the new gateways, deleting the
   * SAs of those changed, deleted or taken out of a group.
   */
  applyConfig?(next: DaemonConfig, changes: ConfigChange[], now: number): ApplyResult;
}

export type RoleFactory = (context: RoleContext) => RoleModule;

/** Offset of the exchange type in the ISAKMP header. */
const EXCHANGE_TYPE_OFFSET = 18;

/**
 * One module from several parts (a daemon's key server and its cluster layer): handlers and statistics
 * sections merged, deadlines folded, IKE events and lifecycle calls given to every part in order, a datagram
 * offered to each `preIke` until one takes it. A phase-2 datagram goes to the part whose `phase2Exchanges`
 * names its exchange type, or else to the first part that names none.
 */
export function composeRoles(parts: readonly RoleModule[]): RoleModule {
  const fallback = parts.find((p) => p.phase2Exchanges === undefined && p.ikeEvents?.phase2 !== undefined);
  const routes = new Map<number, RoleModule>();
  for (const p of parts) for (const t of p.phase2Exchanges ?? []) routes.set(t, p);
  const appliers = parts.filter((p) => p.applyConfig !== undefined);
  const each = <K extends keyof IkeEvents>(event: K) =>
    ((...args: unknown[]) => {
      for (const p of parts) (p.ikeEvents?.[event] as ((...a: unknown[]) => void) | undefined)?.(...args);
    }) as NonNullable<IkeEvents[K]>;
  return {
    preIke: (bytes, from, now) => parts.some((p) => p.preIke?.(bytes, from, now) === true),
    ikeEvents: {
      saUp: each('saUp'),
      saDown: each('saDown'),
      peerDead: each('peerDead'),
      negotiationFailed: each('negotiationFailed'),
      phase2: (sa, datagram, now) => {
        const part = routes.get(datagram[EXCHANGE_TYPE_OFFSET] ?? -1) ?? fallback;
        part?.ikeEvents?.phase2?.(sa, datagram, now);
      },
    },
    handlers: Object.assign({}, ...parts.map((p) => p.handlers ?? {})) as Record<string, ControlHandler>,
    statisticsSections: () => Object.assign({}, ...parts.map((p) => p.statisticsSections?.() ?? {})) as Record<string, unknown>,
    nextDeadline: () => {
      let min: number | undefined;
      for (const p of parts) min = earliest(min, p.nextDeadline?.());
      return min;
    },
    poll: (now) => {
      for (const p of parts) p.poll?.(now);
    },
    start: async (now) => {
      for (const p of parts) await p.start?.(now);
    },
    stop: async (now) => {
      for (const p of parts) await p.stop?.(now);
    },
    settle: (now) => {
      for (const p of parts) p.settle?.(now);
    },
    drained: () => {
      const held = parts.map((p) => p.drained?.()).filter((d) => d !== undefined);
      return held.length === 0 ? undefined : Promise.all(held).then(() => undefined);
    },
    ...(appliers.length === 0 ? {} : { applyConfig: composeApply(appliers) }),
  };
}

/**
 * The parts' `applyConfig` in order. All or nothing holds only if the first part decides: a later part
 * refusing after an earlier one applied is a bug, thrown so the commit is reported failed and logged.
 */
function composeApply(parts: readonly RoleModule[]): NonNullable<RoleModule['applyConfig']> {
  return (next, changes, now) => {
    const applied: string[] = [];
    const resetGateways: string[] = [];
    for (const [index, part] of parts.entries()) {
      const result = part.applyConfig?.(next, changes, now) ?? { applied: [] };
      if ('refused' in result) {
        if (index === 0) return result;
        throw new Error(`part ${index} of the daemon refused changes an earlier part applied: ${result.refused}`);
      }
      applied.push(...result.applied);
      resetGateways.push(...(result.resetGateways ?? []));
    }
    return { applied, resetGateways };
  };
}

/** Entry point of a daemon's `main.js`: parses argv, runs until a signal, exits with a useful code. */
export async function runDaemonMain(kind: PlatformRole, role?: RoleFactory, argv: string[] = process.argv.slice(2)): Promise<void> {
  let args;
  try {
    args = parseArgs({ args: argv, options: { config: { type: 'string' }, check: { type: 'boolean' } } }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(64);
  }
  if (args.config === undefined) {
    console.error(USAGE);
    process.exit(64);
  }
  let config: DaemonConfig;
  let warnings: string[];
  let text: string;
  try {
    ({ config, warnings, text } = await readConfigFile(args.config));
    checkDaemonKind(config, kind);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`configuration error: ${error.message}`);
    process.exit(EXIT_CONFIG);
  }
  if (args.check) {
    for (const warning of warnings) console.error(`warning: ${warning}`);
    console.log(`${config.file}: configuration OK`);
    return;
  }
  let daemon: Daemon;
  try {
    daemon = await startDaemon(config, kind, { warnings, configText: text, ...(role === undefined ? {} : { role }) });
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    console.error(`start-up error: ${error.message}`);
    process.exit(error.exitCode);
  }
  const shutdown = (signal: string): void => {
    daemon.log.info({ signal }, 'shutting down');
    void daemon.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

/** A server configuration must run as a server daemon the platform allows; a member as the member. */
function checkDaemonKind(config: DaemonConfig, kind: PlatformRole): void {
  const expected = kind === 'member' ? 'member' : 'server';
  if (config.role !== expected) {
    throw new ConfigError('ROLE', config.file, `security.group-vpn.${config.role}`, `this is a ${config.role} configuration; the ${kind} daemon needs security.group-vpn.${expected}`);
  }
  if (!config.system.platform.roles.includes(kind)) {
    throw new ConfigError('ROLE_NOT_SUPPORTED', config.file, 'system.platform', `platform ${config.system.platform.name} cannot be a ${kind} (it can be: ${config.system.platform.roles.join(', ')})`);
  }
  // A standalone key server or a root runs as the root-server daemon, a sub-server as the sub-server
  // daemon, which may also play a standalone server or a root: a commit can move it there and back
  // (R-CHG-2.2a/2.2b/2.2f, sub-server's server-role.ts), so it must restart with such a file too. A root
  // pair never changes role: root-server daemon only. A server with no groups only keeps IKE SAs (the IKE
  // demo) and may run as either.
  if (config.role === 'server' && config.server.groups.length > 0) {
    const wanted = config.server.clusterRole === 'standalone' ? 'root-server' : config.server.clusterRole;
    if (!config.system.platform.roles.includes(wanted)) {
      throw new ConfigError('ROLE_NOT_SUPPORTED', config.file, 'system.platform', `platform ${config.system.platform.name} cannot be a ${wanted} (it can be: ${config.system.platform.roles.join(', ')})`);
    }
    const pair = config.chassisCluster !== null;
    if (wanted !== kind && (kind === 'root-server' || pair)) {
      throw new ConfigError('ROLE', config.file, 'security.group-vpn.server.group', `${config.server.clusterRole === 'standalone' ? 'a standalone key server' : `server-role ${config.server.clusterRole}`}${pair ? ' with chassis-cluster' : ''} runs as the ${wanted} daemon, not the ${kind} daemon`);
    }
  }
}

export async function startDaemon(
  config: DaemonConfig,
  kind: PlatformRole,
  options: {
    warnings?: string[];
    role?: RoleFactory;
    /** The text `config` was read from (`show configuration`); default: `config.file` is read again. */
    configText?: string;
  } = {},
): Promise<Daemon> {
  // `system` cannot change while running (a change of it needs a restart), so it is read once.
  const { system } = config;
  const warnings = options.warnings ?? [];
  const log = createLogger({ level: system.logLevel, name: system.hostName });
  for (const warning of warnings) log.warn({ warning }, 'configuration warning');
  const stateDirectory = (what: string, step: () => unknown): Promise<unknown> =>
    startupStep(config.file, 'system.state-directory', `${what} ${system.stateDirectory}`, EXIT_CONFIG, step);
  await stateDirectory('cannot create', () => mkdirSync(system.stateDirectory, { recursive: true, mode: 0o700 }));

  const keyLogPath = system.debug.ikeKeyLog;
  const keyLog = keyLogPath === null
    ? undefined
    : await startupStep(config.file, 'system.debug.ike-key-log', `cannot open ${keyLogPath}`, EXIT_CONFIG, () => openKeyLog(keyLogPath, log));
  let gateways = gatewaysByName(config);
  const transport = new UdpTransport({ log });
  // Nothing above a timer callback catches: a throw there would end the process. It is counted (process
  // timerErrors), logged at most once a second and survived, as a throwing datagram handler is.
  let timerErrors = 0;
  const timerErrorLog = rateLimited(log, 'timer-error', 1);
  const survive = (where: string, run: () => void): void => {
    try {
      run();
    } catch (error) {
      timerErrors += 1;
      timerErrorLog.error({ err: error instanceof Error ? error.message : String(error), where }, 'timer callback threw');
    }
  };
  // The module is created after the engine it uses; its IKE event handlers are copied in then. The engine
  // looks handlers up on each event, so one the module lacks is counted there (e.g. phase2NoHandlerDropped).
  let module: RoleModule = {};
  const ikeEvents: IkeEvents = {};
  const ike = new IkeEndpoint({
    local: system.listen,
    gateways: ikeGatewayPolicies(config),
    options: config.ike.options,
    random: systemRandom,
    log,
    send: (bytes, to) => transport.send(bytes, to),
    events: ikeEvents,
    ...(keyLog === undefined ? {} : { keyLog: keyLog.write }),
  });
  const timer = new DeadlineTimer({
    nextDeadline: () => earliest(module.serving?.(systemClock.now()) === false ? undefined : ike.nextDeadline(), module.nextDeadline?.()) ?? null,
    fire: (now) => survive('deadline', () => {
      if (module.serving?.(now) !== false) ike.poll(now);
      module.poll?.(now);
      module.settle?.(now);
    }),
    clock: systemClock,
  });
  const committer: ConfigCommitter = new ConfigCommitter({
    running: config,
    text: options.configText ?? await readFile(config.file, 'utf8').catch(() => null),
    load: async (file): Promise<ReadConfig> => {
      const read = await readConfigFile(file);
      checkDaemonKind(read.config, kind);
      return read;
    },
    canApply: () => module.applyConfig !== undefined,
    apply: (next, changes) => {
      const now = systemClock.now();
      if (module.applyConfig === undefined) return { refused: CANNOT_APPLY_LIVE };
      const result = module.applyConfig(next, changes, now);
      if (!('applied' in result)) return result;
      // What the module sent for the commit (a "delete all" push, a cluster-update) leaves first: it rides
      // the IKE SAs the next step may delete.
      module.settle?.(now);
      const moduleReset = result.resetGateways ?? [];
      let applied = result.applied;
      if (moduleReset.length > 0 || changes.some((c) => IKE_GATEWAY_CELLS.has(c.cell))) {
        // The IKE part of the gateway cells is the host's: the engine gets the new gateway list, and the
        // SAs of every gateway changed, deleted or taken out of a group are deleted (with a Delete).
        const reset = [...new Set([...gatewaysToReset(changes, [...gateways.keys(), ...gatewaysByName(next).keys()]), ...moduleReset])];
        const resetNow = (): void => {
          const at = systemClock.now();
          ike.setGateways(ikeGatewayPolicies(next), reset, at);
          module.settle?.(at);
          timer.arm();
        };
        // A root pair's primary sends only once the standby has the state: the SAs wait for that.
        const held = module.drained?.();
        if (held === undefined) resetNow();
        else {
          void held.then(resetNow).catch((e: unknown) => {
            log.error({ err: e instanceof Error ? e.message : String(e), gateways: reset }, 'commit: resetting the IKE SAs of changed gateways failed');
          });
        }
        applied = [...applied, ...reset.map((g) => `IKE SAs of gateway ${g} deleted`)];
      }
      timer.arm();
      return { applied };
    },
    committed: (next) => {
      gateways = gatewaysByName(next);
    },
    log,
  });
  module = options.role?.({
    get config() {
      return committer.running;
    },
    log, clock: systemClock, random: systemRandom, ike,
    send: (bytes, to) => transport.send(bytes, to),
    rearm: () => timer.arm(),
    bind: async () => {
      if (!transport.bound) await transport.bind(system.listen.address, system.listen.port, { reuseAddr: true });
    },
    unbind: () => transport.close(),
  }) ?? {};
  Object.assign(ikeEvents, module.ikeEvents);
  // Datagrams settle in batches: after every datagram the socket had ready, and at most once per
  // SETTLE_SPACING_MS. The module's state commit (one SQLite transaction with its fsync, and on a root pair
  // one replication) then covers many registrations instead of one each, and what they send still waits for
  // it. bench register: a commit per datagram was a fifth of the server's CPU; one per event-loop turn still
  // left the event loop waiting on an fsync every few registrations. A 10-ms spacing (a commit costs ~85 µs
  // of CPU and ~175 µs of wall time with synchronous = FULL here) took group 19 from 0.845 to 0.785 ms of
  // server CPU per registration, 2 ms to 10 ms; an idle server still settles at once (the spacing counts
  // from the previous settle), so a lone exchange gets no added delay.
  let settlePending: { timer: NodeJS.Timeout | NodeJS.Immediate; immediate: boolean } | undefined;
  let lastDatagramSettle = -Infinity;
  const settleDatagrams = (): void => {
    settlePending = undefined;
    lastDatagramSettle = systemClock.now();
    module.settle?.(lastDatagramSettle);
    timer.arm();
  };
  const settleFromTimer = (): void => survive('datagram settle', settleDatagrams);
  const cancelSettle = (): void => {
    if (settlePending === undefined) return;
    if (settlePending.immediate) clearImmediate(settlePending.timer as NodeJS.Immediate);
    else clearTimeout(settlePending.timer as NodeJS.Timeout);
    settlePending = undefined;
  };
  transport.onDatagram((bytes, from) => {
    const now = systemClock.now();
    if (module.serving?.(now) === false) return;
    if (module.preIke?.(bytes, from, now) !== true) ike.handleDatagram(bytes, from, now);
    if (settlePending !== undefined) return;
    const wait = lastDatagramSettle + SETTLE_SPACING_MS - now;
    settlePending = wait <= 0
      ? { timer: setImmediate(settleFromTimer), immediate: true }
      : { timer: setTimeout(settleFromTimer, wait), immediate: false };
  });
  const local = module.deferBind === true
    ? null
    : await startupStep(config.file, 'system.listen', `cannot bind ${system.listen.address} port ${system.listen.port}`, EXIT_OSERR,
      () => transport.bind(system.listen.address, system.listen.port));

  const startedAt = Date.now();
  const role = config.role;
  const handlers: Record<string, ControlHandler> = {
    [`show security group-vpn ${role} ike security-associations`]: () => ({
      sas: ike.status(systemClock.now()).map((sa) => controlSa(sa, gateways.get(sa.gateway))),
    }),
    [`show security group-vpn ${role} statistics`]: () => withBaseline({
      ike: ike.statistics(),
      ...module.statisticsSections?.(),
      transport: { ...transport.stats },
      process: { ...processStatistics(), timerErrors },
    }, module.statisticsBaseline?.()),
    'show version': () => ({
      hostName: system.hostName,
      platform: system.platform.name,
      model: system.platform.model,
      daemon: `gvpn-${kind}`,
      version: SOFTWARE_VERSION,
      node: process.version,
    }),
    'commit': async (opts) => committer.commit(await commitFile(opts), 'cli'),
    'commit check': async (opts) => committer.check(await commitFile(opts)),
    'show configuration': (opts) => {
      const text = committer.showConfiguration(opts.showSecrets === true || opts.showKeys === true);
      if (text === null) throw new ControlCommandError('NOT_AVAILABLE', `the text of ${committer.running.file} could not be read at start-up`);
      return { file: committer.running.file, text };
    },
    'show system commit': () => ({ commits: committer.history() }),
    ...module.handlers,
    'request system ping': () => ({
      name: system.hostName,
      daemon: kind,
      // The configuration running now: a commit may have moved a server to or from the sub role (R-CHG-2.2).
      role: committer.running.role === 'server' ? committer.running.server.clusterRole : 'member',
      platform: system.platform.name,
      pid: process.pid,
      uptimeSeconds: Math.floor((Date.now() - startedAt) / 1000),
    }),
  };
  // A control request may change state (a rekey, a clear): the module settles after each.
  const settled: Record<string, ControlHandler> = Object.fromEntries(Object.entries(handlers).map(([words, handler]) => [words, async (opts) => {
    // A request sees (and acts on) what the datagrams handled so far did, committed.
    if (settlePending !== undefined) {
      cancelSettle();
      settleDatagrams();
    }
    const result = await handler(opts);
    module.settle?.(systemClock.now());
    timer.arm();
    return result;
  }]));
  const control = new ControlServer({ socketPath: `${system.stateDirectory}/${CONTROL_SOCKET_NAME}`, handlers: settled, log });
  ike.start(systemClock.now());
  await module.start?.(systemClock.now());
  timer.arm();
  // The control socket answers once the role has started (resumed its stored state): a client that sees
  // it never reads the empty state of a daemon still starting.
  await stateDirectory('cannot open the control socket in', () => control.listen());
  const pidFile = `${system.stateDirectory}/${PID_FILE_NAME}`;
  await stateDirectory('cannot write the pid file in', () => writePidFile(pidFile));
  // SIGHUP re-reads the running file. A listener also keeps Node from dying of the signal.
  const reload = (): void => {
    log.info({ signal: 'SIGHUP', file: committer.running.file }, 'configuration reload');
    void committer.commit(committer.running.file, 'sighup');
  };
  process.on('SIGHUP', reload);
  log.info({ daemon: kind, platform: system.platform.name, listen: local, gateways: gateways.size }, 'daemon started');

  return {
    get config() {
      return committer.running;
    },
    log,
    async stop() {
      process.off('SIGHUP', reload);
      if (settlePending !== undefined) {
        cancelSettle();
        settleDatagrams();
      }
      await module.stop?.(systemClock.now());
      ike.stop(systemClock.now());
      timer.stop();
      await control.close();
      await transport.close();
      keyLog?.close();
      await removePidFile(pidFile);
      log.info({}, 'daemon stopped');
    },
  };
}

/** This software's version (`show version`; the root pair's nodes compare theirs, docs/root-pair.md). */
export const SOFTWARE_VERSION = '0.1.0';

/** Least time between two logged timer-callback errors; those in between are counted on the next line. */

/** Least time between two settles after datagrams (see `transport.onDatagram` in startDaemon). */
const SETTLE_SPACING_MS = 10;

/** Cells whose IKE action (R-CHG-1.1, 1.3c, 2.1, 2.2d) the host performs after the module applied them. */
const IKE_GATEWAY_CELLS: ReadonlySet<string> = new Set(['1.1', '1.3c', '2.1', '2.2d']);

/**
 * The IKE gateways whose SAs go: changed or deleted gateways (1.1, 2.1; an added one has none), gateways
 * removed from a group (1.3c) and cluster peers removed from a server-cluster (2.2d: "clear the peer's IKE SA"). Deleted gateways lose their SAs anyway; naming them does no harm. A member's
 * configured gateway NAME is one IKE gateway `NAME/ADDRESS` per server address: all of them are reset.
 */
function gatewaysToReset(changes: readonly ConfigChange[], ikeNames: readonly string[]): string[] {
  const configured = new Set(changes
    .filter((c) => c.gateway !== undefined && (c.cell === '1.3c' || c.cell === '2.2d' ? c.kind === 'deleted' : (c.cell === '1.1' || c.cell === '2.1') && c.kind !== 'added'))
    .map((c) => c.gateway as string));
  return [...new Set(ikeNames)].filter((name) => configured.has(name) || (name.includes('/') && configured.has(name.slice(0, name.lastIndexOf('/')))));
}

/** Largest configuration file a commit reads; the examples are a few kB. */
const MAX_CONFIG_FILE_BYTES = 4 * 1024 * 1024;

/**
 * `options.file` of `commit` / `commit check`: a path, or absent for the running file. Commits run one at a
 * time, so a FIFO (a read that never ends) or /dev/zero (one that never stops) would hold every later commit,
 * SIGHUP's too: only a regular file of sane size is read. A missing file is left to the commit's own answer.
 */
async function commitFile(options: Record<string, unknown>): Promise<string | undefined> {
  const file = options.file;
  if (file === undefined || file === null) return undefined;
  if (typeof file !== 'string' || file === '') throw new ControlCommandError('BAD_OPTION', '"file" must be a non-empty path');
  const info = await stat(file).catch(() => undefined);
  if (info !== undefined && !info.isFile()) throw new ControlCommandError('BAD_OPTION', `${file} is not a regular file`);
  if (info !== undefined && info.size > MAX_CONFIG_FILE_BYTES) {
    throw new ControlCommandError('BAD_OPTION', `${file} is ${info.size} bytes; a configuration file may have at most ${MAX_CONFIG_FILE_BYTES}`);
  }
  return file;
}

function gatewaysByName(config: DaemonConfig): Map<string, IkeGatewayConfig | IkeDynamicGatewayConfig> {
  return new Map([...config.ike.gateways, ...config.ike.dynamicGateways].map((g) => [g.name, g]));
}

/** The IKE engine's gateway list for a configuration (what a module gives `ike.setGateways` on a commit). */
export function ikeGatewayPolicies(config: DaemonConfig): GatewayPolicy[] {
  return [...gatewaysByName(config).values()].map(gatewayPolicy);
}

/**
 * This process since it started: event-loop busy time (callbacks running, including synchronous work such as
 * a state commit waiting for its fsync) and CPU time of all its threads, in ms; resident memory in kB. What
 * limits a daemon's rate is whichever of the two busy figures is higher (bench/register.ts reads both).
 */
function processStatistics(): Record<string, number> {
  const cpu = process.cpuUsage();
  return {
    eventLoopBusyMs: Math.round(performance.eventLoopUtilization().active),
    cpuUserMs: Math.round(cpu.user / 1000),
    cpuSystemMs: Math.round(cpu.system / 1000),
    residentKb: Math.round(process.memoryUsage.rss() / 1024),
  };
}

/** Statistics sections with carried-over counters added, key by key. */
function withBaseline(sections: Record<string, unknown>, baseline: Record<string, Record<string, number>> | undefined): Record<string, unknown> {
  if (baseline === undefined) return sections;
  const out: Record<string, unknown> = {};
  for (const [name, section] of Object.entries(sections)) {
    const base = baseline[name];
    if (base === undefined || typeof section !== 'object' || section === null) {
      out[name] = section;
      continue;
    }
    out[name] = Object.fromEntries(Object.entries(section as Record<string, unknown>).map(([k, v]) => [k, typeof v === 'number' ? v + (base[k] ?? 0) : v]));
  }
  return out;
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  return b === undefined ? a : Math.min(a, b);
}

/** A dynamic gateway (`address: dynamic`) answers any peer no fixed gateway matches; it never initiates. */
function gatewayPolicy(gateway: IkeGatewayConfig | IkeDynamicGatewayConfig): GatewayPolicy {
  return {
    name: gateway.name,
    ...(gateway.dynamic ? { peer: ANY_PEER, dynamic: true } : { peer: gateway.remote }),
    psk: gateway.policy.preSharedKey,
    proposals: gateway.policy.proposals.map((p) => ({
      encryption: p.encryptionAlgorithm,
      hash: p.hash,
      dhGroup: p.dhGroup,
      lifetimeSeconds: p.lifetimeSeconds,
    })),
    initiate: gateway.dynamic ? false : gateway.initiate,
    doi: gateway.phase1Doi,
    ...(gateway.dpd.alwaysSend ? { dpd: { interval: gateway.dpd.intervalSeconds, threshold: gateway.dpd.threshold } } : {}),
  };
}

/** The IKE SA shape of docs/control-protocol.md. */
function controlSa(sa: IkeSaStatus, gateway: IkeGatewayConfig | IkeDynamicGatewayConfig | undefined) {
  return {
    // Stable for the SA's life and unique in practice: the initiator cookie is 64 random bits.
    index: Number.parseInt(sa.icookie.slice(0, 7), 16),
    gateway: sa.gateway,
    role: sa.role,
    state: sa.state === 'established' ? 'UP' : 'NEGOTIATING',
    negotiationState: sa.state,
    icookie: sa.icookie,
    rcookie: sa.rcookie,
    local: sa.local,
    remote: sa.peer,
    exchangeType: 'main',
    authMethod: 'pre-shared-keys',
    encryption: sa.proposal?.encryption ?? null,
    hash: sa.proposal?.hash ?? null,
    dhGroup: sa.proposal?.dhGroup ?? null,
    lifetimeSeconds: sa.proposal?.lifetimeSeconds ?? null,
    expiresInSeconds: sa.lifetimeRemaining === undefined ? null : Math.floor(sa.lifetimeRemaining),
    dpd: {
      interval: gateway?.dpd.alwaysSend ? gateway.dpd.intervalSeconds : null,
      threshold: gateway?.dpd.alwaysSend ? gateway.dpd.threshold : null,
      sentSeq: sa.dpd.sentSeq ?? 0,
      lastAckSeq: sa.dpd.lastAck ?? null,
      outstanding: sa.dpd.outstanding,
      peerSupportsDpd: sa.dpd.peerSupportsDpd,
    },
  };
}

/**
 * Testing and debugging only (`system.debug.ike-key-log`): one `<icookie>,<encryption key>` line per SA,
 * the form tshark's ikev1_decryption_table takes. The file is created mode 0600.
 */
function openKeyLog(path: string, log: Logger): { write(line: string): void; close(): void } {
  const fd = openSync(path, 'a', 0o600);
  log.warn({ path }, 'IKE key log is on: phase-1 keys are written to disk (testing only)');
  return {
    write: (line) => appendFileSync(fd, `${line}\n`),
    close: () => closeSync(fd),
  };
}
