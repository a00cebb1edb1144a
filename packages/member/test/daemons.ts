/**
 * The root-server daemon as a real process for the member package's end-to-end tests: writes its
 * configuration (any tree docs/configuration.md accepts), starts `node packages/root-server/dist/src/main.js
 * --config FILE`, waits for its control socket, and queries it the way the CLI does.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagedProcess, ROOT_SERVER_MAIN, stopPid, waitFor } from '@gvpn/integration';
import { controlRequest } from '@gvpn/runtime';

export class RootServerDaemon {
  private constructor(readonly name: string, readonly child: ManagedProcess, readonly socketPath: string) {}

  /** `config.system['state-directory']` must be set; relative paths are taken from workDir. */
  static async start(name: string, config: { system: { 'state-directory': string } }, workDir: string): Promise<RootServerDaemon> {
    const file = join(workDir, `${name}.yaml`);
    await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
    const child = ManagedProcess.start(name, process.execPath, [ROOT_SERVER_MAIN, '--config', file], { logDir: workDir });
    const daemon = new RootServerDaemon(name, child, join(workDir, config.system['state-directory'], 'control.sock'));
    try {
      await waitFor(async () => {
        if (!child.running) throw new Error(`${name} exited at start: ${child.stderr()}${child.stdout()}`);
        return daemon.request(['request', 'system', 'ping']).then(() => true, () => false);
      }, 10_000, `${name} control socket`);
    } catch (error) {
      await daemon.stop();
      throw error;
    }
    return daemon;
  }

  request(words: string[], options: Record<string, unknown> = {}): Promise<unknown> {
    return controlRequest(this.socketPath, words, { options });
  }

  log(): string {
    return this.child.stdout();
  }

  async stop(): Promise<void> {
    if (this.child.running) await stopPid(this.child.pid);
    await this.child.exited;
  }
}
