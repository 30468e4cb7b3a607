/**
 * runStress: the io_uring load generator behind `ringleader stress`.
 *
 * Policy and orchestration live here; the work happens in client rings
 * (engine/client.c), one per worker thread, each owning its share of the
 * connections. Each thread writes counters, a latency histogram and an
 * error table into its own SharedArrayBuffer; this side reads them for the
 * live display and merges them (sums, histogram buckets) at the end.
 *
 * Time: every ring is started with the same CLOCK_MONOTONIC instants
 * (start, end of warmup, end), so the schedule of an open-loop run is
 * fixed before the first message: message j of connection k is due at
 * start + (j * N + k) / rate, and its latency counts from that instant
 * even if it could only be sent later (no coordinated omission).
 */
import { lookup } from 'node:dns/promises';
import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  abi,
  clientLayout as L,
  clientProbe,
  errnoError,
  errnoName,
  histLowerBounds,
  ioUringUnavailable,
  monotonicNs,
  type NativeClientOptions,
  type NativeMismatch,
} from '@ringleader/core-native';
import type { StressThreadCommand, StressThreadData, StressThreadMessage } from './stress-thread.js';
import { bool, int, invalidType, ms, oneOf, outOfRange } from './validate.js';

export type StressMode = 'echo' | 'churn' | 'bulk' | 'idle';
export const STRESS_MODES: readonly StressMode[] = ['echo', 'churn', 'bulk', 'idle'];
export type SocketMode = 'auto' | 'ring' | 'fd';

/** Options of {@link runStress}. Durations are in milliseconds. */
export interface StressOptions {
  /** Where to connect: `"HOST:PORT"`, `"[v6]:PORT"`, a comma list, or an array of those. */
  targets: string | string[];
  /** `echo` (default), `churn`, `bulk` or `idle`. */
  mode?: StressMode;
  /** Threads, one ring each. Default: available CPUs (at most one per connection). */
  threads?: number;
  /** Connections (churn: concurrent connect/echo/close slots). Default 100. */
  connections?: number;
  /** Measured time after the warmup. Default 10000, or no limit when `messages` is set. */
  duration?: number;
  /** Stop after exactly this many verified messages (churn: cycles). */
  messages?: number;
  /** Time before measuring starts. Default 2000 (0 with `messages`). */
  warmup?: number;
  /** Message size in bytes, or `[min, max]` for sizes drawn per message. Default 64 (bulk 65536). */
  size?: number | [number, number];
  /** echo: messages in flight per connection. Default 1. */
  pipeline?: number;
  /** Open loop: messages (churn: cycles) per second in total. Default: closed loop. */
  rate?: number;
  /** Connection attempts per second in total. Default: unlimited. */
  connectRate?: number;
  /** Source addresses to spread connections over: `"127.0.0.1-127.0.0.16"`, a list, or an array. */
  source?: string | string[];
  /** Errors tolerated before the run counts as failed. Default 0. */
  maxErrors?: number;
  /** Sends of at least this many bytes use send_zc; 0 = never. Default 32768. */
  zcThreshold?: number;
  /** bulk: bytes in flight per connection. Default 262144. */
  window?: number;
  /** Payload seed (integer). Default: random; reported in the result. */
  seed?: number;
  /** At the end, how long in-flight messages may still complete. Default 2000. */
  drain?: number;
  /** Pause before a failed connection is retried. Default 100 (churn 10). */
  retryDelay?: number;
  /** How sockets are made: `ring` (direct sockets, bind via IORING_OP_BIND), `fd` (process fd moved into the ring), `auto`. */
  socketMode?: SocketMode;
  /** Stops the run early; the result is still returned, with `interrupted: true`. */
  signal?: AbortSignal;
  /** Called every `progressInterval` ms while running. */
  onProgress?: (p: StressProgress) => void;
  /** Default 1000. */
  progressInterval?: number;
  /** Ask for IORING_SETUP_DEFER_TASKRUN. Default true. */
  deferTaskrun?: boolean;
}

/** Options after defaults and validation (targets not yet resolved). */
export interface ResolvedStressOptions {
  targets: { host: string; port: number }[];
  mode: StressMode;
  threads: number;
  connections: number;
  duration: number;
  messages: number;
  warmup: number;
  sizeMin: number;
  sizeMax: number;
  pipeline: number;
  rate: number;
  connectRate: number;
  sources: string[];
  maxErrors: number;
  zcThreshold: number;
  window: number;
  seed: number;
  drain: number;
  retryDelay: number;
  socketMode: SocketMode;
  progressInterval: number;
  deferTaskrun: boolean;
}

