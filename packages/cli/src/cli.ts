import { join, resolve } from 'node:path';
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { COMMANDS, type CommandSpec, type Verbosity } from './commands.js';
import { ControlError, request as socketRequest, type Requester } from './control-client.js';

/** Exit codes: what a script calling `gvpn` can rely on. */
export const ExitCode = {
  Ok: 0,
  /** The daemon answered with an error (unknown command, handler failure, ...). */
  DaemonError: 1,
  /** No daemon on the socket, or it did not answer. */
  Unreachable: 2,
  /** The daemon answered ok, but with data the command's renderer cannot show (a version mismatch, a bug). */
  UnexpectedAnswer: 3,
  /** Bad command line. */
  Usage: 64,
} as const;

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

interface GlobalOptions {
  socket?: string;
  stateDir?: string;
  json?: boolean;
  showKeys?: boolean;
}

/** Runs one `gvpn` invocation (`args` without node and script) and returns its exit code. */
export async function runCli(args: readonly string[], io: CliIo, request: Requester = socketRequest): Promise<number> {
  let exitCode: number = ExitCode.Ok;
  const program = new Command('gvpn')
    .description('Query a gvpn daemon over its control socket')
    .addOption(new Option('--socket <path>', 'control socket of the daemon').argParser(nonEmpty).conflicts('stateDir'))
    .addOption(new Option('--state-dir <dir>', 'state directory of the daemon (uses <dir>/control.sock)').argParser(nonEmpty))
    .option('--json', 'print the raw data as JSON')
    .option('--show-keys', 'include key material where a command has it (testing and debugging only)')
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
    .exitOverride();

  for (const spec of COMMANDS) {
    const leaf = commandPath(program, spec.words).description(spec.description);
    if (spec.argument) {
      const operand = new Argument(`<${spec.argument.name}>`, spec.argument.description);
      if (spec.argument.choices) operand.choices(spec.argument.choices);
      leaf.addArgument(operand);
    }
    if (spec.verbosity) leaf.addArgument(new Argument('[verbosity]', 'how much to show').choices(['brief', 'detail']).default('brief'));
    for (const o of spec.options ?? []) leaf.addOption(new Option(`${o.flag} <${o.value}>`, o.description).argParser(nonEmpty));
    leaf.action(async (...actionArgs: unknown[]) => {
      const operand = spec.argument ? String(actionArgs.shift()) : undefined;
      const verbosity = (spec.verbosity ? actionArgs[0] : 'brief') as Verbosity;
      exitCode = await execute(spec, verbosity, leaf.optsWithGlobals<GlobalOptions & Record<string, unknown>>(), io, request, operand);
    });
  }

  try {
    await program.parseAsync([...args], { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    // Help and version output are successes; everything else commander rejects is a usage error.
    return error.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
  }
  return exitCode;
}

async function execute(spec: CommandSpec, verbosity: Verbosity, globals: GlobalOptions & Record<string, unknown>, io: CliIo, request: Requester, operand?: string): Promise<number> {
  const socketPath = globals.socket ?? (globals.stateDir === undefined ? undefined : join(globals.stateDir, 'control.sock'));
  if (socketPath === undefined) {
    io.stderr.write('gvpn: give --socket PATH or --state-dir DIR to name the daemon\n');
    return ExitCode.Usage;
  }
  let data: unknown;
  try {
    data = await request(socketPath, spec.words, {
      ...(spec.verbosity ? { detail: verbosity === 'detail' } : {}),
      ...(spec.argument && operand !== undefined ? { [spec.argument.option]: operand } : {}),
      ...(globals.showKeys ? { showKeys: true } : {}),
      ...commandOptions(spec, globals),
    });
  } catch (error) {
    if (!(error instanceof ControlError)) throw error;
    io.stderr.write(`gvpn: ${error.message}${error.code === 'UNKNOWN_COMMAND' ? servedBy(spec.words) : ''}\n`);
    // No answer a daemon gave (nothing listening, a closed connection, bytes that are not a response): exit 2,
    // so that exit 1 always means the daemon refused.
    const unreachable = ['DAEMON_NOT_RUNNING', 'CONNECTION_FAILED', 'TIMEOUT', 'BAD_RESPONSE'].includes(error.code);
    return unreachable ? ExitCode.Unreachable : ExitCode.DaemonError;
  }
  // A renderer meets data of an unexpected shape (a daemon of another version, a bug) as a TypeError: exit 1 with
  // a stack would pass for a daemon error, so it gets one line and a code of its own.
  let text: string;
  let failed: boolean;
  try {
    text = globals.json ? `${JSON.stringify(data, null, 2)}\n` : spec.render(data, verbosity);
    failed = spec.failed?.(data) === true;
  } catch (error) {
    io.stderr.write(`gvpn: unexpected answer from the daemon: ${(error as Error).message}\n`);
    return ExitCode.UnexpectedAnswer;
  }
  io.stdout.write(text);
  return failed ? ExitCode.DaemonError : ExitCode.Ok;
}

/**
 * Why a daemon may not know a command `gvpn` lists: each kind serves its own (a member has no `server`
 * commands), so "unknown command" alone reads like a typo.
 */
function servedBy(words: readonly string[]): string {
  if (words.includes('chassis')) return ' (only a root-server node of a root pair has it)';
  if (words[2] === 'group-vpn' && words[3] === 'server') return ' (only a key server has it: is this a member?)';
  if (words[2] === 'group-vpn' && words[3] === 'member') return ' (only a member has it: is this a key server?)';
  return '';
}

/**
 * An empty value (`--socket "$UNSET"`) is a bad command line: as a path it would name the working directory
 * (`--file`), a relative `control.sock` (`--state-dir`) or nothing at all (`--socket`: node:net threw).
 */
function nonEmpty(value: string): string {
  if (value === '') throw new InvalidArgumentError('Give a path.');
  return value;
}

/** The spec's `--flag VALUE` options that were given, under their protocol names; paths made absolute. */
function commandOptions(spec: CommandSpec, given: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of spec.options ?? []) {
    const key = new Option(`${o.flag} <${o.value}>`).attributeName();
    const value = given[key];
    if (typeof value === 'string') out[o.option] = o.path ? resolve(value) : value;
  }
  return out;
}

/** Finds or creates the nested subcommand for each word, so commands sharing a prefix share a parent. */
function commandPath(program: Command, words: readonly string[]): Command {
  let parent = program;
  for (const word of words) {
    parent = parent.commands.find((child) => child.name() === word) ?? parent.command(word);
  }
  return parent;
}
