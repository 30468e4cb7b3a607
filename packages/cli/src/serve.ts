/**
 * `ringleader serve <module>`: run a handler module (see `defineHandler` in
 * @ringleader/runtime) in every worker, behind the acceptor and scheduler.
 */
import { basename } from 'node:path';
import type { Command } from 'commander';
import { createServer } from '@ringleader/runtime';
import { parseJson } from './args.js';
import { runLive } from './live.js';
import { addServerFlags, configReloader, refuseBuiltinOnly, type ServerFlags, serverHelp, serverLog, toServerOptions } from './server-flags.js';

interface ServeFlags extends ServerFlags {
  dev?: boolean;
  options?: unknown;
}

export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .description('run a handler module in every worker (export default defineHandler({ onData(conn, data) { ... } }))')
    .argument('<module>', 'path of the handler module (relative to the current directory; a directory: its package.json "main", handler.js or index.js) or a file: URL')
    .option('--dev', 'development mode: data views are detached after each callback (default: NODE_ENV=development)')
    .option('--options <json>', "handler options, given to the module's init(ctx) as ctx.options", parseJson)
    .addHelpText(
      'after',
      serverHelp([
        "ringleader serve examples/http-hello --port 8080          # the directory's handler.js",
        'ringleader serve ./handler.js --listen 0.0.0.0:7000 --options \'{"greeting":"hi"}\' --dev',
        'ringleader serve examples/resp-ping/handler.js --port 6380 --max-buffered 1MiB --json',
      ]),
    );
  addServerFlags(cmd).action(async (module: string, f: ServeFlags, c: Command) => {
    const log = serverLog(c);
    const build = () => {
      refuseBuiltinOnly(c);
      const g = c.opts<ServeFlags>();
      return { ...toServerOptions(c, log), handler: module, dev: g.dev, handlerOptions: g.options };
    };
    const server = createServer(build());
    server.on('handler-error', (e: { worker: number; error: Error; suppressed: number }) => {
      const more = e.suppressed ? ` (${e.suppressed} more since the last report)` : '';
      log.error({ worker: e.worker, suppressed: e.suppressed, err: e.error }, `handler error in worker ${e.worker}${more}`);
    });
    try {
      process.exitCode = await runLive(server, { json: f.json, intervalMs: f.interval, drainMs: f.drain, label: `serve ${basename(module)}`, log, reconfig: configReloader(c, build) });
    } catch (e) {
      const path = (e as { handlerModule?: string }).handlerModule;
      if (!path) throw e;
      if ((e as { code?: string }).code === 'ERR_INVALID_HANDLER') {
        // the module's shape (no default export, a property that is not a
        // function): the message says what; a stack through ringleader's
        // own loader would only be noise
        log.error(`handler module ${path} failed to load: ${(e as Error).message}`);
      } else {
        // the module's own failure: its stack says where (exit 1, not a usage error)
        log.error({ err: e }, `handler module ${path} failed to load`);
      }
      process.exit(1);
    }
  });
}