/** Latency summary in microseconds. */
export interface LatencyStats {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** One verification failure, as the engine found it. */
export type StressMismatch = NativeMismatch;

/** Live numbers, for a progress display. Rates cover the last interval. */
export interface StressProgress {
  elapsedMs: number;
  phase: 'connecting' | 'warmup' | 'measuring' | 'draining';
  up: number;
  connecting: number;
  msgsPerSec: number;
  cyclesPerSec: number;
  outMiBPerSec: number;
  inMiBPerSec: number;
  /** of the messages (churn: cycles) completed in the last interval */
  p50Us: number;
  p99Us: number;
  errors: number;
  verifyFailures: number;
  verified: number;
}

/** What {@link runStress} resolves with. */
export interface StressResult {
  /** true when nothing failed verification, errors stayed within maxErrors, and work was done */
  ok: boolean;
  /** 0 ok, 1 failed (what `ringleader stress` exits with) */
  exitCode: 0 | 1;
  /** why the run counts as failed, one line each */
  failures: string[];
  warnings: string[];
  mode: StressMode;
  targets: string[];
  threads: number;
  connections: number;
  size: { min: number; max: number };
  pipeline: number;
  /** open-loop rate (per second), null for closed loop */
  rate: number | null;
  connectRate: number | null;
  seed: number;
  socketMode: 'ring' | 'fd';
  warmupMs: number;
  /** the measured window */
  durationMs: number;
  /** from the first connection attempt until every ring had closed */
  elapsedMs: number;
  interrupted: boolean;
  /** why the run was cut short by ringleader itself (e.g. nothing listening), or null */
  aborted: string | null;
  messages: {
    /** messages whose last byte was sent */
    sent: number;
    /** messages echoed and verified byte for byte (whole run) */
    verified: number;
    /** verified inside the measured window */
    measured: number;
    /** still in flight when the run ended (not errors) */
    unfinished: number;
    /** open loop: sent more than 1 ms after their scheduled time */
    late: number;
  };
  throughput: {
    msgsPerSec: number;
    /** churn: connect/echo/close cycles per second */
    cyclesPerSec: number;
    outMiBPerSec: number;
    inMiBPerSec: number;
  };
  bytes: { sent: number; received: number };
  /** echo: message round trip from its send (open loop: scheduled) time; churn: whole cycle; null when nothing was timed */
  latencyUs: LatencyStats | null;
  /** connect latency (socket op to connect completion) */
  connectUs: LatencyStats | null;
  connected: {
    /** connections established over the run */
    opened: number;
    attempts: number;
    /** attempts that failed */
    failed: number;
    /** established connections that ended by an error */
    dropped: number;
    peakUp: number;
    /** up when the run stopped */
    upAtEnd: number;
    /** churn: completed cycles (whole run) */
    cycles: number;
  };
  errors: { total: number; byCode: Record<string, number> };
  verification: { failures: number; mismatches: StressMismatch[] };
  zeroCopy: { threshold: number; sends: number; notifications: number; copied: number; fallbacks: number; fallbackCode: string | null };
}

// ---------------------------------------------------------------- options

const KNOWN = new Set<string>([
  'targets', 'mode', 'threads', 'connections', 'duration', 'messages', 'warmup', 'size', 'pipeline', 'rate',
  'connectRate', 'source', 'maxErrors', 'zcThreshold', 'window', 'seed', 'drain', 'retryDelay', 'socketMode',
  'signal', 'onProgress', 'progressInterval', 'deferTaskrun',
]);

const MAX_SIZE = 1 << 24;

/** "host:port" / "[v6]:port" -> parts; throws naming `name` */
export function parseTarget(name: string, s: string): { host: string; port: number } {
  const t = s.trim();
  let host: string;
  let portText: string;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(t);
  if (v6) {
    host = v6[1];
    portText = v6[2];
    if (isIP(host) !== 6) throw outOfRange(name, 'HOST:PORT (IPv6 as [ADDR]:PORT)', s);
  } else {
    const i = t.lastIndexOf(':');
    if (i <= 0 || t.indexOf(':') !== i) throw outOfRange(name, 'HOST:PORT (IPv6 as [ADDR]:PORT)', s);
    host = t.slice(0, i);
    portText = t.slice(i + 1);
    if (!/^[A-Za-z0-9._-]+$/.test(host)) throw outOfRange(name, 'HOST:PORT with a host name or address', s);
  }
  if (!/^\d+$/.test(portText)) throw outOfRange(name, 'HOST:PORT with a numeric port', s);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw outOfRange(name, 'HOST:PORT with a port from 1 to 65535', s);
  return { host, port };
}

function ipv4ToInt(s: string): number {
  return s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** "A-B" (IPv4, inclusive), "A", or comma lists of those -> addresses */
export function parseSources(name: string, v: string | string[]): string[] {
  const parts = (Array.isArray(v) ? v : [v]).flatMap((p) => {
    if (typeof p !== 'string') throw invalidType(name, 'a string such as "127.0.0.1-127.0.0.16"', p);
    return p.split(',');
  });
  const out: string[] = [];
  for (const raw of parts) {
    const p = raw.trim();
    const dash = p.indexOf('-');
    if (dash > 0) {
      const a = p.slice(0, dash).trim();
      const b = p.slice(dash + 1).trim();
      if (isIP(a) !== 4 || isIP(b) !== 4) throw outOfRange(name, 'an IPv4 range A-B, an address, or a list of them', v);
      const lo = ipv4ToInt(a);
      const hi = ipv4ToInt(b);
      if (hi < lo) throw outOfRange(name, 'a range A-B with A <= B', v);
      if (hi - lo >= 65536) throw outOfRange(name, 'a range of at most 65536 addresses', v);
      for (let n = lo; n <= hi; n++) out.push(intToIpv4(n));
    } else if (isIP(p)) {
      out.push(p);
    } else {
      throw outOfRange(name, 'an IPv4 range A-B, an address, or a list of them', v);
    }
  }
  if (!out.length) throw outOfRange(name, 'at least one address', v);
  return out;
}

function num(name: string, v: unknown, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || Number.isNaN(v)) throw invalidType(name, 'a number', v);
  if (!Number.isFinite(v) || v < min || v > max) throw outOfRange(name, `a number from ${min} to ${max}`, v);
  return v;
}

/** Validate options and fill in defaults. Every bad option is a TypeError or RangeError naming it. */
export function resolveStressOptions(o: StressOptions): ResolvedStressOptions {
  if (o === null || typeof o !== 'object') throw invalidType('options', 'an object', o);
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k)) throw outOfRange(k, `a known option (${[...KNOWN].join(', ')})`, k);
  }
  if (o.targets === undefined) throw invalidType('targets', 'a string such as "127.0.0.1:7000"', undefined);
  const list = (Array.isArray(o.targets) ? o.targets : [o.targets]).flatMap((t) => {
    if (typeof t !== 'string') throw invalidType('targets', 'a string such as "127.0.0.1:7000"', t);
    return t.split(',');
  });
  if (!list.length || list.length > 1024) throw outOfRange('targets', 'from 1 to 1024 HOST:PORT entries', o.targets);
  const targets = list.map((t) => parseTarget('targets', t));

  const mode = oneOf('mode', o.mode, 'echo', STRESS_MODES);
  const connections = int('connections', o.connections, 100, 1, 1_000_000);
  const threads = Math.min(int('threads', o.threads, availableParallelism(), 1, 1024), connections);
  const messages = int('messages', o.messages, 0, 1, Number.MAX_SAFE_INTEGER);
  if (messages && mode === 'idle') throw outOfRange('messages', 'left out in idle mode (nothing is sent)', o.messages);
  if (o.warmup !== undefined && o.warmup > 0 && messages) throw outOfRange('warmup', 'left out (or 0) when option "messages" is set: every one of the messages counts', o.warmup);
  const duration = ms('duration', o.duration, messages ? 0 : 10_000);
  if (o.duration !== undefined && duration <= 0) throw outOfRange('duration', 'more than 0 ms', o.duration);
  const warmup = ms('warmup', o.warmup, messages ? 0 : 2000);

  let sizeMin: number;
  let sizeMax: number;
  const defSize = mode === 'bulk' ? 65536 : 64;
  if (o.size === undefined) {
    sizeMin = sizeMax = defSize;
  } else if (Array.isArray(o.size)) {
    if (o.size.length !== 2) throw outOfRange('size', 'a number of bytes or [min, max]', `${o.size.length} numbers`);
    sizeMin = int('size', o.size[0], defSize, 1, MAX_SIZE);
    sizeMax = int('size', o.size[1], defSize, 1, MAX_SIZE);
    if (sizeMax < sizeMin) throw outOfRange('size', 'a range [min, max] with min <= max', `${sizeMin}-${sizeMax}`);
  } else {
    sizeMin = sizeMax = int('size', o.size, defSize, 1, MAX_SIZE);
  }

  const pipeline = int('pipeline', o.pipeline, 1, 1, 1024);
  if (pipeline > 1 && mode !== 'echo') throw outOfRange('pipeline', 'left out (1) outside echo mode', o.pipeline);
  if (connections * pipeline > 1 << 24) throw outOfRange('pipeline', `at most ${Math.floor((1 << 24) / connections)} with ${connections} connections`, o.pipeline);
  const rate = o.rate === undefined ? 0 : num('rate', o.rate, 0, 0.001, 100_000_000);
  if (rate && (mode === 'bulk' || mode === 'idle')) throw outOfRange('rate', `left out in ${mode} mode (it applies to echo messages and churn cycles)`, o.rate);
  const connectRate = o.connectRate === undefined ? 0 : num('connectRate', o.connectRate, 0, 0.001, 100_000_000);
  const sources = o.source === undefined ? [] : parseSources('source', o.source);
  const window = int('window', o.window, 256 * 1024, 1024, 1 << 30);
  if (o.window !== undefined && mode !== 'bulk') throw outOfRange('window', 'left out outside bulk mode', o.window);
  const seed = o.seed === undefined ? randomInt(0, 2 ** 47) : int('seed', o.seed, 0, 0, Number.MAX_SAFE_INTEGER);
  const socketMode = oneOf('socketMode', o.socketMode, 'auto', ['auto', 'ring', 'fd'] as const);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalidType('signal', 'an AbortSignal', o.signal);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw invalidType('onProgress', 'a function', o.onProgress);
  return {
    targets,
    mode,
    threads,
    connections,
    duration,
    messages,
    warmup,
    sizeMin,
    sizeMax,
    pipeline,
    rate,
    connectRate,
    sources,
    maxErrors: int('maxErrors', o.maxErrors, 0, 0, Number.MAX_SAFE_INTEGER),
    zcThreshold: int('zcThreshold', o.zcThreshold, 32768, 0, 1 << 30),
    window,
    seed,
    drain: ms('drain', o.drain, 2000, 600_000),
    retryDelay: ms('retryDelay', o.retryDelay, mode === 'churn' ? 10 : 100, 600_000),
    socketMode,
    progressInterval: ms('progressInterval', o.progressInterval, 1000),
    deferTaskrun: bool('deferTaskrun', o.deferTaskrun, true),
  };
}

