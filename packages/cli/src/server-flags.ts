/**
 * Flags every server command shares (echo, proxy, serve), and their mapping
 * to createServer options. Defaults come from the runtime's SERVER_DEFAULTS;
 * where the runtime's default depends on the machine (workers, table sizes)
 * the flag has none and the runtime decides.
 */
import { type Command, Option } from 'commander';
import type { Logger } from 'pino';
import { abi } from '@ringleader/core-native';
import { listenFds, POLICIES, SERVER_DEFAULTS as D, type ServerOptions } from '@ringleader/runtime';
import { parseHostPort } from '@ringleader/runtime/internal';
import { arg, formatDuration, formatSize, parseDuration, parseInteger, parseSize, parseWeights } from './args.js';
import { applyConfig, given, reapplyConfig } from './config.js';
import { createLog, LOG_LEVELS, type LogLevel } from './log.js';
import { upgradeFds } from './upgrade.js';
import { cliText, UsageError, useFlagNames, useJsonErrors } from './util.js';

/** The CLI's own default port: a server started by hand listens somewhere known (the API's default is 0). */
export const CLI_PORT = 7000;

/** A flag kept working under its old name; using it prints one line on stderr. */
export interface DeprecatedFlag {
  /** the old flag, as given to commander (e.g. '--policy <policy>') */
  flags: string;
  /** the attribute name of the new flag (e.g. 'placement') */
  to: string;
  /** the new flag as the user types it (e.g. '--placement') */
  toFlag: string;
  choices?: readonly string[];
  parse?: (v: string) => unknown;
}

export function addDeprecated(cmd: Command, d: DeprecatedFlag): void {
  const o = new Option(d.flags, `deprecated: use ${d.toFlag}`).hideHelp();
  if (d.choices) o.choices(d.choices as string[]);
  if (d.parse) o.argParser(d.parse);
  cmd.addOption(o);
}

/**
 * Fold deprecated flags into their new names (warning once per flag);
 * giving both the old and the new one is a usage error.
 */
export function applyDeprecated(cmd: Command, list: readonly DeprecatedFlag[]): void {
  for (const d of list) {
    const from = new Option(d.flags).attributeName();
    if (cmd.getOptionValueSource(from) !== 'cli') continue;
    const old = new Option(d.flags).long;
    if (cmd.getOptionValueSource(d.to) === 'cli') throw new UsageError(`${old} is the old name of ${d.toFlag}: give one of them`);
    process.stderr.write(`ringleader: warning: ${old} is deprecated, use ${d.toFlag}\n`);
    cmd.setOptionValueWithSource(d.to, cmd.getOptionValue(from), 'cli');
  }
}

/** The deprecated flags of echo and serve; proxy's --policy meant the upstream choice. */
export const SERVER_DEPRECATED: readonly DeprecatedFlag[] = [
  { flags: '--policy <policy>', to: 'placement', toFlag: '--placement', choices: POLICIES },
  { flags: '--buffer <bytes>', to: 'maxBuffered', toFlag: '--max-buffered', parse: arg(parseSize) },
];

