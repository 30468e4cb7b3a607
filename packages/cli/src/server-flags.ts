/** Flags every server command shares (echo, proxy, serve), and their mapping to options. */
import { availableParallelism } from 'node:os';
import { Command, Option } from 'commander';
import { POLICIES, type ServerOptions } from '@ringleader/runtime';
import { durationArg, intArg } from './util.js';

export function addServerFlags(cmd: Command, defaults: { port?: number } = {}): Command {
  return cmd
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('-p, --port <port>', 'TCP port (0 picks one)', intArg(0, 65535), defaults.port ?? 7000)
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

export interface ServerFlags {
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

export function toServerOptions(f: ServerFlags): ServerOptions {
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
