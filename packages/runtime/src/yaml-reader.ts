import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type YAMLMap } from 'yaml';
import { ConfigError, type ConfigErrorCode } from './errors.js';

/** Where errors are reported: the file name and a way from byte offsets to line numbers. */
export interface YamlSource {
  file: string;
  lines: LineCounter;
  /** Resolves aliases (`*name`): a value may repeat an anchored node (`&name`) instead of spelling it out. */
  doc: Document.Parsed;
}

/**
 * The node itself, or the anchored node an alias stands for. An alias with no anchor is an error at `path`:
 * read as absent, it would let a default apply silently. The message does not repeat the alias name, which
 * may be the text of a pre-shared key (`ascii-text: *key`).
 */
function resolved(source: YamlSource, node: unknown, path: string): Node | null {
  if (!isAlias(node)) return (node as Node | null | undefined) ?? null;
  const target = node.resolve(source.doc) as Node | undefined;
  if (target === undefined) {
    const offset = node.range?.[0];
    const line = offset === undefined ? undefined : source.lines.linePos(offset).line;
    throw new ConfigError('UNDEFINED_REFERENCE', source.file, path, 'alias (*name) has no anchor (&name) before it', line);
  }
  return target;
}

/** Parses YAML text whose top level must be a map; syntax errors and duplicate keys become `ConfigError`s. */
export function parseYamlMap(text: string, file: string): YamlMapReader {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const syntaxError = doc.errors[0];
  if (syntaxError !== undefined) {
    // Only the code and position: the library's message can quote the source line, e.g. a pre-shared key.
    const { line, col } = lines.linePos(syntaxError.pos[0]);
    throw new ConfigError('YAML_SYNTAX', file, '', `invalid YAML (${syntaxError.code}) at column ${col}`, line);
  }
  if (!isMap(doc.contents)) throw new ConfigError('WRONG_TYPE', file, '', 'the document must be a map of keys');
  return new YamlMapReader({ file, lines, doc }, '', doc.contents);
}

interface IntegerRule {
  min: number;
  max: number;
}

/**
 * A strict, typed view of one YAML map inside a configuration file. Every accessor checks the type
 * of what it reads and every failure becomes a `ConfigError` carrying the file, the dotted path of the
 * key and the line of the offending node. Values are read straight from the YAML nodes (not from a
 * plain-JS copy) so that line numbers survive.
 */
export class YamlMapReader {
  private readonly values = new Map<string, { key: Node | null; value: Node | null }>();

  constructor(
    private readonly source: YamlSource,
    readonly path: string,
    private readonly node: YAMLMap,
  ) {
    for (const pair of node.items) {
      const keyNode = pair.key as Node | null;
      const name = isScalar(keyNode) ? String(keyNode.value) : null;
      if (name === null) {
        throw this.errorAt('WRONG_TYPE', this.path, 'map keys must be plain names', keyNode ?? node);
      }
      this.values.set(name, { key: keyNode, value: resolved(source, pair.value, this.childPath(name)) });
    }
  }

