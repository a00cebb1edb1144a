import { pino, type DestinationStream, type Logger } from 'pino';
import { systemClock, type Clock } from './clock.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type { Logger };

export interface LoggerOptions {
  level: LogLevel;
  /** Component or daemon name, printed as `name` on every line. */
  name: string;
  /** Where JSON lines go; default stdout. */
  destination?: DestinationStream;
}

/**
 * Field names that must never carry a value into a log. Keys and PSKs are wrapped in types that
 * serialize as "[secret]" already; this list is the backstop for a raw value put in a field by mistake.
 */
const SECRET_FIELDS = ['psk', 'preSharedKey', 'key', 'secret', 'skeyid', 'skeyidD', 'skeyidA', 'skeyidE', 'encKey'];
const REDACT_PATHS = [...SECRET_FIELDS, ...SECRET_FIELDS.map((field) => `*.${field}`), ...SECRET_FIELDS.map((field) => `*.*.${field}`)];

export function createLogger(options: LoggerOptions): Logger {
  const settings = {
    level: options.level,
    // No `hostname`: every daemon of a lab runs on one host; the name and pid tell them apart.
    base: { name: options.name, pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[secret]' },
  };
  return options.destination === undefined ? pino(settings) : pino(settings, options.destination);
}

/** A channel that writes at most one line per window (either level), for junk from the network or repeated faults. */
export interface RateLimitedLog {
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/**
 * At most one line per `perSeconds`, tagged `limit: key`; lines dropped in between are counted and the
 * count goes out as `suppressed` on the next line that is written, so a flood shows up without filling
 * the disk.
 */
export function rateLimited(log: Logger, key: string, perSeconds: number, clock: Clock = systemClock): RateLimitedLog {
  const windowMs = perSeconds * 1000;
  let nextAllowed = -Infinity;
  let suppressed = 0;
  const write = (level: 'warn' | 'error') => (fields: Record<string, unknown>, message: string): void => {
    const now = clock.now();
    if (now < nextAllowed) {
      suppressed += 1;
      return;
    }
    log[level]({ ...fields, limit: key, ...(suppressed > 0 ? { suppressed } : {}) }, message);
    suppressed = 0;
    nextAllowed = now + windowMs;
  };
  return { warn: write('warn'), error: write('error') };
}