/** Resolve host names (numeric addresses pass through). */
async function resolveTargets(ts: { host: string; port: number }[]): Promise<{ ip: string; port: number; label: string }[]> {
  const cache = new Map<string, string>();
  const out: { ip: string; port: number; label: string }[] = [];
  for (const t of ts) {
    let ip = isIP(t.host) ? t.host : cache.get(t.host);
    if (!ip) {
      try {
        ip = (await lookup(t.host)).address;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? 'ENOTFOUND';
        throw outOfRange('targets', `a host that resolves (getaddrinfo ${code} for "${t.host}")`, `${t.host}:${t.port}`);
      }
      cache.set(t.host, ip);
    }
    out.push({ ip, port: t.port, label: `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}` });
  }
  return out;
}

// ---------------------------------------------------------------- counters

const I32_BYTES = Math.ceil((L.i32.length * 4) / 8) * 8;
const idx = (names: string[]) => Object.fromEntries(names.map((n, i) => [n, i])) as Record<string, number>;
const CI = idx(L.i32);
const CU = idx(L.u64);
for (const n of ['up', 'connecting', 'peak_up', 'state', 'zc_fallback_err', 'up_at_stop']) {
  if (!(n in CI)) throw new Error(`native client counters lack "${n}": the addon and the runtime are out of step; rebuild`);
}
const bounds = histLowerBounds(L.histSubBits, L.histBuckets);

