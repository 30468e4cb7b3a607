/** `ringleader echo`: a sharded io_uring echo server. */
import type { Command } from 'commander';
import { createServer, JS_ECHO_HANDLER } from '@ringleader/runtime';
import { runLive } from './live.js';
import { addServerFlags, toServerOptions, type ServerFlags } from './server-flags.js';

export function registerEcho(program: Command): void {
  const cmd = program
    .command('echo')
    .description('run a sharded io_uring echo server')
    .option('--js', 'echo through the JS handler path (a handler module) instead of natively, to measure its cost', false);
  addServerFlags(cmd).action(async (f: ServerFlags & { js: boolean }) => {
    const server = createServer({ ...toServerOptions(f), handler: f.js ? JS_ECHO_HANDLER : 'echo' });
    process.exitCode = await runLive(server, { json: f.json, intervalMs: f.interval, drainMs: f.drain, label: f.js ? 'echo (JS handler)' : 'echo' });
  });
}