export function addServerFlags(cmd: Command, deprecated: readonly DeprecatedFlag[] = SERVER_DEPRECATED): Command {
  cmd
    .option('-l, --listen <host:port>', `where to listen, instead of --host and --port (":PORT" for all addresses, port 0 picks one)`)
    .option('--host <host>', 'address to listen on (0.0.0.0 or :: for all)', D.host)
    .option('-p, --port <port>', 'TCP port (0 picks one)', arg(parseInteger, { min: 0, max: 65535 }), CLI_PORT)
    .option('--fd <n>', 'serve this inherited listening socket instead of binding (--host/--port are ignored)', arg(parseInteger, { min: 0, max: 1 << 30 }))
    .option('--reuse-port', 'SO_REUSEPORT: several processes listen on one port, the kernel spreads connections', false)
    .option('-w, --workers <n>', 'worker threads, one io_uring each (default: CPU count)', arg(parseInteger, { min: 1, max: 1024 }))
    .option(
      '--acceptors <n>',
      'acceptor threads, each with its own SO_REUSEPORT listener and share of the workers (for more connections/s than one acceptor core takes)',
      arg(parseInteger, { min: 1, max: 64 }),
      1,
    )
    .addOption(new Option('--placement <policy>', 'connection placement across workers').choices(POLICIES as string[]).default(D.policy))
    .option('--weights <list>', 'per-worker weights for --placement weighted, e.g. 3,1 (implies it)', parseWeights)
    .option('--max-connections <n>', 'most open connections in total', arg(parseInteger, { min: 1, max: 1 << 30 }))
    .option('--max-per-worker <n>', 'most open connections per worker', arg(parseInteger, { min: 1, max: 1 << 30 }))
    .addOption(new Option('--overflow <mode>', 'beyond --max-connections: wait in the backlog, or reset').choices(['pause', 'reject']).default(D.overflow))
    .option('--worker-table-size <n>', `fixed-file slots per worker ring (default: ${D.workerTableSize}, at most RLIMIT_NOFILE)`, arg(parseInteger, { min: 2, max: 1 << 20 }))
    .option('--acceptor-table-size <n>', `fixed-file slots in the acceptor ring (default: ${D.acceptorTableSize}, at most RLIMIT_NOFILE)`, arg(parseInteger, { min: 1, max: 1 << 20 }))
    .option('--backlog <n>', 'listen backlog', arg(parseInteger, { min: 1, max: 1 << 20 }), D.backlog)
    .addOption(new Option('--buffers <n>', 'receive buffers per worker (power of two)').argParser(arg(parseInteger, { min: 1, max: 32768 })).default(D.bufferCount))
    .addOption(new Option('--buffer-size <bytes>', 'bytes per receive buffer').argParser(arg(parseSize)).default(D.bufferSize, formatSize(D.bufferSize)))
    .addOption(
      new Option('--max-buffered <bytes>', 'bytes queued per connection (and direction) before receiving pauses; for a handler module, where conn.write() returns false')
        .argParser(arg(parseSize))
        .default(D.highWaterMark, formatSize(D.highWaterMark)),
    )
    .option(
      '--max-buffers-held <n>',
      'echo and proxy: receive buffers one direction may hold before its source pauses (up to 8 while over 3/4 of the buffers are free; 0: no cap, only --max-buffered)',
      arg(parseInteger, { min: 0, max: 16384 }),
      D.maxBuffersHeld,
    )
    .addOption(new Option('--zc-threshold <bytes>', 'sends of at least this size use send_zc (0: never)').argParser(arg(parseSize)).default(D.zcThreshold, formatSize(D.zcThreshold)))
    .addOption(
      new Option('--worker-slice <us>', "scheduling slice each worker thread asks for, microseconds (Linux >= 6.12): a woken worker preempts what runs on its CPU; 0: the kernel's default")
        .argParser(arg(parseInteger, { min: 0, max: 100_000 }))
        .default(D.workerSlice),
    )
    .addOption(new Option('--drain <duration>', 'on SIGINT/SIGTERM, let connections finish this long').argParser(arg(parseDuration)).default(D.closeTimeout, formatDuration(D.closeTimeout)))
    .option('--config <file>', 'these flags from a JSON or YAML file (keys: the flag names); flags given here override it')
    .option('--admin <host:port>', 'admin HTTP endpoint: /metrics (Prometheus), /healthz, /readyz, /stats (":PORT" for all addresses)')
    .option('--json', 'JSON lines on stdout instead of the live display (and JSON logs on stderr)', false)
    .addOption(new Option('--log-level <level>', 'least severe log record written to stderr').choices(LOG_LEVELS as unknown as string[]).default('info'))
    .addOption(new Option('--interval <duration>', 'how often to print stats').argParser(arg(parseDuration, { min: 10 })).default(1000, '1s'));
  for (const d of deprecated) addDeprecated(cmd, d);
  return cmd;
}

