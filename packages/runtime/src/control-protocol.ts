/**
 * The daemon <-> CLI control channel: newline-delimited JSON over a unix socket, one request per
 * line, one response line per request (docs/control-protocol.md).
 */

export interface ControlRequest {
  id: number;
  /** The command words, e.g. ["show", "security", "group-vpn", "server", "statistics"]. */
  command: string[];
  options?: Record<string, unknown>;
}

export type ControlResponse =
  | { id: number; ok: true; data: unknown }
  | { id: number | null; ok: false; error: { code: string; message: string } };

/** Error codes the channel itself produces; handlers may add their own through `ControlCommandError`. */
export const ControlErrorCode = {
  BadRequest: 'BAD_REQUEST',
  UnknownCommand: 'UNKNOWN_COMMAND',
  RequestTooLarge: 'REQUEST_TOO_LARGE',
  Internal: 'INTERNAL_ERROR',
} as const;

/** Longest request line accepted; a client that sends more is answered once and disconnected. */
export const MAX_REQUEST_LINE_BYTES = 64 * 1024;

export const CONTROL_SOCKET_NAME = 'control.sock';
export const PID_FILE_NAME = 'daemon.pid';

/** A handler's way to answer with a specific error code (e.g. NOT_FOUND) instead of INTERNAL_ERROR. */
export class ControlCommandError extends Error {
  override readonly name = 'ControlCommandError';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** The handler-table key for a command: its words joined by single spaces. */
export function commandKey(words: readonly string[]): string {
  return words.join(' ');
}

/** Checks the shape of a parsed request line; returns a description of the first problem, or null. */
export function requestProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'a request must be a JSON object';
  const request = value as Record<string, unknown>;
  if (typeof request.id !== 'number' || !Number.isSafeInteger(request.id)) return '"id" must be an integer';
  if (!Array.isArray(request.command) || request.command.length === 0 || !request.command.every((word) => typeof word === 'string')) {
    return '"command" must be a non-empty array of strings';
  }
  const options = request.options;
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    return '"options" must be an object';
  }
  return null;
}