class Block {
  readonly sab = new SharedArrayBuffer(I32_BYTES + L.u64Size * 8);
  readonly i32 = new Int32Array(this.sab, 0, L.i32.length);
  readonly u64 = new BigUint64Array(this.sab, I32_BYTES, L.u64Size);
  g(name: string): number {
    return Atomics.load(this.i32, CI[name]);
  }
  u(name: string): number {
    return Number(Atomics.load(this.u64, CU[name]));
  }
  at(i: number): number {
    return Number(Atomics.load(this.u64, i));
  }
}

const sumU = (bs: Block[], n: string) => bs.reduce((a, b) => a + b.u(n), 0);
const sumG = (bs: Block[], n: string) => bs.reduce((a, b) => a + b.g(n), 0);
const maxU = (bs: Block[], n: string) => bs.reduce((a, b) => Math.max(a, b.u(n)), 0);

function mergeHist(bs: Block[], offset: number): Float64Array {
  const h = new Float64Array(L.histBuckets);
  for (const b of bs) for (let i = 0; i < L.histBuckets; i++) h[i] += b.at(offset + i);
  return h;
}

/** Percentile of a bucket histogram (ns), reported as the bucket's midpoint, clamped to [min, max]. */
function quantile(h: Float64Array, total: number, q: number, minNs: number, maxNs: number): number {
  if (!total) return 0;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < h.length; i++) {
    seen += h[i];
    if (seen >= rank) {
      const mid = (bounds[i] + bounds[i + 1]) / 2;
      return Math.min(maxNs, Math.max(minNs, mid));
    }
  }
  return maxNs;
}

function latencyStats(h: Float64Array, sumNs: number, minNs: number, maxNs: number): LatencyStats | null {
  const count = h.reduce((a, c) => a + c, 0);
  if (!count) return null;
  const us = (ns: number) => Math.round(ns / 10) / 100;
  return {
    count,
    min: us(minNs),
    mean: us(sumNs / count),
    p50: us(quantile(h, count, 0.5, minNs, maxNs)),
    p90: us(quantile(h, count, 0.9, minNs, maxNs)),
    p99: us(quantile(h, count, 0.99, minNs, maxNs)),
    p999: us(quantile(h, count, 0.999, minNs, maxNs)),
    max: us(maxNs),
  };
}