  childPath(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  keys(): string[] {
    return [...this.values.keys()];
  }

  has(key: string): boolean {
    const entry = this.values.get(key);
    return entry !== undefined && !isNullNode(entry.value);
  }

  /** Rejects every key not in `allowed`, naming the first stranger. */
  onlyKeys(allowed: readonly string[]): void {
    for (const [key, entry] of this.values) {
      if (!allowed.includes(key)) {
        throw this.errorAt('UNKNOWN_KEY', this.childPath(key), `unknown key (expected one of: ${allowed.join(', ')})`, entry.key);
      }
    }
  }

  /** An error about `key` (or about this map when `key` is undefined), located at its node. */
  error(code: ConfigErrorCode, key: string | undefined, problem: string): ConfigError {
    if (key === undefined) return this.errorAt(code, this.path, problem, this.node);
    const entry = this.values.get(key);
    return this.errorAt(code, this.childPath(key), problem, entry?.value ?? entry?.key ?? this.node);
  }

  /** An error about item `index` of the list under `key` (path `key[index]`), located at that item. */
  itemError(code: ConfigErrorCode, key: string, index: number, problem: string): ConfigError {
    const list = this.values.get(key)?.value ?? null;
    const item = isSeq(list) ? resolved(this.source, list.items[index], `${this.childPath(key)}[${index}]`) : undefined;
    return this.errorAt(code, `${this.childPath(key)}[${index}]`, problem, item ?? list ?? this.node);
  }

  /** A nested map; `undefined` when the key is absent or empty and not required. */
  map(key: string, required: true): YamlMapReader;
  map(key: string, required?: false): YamlMapReader | undefined;
  map(key: string, required = false): YamlMapReader | undefined {
    const value = this.values.get(key)?.value ?? null;
    if (isNullNode(value)) {
      if (required) throw this.error('MISSING', key, 'required');
      return undefined;
    }
    if (!isMap(value)) throw this.error('WRONG_TYPE', key, 'expected a map');
    return new YamlMapReader(this.source, this.childPath(key), value);
  }

  /** The entries of a map of named objects (`gateway: { SubSrv01: {...} }`), in file order. */
  named(key: string): Array<[string, YamlMapReader]> {
    const container = this.map(key);
    if (container === undefined) return [];
    return container.keys().map((name) => [name, container.map(name, true)]);
  }

  string(key: string): string | undefined {
    const value = this.scalar(key);
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') throw this.error('WRONG_TYPE', key, 'expected a non-empty string');
    return value;
  }

  requiredString(key: string): string {
    const value = this.string(key);
    if (value === undefined) throw this.error('MISSING', key, 'required');
    return value;
  }

  integer(key: string, rule: IntegerRule & { default: number }): number;
  integer(key: string, rule: IntegerRule): number | undefined;
  integer(key: string, rule: IntegerRule & { default?: number }): number | undefined {
    const value = this.scalar(key);
    if (value === undefined) return rule.default;
    if (typeof value !== 'number' || !Number.isInteger(value)) throw this.error('WRONG_TYPE', key, 'expected an integer');
    if (value < rule.min || value > rule.max) {
      throw this.error('OUT_OF_RANGE', key, `${value} is out of range ${rule.min}..${rule.max}`);
    }
    return value;
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.scalar(key);
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') throw this.error('WRONG_TYPE', key, 'expected true or false');
    return value;
  }

  /** One of a fixed set of words; returns the word. */
  choice<T extends string>(key: string, allowed: readonly T[], fallback?: T): T {
    const value = this.scalar(key);
    if (value === undefined) {
      if (fallback === undefined) throw this.error('MISSING', key, `required (one of: ${allowed.join(', ')})`);
      return fallback;
    }
    if (typeof value !== 'string') throw this.error('WRONG_TYPE', key, `expected one of: ${allowed.join(', ')}`);
    if (!(allowed as readonly string[]).includes(value)) {
      throw this.error('INVALID_VALUE', key, `"${value}" is not one of: ${allowed.join(', ')}`);
    }
    return value as T;
  }

  /** A list of non-empty strings, e.g. `proposals: [A, B]`. */
  stringList(key: string): string[] | undefined {
    const value = this.values.get(key)?.value ?? null;
    if (isNullNode(value)) return undefined;
    if (!isSeq(value)) throw this.error('WRONG_TYPE', key, 'expected a list');
    return value.items.map((item, index) => {
      const itemNode = resolved(this.source, item, `${this.childPath(key)}[${index}]`);
      if (!isScalar(itemNode) || typeof itemNode.value !== 'string' || itemNode.value === '') {
        throw this.errorAt('WRONG_TYPE', `${this.childPath(key)}[${index}]`, 'expected a non-empty string', itemNode ?? value);
      }
      return itemNode.value;
    });
  }

  /** A scalar that may be null, as in `max-members: null`; `undefined` when absent. */
  nullableInteger(key: string, rule: IntegerRule): number | null | undefined {
    const entry = this.values.get(key);
    if (entry === undefined) return undefined;
    if (isNullNode(entry.value)) return null;
    return this.integer(key, rule);
  }

  private scalar(key: string): unknown {
    const value = this.values.get(key)?.value ?? null;
    if (isNullNode(value)) return undefined;
    if (!isScalar(value)) throw this.error('WRONG_TYPE', key, 'expected a single value');
    return value.value;
  }

  private errorAt(code: ConfigErrorCode, path: string, problem: string, node: Node | null): ConfigError {
    const offset = node?.range?.[0];
    const line = offset === undefined ? undefined : this.source.lines.linePos(offset).line;
    return new ConfigError(code, this.source.file, path, problem, line);
  }
}

function isNullNode(node: Node | null | undefined): boolean {
  return node === null || node === undefined || (isScalar(node) && node.value === null);
}
