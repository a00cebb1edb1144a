/**
 * Configuration commits on a running daemon (issue 6; spec config-changes.md): `commit`, `commit check`
 * and SIGHUP all come here. A commit reads and validates the whole new file with the start-up loader,
 * computes the difference with the running configuration (`diffConfigs`), refuses what needs a restart,
 * and hands the changes to the role module, which applies all of them or none. The committer keeps the
 * running configuration and the text it was read from (for `show configuration`) and the last
 * `COMMIT_HISTORY` attempts (for `show system commit`). Commits run one at a time, in arrival order.
 */
import { readFile } from 'node:fs/promises';
import { isMap, isScalar, parseDocument, visit } from 'yaml';
import { parseConfig, type LoadConfigOptions } from './config.js';
import { diffConfigs, type ConfigChange } from './config-diff.js';
import type { DaemonConfig, LoadedConfig } from './config-types.js';
import { ConfigError } from './errors.js';
import type { Logger } from './logger.js';

/** How many commit attempts `show system commit` remembers. */
export const COMMIT_HISTORY = 50;

/** What replaces a pre-shared key in `show configuration`. */
export const MASKED_SECRET = '<masked>';

/**
 * `applied`: the module applied every change and the file is now the running configuration.
 * `refused`: valid, but not applied (needs a restart, or the module refused); nothing changed.
 * `invalid`: the file could not be read or failed validation; nothing changed.
 * `no-change`: valid and identical in effect to the running configuration.
 */
export type CommitResult = 'applied' | 'refused' | 'invalid' | 'no-change';

/** `cli`: the control command `commit`; `sighup`: the signal (re-reads the running file). */
export type CommitTrigger = 'cli' | 'sighup';

/** One commit attempt, as `show system commit` lists it. */
export interface CommitRecord {
  /** When the attempt ended, ISO 8601 UTC (display only). */
  time: string;
  file: string;
  trigger: CommitTrigger;
  result: CommitResult;
  /** The differences found (empty for `invalid` and `no-change`). */
  changes: ConfigChange[];
  /** Lines the role module reported for `applied`; empty otherwise. */
  applied: string[];
  /** Why it was refused or invalid (a `ConfigError` message names file, path and line); null otherwise. */
  error: string | null;
}

/**
 * The answer to `commit check`: `ok` means valid, with changes this daemon would try to apply;
 * `refused` means valid, but a commit would be refused (`error` says why). Nothing is recorded.
 */
export interface CommitCheck {
  file: string;
  result: 'ok' | 'refused' | 'invalid' | 'no-change';
  changes: ConfigChange[];
  restartRequired: string[];
  warnings: string[];
  error: string | null;
}

/** The answer to `commit`: the record, plus what the check side knows. */
export interface CommitOutcome extends CommitRecord {
  restartRequired: string[];
  warnings: string[];
}

/** A module's verdict on a set of changes: all applied, in order, or none (with the reason). */
/**
 * A module's answer to a commit. `resetGateways`: IKE gateways whose SAs the changes end beyond the gateway
 * cells' own (a group deleted: every IKE SA of the group's gateways); the host deletes them after the
 * module's datagrams of the commit (a "delete all" push or cluster-update) have left.
 */
export type ApplyResult = { applied: string[]; resetGateways?: string[] } | { refused: string };

/** A configuration read for a commit: the validated configuration and the exact text it came from. */
export interface ReadConfig extends LoadedConfig {
  text: string;
}

/** `loadConfig`, keeping the text (what `show configuration` prints). Throws `ConfigError`. */
export async function readConfigFile(file: string, options: LoadConfigOptions = {}): Promise<ReadConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new ConfigError('READ_FAILED', file, '', `cannot read: ${(cause as Error).message}`);
  }
  return { ...(await parseConfig(text, file, options)), text };
}