function errorTable(bs: Block[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (let e = 0; e < L.errSlots; e++) {
    let n = 0;
    for (const b of bs) n += b.at(L.errOffset + e);
    if (!n) continue;
    const code = e === 0 ? 'EOF' : errnoName(-e);
    out[code] = (out[code] ?? 0) + n;
  }
  return out;
}

function describeErrors(byCode: Record<string, number>): string {
  return Object.entries(byCode)
    .sort((a, b) => b[1] - a[1])
    .map(([c, n]) => `${c} ${n}`)
    .join(', ');
}

function hex(b: number): string {
  return b < 0 ? '-' : `0x${b.toString(16).padStart(2, '0')}`;
}

/** One line about a verification failure: names connection, message and offset. */
export function describeMismatch(m: StressMismatch): string {
  const where = `connection ${m.connection}, message ${m.message}, offset ${m.offset}`;
  if (m.kind === 'eof') return `${where}: the server closed the connection before the echo was complete`;
  if (m.kind === 'extra') return `${where}: the server sent bytes that were never sent to it (first ${hex(m.got)})`;
  return `${where}: expected ${hex(m.expected)}, got ${hex(m.got)}`;
}

// ---------------------------------------------------------------- run

interface Thread {
  index: number;
  worker: Worker;
  block: Block;
  connections: number;
  ready: Promise<void>;
  done: Promise<{ runErrno: number; mismatches: NativeMismatch[] }>;
  exited: Promise<void>;
}

function spreadInt(total: number, weights: number[]): number[] {
  const sum = weights.reduce((a, w) => a + w, 0);
  const out = weights.map((w) => Math.floor((total * w) / sum));
  let rest = total - out.reduce((a, n) => a + n, 0);
  for (let i = 0; rest > 0; i = (i + 1) % out.length, rest--) out[i]++;
  return out;
}

function threadError(m: Extract<StressThreadMessage, { type: 'error' }>): Error {
  if (typeof m.errno === 'number' && m.syscall) {
    const hint = m.code === 'EMFILE' ? 'a ring\'s fixed-file table may not exceed RLIMIT_NOFILE: raise `ulimit -n` or use more --threads' : undefined;
    const e = errnoError(m.errno, m.syscall, hint ? { hint } : undefined);
    if ((m.code === 'ENOSYS' || m.code === 'EPERM') && m.syscall === 'io_uring_queue_init') return ioUringUnavailable(e);
    return e;
  }
  const e = new Error(m.message) as Error & { code?: string };
  e.name = m.name;
  if (m.code) e.code = m.code;
  return e;
}

/**
 * Drive load at one or more TCP servers with io_uring client rings and
 * report throughput, latency percentiles, errors by code, and verification.
 * Rejects (TypeError/RangeError naming the option) on bad options, and with
 * a Node-shaped error when io_uring or a ring cannot be set up; a server
 * that refuses, drops or corrupts is reported in the result, not thrown.
 */
export async function runStress(options: StressOptions): Promise<StressResult> {
  const o = resolveStressOptions(options);
  const signal = options.signal;
  const onProgress = options.onProgress;
  const targets = await resolveTargets(o.targets);
  const warnings: string[] = [];

  const probe = clientProbe();
  if (probe.setupError < 0) throw ioUringUnavailable(errnoError(probe.setupError, 'io_uring_setup'));
  if (!probe.socket || !probe.connect || !probe.bufRing) {
    throw ioUringUnavailable('the kernel lacks IORING_OP_SOCKET/CONNECT or provided buffer rings (Linux >= 6.0 needed)');
  }
  const family = (ip: string) => (isIP(ip) === 6 ? 6 : 4);
  if (o.sources.length) {
    const fams = new Set(targets.map((t) => family(t.ip)));
    if (fams.size > 1) throw outOfRange('source', 'used with targets of one address family', o.sources[0]);
    const tf = [...fams][0];
    const bad = o.sources.find((s) => family(s) !== tf);
    if (bad) throw outOfRange('source', `addresses of the targets' family (IPv${tf})`, bad);
  }
  // Bind-before-connect with no process fd: IORING_OP_BIND on the direct
  // socket keeps the whole set-up in the ring, linked in front of the
  // connect and batched with everything else, with no syscalls on the
  // completion path and no process fd even for a moment. Without it
  // (Linux < 6.11), or without setsockopt through uring_cmd (Linux < 6.7,
  // needed for TCP_NODELAY on a direct socket), sockets are made as process
  // fds, configured with plain syscalls, and moved into the ring's table
  // (IORING_OP_FILES_UPDATE) before they connect. Measured on loopback churn
  // (32 clients over 16 source addresses, 20k cycles): both set-ups cost
  // ~60-80 us of client CPU per cycle, most of it the TCP handshake; the
  // difference was below the run-to-run noise, so the choice rests on the
  // ring path doing the same work without touching the fd table.
  let sockMode: 'ring' | 'fd';
  const ringOk = probe.sockCmd && (!o.sources.length || probe.bind);
  if (o.socketMode === 'ring') {
    if (o.sources.length && !probe.bind) throw outOfRange('socketMode', '"fd" or "auto" with a source address on this kernel (no IORING_OP_BIND, Linux >= 6.11)', 'ring');
    if (!probe.sockCmd) warnings.push('this kernel cannot set TCP_NODELAY on direct sockets (socket uring_cmd, Linux >= 6.7): small messages may be delayed by Nagle');
    sockMode = 'ring';
  } else if (o.socketMode === 'fd') {
    sockMode = 'fd';
  } else {
    sockMode = ringOk ? 'ring' : 'fd';
    if (!ringOk) warnings.push(`sockets are configured as process fds before they enter the ring (${!probe.sockCmd ? 'no socket uring_cmd' : 'no IORING_OP_BIND'} on this kernel)`);
  }
  if (sockMode === 'fd' && !probe.filesUpdate) throw ioUringUnavailable('the kernel lacks IORING_OP_FILES_UPDATE');
  let zcThreshold = o.zcThreshold;
  if (zcThreshold && !probe.sendZc) {
    warnings.push('the kernel has no send_zc: every send is a plain send');
    zcThreshold = 0;
  }

  // shape of the work
  const nThreads = o.messages ? Math.min(o.threads, o.messages) : o.threads;
  const perThread = spreadInt(o.connections, new Array(nThreads).fill(1));
  const quotas = o.messages ? spreadInt(o.messages, perThread) : perThread.map(() => 0);
  const chunk = o.mode === 'bulk' ? 65536 : Math.max(256, Math.min(256 * 1024, o.sizeMax * o.pipeline));
  const bigRecv = o.mode === 'bulk' || o.sizeMax >= 32768;
  const bufSize = bigRecv ? 65536 : 16384;
  const bufCount = bigRecv ? 512 : 1024;

  const threads: Thread[] = [];
  let idBase = 0;
  const t0 = Date.now();
  for (let i = 0; i < nThreads; i++) {
    const block = new Block();
    const ring: NativeClientOptions = {
      mode: abi.clientModes[o.mode],
      connections: perThread[i],
      idBase,
      targets: targets.map((t) => ({ ip: t.ip, port: t.port })),
      sources: o.sources,
      sockMode: abi.clientSockModes[sockMode],
      sockCmd: probe.sockCmd,
      sizeMin: o.sizeMin,
      sizeMax: o.sizeMax,
      pipeline: o.pipeline,
      window: o.window,
      chunk,
      zcThreshold,
      rate: o.rate ? (o.rate * perThread[i]) / o.connections : 0,
      connectRate: o.connectRate ? (o.connectRate * perThread[i]) / o.connections : 0,
      seed: BigInt(o.seed),
      quota: quotas[i],
      retryMs: o.retryDelay,
      drainMs: o.drain,
      bufCount,
      bufSize,
      deferTaskrun: o.deferTaskrun,
    };
    idBase += perThread[i];
    const data: StressThreadData = { index: i, ring, counters: block.sab };
    const worker = new Worker(new URL('./stress-thread.js', import.meta.url), { workerData: data });
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    let doneResolve!: (v: { runErrno: number; mismatches: NativeMismatch[] }) => void;
    let doneReject!: (e: Error) => void;
    const ready = new Promise<void>((res, rej) => ((readyResolve = res), (readyReject = rej)));
    const done = new Promise<{ runErrno: number; mismatches: NativeMismatch[] }>((res, rej) => ((doneResolve = res), (doneReject = rej)));
    const exited = new Promise<void>((res) => worker.once('exit', () => res()));
    worker.on('message', (m: StressThreadMessage) => {
      if (m.type === 'ready') readyResolve();
      else if (m.type === 'done') doneResolve({ runErrno: m.runErrno, mismatches: m.mismatches });
      else if (m.type === 'error') {
        const e = threadError(m);
        readyReject(e);
        doneReject(e);
      }
    });
    worker.on('error', (e) => {
      readyReject(e);
      doneReject(e);
    });
    worker.once('exit', (code) => {
      const e = new Error(`stress thread ${i} exited (code ${code}) before it finished`);
      readyReject(e);
      doneReject(e);
    });
    // a rejection nobody awaits yet must not crash the process
    ready.catch(() => undefined);
    done.catch(() => undefined);
    threads.push({ index: i, worker, block, connections: perThread[i], ready, done, exited });
  }

  const post = (t: Thread, m: StressThreadCommand) => {
    try {
      t.worker.postMessage(m);
    } catch {
      /* thread already gone */
    }
  };
  const terminateAll = async () => {
    await Promise.all(threads.map((t) => t.worker.terminate().catch(() => undefined)));
  };

  // every ring exists before the clock starts
  let startTimer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.all(threads.map((t) => t.ready)),
      new Promise<never>((_, rej) => {
        startTimer = setTimeout(() => rej(Object.assign(new Error('stress threads did not start within 15 s'), { code: 'ERR_STRESS_START_TIMEOUT' })), 15_000);
      }),
    ]);
  } catch (e) {
    await terminateAll();
    throw e;
  } finally {
    clearTimeout(startTimer);
  }

  const tStart = monotonicNs() + 5_000_000n;
  const tMeasure = tStart + BigInt(Math.round(o.warmup * 1e6));
  const tEnd = o.duration ? tMeasure + BigInt(Math.round(o.duration * 1e6)) : 0n;
  for (const t of threads) post(t, { type: 'start', tStart, tMeasure, tEnd });
  const startedAt = Date.now();
  const blocks = threads.map((t) => t.block);

  let interrupted = false;
  let aborted: string | null = null;
  let stopped = false;
  const stopAll = () => {
    if (stopped) return;
    stopped = true;
    for (const t of threads) post(t, { type: 'stop' });
  };
  const onAbort = () => {
    interrupted = true;
    stopAll();
  };
  if (signal) {
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  }

  // watch: progress, and give up early when nothing can connect at all
  let prev: { t: number; msgs: number; cycles: number; out: number; in: number; hist: Float64Array } = {
    t: Date.now(),
    msgs: 0,
    cycles: 0,
    out: 0,
    in: 0,
    hist: new Float64Array(L.histBuckets),
  };
  let lastProgress = Date.now();
  const watch = setInterval(() => {
    if (!stopped) {
      const attempts = sumU(blocks, 'connect_attempts');
      const connects = sumU(blocks, 'connects');
      const failed = sumU(blocks, 'connect_errors');
      if (connects === 0 && attempts >= o.connections && failed >= o.connections) {
        const byCode = errorTable(blocks);
        aborted = `no connection could be made to ${targets.map((t) => t.label).join(', ')} (${describeErrors(byCode) || 'connect failed'})`;
        stopAll();
      }
    }
    const now = Date.now();
    if (onProgress && now - lastProgress >= o.progressInterval) {
      lastProgress = now;
      const dt = (now - prev.t) / 1000;
      const msgs = sumU(blocks, 'msgs_all');
      const cycles = sumU(blocks, 'cycles_all');
      const out = sumU(blocks, 'bytes_out_all');
      const inn = sumU(blocks, 'bytes_in_all');
      const hist = mergeHist(blocks, L.histOffset);
      const diff = hist.map((v, i) => v - prev.hist[i]);
      const n = diff.reduce((a, c) => a + c, 0);
      const mono = Number(monotonicNs() - tStart) / 1e6;
      const state = Math.max(...threads.map((t) => t.block.g('state')));
      const phase: StressProgress['phase'] =
        state >= 2 ? 'draining' : mono < o.warmup ? (sumG(blocks, 'up') < o.connections && o.mode !== 'churn' ? 'connecting' : 'warmup') : 'measuring';
      onProgress({
        elapsedMs: now - startedAt,
        phase,
        up: sumG(blocks, 'up'),
        connecting: sumG(blocks, 'connecting'),
        msgsPerSec: (msgs - prev.msgs) / dt,
        cyclesPerSec: (cycles - prev.cycles) / dt,
        outMiBPerSec: (out - prev.out) / dt / 1048576,
        inMiBPerSec: (inn - prev.in) / dt / 1048576,
        p50Us: quantile(diff, n, 0.5, 0, Infinity) / 1000,
        p99Us: quantile(diff, n, 0.99, 0, Infinity) / 1000,
        errors: sumU(blocks, 'errors'),
        verifyFailures: sumU(blocks, 'verify_failures'),
        verified: msgs,
      });
      prev = { t: now, msgs, cycles, out, in: inn, hist };
    }
  }, 50);

  // wait for every ring to close its connections
  let outcomes: { runErrno: number; mismatches: NativeMismatch[] }[];
  let guard: NodeJS.Timeout | undefined;
  try {
    const waits: Promise<unknown>[] = [Promise.all(threads.map((t) => t.done))];
    if (o.duration) {
      // a ring that does not finish within its drain time plus a margin is stuck
      const budget = o.warmup + o.duration + o.drain + 10_000;
      waits.push(
        new Promise<never>((_, rej) => {
          guard = setTimeout(() => rej(Object.assign(new Error(`stress threads did not finish within ${budget} ms`), { code: 'ERR_STRESS_TIMEOUT' })), budget);
        }),
      );
    }
    outcomes = (await Promise.race(waits)) as typeof outcomes;
  } catch (e) {
    clearInterval(watch);
    await terminateAll();
    throw e;
  } finally {
    clearTimeout(guard);
    signal?.removeEventListener('abort', onAbort);
  }
  clearInterval(watch);
  const elapsedMs = Date.now() - t0;
  await Promise.race([Promise.all(threads.map((t) => t.exited)), new Promise((r) => setTimeout(r, 2000).unref())]);
  await terminateAll();

  // ------------------------------------------------------------ merge
  for (const oc of outcomes) {
    if (oc.runErrno) warnings.push(`a ring stopped early: ${errnoError(oc.runErrno, 'io_uring_enter').message}`);
  }
  const mismatches = outcomes.flatMap((oc) => oc.mismatches);
  // counting stopped at the scheduled end, or earlier (quota met, SIGINT);
  // a stop noticed a little after the scheduled end does not widen it
  const stopNs = maxU(blocks, 't_stop_ns');
  const endNs = tEnd && stopNs > Number(tEnd) ? Number(tEnd) : stopNs;
  const windowNs = Math.max(0, endNs - Number(tMeasure));
  const windowS = windowNs / 1e9;
  const measured = sumU(blocks, 'msgs');
  const cycles = sumU(blocks, 'cycles');
  const latHist = mergeHist(blocks, L.histOffset);
  const minNs = Math.min(...blocks.filter((b) => b.u('lat_min_ns') > 0 || b.u('lat_max_ns') > 0).map((b) => b.u('lat_min_ns')));
  const latencyUs = latencyStats(latHist, sumU(blocks, 'lat_sum_ns'), Number.isFinite(minNs) ? minNs : 0, maxU(blocks, 'lat_max_ns'));
  const connHist = mergeHist(blocks, L.connectHistOffset);
  const connectUs = latencyStats(connHist, sumU(blocks, 'conn_lat_sum_ns'), 0, maxU(blocks, 'conn_lat_max_ns'));
  if (connectUs) connectUs.min = Math.round(quantile(connHist, connectUs.count, 0, 0, maxU(blocks, 'conn_lat_max_ns')) / 10) / 100;
  const byCode = errorTable(blocks);
  const errorsTotal = sumU(blocks, 'errors');
  const verifyFailures = sumU(blocks, 'verify_failures');
  const fallbackErr = blocks.map((b) => b.g('zc_fallback_err')).find((e) => e !== 0);
  const verified = sumU(blocks, 'msgs_all');
  const cyclesAll = sumU(blocks, 'cycles_all');
  const upAtEnd = sumG(blocks, 'up_at_stop');
  const peakUp = sumG(blocks, 'peak_up');
  const zcSends = sumU(blocks, 'zc_sends');
  const zcCopied = sumU(blocks, 'zc_copied');

  if (fallbackErr) {
    const code = errnoName(fallbackErr);
    warnings.push(
      `send_zc failed with ${code}; large sends fell back to plain send${code === 'ENOMEM' ? ' (raise the locked-memory limit, ulimit -l)' : ''}`,
    );
  }
  if (zcSends > 0 && zcCopied === zcSends && targets.every((t) => t.ip.startsWith('127.') || t.ip === '::1')) {
    warnings.push('every zero-copy send was copied by the kernel, as it always is on loopback');
  }

  const failures: string[] = [];
  if (aborted) failures.push(aborted);
  if (verifyFailures) {
    const first = mismatches[0];
    failures.push(`verification failed ${verifyFailures} time(s)${first ? `; first: ${describeMismatch(first)}` : ''}`);
  }
  if (errorsTotal > o.maxErrors) failures.push(`${errorsTotal} error(s) (${describeErrors(byCode)}), more than the ${o.maxErrors} allowed (maxErrors)`);
  if (!aborted) {
    if ((o.mode === 'echo' || o.mode === 'bulk') && verified === 0) failures.push('no message was echoed');
    if (o.mode === 'churn' && cyclesAll === 0) failures.push('no connect/echo/close cycle completed');
    if (o.mode === 'idle' && upAtEnd < o.connections && !interrupted) failures.push(`${upAtEnd} of ${o.connections} connections were up at the end`);
    const done = o.mode === 'churn' ? cyclesAll : verified;
    if (o.messages && done < o.messages && !interrupted) failures.push(`${done} of ${o.messages} ${o.mode === 'churn' ? 'cycles' : 'messages'} completed`);
  }
  const rate = (n: number) => (windowS > 0 ? n / windowS : 0);
  const ok = failures.length === 0;
  return {
    ok,
    exitCode: ok ? 0 : 1,
    failures,
    warnings,
    mode: o.mode,
    targets: targets.map((t) => t.label),
    threads: nThreads,
    connections: o.connections,
    size: { min: o.sizeMin, max: o.sizeMax },
    pipeline: o.pipeline,
    rate: o.rate || null,
    connectRate: o.connectRate || null,
    seed: o.seed,
    socketMode: sockMode,
    warmupMs: o.warmup,
    durationMs: Math.round(windowNs / 1e6),
    elapsedMs,
    interrupted,
    aborted,
    messages: {
      sent: sumU(blocks, 'msgs_sent'),
      verified,
      measured,
      unfinished: sumU(blocks, 'unfinished'),
      late: sumU(blocks, 'late'),
    },
    throughput: {
      msgsPerSec: rate(measured),
      cyclesPerSec: rate(cycles),
      outMiBPerSec: rate(sumU(blocks, 'bytes_out')) / 1048576,
      inMiBPerSec: rate(sumU(blocks, 'bytes_in')) / 1048576,
    },
    bytes: { sent: sumU(blocks, 'bytes_out_all'), received: sumU(blocks, 'bytes_in_all') },
    latencyUs,
    connectUs,
    connected: {
      opened: sumU(blocks, 'connects'),
      attempts: sumU(blocks, 'connect_attempts'),
      failed: sumU(blocks, 'connect_errors'),
      dropped: sumU(blocks, 'conn_errors'),
      peakUp,
      upAtEnd,
      cycles: cyclesAll,
    },
    errors: { total: errorsTotal, byCode },
    verification: { failures: verifyFailures, mismatches },
    zeroCopy: {
      threshold: zcThreshold,
      sends: zcSends,
      notifications: sumU(blocks, 'zc_notifs'),
      copied: zcCopied,
      fallbacks: sumU(blocks, 'zc_fallbacks'),
      fallbackCode: fallbackErr ? errnoName(fallbackErr) : null,
    },
  };
}