export interface ServerFlags {
  listen?: string;
  host: string;
  port: number;
  fd?: number;
  reusePort: boolean;
  workers?: number;
  acceptors: number;
  placement: ServerOptions['policy'];
  weights?: number[];
  maxConnections?: number;
  maxPerWorker?: number;
  overflow: 'pause' | 'reject';
  workerTableSize?: number;
  acceptorTableSize?: number;
  backlog: number;
  buffers: number;
  bufferSize: number;
  maxBuffered: number;
  maxBuffersHeld: number;
  zcThreshold: number;
  workerSlice: number;
  drain: number;
  admin?: string;
  json: boolean;
  logLevel: LogLevel;
  interval: number;
}

/**
 * The command's log (stderr), from --json and --log-level. Called first by
 * every server command, so it also folds the --config file into the flags.
 */
export function serverLog(cmd: Command): Logger {
  // --json on the command line: an error in the --config file is JSON too
  if (cmd.getOptionValue('json')) useJsonErrors();
  applyConfig(cmd);
  const f = cmd.opts<ServerFlags>();
  if (f.json) useJsonErrors();
  return createLog(f.json, f.logLevel);
}

/**
 * Where to listen: --listen, or --host and --port (not both from one
 * source). The command line overrides the --config file: --port on the
 * command line replaces the port of the file's listen (its host stays),
 * --host its host; a --listen on the command line replaces the file's host
 * and port.
 */
function listenAddress(cmd: Command, f: ServerFlags): { host: string; port: number } {
  if (f.listen === undefined) return { host: f.host, port: f.port };
  const parts = ['host', 'port'].filter((k) => given(cmd, k));
  const fromCli = (k: string) => cmd.getOptionValueSource(k) === 'cli';
  if (parts.length && fromCli('listen') === parts.every(fromCli)) {
    throw new UsageError(`--listen replaces --host and --port: give --listen HOST:PORT or --host/--port, not both`);
  }
  // errors about the address now name --listen
  useFlagNames({ host: '--listen', port: '--listen' });
  const at = parseHostPort('listen', f.listen, { anyHost: true, portZero: true });
  if (fromCli('listen')) return at;
  // the file's listen, with what the command line gave instead
  return { host: fromCli('host') ? f.host : at.host, port: fromCli('port') ? f.port : at.port };
}

/**
 * The inherited listening sockets to serve, if any: --fd, or every socket
 * of systemd's socket activation (LISTEN_FDS/LISTEN_PID) or of an upgrade
 * (upgradeFds). Either way the address flags do not apply, which the log
 * says.
 */
let activatedFds: number[] | undefined;

function inheritedFds(cmd: Command, f: ServerFlags, log: Logger): number[] | undefined {
  // the variables are taken out of the environment: a reload asks again (and says nothing new)
  const first = activatedFds === undefined;
  const upgraded = first ? upgradeFds() : undefined;
  activatedFds ??= upgraded ?? listenFds();
  const activated = activatedFds;
  const from = upgraded ? 'upgrade' : 'socket activation';
  if (!first) log = log.child({}, { level: 'silent' });
  let fds = f.fd === undefined ? undefined : [f.fd];
  if (fds === undefined && activated.length) {
    const max = abi.limits.maxListeners;
    if (activated.length > max) {
      throw new UsageError(`socket activation passed ${activated.length} sockets (LISTEN_FDS=${activated.length}); a ringleader process serves at most ${max}: pick one with --fd N`);
    }
    fds = activated;
    const list = fds.join(', ');
    log.info({ fds }, `${from}: serving the inherited socket${fds.length > 1 ? 's' : ''} (fd ${list})`);
  }
  if (fds === undefined) return undefined;
  const ignored = ['listen', 'host', 'port', 'reusePort', 'backlog'].filter((k) => given(cmd, k));
  if (ignored.length) log.info(`serving inherited fd ${fds.join(', ')}: ${ignored.map((k) => cliText(`"${k}"`)).join(', ')} ignored`);
  return fds;
}

