/** `ringleader proxy`: a sharded io_uring TCP proxy. */
import { type Command, Option } from 'commander';
import { createServer, SERVER_DEFAULTS as D, POLICIES, type ServerOptions, UPSTREAM_POLICIES, type UpstreamPolicy } from '@ringleader/runtime';
import { parseUpstream, resolveOptions } from '@ringleader/runtime/internal';
import { arg, formatDuration, parseDuration, parseInteger, parseJson, parseSize } from './args.js';
import { runLive } from './live.js';
import { addServerFlags, configReloader, type DeprecatedFlag, type ServerFlags, serverHelp, serverLog, toServerOptions } from './server-flags.js';
import { CONFIG_SOURCE } from './config.js';
import { cliMessage, UsageError } from './util.js';

interface ProxyFlags extends ServerFlags {
  upstream?: string[];
  backup?: string[];
  upstreamGroups?: unknown;
  upstreamPolicy: UpstreamPolicy;
  connectTimeout: number;
  connectRetries: number;
  upstreamMaxFails: number;
  idleTimeout: number;
}

/** Here --policy was the upstream choice (echo and serve used it for placement). */
const PROXY_DEPRECATED: readonly DeprecatedFlag[] = [
  { flags: '--policy <policy>', to: 'upstreamPolicy', toFlag: '--upstream-policy', choices: UPSTREAM_POLICIES },
  { flags: '--buffer <bytes>', to: 'maxBuffered', toFlag: '--max-buffered', parse: arg(parseSize) },
];

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function registerProxy(program: Command): void {
  const cmd = program
    .command('proxy')
    .description('run a sharded io_uring TCP proxy: workers dial upstreams on their own rings')
    .option('-u, --upstream <host:port>', 'an upstream (repeat for several; IPv6 as [ADDR]:PORT)', collect)
    .option('--backup <host:port>', 'a backup upstream, used only while every --upstream is down (repeat for several)', collect)
    .option('--upstream-groups <json>', 'upstream groups in priority order: [{"name":"primary","upstreams":["HOST:PORT"]},...] (after --upstream, before --backup)', parseJson)
    .addOption(new Option('--upstream-policy <policy>', 'how a worker picks an upstream').choices(UPSTREAM_POLICIES as string[]).default(D.upstreamPolicy))
    .addOption(
      new Option('--connect-timeout <duration>', 'per attempt; then the next upstream is tried')
        .argParser(arg(parseDuration, { min: 1, max: 600_000 }))
        .default(D.connectTimeout, formatDuration(D.connectTimeout)),
    )
    .option('--connect-retries <n>', 'dials a client may make after trying each upstream once (the only upstream again)', arg(parseInteger, { min: 0, max: 100 }), D.connectRetries)
    .option('--upstream-max-fails <n>', 'consecutive failed dials that mark an upstream down', arg(parseInteger, { min: 1, max: 1000 }), D.upstreamMaxFails)
    .addOption(new Option('--idle-timeout <duration>', 'close connections idle this long (0: never)').argParser(arg(parseDuration)).default(D.idleTimeout, formatDuration(D.idleTimeout)))
    .addHelpText(
      'after',
      serverHelp([
        'ringleader proxy --listen 0.0.0.0:8080 --upstream 10.0.0.5:80 --upstream 10.0.0.6:80',
        'ringleader proxy --listen :8080 -u [fd00::6]:80 -u [fd00::7]:80 --upstream-policy least-connections',
        'ringleader proxy --port 8080 -u 127.0.0.1:9000 --idle-timeout 5m --max-buffered 1MiB',
        'ringleader proxy --port 8080 -u 10.0.0.5:80 -u 10.0.0.6:80 --backup 10.1.0.5:80   # the backup only while both are down',
      ]) + `\n\nPlacement across workers: --placement (${POLICIES.join(', ')}); upstream choice: --upstream-policy.`,
    );
  addServerFlags(cmd, PROXY_DEPRECATED).action(async (f: ProxyFlags, c: Command) => {
    const log = serverLog(c);
    const build = () => proxyOptions(c, toServerOptions(c, log, PROXY_DEPRECATED));
    const server = createServer(build());
    process.exitCode = await runLive(server, { json: f.json, intervalMs: f.interval, drainMs: f.drain, label: 'proxy', log, reconfig: configReloader(c, build) });
  });
}

/** A list of HOST:PORT flag values, each checked; from --config an error names the entry ("--config FILE: upstream[2]: ..."). */
function hostPorts(c: Command, flag: 'upstream' | 'backup', list: string[]): ServerOptions['upstreams'] {
  const file = c.getOptionValueSource(flag) === CONFIG_SOURCE ? c.opts<{ config?: string }>().config : undefined;
  return list.map((u, i) => {
    try {
      return parseUpstream(flag === 'upstream' ? 'upstreams' : 'backup', u);
    } catch (e) {
      if (file === undefined || !(e instanceof Error)) throw e;
      throw new UsageError(`--config ${file}: ${flag}[${i}]: ${cliMessage(e).replace(/^(--config .*?: (upstream|backup): |--(upstream|backup) )/, '')}`);
    }
  });
}

/**
 * The proxy's options from its flags (read after toServerOptions: a
 * deprecated --policy has been folded in): --upstream is the first upstream
 * group, --upstream-groups the next ones, --backup (a group named "backup")
 * the last. Group errors name the key path (upstreamGroups[1].upstreams[0]).
 */
function proxyOptions(c: Command, options: ServerOptions): ServerOptions {
  const { upstream, backup, upstreamGroups, upstreamPolicy, connectTimeout, connectRetries, upstreamMaxFails, idleTimeout } = c.opts<ProxyFlags>();
  if (!upstream?.length && upstreamGroups === undefined) {
    throw new UsageError(`--upstream HOST:PORT is required (repeat it for several upstreams${backup?.length ? '; --backup serves only behind them' : ''})`);
  }
  const groups = [...(Array.isArray(upstreamGroups) ? upstreamGroups : upstreamGroups === undefined ? [] : [upstreamGroups])];
  if (backup?.length) groups.push({ name: 'backup', upstreams: hostPorts(c, 'backup', backup) });
  const out: ServerOptions = {
    ...options,
    handler: 'proxy',
    upstreams: upstream?.length ? hostPorts(c, 'upstream', upstream) : undefined,
    upstreamGroups: groups.length ? groups : undefined,
    upstreamPolicy,
    connectTimeout,
    connectRetries,
    upstreamMaxFails,
    idleTimeout,
  };
  // the groups are checked here, so an error names the flag or the file and the key path
  try {
    resolveOptions(out);
  } catch (e) {
    const m = /^option "(upstreamGroups[^"]*)" (.*)$/.exec((e as Error).message);
    if (!m) throw e;
    const where = c.getOptionValueSource('upstreamGroups') === CONFIG_SOURCE ? `--config ${c.opts<{ config?: string }>().config}` : '--upstream-groups';
    throw new UsageError(`${where}: ${m[1]}: ${m[2]}`);
  }
  return out;
}
