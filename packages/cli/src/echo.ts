/** `ringleader echo`: a sharded io_uring echo server. */
import type { Command } from 'commander';
import { createServer } from '@ringleader/runtime';
import { runLive } from './live.js';
import { addServerFlags, toServerOptions, type ServerFlags } from './server-flags.js';

export function registerEcho(program: Command): void {
  addServerFlags(program.command('echo').description('run a sharded io_uring echo server')).action(async (f: ServerFlags) => {
    const server = createServer({ ...toServerOptions(f), handler: 'echo' });
    process.exitCode = await runLive(server, { json: f.json, intervalMs: f.interval, drainMs: f.drain, label: 'echo' });
  });
}