/**
 * The command's flags as createServer options: deprecated names folded in,
 * --listen split, --weights implying weighted placement, an inherited
 * socket (--fd, socket activation) instead of an address.
 */
export function toServerOptions(cmd: Command, log: Logger, deprecated: readonly DeprecatedFlag[] = SERVER_DEPRECATED): ServerOptions {
  applyDeprecated(cmd, deprecated);
  const f = cmd.opts<ServerFlags>();
  const { host, port } = listenAddress(cmd, f);
  const fds = inheritedFds(cmd, f, log);
  let policy = f.placement;
  if (f.weights) {
    if (given(cmd, 'placement') && policy !== 'weighted') throw new UsageError(`--weights needs --placement weighted (got --placement ${policy})`);
    policy = 'weighted';
  }
  return {
    host,
    port,
    // --weights 3,1 alone means two workers
    workers: f.workers ?? f.weights?.length,
    acceptors: f.acceptors,
    policy,
    weights: f.weights,
    maxConnections: f.maxConnections,
    maxConnectionsPerWorker: f.maxPerWorker,
    overflow: f.overflow,
    workerTableSize: f.workerTableSize,
    acceptorTableSize: f.acceptorTableSize,
    backlog: f.backlog,
    bufferCount: f.buffers,
    bufferSize: f.bufferSize,
    // the default grows with a larger receive buffer (it must hold one)
    highWaterMark: given(cmd, 'maxBuffered') ? f.maxBuffered : undefined,
    maxBuffersHeld: f.maxBuffersHeld,
    zcThreshold: f.zcThreshold,
    workerSlice: f.workerSlice,
    admin: f.admin,
    fds,
    // unset unless given: several acceptors turn it on themselves
    reusePort: f.reusePort || undefined,
  };
}

/** Flags only the built-in handlers read: given with a handler module (serve, echo --js) they would do nothing, so they are refused. */
export function refuseBuiltinOnly(cmd: Command): void {
  if (given(cmd, 'maxBuffersHeld')) throw new UsageError('--max-buffers-held applies to the built-in echo and proxy, not to a handler module (--max-buffered bounds what it queues)');
}

/** What a SIGHUP reload takes from the --config file read anew. */
export interface Reconfig {
  options: ServerOptions;
  drainMs: number;
  logLevel: LogLevel;
  /** CLI settings the file changed that only a restart applies */
  restartRequired: string[];
}

/**
 * With --config: a function that reads the file again and builds the
 * command's options exactly as at start-up (`build`: the command's own
 * mapping of its flags), for SIGHUP. Throws what start-up would (a
 * UsageError naming the key path). Without --config, undefined.
 */
export function configReloader(cmd: Command, build: () => ServerOptions): (() => Reconfig) | undefined {
  if (cmd.opts<{ config?: string }>().config === undefined) return undefined;
  // a copy: commander's opts() is its live record, which reapplyConfig rewrites
  const first = { ...cmd.opts<ServerFlags>() };
  return () => {
    reapplyConfig(cmd);
    const options = build();
    const f = cmd.opts<ServerFlags>();
    const restartRequired = (['json', 'interval'] as const).filter((k) => f[k] !== first[k]).map((k) => `--${k}`);
    return { options, drainMs: f.drain, logLevel: f.logLevel, restartRequired };
  };
}

/** The --help epilogue of a server command: examples, signals, exit codes. */
export function serverHelp(examples: string[]): string {
  return `
Examples:
${examples.map((e) => `  ${e}`).join('\n')}

The first SIGINT/SIGTERM stops accepting and drains for --drain, then prints a summary;
a second one exits at once. SIGHUP reloads without downtime: the workers are replaced one at
a time (a handler module is imported afresh) and the old ones drain for --drain.
Durations: 500ms, 5s, 1m (a bare number is seconds). Sizes: 64, 16KiB, 1MiB.

Exit status: 0 stopped by a signal after draining; 1 runtime failure (port in use, io_uring
unusable, a handler module that fails to load); 2 bad options; 130/143 a second SIGINT/SIGTERM.`;
}