export interface ConfigCommitterOptions {
  running: DaemonConfig;
  /** The text `running` was read from; null when unknown (`show configuration` then says so). */
  text: string | null;
  /** Reads and validates a file exactly as start-up does (loader plus daemon-kind check). */
  load(file: string): Promise<ReadConfig>;
  /**
   * Applies the changes (the role module's `applyConfig`), or refuses them; absent: every change is
   * refused. Called only with a non-empty list, and never while another commit runs.
   */
  apply?(next: DaemonConfig, changes: ConfigChange[]): ApplyResult;
  /** Whether `apply` can apply anything (default: it is given); false: every change is refused up front. */
  canApply?(): boolean;
  /** After an `applied` commit, with the new running configuration. */
  committed?(next: DaemonConfig): void;
  log?: Logger;
  /** Wall-clock time for the record (display only). */
  date?: () => Date;
}

type Evaluated =
  | { kind: 'invalid'; error: string }
  | { kind: 'refused'; read: ReadConfig; changes: ConfigChange[]; restartRequired: string[]; error: string }
  | { kind: 'no-change'; read: ReadConfig }
  | { kind: 'changes'; read: ReadConfig; changes: ConfigChange[] };

export const CANNOT_APPLY_LIVE = 'this daemon cannot apply changes live yet';

export class ConfigCommitter {
  #running: DaemonConfig;
  #text: string | null;
  readonly #history: CommitRecord[] = [];
  readonly #options: ConfigCommitterOptions;
  /** The tail of the commit queue: each commit starts when the one before it has ended. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: ConfigCommitterOptions) {
    this.#options = options;
    this.#running = options.running;
    this.#text = options.text;
  }

  get running(): DaemonConfig {
    return this.#running;
  }

  /** The text of the last committed file (at start: the start-up file), or null if it was never read. */
  get runningText(): string | null {
    return this.#text;
  }

