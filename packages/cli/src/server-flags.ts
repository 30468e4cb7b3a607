/** Flags every server command shares (echo, proxy, serve), and their mapping to options. */
import { availableParallelism } from 'node:os';
import { Command, Option } from 'commander';
import { POLICIES, type ServerOptions } from '@ringleader/runtime';
import { durationArg, intArg, parseSize } from './util.js';

export interface FlagStyle {
  /** `--listen HOST:PORT` instead of --host/--port, `--placement` instead of --policy */
  proxy?: boolean;
}

export function addServerFlags(cmd: Command, style: FlagStyle = {}): Command {
  if (!style.proxy) {
    cmd
      .option('--host <host>', 'address to listen on', '127.0.0.1')
      .option('-p, --port <port>', 'TCP port (0 picks one)', intArg(0, 65535), 7000)
      .addOption(new Option('--policy <policy>', 'connection placement across workers').choices(POLICIES as string[]).default('p2c'));
  } else {
    cmd.addOption(new Option('--placement <policy>', 'connection placement across workers').choices(POLICIES as string[]).default('p2c'));
  }
  return cmd
    .option('-w, --workers <n>', 'worker threads, one io_uring each', intArg(1, 1024), availableParallelism())
    .option('--max-connections <n>', 'most open connections in total', intArg(1, 1 << 30))
    .option('--max-per-worker <n>', 'most open connections per worker', intArg(1, 1 << 30))
    .addOption(new Option('--overflow <mode>', 'beyond --max-connections: wait in the backlog, or reset').choices(['pause', 'reject']).default('pause'))
    .option('--worker-table-size <n>', 'fixed-file slots per worker ring', intArg(2, 1 << 20))
    .option('--acceptor-table-size <n>', 'fixed-file slots in the acceptor ring', intArg(1, 1 << 20))
    .option('--backlog <n>', 'listen backlog', intArg(1, 1 << 20), 511)
    .addOption(new Option('--buffers <n>', 'receive buffers per worker (power of two)').argParser(intArg(1, 32768)).default(1024))
    .addOption(new Option('--buffer-size <bytes>', 'bytes per receive buffer').argParser(parseSize).default(16384, '16KiB'))
    .addOption(new Option('--zc-threshold <bytes>', 'sends of at least this size use send_zc (0: never)').argParser(parseSize).default(16384, '16KiB'))
    .addOption(new Option('--drain <duration>', 'on SIGINT/SIGTERM, let connections finish this long').argParser(durationArg).default(5000, '5s'))
    .option('--json', 'JSON lines on stdout instead of the live display', false)
    .addOption(new Option('--interval <duration>', 'how often to print stats').argParser(durationArg).default(1000, '1s'));
}

export interface ServerFlags {
  host: string;
  port: number;
  workers: number;
  policy?: ServerOptions['policy'];
  placement?: ServerOptions['policy'];
  maxConnections?: number;
  maxPerWorker?: number;
  overflow: 'pause' | 'reject';
  workerTableSize?: number;
  acceptorTableSize?: number;
  backlog: number;
  buffers: number;
  bufferSize: number;
  zcThreshold: number;
  drain: number;
  json: boolean;
  interval: number;
}

export function toServerOptions(f: ServerFlags): ServerOptions {
  return {
    host: f.host,
    port: f.port,
    workers: f.workers,
    policy: f.placement ?? f.policy,
    maxConnections: f.maxConnections,
    maxConnectionsPerWorker: f.maxPerWorker,
    overflow: f.overflow,
    workerTableSize: f.workerTableSize,
    acceptorTableSize: f.acceptorTableSize,
    backlog: f.backlog,
    bufferCount: f.buffers,
    bufferSize: f.bufferSize,
    zcThreshold: f.zcThreshold,
  };
}
