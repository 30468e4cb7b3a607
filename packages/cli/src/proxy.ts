/** `ringleader proxy`: a sharded io_uring TCP proxy. */
import type { Command } from 'commander';
import { Option } from 'commander';
import { createServer, UPSTREAM_POLICIES, type UpstreamPolicy } from '@ringleader/runtime';
import { parseUpstream } from '@ringleader/runtime/internal';
import { runLive } from './live.js';
import { addServerFlags, toServerOptions, type ServerFlags } from './server-flags.js';
import { UsageError, durationArg, parseSize } from './util.js';

interface ProxyFlags extends Omit<ServerFlags, 'policy'> {
  listen: string;
  upstream?: string[];
  policy: UpstreamPolicy;
  connectTimeout: number;
  idleTimeout: number;
  buffer: number;
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

function sizeArg(v: string): number {
  return parseSize(v);
}

/** "HOST:PORT", "[V6]:PORT" or ":PORT" (all addresses); port 0 picks one */
function parseListen(v: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(v) ?? /^([^:[\]]*):(\d+)$/.exec(v);
  if (!m || Number(m[2]) > 65535) throw new UsageError(`--listen must be HOST:PORT (port 0 picks one); got "${v}"`);
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
}

export function registerProxy(program: Command): void {
  const cmd = program
    .command('proxy')
    .description('run a sharded io_uring TCP proxy: workers dial upstreams on their own rings')
    .option('-l, --listen <host:port>', 'address to listen on', '127.0.0.1:7000')
    .option('-u, --upstream <host:port>', 'an upstream (repeat for several)', collect)
    .addOption(new Option('--policy <policy>', 'how a worker picks an upstream').choices(UPSTREAM_POLICIES as string[]).default('round-robin'))
    .addOption(new Option('--connect-timeout <duration>', 'per attempt; then the next upstream is tried').argParser(durationArg).default(2000, '2s'))
    .addOption(new Option('--idle-timeout <duration>', 'close connections idle this long (0: never)').argParser(durationArg).default(60_000, '60s'))
    .addOption(new Option('--buffer <bytes>', 'bytes buffered per connection and direction before reading pauses').argParser(sizeArg).default(256 * 1024, '256KiB'));
  addServerFlags(cmd, { proxy: true }).action(async (f: ProxyFlags) => {
    if (!f.upstream || f.upstream.length === 0) throw new UsageError('--upstream HOST:PORT is required (repeat it for several upstreams)');
    const listen = parseListen(f.listen);
    const upstreams = f.upstream.map((u) => {
      try {
        return parseUpstream('--upstream', u);
      } catch {
        throw new UsageError(`--upstream must be HOST:PORT (IPv6 as [ADDR]:PORT); got "${u}"`);
      }
    });
    const server = createServer({
      ...toServerOptions({ ...f, policy: undefined, host: listen.host, port: listen.port }),
      handler: 'proxy',
      upstreams,
      upstreamPolicy: f.policy,
      connectTimeout: f.connectTimeout,
      idleTimeout: f.idleTimeout,
      highWaterMark: Math.max(f.buffer, f.bufferSize),
    });
    process.exitCode = await runLive(server, { json: f.json, intervalMs: f.interval, drainMs: f.drain, label: 'proxy' });
  });
}
