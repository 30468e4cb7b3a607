/** `ringleader echo`: a sharded io_uring echo server. */
import type { Command } from 'commander';
import { createServer, JS_ECHO_HANDLER } from '@ringleader/runtime';
import { runLive } from './live.js';
import { addServerFlags, configReloader, refuseBuiltinOnly, type ServerFlags, serverHelp, serverLog, toServerOptions } from './server-flags.js';

export function registerEcho(program: Command): void {
  const cmd = program
    .command('echo')
    .description('run a sharded io_uring echo server')
    .option('--js', 'echo through the JS handler path (a handler module) instead of natively, to measure its cost', false)
    .addHelpText(
      'after',
      serverHelp([
        'ringleader echo --port 7000                      # one worker ring per CPU',
        'ringleader echo --listen :7000 --workers 4 --json',
        'ringleader echo --workers 2 --weights 3,1        # worker 0 gets 3 of every 4 connections',
        'ringleader echo --max-connections 10000 --overflow reject',
      ]),
    );
  addServerFlags(cmd).action(async (f: ServerFlags & { js: boolean }, c: Command) => {
    const log = serverLog(c);
    const build = () => {
      const js = c.opts<{ js: boolean }>().js;
      if (js) refuseBuiltinOnly(c);
      return { ...toServerOptions(c, log), handler: js ? JS_ECHO_HANDLER : 'echo' };
    };
    const server = createServer(build());
    const label = f.js ? 'echo (JS handler)' : 'echo';
    process.exitCode = await runLive(server, { json: f.json, intervalMs: f.interval, drainMs: f.drain, label, log, reconfig: configReloader(c, build) });
  });
}
