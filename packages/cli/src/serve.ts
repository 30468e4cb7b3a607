/**
 * `ringleader serve <module>`: run a handler module (see `defineHandler` in
 * @ringleader/runtime) in every worker, behind the acceptor and scheduler.
 */
import { basename } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { createServer } from '@ringleader/runtime';
import { runLive } from './live.js';
import { addServerFlags, toServerOptions, type ServerFlags } from './server-flags.js';
import { parseSize } from './util.js';

interface ServeFlags extends ServerFlags {
  dev?: boolean;
  buffer?: number;
  options?: unknown;
}

function jsonArg(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch (e) {
    throw new InvalidArgumentError(`not JSON (${(e as Error).message})`);
  }
}

function sizeArg(v: string): number {
  return parseSize(v);
}

export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .description('run a handler module in every worker (export default defineHandler({ onData(conn, data) { ... } }))')
    .argument('<module>', 'path of the handler module (relative to the current directory) or a file: URL')
    .option('--dev', 'development mode: data views are detached after each callback (default: NODE_ENV=development)')
    .option('--buffer <bytes>', 'bytes queued per connection at which conn.write() returns false (default 256KiB)', sizeArg)
    .option('--options <json>', "handler options, given to the module's init(ctx) as ctx.options", jsonArg);
  addServerFlags(cmd).action(async (module: string, f: ServeFlags) => {
    const server = createServer({
      ...toServerOptions(f),
      handler: module,
      dev: f.dev,
      highWaterMark: f.buffer,
      handlerOptions: f.options,
    });
    server.on('handler-error', (e: { worker: number; error: Error; suppressed: number }) => {
      const more = e.suppressed ? ` (${e.suppressed} more since the last report)` : '';
      process.stderr.write(`\nringleader: handler error in worker ${e.worker}${more}: ${e.error.stack ?? e.error.message}\n`);
    });
    try {
      process.exitCode = await runLive(server, { json: f.json, intervalMs: f.interval, drainMs: f.drain, label: `serve ${basename(module)}` });
    } catch (e) {
      const path = (e as { handlerModule?: string }).handlerModule;
      if (!path) throw e;
      // the module's own failure: its stack says where (exit 1, not a usage error)
      process.stderr.write(`ringleader: handler module ${path} failed to load: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    }
  });
}
