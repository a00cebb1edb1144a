#!/usr/bin/env node
import { runCli } from './cli.js';

// `gvpn ... | grep -q X` closes the pipe before the output is written: that ends the output, not with a stack
// trace and exit code 1 (which reads as a daemon error); the exit code stays the command's own.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});
process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
