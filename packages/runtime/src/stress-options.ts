/**
 * runStress options: types, defaults (the one place the CLI reads them
 * from too), validation. Every bad option is a TypeError or RangeError
 * naming it.
 */
import { randomInt } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { type HostPort, parseHostPort, parseSources } from './address.js';
import type { CustomOptions } from './stress-custom.js';
import type { HttpOptions } from './stress-http.js';
import { PROTOCOL_MODES, type ProtocolMode, type ResolvedProtocol, resolveProtocol } from './stress-protocol.js';
import type { RedisOptions } from './stress-redis.js';
import { bool, int, invalidType, ms, oneOf, outOfRange, real } from './validate.js';

import type { StressProgress } from './stress-result.js';

export type EchoMode = 'echo' | 'churn' | 'bulk' | 'idle';
export type StressMode = EchoMode | ProtocolMode;
export const ECHO_MODES: readonly EchoMode[] = ['echo', 'churn', 'bulk', 'idle'];
export const STRESS_MODES: readonly StressMode[] = [...ECHO_MODES, ...PROTOCOL_MODES];
export type SocketMode = 'auto' | 'ring' | 'fd';

/** Options of {@link runStress}. Durations are in milliseconds. */
export interface StressOptions extends HttpOptions, RedisOptions, CustomOptions {
  /**
   * Where to connect: `"HOST:PORT"`, `"[v6]:PORT"`, a URL (`http://HOST:PORT/path`, `redis://HOST:PORT`: the
   * scheme picks the mode), a comma list, or an array of those.
   */
  targets: string | string[];
  /** `echo` (default), `churn`, `bulk`, `idle`, or a request mode: `http`, `redis`, `custom`. */
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
  /** Errors tolerated before the run counts as failed. Default 0. With `messages` and no `duration`, the run also stops once they are passed (it would otherwise retry without end). */
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
  /** A connect not done within this time fails and counts as ETIMEDOUT (then retried). Default 5000. */
  connectTimeout?: number;
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
  /**
   * How a load thread waits for completions: 'ring' blocks in io_uring_enter
   * (one syscall per batch), 'loop' in its event loop through an eventfd.
   * Default 'ring'.
   */
  threadWait?: 'ring' | 'loop';
  /** Request modes: a request unanswered this long counts as an error and its connection dials again. Default 10000; 0 = never. */
  timeout?: number;
}

/** Options after defaults and validation (targets not yet resolved). */
export interface ResolvedStressOptions {
  targets: HostPort[];
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
  connectTimeout: number;
  socketMode: SocketMode;
  progressInterval: number;
  deferTaskrun: boolean;
  threadWait: 'ring' | 'loop';
  /** request modes: what to send and expect (null in the echo modes) */
  protocol: ResolvedProtocol | null;
  timeout: number;
}

/** Defaults of {@link StressOptions} (durations in ms, sizes in bytes). */
export const STRESS_DEFAULTS = {
  mode: 'echo' as StressMode,
  connections: 100,
  duration: 10_000,
  warmup: 2000,
  size: 64,
  /** bulk mode's message size */
  bulkSize: 65536,
  pipeline: 1,
  maxErrors: 0,
  zcThreshold: 32768,
  window: 256 * 1024,
  drain: 2000,
  retryDelay: 100,
  /** churn mode's retry delay */
  churnRetryDelay: 10,
  connectTimeout: 5000,
  socketMode: 'auto' as SocketMode,
  threadWait: 'ring' as 'ring' | 'loop',
  progressInterval: 1000,
  timeout: 10_000,
} as const;

const D = STRESS_DEFAULTS;

/** The request modes' options (HTTP, Redis, custom): each has a CLI flag that error messages name. */
export const REQUEST_OPTIONS = [
  'method',
  'headers',
  'body',
  'bodyFile',
  'expectStatus',
  'command',
  'tests',
  'keyspace',
  'dataSize',
  'send',
  'expectBytes',
  'expectDelimiter',
  'lengthPrefix',
  'lengthIncludesPrefix',
  'maxFrame',
  'expect',
] as const;

const KNOWN = new Set<string>([
  'targets',
  'mode',
  'threads',
  'connections',
  'duration',
  'messages',
  'warmup',
  'size',
  'pipeline',
  'rate',
  'connectRate',
  'source',
  'maxErrors',
  'zcThreshold',
  'window',
  'seed',
  'drain',
  'retryDelay',
  'connectTimeout',
  'socketMode',
  'signal',
  'onProgress',
  'progressInterval',
  'deferTaskrun',
  'threadWait',
  'timeout',
  ...REQUEST_OPTIONS,
]);

const MAX_SIZE = 1 << 24;

