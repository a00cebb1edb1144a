/** Stable codes for configuration and platform-profile errors; match on `code`, not on the message. */
export type ConfigErrorCode =
  | 'READ_FAILED'
  | 'YAML_SYNTAX'
  | 'UNKNOWN_KEY'
  | 'MISSING'
  | 'WRONG_TYPE'
  | 'OUT_OF_RANGE'
  | 'INVALID_VALUE'
  | 'INVALID_ADDRESS'
  | 'DUPLICATE_ADDRESS'
  | 'UNDEFINED_REFERENCE'
  | 'LEGACY_GROUP'
  | 'ROLE'
  | 'UNKNOWN_PLATFORM'
  | 'ROLE_NOT_SUPPORTED';

/**
 * A configuration file (or platform profile) is unusable.
 * The message reads "FILE: PATH: what is wrong (line N)" so an operator can go straight to the spot;
 * `path` uses the YAML keys joined by dots, e.g.
 * `security.group-vpn.server.ike.gateway.SubSrv01.dead-peer-detection.interval`.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code: ConfigErrorCode;
  readonly file: string;
  readonly path: string;
  /** 1-based line of the offending node, when the YAML parser knows it. */
  readonly line: number | undefined;
  /** What is wrong, without the file/path prefix. */
  readonly problem: string;

  constructor(code: ConfigErrorCode, file: string, path: string, problem: string, line?: number) {
    const where = path === '' ? '(document)' : path;
    super(`${file}: ${where}: ${problem}${line === undefined ? '' : ` (line ${line})`}`);
    this.code = code;
    this.file = file;
    this.path = path;
    this.line = line;
    this.problem = problem;
  }
}
