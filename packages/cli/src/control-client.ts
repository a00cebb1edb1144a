import { statSync, type Stats } from 'node:fs';
import { createConnection } from 'node:net';

/**
 * The CLI's side of the control channel (docs/control-protocol.md): one JSON request line, one
 * JSON response line. Kept here, rather than imported from @gvpn/runtime, so the CLI carries no
 * protocol code.
 */
export class ControlError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export type Requester = (socketPath: string, command: readonly string[], options: Record<string, unknown>) => Promise<unknown>;

export const request: Requester = (socketPath, command, options) =>
  new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let received = '';
    const finish = (outcome: () => void): void => {
      clearTimeout(timer);
      socket.destroy();
      outcome();
    };
    const timer = setTimeout(() => finish(() => reject(new ControlError('TIMEOUT', `no answer from the daemon on ${socketPath} within 10 s`))), 10_000);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify({ id: 1, command, options })}\n`));
    socket.on('error', (error: NodeJS.ErrnoException) => finish(() => reject(connectionError(socketPath, error))));
    socket.on('data', (chunk: string) => {
      received += chunk;
      const newline = received.indexOf('\n');
      if (newline < 0) return;
      finish(() => {
        try {
          const response = JSON.parse(received.slice(0, newline)) as
            | { ok: true; data: unknown }
            | { ok: false; error: { code: string; message: string } };
          if (response.ok) resolve(response.data);
          else reject(new ControlError(response.error.code, response.error.message));
        } catch {
          reject(new ControlError('BAD_RESPONSE', `what answers on ${socketPath} is no gvpn daemon: its answer is not a control-protocol response`));
        }
      });
    });
    socket.on('end', () => finish(() => reject(new ControlError('BAD_RESPONSE', `the daemon on ${socketPath} closed the connection without an answer`))));
  });

/**
 * What a failed connect says about the path. Linux refuses a connect to a directory or a regular file as it
 * refuses one to a socket nobody listens on (ECONNREFUSED): "daemon not running" would send the operator who
 * gave the state directory as `--socket` to restart a daemon that runs.
 */
function connectionError(socketPath: string, error: NodeJS.ErrnoException): ControlError {
  if (error.code === 'ENOENT') return new ControlError('DAEMON_NOT_RUNNING', `daemon not running: nothing listens on ${socketPath}`);
  if (error.code === 'EACCES') {
    return new ControlError('CONNECTION_FAILED', `permission denied on ${socketPath}: run gvpn as the user the daemon runs as`);
  }
  if (error.code === 'ECONNREFUSED') {
    let stats: Stats | undefined;
    try {
      stats = statSync(socketPath);
    } catch {
      // gone since the connect, or not ours to look at: the refusal is all we know
    }
    if (stats?.isDirectory()) return new ControlError('CONNECTION_FAILED', `${socketPath} is a directory, not a socket (give it as --state-dir)`);
    if (stats !== undefined && !stats.isSocket()) return new ControlError('CONNECTION_FAILED', `${socketPath} is not a socket`);
    return new ControlError('DAEMON_NOT_RUNNING', `daemon not running: nothing listens on ${socketPath}`);
  }
  return new ControlError('CONNECTION_FAILED', `cannot reach the daemon on ${socketPath}: ${error.message}`);
}