/** Validate options and fill in defaults. Every bad option is a TypeError or RangeError naming it. */
export function resolveStressOptions(o: StressOptions): ResolvedStressOptions {
  if (o === null || typeof o !== 'object') throw invalidType('options', 'an object', o);
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k)) throw outOfRange(k, `a known option (${[...KNOWN].join(', ')})`, k);
  }
  if (o.targets === undefined) throw invalidType('targets', 'a string such as "127.0.0.1:7000"', undefined);
  if (o.mode !== undefined) oneOf('mode', o.mode, D.mode, STRESS_MODES);
  // the request modes (URL targets, mode, or their options), or null for an echo mode
  const protocol = resolveProtocol(o);
  let targets: HostPort[];
  if (protocol) {
    targets = protocol.targets.map((t) => ({ host: t.host, port: t.port }));
  } else {
    const list = (Array.isArray(o.targets) ? o.targets : [o.targets]).flatMap((t) => {
      if (typeof t !== 'string') throw invalidType('targets', 'a string such as "127.0.0.1:7000"', t);
      return t.split(',');
    });
    if (!list.length || list.length > 1024) throw outOfRange('targets', 'from 1 to 1024 HOST:PORT entries', o.targets);
    targets = list.map((t) => parseHostPort('targets', t));
  }

  const mode: StressMode = protocol ? protocol.mode : oneOf('mode', o.mode, D.mode, ECHO_MODES);
  const request = protocol !== null;
  if (request && o.size !== undefined) throw outOfRange('size', `left out in ${mode} mode (the requests say their size)`, o.size);
  if (!request && o.timeout !== undefined) throw outOfRange('timeout', 'left out outside the request modes (http, redis, custom)', o.timeout);
  const connections = int('connections', o.connections, D.connections, 1, 1_000_000);
  const threads = Math.min(int('threads', o.threads, availableParallelism(), 1, 1024), connections);
  const messages = int('messages', o.messages, 0, 1, Number.MAX_SAFE_INTEGER);
  if (messages && mode === 'idle') throw outOfRange('messages', 'left out in idle mode (nothing is sent)', o.messages);
  if (o.warmup !== undefined && o.warmup > 0 && messages) throw outOfRange('warmup', 'left out (or 0) when option "messages" is set: every one of the messages counts', o.warmup);
  const duration = ms('duration', o.duration, messages ? 0 : D.duration);
  if (o.duration !== undefined && duration <= 0) throw outOfRange('duration', 'more than 0 ms', o.duration);
  const warmup = ms('warmup', o.warmup, messages ? 0 : D.warmup);

  let sizeMin: number;
  let sizeMax: number;
  const defSize = mode === 'bulk' ? D.bulkSize : D.size;
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

  const pipeline = int('pipeline', o.pipeline, D.pipeline, 1, 1024);
  if (pipeline > 1 && mode !== 'echo' && !request) throw outOfRange('pipeline', 'left out (1) outside echo mode and the request modes', o.pipeline);
  if (connections * pipeline > 1 << 24) throw outOfRange('pipeline', `at most ${Math.floor((1 << 24) / connections)} with ${connections} connections`, o.pipeline);
  const rate = o.rate === undefined ? 0 : real('rate', o.rate, 0, 0.001, 100_000_000);
  if (rate && (mode === 'bulk' || mode === 'idle')) throw outOfRange('rate', `left out in ${mode} mode (it applies to echo messages and churn cycles)`, o.rate);
  const connectRate = o.connectRate === undefined ? 0 : real('connectRate', o.connectRate, 0, 0.001, 100_000_000);
  const sources = o.source === undefined ? [] : parseSources('source', o.source);
  const window = int('window', o.window, D.window, 1024, 1 << 30);
  if (o.window !== undefined && mode !== 'bulk') throw outOfRange('window', 'left out outside bulk mode', o.window);
  const seed = o.seed === undefined ? randomInt(0, 2 ** 47) : int('seed', o.seed, 0, 0, Number.MAX_SAFE_INTEGER);
  const connectTimeout = ms('connectTimeout', o.connectTimeout, D.connectTimeout, 600_000);
  if (connectTimeout < 1) throw outOfRange('connectTimeout', 'at least 1 ms (a connect cannot be given no time)', o.connectTimeout);
  const socketMode = oneOf('socketMode', o.socketMode, D.socketMode, ['auto', 'ring', 'fd'] as const);
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
    maxErrors: int('maxErrors', o.maxErrors, D.maxErrors, 0, Number.MAX_SAFE_INTEGER),
    zcThreshold: int('zcThreshold', o.zcThreshold, D.zcThreshold, 0, 1 << 30),
    window,
    seed,
    drain: ms('drain', o.drain, D.drain, 600_000),
    retryDelay: ms('retryDelay', o.retryDelay, mode === 'churn' ? D.churnRetryDelay : D.retryDelay, 600_000),
    connectTimeout,
    socketMode,
    progressInterval: ms('progressInterval', o.progressInterval, D.progressInterval),
    deferTaskrun: bool('deferTaskrun', o.deferTaskrun, true),
    threadWait: oneOf('threadWait', o.threadWait, D.threadWait, ['ring', 'loop'] as const),
    protocol,
    timeout: request ? ms('timeout', o.timeout, D.timeout, 3_600_000) : 0,
  };
}