  /** Newest first. */
  history(): CommitRecord[] {
    return [...this.#history].reverse();
  }

  /** Validates `file` (default: the running file) and returns the difference; applies nothing. */
  check(file: string = this.#running.file): Promise<CommitCheck> {
    return this.#serialized(async () => {
      const evaluated = await this.#evaluate(file);
      const warnings = 'read' in evaluated ? evaluated.read.warnings : [];
      switch (evaluated.kind) {
        case 'invalid':
          return { file, result: 'invalid', changes: [], restartRequired: [], warnings, error: evaluated.error };
        case 'refused':
          return { file, result: 'refused', changes: evaluated.changes, restartRequired: evaluated.restartRequired, warnings, error: evaluated.error };
        case 'no-change':
          return { file, result: 'no-change', changes: [], restartRequired: [], warnings, error: null };
        case 'changes':
          return { file, result: 'ok', changes: evaluated.changes, restartRequired: [], warnings, error: null };
      }
    });
  }

  /** One commit attempt of `file` (default: the running file); recorded whatever its result. */
  commit(file: string = this.#running.file, trigger: CommitTrigger = 'cli'): Promise<CommitOutcome> {
    return this.#serialized(async () => {
      const evaluated = await this.#evaluate(file);
      const warnings = 'read' in evaluated ? evaluated.read.warnings : [];
      let outcome: CommitOutcome;
      switch (evaluated.kind) {
        case 'invalid':
          outcome = this.#record(file, trigger, 'invalid', [], [], evaluated.error, [], warnings);
          break;
        case 'refused':
          outcome = this.#record(file, trigger, 'refused', evaluated.changes, [], evaluated.error, evaluated.restartRequired, warnings);
          break;
        case 'no-change':
          outcome = this.#record(file, trigger, 'no-change', [], [], null, [], warnings);
          break;
        case 'changes': {
          const verdict = this.#apply(evaluated.read.config, evaluated.changes);
          if ('refused' in verdict) {
            outcome = this.#record(file, trigger, 'refused', evaluated.changes, [], verdict.refused, [], warnings);
            break;
          }
          this.#running = evaluated.read.config;
          this.#text = evaluated.read.text;
          this.#options.committed?.(evaluated.read.config);
          outcome = this.#record(file, trigger, 'applied', evaluated.changes, verdict.applied, null, [], warnings);
          break;
        }
      }
      const level = outcome.result === 'applied' || outcome.result === 'no-change' ? 'info' : 'warn';
      this.#options.log?.[level]({ file, trigger, result: outcome.result, changes: outcome.changes.map((c) => c.detail), error: outcome.error }, 'configuration commit');
      return outcome;
    });
  }

  /**
   * The running configuration as YAML, pre-shared keys replaced by `<masked>` unless `showSecrets`.
   * Null when the text is unknown.
   */
  showConfiguration(showSecrets: boolean): string | null {
    if (this.#text === null) return null;
    return showSecrets ? this.#text : maskSecrets(this.#text);
  }

  async #evaluate(file: string): Promise<Evaluated> {
    let read: ReadConfig;
    try {
      read = await this.#options.load(file);
    } catch (error) {
      if (!(error instanceof ConfigError)) this.#options.log?.error({ err: (error as Error).message, file }, 'configuration load failed unexpectedly');
      return { kind: 'invalid', error: (error as Error).message };
    }
    const diff = diffConfigs(this.#running, read.config);
    if (diff.restartRequired.length > 0) {
      return { kind: 'refused', read, changes: diff.changes, restartRequired: diff.restartRequired, error: `needs a restart: ${diff.restartRequired.join('; ')}` };
    }
    if (diff.changes.length === 0) return { kind: 'no-change', read };
    if (!(this.#options.canApply?.() ?? this.#options.apply !== undefined)) return { kind: 'refused', read, changes: diff.changes, restartRequired: [], error: CANNOT_APPLY_LIVE };
    return { kind: 'changes', read, changes: diff.changes };
  }

  #apply(next: DaemonConfig, changes: ConfigChange[]): ApplyResult {
    try {
      return this.#options.apply?.(next, changes) ?? { refused: CANNOT_APPLY_LIVE };
    } catch (error) {
      // A module must refuse before it changes anything; one that throws may have applied part of the
      // changes. The running configuration stays the old one so the operator can commit again.
      this.#options.log?.error({ err: (error as Error).message }, 'applying a configuration change failed');
      return { refused: `applying the changes failed: ${(error as Error).message}` };
    }
  }

  #record(
    file: string, trigger: CommitTrigger, result: CommitResult, changes: ConfigChange[], applied: string[],
    error: string | null, restartRequired: string[], warnings: string[],
  ): CommitOutcome {
    const record: CommitRecord = { time: (this.#options.date?.() ?? new Date()).toISOString(), file, trigger, result, changes, applied, error };
    this.#history.push(record);
    if (this.#history.length > COMMIT_HISTORY) this.#history.splice(0, this.#history.length - COMMIT_HISTORY);
    return { ...record, restartRequired, warnings };
  }

  #serialized<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * YAML configuration text with every value inside a `pre-shared-key` map (`ascii-text`, `hexadecimal`)
 * replaced by `<masked>`; comments and layout are kept. Text that does not parse is not echoed at all.
 */
export function maskSecrets(text: string): string {
  const doc = parseDocument(text, { uniqueKeys: false });
  if (doc.errors.length > 0) return `# ${MASKED_SECRET}: the configuration text does not parse\n`;
  visit(doc, {
    Pair(_, pair) {
      if (!isScalar(pair.key) || pair.key.value !== 'pre-shared-key') return undefined;
      if (!isMap(pair.value)) {
        if (pair.value !== null && pair.value !== undefined) pair.value = doc.createNode(MASKED_SECRET);
        return visit.SKIP;
      }
      // Every value of the map, not only the known keys: a running configuration has only those, and
      // masking more can never leak.
      for (const item of pair.value.items) {
        if (isScalar(item.value)) {
          // In place, so a comment on the value stays.
          item.value.value = MASKED_SECRET;
          item.value.type = 'PLAIN';
        } else {
          item.value = doc.createNode(MASKED_SECRET);
        }
      }
      return visit.SKIP;
    },
  });
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}
