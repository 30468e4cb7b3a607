/** Parsing and formatting shared by the commands. */
import { InvalidArgumentError } from 'commander';

/** A usage error: printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
}

/** commander parser for an integer in [min, max]. */
export function intArg(min: number, max: number) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v.trim())) throw new InvalidArgumentError(`not an integer`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`must be from ${min} to ${max}`);
    return n;
  };
}

/** "1500", "1500ms", "2s", "1m" -> milliseconds */
export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`not a duration (examples: 500ms, 2s, 1m)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!);
}

export function durationArg(v: string): number {
  return parseDuration(v);
}

/** "64", "16k", "16KiB", "1M" -> bytes */
export function parseSize(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gib)?$/i.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`not a size (examples: 64, 16KiB, 1MiB)`);
  const mult: Record<string, number> = { b: 1, k: 1024, kb: 1024, kib: 1024, m: 1 << 20, mb: 1 << 20, mib: 1 << 20, g: 1 << 30, gib: 1 << 30 };
  return Math.round(Number(m[1]) * mult[(m[2] ?? 'b').toLowerCase()]);
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

/** Map runtime option names back to this CLI's flags in error messages. */
const FLAG_OF: Record<string, string> = {
  host: '--host',
  port: '--port',
  workers: '--workers',
  policy: '--policy',
  maxConnections: '--max-connections',
  maxConnectionsPerWorker: '--max-per-worker',
  overflow: '--overflow',
  workerTableSize: '--worker-table-size',
  acceptorTableSize: '--acceptor-table-size',
  backlog: '--backlog',
  bufferCount: '--buffers',
  bufferSize: '--buffer-size',
  weights: '--weights',
  upstreams: '--upstream',
  connectTimeout: '--connect-timeout',
  idleTimeout: '--idle-timeout',
  highWaterMark: '--buffer',
  zcThreshold: '--zc-threshold',
  handler: '<module>',
  handlerOptions: '--options',
  dev: '--dev',
};

export function cliMessage(e: Error): string {
  return e.message.replace(/option "([A-Za-z]+)(\[\d+\])?"/g, (m, name: string) => (FLAG_OF[name] ? `${FLAG_OF[name]}` : m));
}

/** Print an error without a stack trace and exit: 2 for bad options, 1 otherwise. */
export function die(e: unknown): never {
  const err = e instanceof Error ? e : new Error(String(e));
  const usage = err instanceof UsageError || err instanceof TypeError || err instanceof RangeError;
  process.stderr.write(`ringleader: ${cliMessage(err)}\n`);
  process.exit(usage ? 2 : 1);
}
