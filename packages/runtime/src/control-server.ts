import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import {
  commandKey,
  ControlCommandError,
  ControlErrorCode,
  MAX_REQUEST_LINE_BYTES,
  requestProblem,
  type ControlRequest,
  type ControlResponse,
} from './control-protocol.js';
import type { Logger } from './logger.js';

/** Answers one command; the returned value (JSON-serializable) becomes the response `data`. */
export type ControlHandler = (options: Record<string, unknown>) => unknown;

export interface ControlServerOptions {
  socketPath: string;
  /** Keyed by the command words joined with spaces: "show security group-vpn server statistics". */
  handlers: Record<string, ControlHandler>;
  log?: Logger;
}

/**
 * The daemon side of the control channel. The socket is chmod 0600 right after listen, so only the
 * daemon's user can query it; a stale socket left by a crashed daemon is removed at start, a live one
 * (another daemon answering) is refused. A handler that throws produces an error response and the
 * server carries on.
 */
export class ControlServer {
  readonly socketPath: string;
  readonly #handlers: Map<string, ControlHandler>;
  readonly #log: Logger | undefined;
  readonly #connections = new Set<Socket>();
  #server: Server | undefined;

  constructor(options: ControlServerOptions) {
    this.socketPath = options.socketPath;
    // A Map, so that a command such as "constructor" cannot reach Object.prototype.
    this.#handlers = new Map(Object.entries(options.handlers));
    this.#log = options.log;
  }

  async listen(): Promise<void> {
    await mkdir(dirname(this.socketPath), { recursive: true, mode: 0o700 });
    await removeStaleSocket(this.socketPath);
    const server = createServer((socket) => this.#serve(socket));
    // The socket file is created under the process umask: with a loose one (002) another user could connect
    // before the chmod below, and a connection made then would outlive it. So it is born 0600.
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(umask);
    }
    this.#server = server;
    server.on('error', (error) => this.#log?.error({ err: error.message }, 'control socket error'));
    await chmod(this.socketPath, 0o600);
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    for (const socket of this.#connections) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await unlink(this.socketPath).catch(() => {});
  }

  #serve(socket: Socket): void {
    this.#connections.add(socket);
    socket.on('close', () => this.#connections.delete(socket));
    socket.on('error', (error) => this.#log?.debug({ err: error.message }, 'control connection error'));
    let buffered = '';
    socket.setEncoding('utf8');
    const tooLarge = (): void => {
      reply(socket, failure(null, ControlErrorCode.RequestTooLarge, `request line longer than ${MAX_REQUEST_LINE_BYTES} bytes`));
      // Answered once and disconnected: nothing sent after the oversized line may run as a request.
      socket.off('data', onData);
      socket.pause();
      socket.end(() => socket.destroy());
      buffered = '';
    };
    const onData = (chunk: string): void => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        // A whole line in one chunk is held to the limit too, not only an unfinished one.
        if (Buffer.byteLength(line) > MAX_REQUEST_LINE_BYTES) return tooLarge();
        if (line.trim() !== '') void this.#answer(socket, line);
      }
      if (Buffer.byteLength(buffered) > MAX_REQUEST_LINE_BYTES) tooLarge();
    };
    socket.on('data', onData);
  }

  async #answer(socket: Socket, line: string): Promise<void> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      reply(socket, failure(null, ControlErrorCode.BadRequest, 'request is not valid JSON'));
      return;
    }
    const problem = requestProblem(parsed);
    if (problem !== null) {
      const id = (parsed as { id?: unknown } | null)?.id;
      reply(socket, failure(typeof id === 'number' ? id : null, ControlErrorCode.BadRequest, problem));
      return;
    }
    const request = parsed as ControlRequest;
    const key = commandKey(request.command);
    const handler = this.#handlers.get(key);
    if (handler === undefined) {
      reply(socket, failure(request.id, ControlErrorCode.UnknownCommand, `unknown command: ${key}`));
      return;
    }
    try {
      const data = await handler(request.options ?? {});
      reply(socket, { id: request.id, ok: true, data: data ?? null });
    } catch (error) {
      if (error instanceof ControlCommandError) {
        reply(socket, failure(request.id, error.code, error.message));
      } else {
        this.#log?.error({ err: (error as Error).message, command: key }, 'control handler failed');
        reply(socket, failure(request.id, ControlErrorCode.Internal, (error as Error).message));
      }
    }
  }
}

function failure(id: number | null, code: string, message: string): ControlResponse {
  return { id, ok: false, error: { code, message } };
}

function reply(socket: Socket, response: ControlResponse): void {
  if (!socket.writable) return;
  let line: string;
  try {
    line = JSON.stringify(response);
  } catch (error) {
    line = JSON.stringify(failure(response.id, ControlErrorCode.Internal, `response not serializable: ${(error as Error).message}`));
  }
  socket.write(`${line}\n`);
}

/** Unlinks a leftover socket file, but refuses to start beside a daemon that still answers on it. */
async function removeStaleSocket(path: string): Promise<void> {
  const stat = await lstat(path).catch(() => undefined);
  if (stat === undefined) return;
  if (!stat.isSocket()) throw new Error(`${path} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another daemon is listening on ${path}`);
  await unlink(path);
}
