/** Formatting and error reporting shared by the commands. */

/** A usage error: printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
}

/** Human count: 1234567 -> "1.23M" */
export function num(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(2) + 'G';
  if (a >= 1e6) return (n / 1e6).toFixed(2) + 'M';
  if (a >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return String(Math.round(n));
}

/** Human bytes: 1536 -> "1.5 KiB" */
export function bytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i ? v.toFixed(1) : Math.round(v)} ${u[i]}`;
}

/**
 * The flag behind each runtime option name (createServer and runStress
 * options), so an error such as `option "bufferSize" must be ...` reads
 * `--buffer-size must be ...` on the command line.
 */
const FLAG_OF: Record<string, string> = {
  host: '--host',
  listen: '--listen',
  port: '--port',
  workers: '--workers',
  acceptors: '--acceptors',
  policy: '--placement',
  weights: '--weights',
  maxConnections: '--max-connections',
  maxConnectionsPerWorker: '--max-per-worker',
  overflow: '--overflow',
  workerTableSize: '--worker-table-size',
  acceptorTableSize: '--acceptor-table-size',
  backlog: '--backlog',
  bufferCount: '--buffers',
  bufferSize: '--buffer-size',
  highWaterMark: '--max-buffered',
  zcThreshold: '--zc-threshold',
  workerSlice: '--worker-slice',
  upstreams: '--upstream',
  upstreamGroups: '--upstream-groups',
  backup: '--backup',
  upstreamPolicy: '--upstream-policy',
  connectTimeout: '--connect-timeout',
  connectRetries: '--connect-retries',
  upstreamMaxFails: '--upstream-max-fails',
  maxBuffersHeld: '--max-buffers-held',
  idleTimeout: '--idle-timeout',
  handler: '<module>',
  handlerOptions: '--options',
  dev: '--dev',
  admin: '--admin',
  fd: '--fd',
  reusePort: '--reuse-port',
  // runStress
  mode: '--mode',
  threads: '--threads',
  connections: '--connections',
  duration: '--duration',
  messages: '--messages',
  warmup: '--warmup',
  size: '--size',
  pipeline: '--pipeline',
  rate: '--rate',
  connectRate: '--connect-rate',
  source: '--source',
  maxErrors: '--max-errors',
  window: '--window',
  seed: '--seed',
  drain: '--drain',
  retryDelay: '--retry-delay',
  socketMode: '--socket-mode',
  timeout: '--timeout',
  // the request modes (stress-protocol.ts)
  method: '--method',
  headers: '-H',
  body: '--body',
  bodyFile: '--body-file',
  expectStatus: '--expect-status',
  command: '--command',
  tests: '-t',
  keyspace: '--keyspace',
  dataSize: '--data-size',
  send: '--send',
  expectBytes: '--expect-bytes',
  expectDelimiter: '--expect-delimiter',
  lengthPrefix: '--length-prefix',
  lengthIncludesPrefix: '--length-includes-prefix',
  maxFrame: '--max-frame',
  expect: '--expect',
  targets: 'target',
};

let overrides: Record<string, string> = {};

/** This run names some options by other flags (e.g. host and port by --listen). */
export function useFlagNames(map: Record<string, string>): void {
  overrides = map;
}

/** flags whose value came from the --config file: the file, and each flag's key as the file writes it */
let configKeys: { file: string; keys: Map<string, string> } | undefined;

/** Name these flags by the --config file's key (`--config FILE: buffers:`), as the file's own errors do. */
export function useConfigKeys(file: string, keys: Map<string, string>): void {
  configKeys = { file, keys };
}

/**
 * Text from the runtime with its option names replaced by this CLI's
 * flags, or by the --config file's key for a value that came from there.
 */
export function cliText(text: string): string {
  const flag = (name: string) => {
    const f = overrides[name] ?? FLAG_OF[name];
    return f === undefined ? f : flagText(f);
  };
  return text.replace(/option "([A-Za-z]+)(\[\d+\])?"/g, (m, name: string) => flag(name) ?? m).replace(/"([A-Za-z]+)"/g, (m, name: string) => flag(name) ?? m);
}

/**
 * An option's name as this CLI's user writes it: the --config file's key
 * (the flag's long name without the dashes), for an API option name
 * (`bufferSize` -> `buffer-size`, `port` -> `listen` when --listen set it)
 * or a flag (`--json` -> `json`). Names it does not know stay as they are.
 */
export function cliKey(name: string): string {
  const f = name.startsWith('--') ? name : (overrides[name] ?? FLAG_OF[name]);
  if (f === undefined) return name;
  return configKeys?.keys.get(f) ?? f.replace(/^--/, '');
}

/** A flag as a message names it: `--json`, or `--config FILE: json:` when the file set it. */
export function flagText(f: string): string {
  const key = configKeys?.keys.get(f);
  return key === undefined ? f : `--config ${configKeys!.file}: ${key}:`;
}

/** An error message in this CLI's terms. */
export function cliMessage(e: Error): string {
  return cliText(e.message);
}

let jsonErrors = false;

/** --json: a fatal error is a JSON log record on stderr, as the command's other records are (a log shipper reads one format). */
export function useJsonErrors(): void {
  jsonErrors = true;
}

/**
 * One line on stderr from the CLI itself (not through the command's log): a
 * pino-shaped JSON record under --json (level 60 fatal, 50 error, 40
 * warning), else `ringleader: message`.
 */
export function stderrLine(level: 40 | 50 | 60, message: string, extra: Record<string, unknown> = {}): void {
  if (jsonErrors) process.stderr.write(`${JSON.stringify({ level, time: new Date().toISOString(), pid: process.pid, msg: `ringleader: ${message}`, ...extra })}\n`);
  else process.stderr.write(`ringleader: ${message}\n`);
}

/** Print an error without a stack trace and exit: 2 for bad options, 1 otherwise. */
export function die(e: unknown): never {
  const err = e instanceof Error ? e : new Error(String(e));
  const usage = err instanceof UsageError || err instanceof TypeError || err instanceof RangeError;
  const exitCode = usage ? 2 : 1;
  const code = (err as { code?: unknown }).code;
  stderrLine(60, cliMessage(err), { ...(typeof code === 'string' ? { code } : {}), exitCode });
  process.exit(exitCode);
}

/** --json given to a command: its errors are JSON from the first one (a bad flag, a bad --config file) */
export function jsonErrorsWanted(): boolean {
  return jsonErrors;
}
