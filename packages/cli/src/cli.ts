#!/usr/bin/env node
/**
 * ringleader: the command line.
 *
 *   ringleader echo     sharded io_uring echo server
 *   ringleader doctor   can io_uring run here, and what to change
 *   ringleader demo     echo server + load + result, in one command
 */
import { availableParallelism } from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import { createServer, POLICIES, type ServerOptions } from '@ringleader/runtime';
import { runDemo } from './demo.js';
import { diagnose, printReport } from './doctor.js';
import { runLive } from './live.js';
import { die, durationArg, intArg, parseSize } from './util.js';

const program = new Command();
program
  .name('ringleader')
  .description('Multi-ring io_uring runtime for Node.js: sharded TCP servers, proxy, load generation')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s.startsWith('error:') ? `ringleader: ${s}` : s) });

/** Options every server command shares. */
function serverOptions(cmd: Command): Command {
  return cmd
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('-p, --port <port>', 'TCP port (0 picks one)', intArg(0, 65535), 7000)
    .option('-w, --workers <n>', 'worker threads, one io_uring each', intArg(1, 1024), availableParallelism())
    .addOption(new Option('--policy <policy>', 'connection placement').choices(POLICIES as string[]).default('p2c'))
    .option('--max-connections <n>', 'most open connections in total', intArg(1, 1 << 30))
    .option('--max-per-worker <n>', 'most open connections per worker', intArg(1, 1 << 30))
    .addOption(new Option('--overflow <mode>', 'beyond --max-connections: wait in the backlog, or reset').choices(['pause', 'reject']).default('pause'))
    .option('--worker-table-size <n>', 'fixed-file slots per worker ring', intArg(2, 1 << 20))
    .option('--acceptor-table-size <n>', 'fixed-file slots in the acceptor ring', intArg(1, 1 << 20))
    .option('--backlog <n>', 'listen backlog', intArg(1, 1 << 20), 511)
    .option('--drain <duration>', 'on SIGINT/SIGTERM, let connections finish this long', durationArg, 5000)
    .option('--json', 'JSON lines on stdout instead of the live display', false)
    .option('--interval <duration>', 'how often to print stats', durationArg, 1000);
}

interface ServerFlags {
  host: string;
  port: number;
  workers: number;
  policy: ServerOptions['policy'];
  maxConnections?: number;
  maxPerWorker?: number;
  overflow: 'pause' | 'reject';
  workerTableSize?: number;
  acceptorTableSize?: number;
  backlog: number;
  drain: number;
  json: boolean;
  interval: number;
}

function toServerOptions(f: ServerFlags): ServerOptions {
  return {
    host: f.host,
    port: f.port,
    workers: f.workers,
    policy: f.policy,
    maxConnections: f.maxConnections,
    maxConnectionsPerWorker: f.maxPerWorker,
    overflow: f.overflow,
    workerTableSize: f.workerTableSize,
    acceptorTableSize: f.acceptorTableSize,
    backlog: f.backlog,
  };
}

serverOptions(program.command('echo').description('run a sharded io_uring echo server')).action(async (f: ServerFlags) => {
  const server = createServer({ ...toServerOptions(f), handler: 'echo' });
  process.exitCode = await runLive(server, { json: f.json, intervalMs: f.interval, drainMs: f.drain, label: 'echo' });
});

program
  .command('doctor')
  .description('check that this kernel and process can run ringleader, and say what to change')
  .option('--json', 'machine-readable report', false)
  .action((f: { json: boolean }) => {
    const r = diagnose();
    printReport(r, f.json);
    process.exitCode = r.ready ? 0 : 1;
  });

program
  .command('demo')
  .description('start a sharded echo server, drive it with verified load, print the result')
  .option('-w, --workers <n>', 'worker threads', intArg(1, 1024), Math.max(2, availableParallelism()))
  .option('-c, --connections <n>', 'client connections', intArg(1, 100000), 100)
  .option('-d, --duration <duration>', 'how long to drive load', durationArg, 5000)
  .option('-s, --size <bytes>', 'message size', (v) => {
    const n = parseSize(v);
    if (n < 1 || n > 1 << 24) throw new Error('--size must be from 1 B to 16 MiB');
    return n;
  }, 64)
  .option('--json', 'one JSON result on stdout', false)
  .action(async (f: { workers: number; connections: number; duration: number; size: number; json: boolean }) => {
    process.exitCode = await runDemo({ workers: f.workers, connections: f.connections, durationMs: f.duration, size: f.size, json: f.json });
  });

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; usage errors exit 2
      process.exit(e.exitCode === 0 ? 0 : 2);
    }
    die(e);
  }
}

main();
