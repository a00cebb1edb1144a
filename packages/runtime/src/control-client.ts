import { createConnection } from 'node:net';
import type { ControlResponse } from './control-protocol.js';

/** `DAEMON_NOT_RUNNING`, `TIMEOUT`, `BAD_RESPONSE`, or the code the daemon answered with. */
export class ControlClientError extends Error {
  override readonly name = 'ControlClientError';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export interface ControlRequestOptions {
  options?: Record<string, unknown>;
  timeoutMs?: number;
}

/**
 * Sends one command over a fresh connection and resolves with the response `data`.
 * Rejects with `ControlClientError`: DAEMON_NOT_RUNNING when nothing listens on `socketPath`.
 */
export function controlRequest(socketPath: string, command: string[], request: ControlRequestOptions = {}): Promise<unknown> {
  const id = 1;
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let received = '';
    const settle = (outcome: () => void): void => {
      clearTimeout(timer);
      socket.destroy();
      outcome();
    };
    const timer = setTimeout(
      () => settle(() => reject(new ControlClientError('TIMEOUT', `no answer on ${socketPath} within ${request.timeoutMs ?? 5000} ms`))),
      request.timeoutMs ?? 5000,
    );
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify({ id, command, options: request.options ?? {} })}\n`));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const notRunning = error.code === 'ENOENT' || error.code === 'ECONNREFUSED';
      settle(() => reject(notRunning
        ? new ControlClientError('DAEMON_NOT_RUNNING', `daemon not running: nothing listens on ${socketPath}`)
        : new ControlClientError(error.code ?? 'CONNECTION_FAILED', `${socketPath}: ${error.message}`)));
    });
    socket.on('data', (chunk: string) => {
      received += chunk;
      const newline = received.indexOf('\n');
      if (newline < 0) return;
      settle(() => {
        let response: ControlResponse;
        try {
          response = JSON.parse(received.slice(0, newline)) as ControlResponse;
        } catch {
          reject(new ControlClientError('BAD_RESPONSE', `${socketPath}: the daemon answered with invalid JSON`));
          return;
        }
        if (response.ok) resolve(response.data);
        else reject(new ControlClientError(response.error.code, response.error.message));
      });
    });
    socket.on('end', () => settle(() => reject(new ControlClientError('BAD_RESPONSE', `${socketPath}: connection closed without an answer`))));
  });
}
