/**
 * createServer options: types, defaults, validation. Every bad option is a
 * TypeError or RangeError that names it.
 */
import { readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import { join as joinPath, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { abi } from '@ringleader/core-native';
import { type HostPort, parseHostPort } from './address.js';
import { maxTableSize } from './limits.js';
import type { PlacementFunction } from './placement.js';
import { POLICIES, type Policy } from './scheduler.js';
import { type GroupedUpstream, resolveUpstreamGroups, type UpstreamGroupSpec, type UpstreamSpec } from './upstream.js';
import { bool, conflicting, int, invalidType, ms, oneOf, outOfRange, powerOfTwo, str } from './validate.js';

/** Built-in handlers that run natively on the worker rings. */
export type BuiltinHandler = 'echo' | 'proxy';
export const BUILTIN_HANDLERS: readonly BuiltinHandler[] = ['echo', 'proxy'];

/** How a proxy worker picks an upstream. */
export type UpstreamPolicy = 'round-robin' | 'least-connections' | 'random';
export const UPSTREAM_POLICIES: readonly UpstreamPolicy[] = ['round-robin', 'least-connections', 'random'];

/**
 * Default zero-copy threshold: one full 16 KiB receive buffer. What this
 * machine can measure (bench/zc.mjs, echo over loopback, server and load on
 * their own CPUs): the kernel copies every zero-copy send on loopback, and
 * send_zc for every send costs 2-5% against plain send (0.95-0.98x at 4, 16
 * and 64 KiB); with sockets going back to plain send after 4 copied sends it
 * is 0.96-1.04x. Below a full buffer a send_zc's notification completion is a
 * larger share of the work, and the pinning it needs buys little.
 */
const DEFAULT_ZC_THRESHOLD = 16384;

/**
 * Defaults of {@link ServerOptions}, in one place: `resolveOptions` fills
 * them in and the CLI shows and uses the same values (durations in ms,
 * sizes in bytes). `workers` defaults to the available CPUs.
 */
export const SERVER_DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  backlog: 511,
  policy: 'p2c' as Policy,
  overflow: 'pause' as Overflow,
  workerTableSize: 8192,
  acceptorTableSize: 4096,
  bufferCount: 1024,
  bufferSize: 16384,
  highWaterMark: 256 * 1024,
  zcThreshold: DEFAULT_ZC_THRESHOLD,
  workerWait: 'ring' as WorkerWait,
  /** microseconds; see ServerOptions.workerSlice */
  workerSlice: 400,
  startTimeout: 10_000,
  upstreamPolicy: 'round-robin' as UpstreamPolicy,
  /** outlasts the SYN retransmits at 1 s and 3 s (the next is at 7 s) */
  connectTimeout: 5000,
  connectRetries: 2,
  idleTimeout: 60_000,
  upstreamBackoff: 250,
  upstreamBackoffMax: 10_000,
  /** as Envoy's outlier detection (consecutive_5xx: 5) */
  upstreamMaxFails: 5,
  maxBuffersHeld: 2,
  /** {@link Server.close}'s `timeout` */
  closeTimeout: 5000,
} as const;

const D = SERVER_DEFAULTS;

/**
 * A handler module to run in every worker (see `defineHandler`): a `file:`
 * URL, or a path (relative paths resolve against `process.cwd()`).
 */
export type HandlerModuleSpec = string | URL;

/** A handler module, resolved: its file URL and path. */
export interface HandlerModule {
  url: string;
  path: string;
}

/** What to do with connections beyond `maxConnections`. */
export type Overflow = 'pause' | 'reject';
export const OVERFLOWS: readonly Overflow[] = ['pause', 'reject'];
export const WORKER_WAITS: readonly WorkerWait[] = ['ring', 'loop'];

/** Options of {@link createServer}. */
export interface ServerOptions {
  /** Address to listen on (IPv4, IPv6 or a name). Default `'127.0.0.1'`. */
  host?: string;
  /** TCP port; 0 picks a free one. Default 0. */
  port?: number;
  /** Worker threads, one ring each. Default: available CPUs. */
  workers?: number;
  /**
   * Acceptor rings, each on a thread of its own with its own SO_REUSEPORT
   * listener on the one port and its own share of the workers (1: the
   * acceptor runs on the calling thread). One acceptor thread spends
   * 12-16 us of CPU per connection here, so it tops out near 60-80k
   * connections/s; with several, the kernel spreads new connections over
   * their listeners by the 4-tuple's hash and each hands its connections to
   * its own workers. From 1 to `workers`; default 1.
   */
  acceptors?: number;
  /**
   * Connection handler: a built-in name (`'echo'`, `'proxy'`), or the path or `file:`
   * URL of a handler module (its default export is a `Handler`, see
   * `defineHandler`) that runs in every worker. Any string that is not a
   * built-in name is a path; a directory stands for its package.json
   * "main", else its handler.js, handler.mjs, index.js or index.mjs.
   * Default `'echo'`.
   */
  handler?: BuiltinHandler | HandlerModuleSpec;
  /** Passed (structured-cloned) to a handler module's `init(ctx)` as `ctx.options`. */
  handlerOptions?: unknown;
  /**
   * Development mode for handler modules: every `data` view is a copy that
   * is detached after its callback, so keeping one by mistake shows up.
   * Default: `process.env.NODE_ENV === 'development'`.
   */
  dev?: boolean;
  /** listen(2) backlog. Default 511. */
  backlog?: number;
  /** Placement policy. Default `'p2c'`. */
  policy?: Policy;
  /**
   * Your own placement: called on the main thread for every accepted
   * connection with its peer address and port and (lazily) each worker's
   * live counts; returns the index of the worker that should serve it. A
   * throw or a bad index is counted (`stats().placement.errors`) and the
   * connection goes where `policy` puts it; so does one whose worker is
   * saturated or being replaced.
   */
  placement?: PlacementFunction;
  /** Per-worker weights for the `weighted` policy (one per worker). */
  weights?: number[];
  /** Most connections open at once, all workers together. Default: no limit. */
  maxConnections?: number;
  /**
   * Most connections open at once on one worker. Default: no limit of its own;
   * a full fixed-file table (-ENFILE on hand-off) saturates the worker.
   */
  maxConnectionsPerWorker?: number;
  /** `'pause'` (default): wait in the kernel backlog; `'reject'`: close with RST, counted. */
  overflow?: Overflow;
  /** Fixed-file slots per worker ring. Default 8192 (capped by RLIMIT_NOFILE). */
  workerTableSize?: number;
  /** Fixed-file slots in the acceptor ring. Default 4096 (capped by RLIMIT_NOFILE). */
  acceptorTableSize?: number;
  /** Provided receive buffers per worker (power of two). Default 1024. */
  bufferCount?: number;
  /** Bytes per receive buffer. Default 16384. */
  bufferSize?: number;
  /**
   * Bytes queued per direction before receiving pauses (built-in handlers);
   * for a handler module, the bytes queued on a connection at which
   * `conn.write()` returns false (`onDrain` follows at half). Default 262144
   * (or `bufferSize` when that is larger).
   */
  highWaterMark?: number;
  /**
   * Use a multishot accept while the acceptor table has plenty of room.
   * Default false: bounded single-shot accepts, never more in flight than
   * free slots. One multishot completion pass takes every connection waiting
   * in the listen backlog (and any that arrive meanwhile), so it is armed
   * only while the free slots exceed twice the backlog plus 1,024, and
   * cancelled below the backlog plus 1,024; a burst larger than that margin
   * can still overrun the table, which is why it is not the default.
   */
  multishotAccept?: boolean;
  /**
   * The acceptor ring asks for IORING_SETUP_DEFER_TASKRUN (falls back when
   * missing): accept completions then run only inside its own enters, which
   * also bounds how many a multishot accept can complete between drains.
   * Default true.
   */
  deferTaskrun?: boolean;
  /**
   * Worker rings ask for DEFER_TASKRUN too. Default false: with it, a hand-off
   * needs the worker thread to run task work before the fd lands (TWA_SIGNAL,
   * interrupted epoll_wait); without it the acceptor installs the fd directly.
   * Measured (churn, server on one CPU): hand-off p50 37-45 us instead of
   * 106-147 us, echo and churn throughput unchanged.
   */
  workerDeferTaskrun?: boolean;
  /** SO_REUSEPORT on the listener, so several processes can listen on one port. Default false. */
  reusePort?: boolean;
  /**
   * Serve this inherited listening TCP socket (socket activation, a parent's
   * socket) instead of binding: `host`, `port`, `backlog`, `reusePort` and
   * `ipv6Only` then do not apply. The server takes the descriptor over and,
   * when it closes, closes it without shutting the socket down, so other
   * holders (systemd) keep it listening. Default: bind.
   */
  fd?: number;
  /**
   * Serve these inherited listening TCP sockets, all of them (systemd's
   * socket activation with several ListenStream=, IPv4 and IPv6): as `fd`,
   * for at most `abi.limits.maxListeners`. Not with `fd`. Default: bind.
   */
  fds?: number[];
  /** IPV6_V6ONLY for an IPv6 listener. Default false. */
  ipv6Only?: boolean;
  /** How long listen() waits for every worker to be ready. Default 10000 ms. */
  startTimeout?: number;
  /** Proxy: where to send connections, `"HOST:PORT"` or `{ host, port }` (one group, "default"). */
  upstreams?: (string | UpstreamSpec)[];
  /**
   * Proxy: named groups of upstreams in priority order, as Envoy's
   * priorities or HAProxy's backup servers: a new connection goes to the
   * first group with an upstream that is up; a later group serves only
   * while every upstream of the groups before it is down (after
   * `upstreamMaxFails` failed dials, until its back-off passes) or has
   * failed this connection's dial. With `upstreams` too, those are the
   * first group. At most `abi.limits.maxUpstreamGroups` groups.
   */
  upstreamGroups?: UpstreamGroupSpec[];
  /** Proxy: how a worker picks an upstream. Default `'round-robin'`. */
  upstreamPolicy?: UpstreamPolicy;
  /**
   * Proxy: connect timeout per attempt, ms. Default 5000: it outlasts the
   * SYN and its retransmits at 1 s and 3 s, so one or two lost SYNs cost
   * latency, not the connection.
   */
  connectTimeout?: number;
  /**
   * Proxy: dials a client may make after it has tried every upstream that
   * is up once (the same upstream again when it is the only one) before it
   * is closed. Default 2.
   */
  connectRetries?: number;
  /** Proxy: close a connection with no traffic either way for this long, ms; 0 = never. Default 60000. */
  idleTimeout?: number;
  /** Proxy: first back-off of an upstream after a failed dial, ms (doubles up to upstreamBackoffMax). Default 250. */
  upstreamBackoff?: number;
  /** Proxy: longest back-off of an upstream, ms. Default 10000. */
  upstreamBackoffMax?: number;
  /**
   * Proxy: consecutive failed dials that mark an upstream down (while down,
   * no client is sent to it until its back-off has passed). Default 5.
   */
  upstreamMaxFails?: number;
  /**
   * Echo and proxy: receive buffers one direction of a connection may hold
   * while they wait to be sent; at this many, receiving from its source
   * pauses (the bytes wait in the kernel and TCP slows the sender). Keeps
   * clients that send but do not read from pinning the pool everyone
   * receives into. While over three quarters of the worker's buffers are free, a
   * direction may hold up to 8 (what is queued leaves in one gathered send):
   * stalled directions pin at most a quarter of the pool plus this many each.
   * 0: no cap (only highWaterMark). Default 2.
   */
  maxBuffersHeld?: number;
  /** Sends of at least this many bytes use send_zc from registered buffers; 0 = never. Default 16384. */
  zcThreshold?: number;
  /**
   * Where the worker threads of a built-in handler (echo, proxy) wait for
   * completions: 'ring', in io_uring_enter itself (one syscall per batch), or
   * 'loop', in the thread's event loop on the ring's eventfd. A handler module
   * needs its event loop and always uses 'loop'. Default 'ring'.
   */
  workerWait?: WorkerWait;
  /**
   * The scheduling slice, in microseconds, that each worker thread asks
   * the kernel for (Linux >= 6.12 EEVDF; older kernels ignore it): with a
   * slice shorter than the default (0.7 ms x (1 + log2 CPUs)), a worker
   * woken by a hand-off or by data preempts the thread running on its CPU
   * instead of waiting for that thread's turn to end. One churning client,
   * acceptor and worker on one CPU: hand-off p50 6-8 us against 18-24 us,
   * at the same server CPU per connection. 0 leaves the kernel's default.
   * From 100 to 100000; default 400.
   */
  workerSlice?: number;
  /**
   * Admin HTTP endpoint (/metrics, /healthz, /readyz, /stats) on the main
   * thread: `"HOST:PORT"` (`":PORT"` for all addresses, port 0 picks one) or
   * `{ host, port }`. Default: none.
   */
  admin?: string | { host?: string; port: number };
}

export type WorkerWait = 'ring' | 'loop';

/** Options after defaults and validation. */
export interface ResolvedOptions {
  host: string;
  port: number;
  workers: number;
  acceptors: number;
  handler: BuiltinHandler | HandlerModule;
  handlerOptions: unknown;
  dev: boolean;
  backlog: number;
  policy: Policy;
  placement: PlacementFunction | undefined;
  weights: number[];
  maxConnections: number;
  maxConnectionsPerWorker: number;
  overflow: Overflow;
  workerTableSize: number;
  /** the default table sizes were cut to the open-files limit (RLIMIT_NOFILE soft): that limit, else null */
  tablesCutTo: number | null;
  acceptorTableSize: number;
  bufferCount: number;
  bufferSize: number;
  highWaterMark: number;
  multishotAccept: boolean;
  deferTaskrun: boolean;
  workerDeferTaskrun: boolean;
  reusePort: boolean;
  ipv6Only: boolean;
  /** the inherited listening sockets to serve (option `fd` or `fds`), or undefined: bind */
  fds: number[] | undefined;
  startTimeout: number;
  /** every group's upstreams, in priority order */
  upstreams: GroupedUpstream[];
  upstreamPolicy: UpstreamPolicy;
  connectTimeout: number;
  connectRetries: number;
  idleTimeout: number;
  upstreamBackoff: number;
  upstreamBackoffMax: number;
  upstreamMaxFails: number;
  maxBuffersHeld: number;
  zcThreshold: number;
  workerWait: WorkerWait;
  /** microseconds, 0 = the kernel's default */
  workerSlice: number;
  admin: HostPort | null;
}

/** How the proxy treats its upstreams and relayed data (reloadable: reload-options.ts). */
export const UPSTREAM_HANDLING = [
  'connectTimeout',
  'connectRetries',
  'idleTimeout',
  'upstreamBackoff',
  'upstreamBackoffMax',
  'upstreamMaxFails',
  'maxBuffersHeld',
] as const satisfies readonly (keyof ResolvedOptions)[];

const KNOWN = new Set<string>([
  'host',
  'port',
  'workers',
  'acceptors',
  'handler',
  'handlerOptions',
  'dev',
  'backlog',
  'policy',
  'placement',
  'weights',
  'maxConnections',
  'maxConnectionsPerWorker',
  'overflow',
  'workerTableSize',
  'acceptorTableSize',
  'bufferCount',
  'bufferSize',
  'highWaterMark',
  'multishotAccept',
  'deferTaskrun',
  'workerDeferTaskrun',
  'reusePort',
  'ipv6Only',
  'fd',
  'fds',
  'startTimeout',
  'upstreams',
  'upstreamGroups',
  'upstreamPolicy',
  ...UPSTREAM_HANDLING,
  'zcThreshold',
  'workerWait',
  'workerSlice',
  'admin',
]);

/** Options `fd` and `fds` as one list of inherited listening sockets, or undefined to bind. */
function resolveFds(fd: unknown, fds: unknown): number[] | undefined {
  if (fd !== undefined && fds !== undefined) throw conflicting('fd', 'fds', 'give one inherited socket with "fd" or several with "fds"');
  if (fd !== undefined) return [int('fd', fd, 0, 0, 1 << 30)];
  if (fds === undefined) return undefined;
  const max = abi.limits.maxListeners;
  if (!Array.isArray(fds) || fds.length === 0) throw invalidType('fds', 'a non-empty array of file descriptors', fds);
  if (fds.length > max) throw outOfRange('fds', `at most ${max} file descriptors`, `${fds.length}`);
  const out = fds.map((f, i) => int(`fds[${i}]`, f, 0, 0, 1 << 30));
  if (new Set(out).size !== out.length) throw outOfRange('fds', 'distinct file descriptors', out.join(', '));
  return out;
}

/** Validate options and fill in defaults. */
export function resolveOptions(o: ServerOptions = {}): ResolvedOptions {
  if (o === null || typeof o !== 'object') throw invalidType('options', 'an object', o);
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k)) throw outOfRange(k, `a known option (${[...KNOWN].join(', ')})`, k);
  }
  const host = str('host', o.host, D.host);
  const port = int('port', o.port, D.port, 0, 65535);
  const cpus = availableParallelism();
  const workers = int('workers', o.workers, cpus, 1, 1024);
  const handler = resolveHandler(o.handler);
  const limit = maxTableSize();
  const tableDefault = (d: number) => Math.max(16, Math.min(d, limit));
  const workerTableSize = int('workerTableSize', o.workerTableSize, tableDefault(D.workerTableSize), 2, limit);
  const acceptorTableSize = int('acceptorTableSize', o.acceptorTableSize, tableDefault(D.acceptorTableSize), 1, limit);
  const policy = oneOf('policy', o.policy, D.policy, POLICIES);
  let weights: number[] = [];
  if (o.weights !== undefined) {
    if (!Array.isArray(o.weights)) throw invalidType('weights', 'an array of numbers', o.weights);
    if (o.weights.length !== workers) throw outOfRange('weights', `an array with one weight per worker (${workers})`, `${o.weights.length} weights`);
    weights = o.weights.map((w, i) => {
      if (typeof w !== 'number' || !Number.isFinite(w) || w <= 0) throw outOfRange(`weights[${i}]`, 'a positive number', w);
      return w;
    });
  } else {
    weights = new Array(workers).fill(1);
  }
  const maxConnections = o.maxConnections === undefined ? Infinity : int('maxConnections', o.maxConnections, 0, 1, 1 << 30);
  const maxConnectionsPerWorker = o.maxConnectionsPerWorker === undefined ? Infinity : int('maxConnectionsPerWorker', o.maxConnectionsPerWorker, 0, 1, 1 << 30);
  const bufferSize = int('bufferSize', o.bufferSize, D.bufferSize, 64, 1 << 20);
  let upstreams: GroupedUpstream[] = [];
  if (handler === 'proxy') {
    if (o.upstreams === undefined && o.upstreamGroups === undefined) throw invalidType('upstreams', 'a list of "HOST:PORT" (required by handler "proxy")', undefined);
    if (Array.isArray(o.upstreams) && o.upstreams.length > abi.limits.maxUpstreams) throw outOfRange('upstreams', `from 1 to ${abi.limits.maxUpstreams} upstreams`, `${o.upstreams.length}`);
    upstreams = resolveUpstreamGroups(o.upstreams, o.upstreamGroups, abi.limits);
  } else {
    for (const k of ['upstreams', 'upstreamGroups'] as const) {
      if (o[k] !== undefined) throw outOfRange(k, 'absent unless handler is "proxy"', `handler "${typeof handler === 'string' ? handler : handler.path}"`);
    }
  }
  const upstreamBackoff = ms('upstreamBackoff', o.upstreamBackoff, D.upstreamBackoff, 600_000);
  const workerWait = oneOf('workerWait', o.workerWait, typeof handler === 'string' ? D.workerWait : 'loop', WORKER_WAITS);
  if (workerWait === 'ring' && typeof handler !== 'string') throw outOfRange('workerWait', '"loop" with a handler module (it runs on the thread\'s event loop)', workerWait);
  const workerSlice = int('workerSlice', o.workerSlice, D.workerSlice, 0, 100_000);
  // the kernel clamps a slice to 0.1-100 ms: say so rather than ask for what it changes
  if (workerSlice > 0 && workerSlice < 100) throw outOfRange('workerSlice', '0 (the kernel default) or 100 to 100000 microseconds', workerSlice);
  const acceptors = resolveAcceptors(o, workers, policy);
  const bufferCount = powerOfTwo('bufferCount', o.bufferCount, D.bufferCount, 1, abi.limits.maxBufferCount);
  return {
    host,
    port,
    workers,
    acceptors,
    handler,
    handlerOptions: cloneable('handlerOptions', o.handlerOptions),
    dev: bool('dev', o.dev, process.env.NODE_ENV === 'development'),
    backlog: int('backlog', o.backlog, D.backlog, 1, 1 << 20),
    policy,
    placement: resolvePlacement(o.placement, policy),
    weights,
    maxConnections,
    maxConnectionsPerWorker,
    overflow: oneOf('overflow', o.overflow, D.overflow, OVERFLOWS),
    workerTableSize,
    tablesCutTo: o.workerTableSize === undefined && limit < D.workerTableSize ? limit : null,
    acceptorTableSize,
    bufferCount,
    bufferSize,
    // at least one receive buffer must fit below it
    highWaterMark: int('highWaterMark', o.highWaterMark, Math.max(D.highWaterMark, bufferSize), bufferSize, 1 << 30),
    multishotAccept: bool('multishotAccept', o.multishotAccept, false),
    deferTaskrun: bool('deferTaskrun', o.deferTaskrun, true),
    workerDeferTaskrun: bool('workerDeferTaskrun', o.workerDeferTaskrun, false),
    reusePort: bool('reusePort', o.reusePort, false),
    ipv6Only: bool('ipv6Only', o.ipv6Only, false),
    fds: resolveFds(o.fd, o.fds),
    startTimeout: ms('startTimeout', o.startTimeout, D.startTimeout),
    upstreams,
    upstreamPolicy: oneOf('upstreamPolicy', o.upstreamPolicy, D.upstreamPolicy, UPSTREAM_POLICIES),
    connectTimeout: Math.max(1, ms('connectTimeout', o.connectTimeout, D.connectTimeout, 600_000)),
    connectRetries: int('connectRetries', o.connectRetries, D.connectRetries, 0, 100),
    idleTimeout: ms('idleTimeout', o.idleTimeout, D.idleTimeout),
    upstreamBackoff: Math.max(1, upstreamBackoff),
    upstreamBackoffMax: Math.max(upstreamBackoff, ms('upstreamBackoffMax', o.upstreamBackoffMax, D.upstreamBackoffMax, 3_600_000)),
    upstreamMaxFails: int('upstreamMaxFails', o.upstreamMaxFails, D.upstreamMaxFails, 1, 1000),
    // at most half the pool: one connection must not be able to take all of it
    maxBuffersHeld: int('maxBuffersHeld', o.maxBuffersHeld, Math.min(D.maxBuffersHeld, Math.max(1, bufferCount / 2)), 0, Math.max(1, bufferCount / 2)),
    zcThreshold: int('zcThreshold', o.zcThreshold, D.zcThreshold, 0, 1 << 30),
    workerWait,
    workerSlice,
    admin: resolveAdmin(o.admin),
  };
}

/**
 * Option `acceptors`, and what several acceptors rule out: each runs on a
 * thread of its own, so a placement function (which runs where the
 * acceptor does) cannot go with them; the kernel picks the acceptor by the
 * 4-tuple, so one client address would not always reach one worker
 * (source-hash); and each needs a listener of its own (one inherited
 * socket per acceptor).
 */
function resolveAcceptors(o: ServerOptions, workers: number, policy: Policy): number {
  const n = int('acceptors', o.acceptors, 1, 1, 64);
  if (n === 1) return 1;
  if (n > workers) throw outOfRange('acceptors', `at most one per worker (workers: ${workers})`, n);
  if (o.placement !== undefined) throw conflicting('acceptors', 'placement', 'a placement function runs on the thread of the one acceptor; use acceptors: 1 with it');
  if (policy === 'source-hash')
    throw conflicting(
      'acceptors',
      'policy',
      'with several acceptors the kernel picks one by the connection\'s 4-tuple, so a client address would not always reach the same worker; use acceptors: 1 with "source-hash"',
    );
  if (o.fd !== undefined) throw conflicting('acceptors', 'fd', `each acceptor needs a listening socket of its own: give ${n} sockets with "fds"`);
  if (o.fds !== undefined && (!Array.isArray(o.fds) || o.fds.length !== n)) throw conflicting('acceptors', 'fds', `each acceptor needs a listening socket of its own: give exactly ${n} in "fds"`);
  if (typeof o.maxConnections === 'number' && o.maxConnections < n) throw conflicting('acceptors', 'maxConnections', `each acceptor enforces its share of maxConnections: at least ${n}`);
  if (o.reusePort === false) throw conflicting('acceptors', 'reusePort', 'several acceptors listen on one port with SO_REUSEPORT');
  return n;
}

function resolvePlacement(p: unknown, policy: Policy): PlacementFunction | undefined {
  if (p === undefined) return undefined;
  if (typeof p !== 'function') throw invalidType('placement', 'a function (conn) => workerIndex', p);
  if (policy === 'source-hash') throw conflicting('placement', 'policy', 'a placement function replaces policy "source-hash"; give one of them');
  return p as PlacementFunction;
}

/** `admin`: "HOST:PORT" or { host, port } -> where the admin endpoint listens, or null. */
function resolveAdmin(a: ServerOptions['admin']): HostPort | null {
  if (a === undefined) return null;
  if (typeof a === 'string') return parseHostPort('admin', a, { anyHost: true, portZero: true });
  if (a === null || typeof a !== 'object') throw invalidType('admin', 'a string "HOST:PORT" or { host, port }', a);
  const host = str('admin.host', a.host, D.host);
  if (!isNumericHost(host) && !/^[A-Za-z0-9._-]+$/.test(host)) throw outOfRange('admin.host', 'a host name or address', host);
  if (a.port === undefined) throw invalidType('admin.port', 'a number', a.port);
  return { host, port: int('admin.port', a.port, 0, 0, 65535) };
}

/** What a directory given as the handler resolves to, in this order (after its package.json "main"). */
const HANDLER_DIR_FILES = ['handler.js', 'handler.mjs', 'index.js', 'index.mjs'];

function isFileAt(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * The module file a directory stands for, as a user of `node DIR` or of
 * the examples expects: its package.json "main", else handler.js,
 * handler.mjs, index.js, index.mjs; undefined when it has none.
 */
function handlerInDirectory(dir: string): string | undefined {
  try {
    const main = (JSON.parse(readFileSync(joinPath(dir, 'package.json'), 'utf8')) as { main?: unknown }).main;
    if (typeof main === 'string' && isFileAt(resolvePath(dir, main))) return resolvePath(dir, main);
  } catch {
    /* no package.json, or no usable "main" */
  }
  return HANDLER_DIR_FILES.map((f) => joinPath(dir, f)).find(isFileAt);
}

/**
 * A built-in name stays as it is; anything else names a handler module (a
 * file, or a directory holding one: handlerInDirectory), which must exist
 * (checked now, so a typo fails at createServer, naming the option, rather
 * than in every worker): a RangeError with code ERR_MODULE_NOT_FOUND when
 * it does not.
 */
export function resolveHandler(h: unknown): BuiltinHandler | HandlerModule {
  if (h === undefined) return 'echo';
  const want = `${BUILTIN_HANDLERS.map((b) => `"${b}"`).join(', ')}, a module path or a file: URL`;
  let path: string;
  if (h instanceof URL) {
    if (h.protocol !== 'file:') throw outOfRange('handler', `${want} (only file: URLs can be loaded)`, h);
    path = fileURLToPath(h);
  } else if (typeof h === 'string') {
    if ((BUILTIN_HANDLERS as readonly string[]).includes(h)) return h as BuiltinHandler;
    if (h.length === 0) throw invalidType('handler', want, h);
    path = h.startsWith('file:') ? fileURLToPath(h) : resolvePath(process.cwd(), h);
  } else {
    throw invalidType('handler', want, h);
  }
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    /* missing */
  }
  const file = isDir ? handlerInDirectory(path) : isFileAt(path) ? path : undefined;
  if (file === undefined) {
    const where = typeof h === 'string' && !h.startsWith('file:') && !h.startsWith('/') ? ` ("${h}" resolved against ${process.cwd()})` : '';
    const e = new RangeError(
      isDir
        ? `option "handler": no handler module in the directory ${path}${where}: looked for its package.json "main", ${HANDLER_DIR_FILES.join(', ')}`
        : `option "handler": no handler module at ${path}${where}`,
    ) as RangeError & { code: string };
    e.code = 'ERR_MODULE_NOT_FOUND';
    throw e;
  }
  return { url: pathToFileURL(file).href, path: file };
}

/** A value every worker gets a structured clone of: one that cannot be cloned (a function, a symbol) fails here, naming the option, not in listen() */
function cloneable(name: string, v: unknown): unknown {
  try {
    structuredClone(v);
  } catch (e) {
    throw Object.assign(new TypeError(`option "${name}" must be structured-cloneable (plain data, Map, Set, Date, typed arrays...): ${(e as Error).message}`), { code: 'ERR_INVALID_ARG_TYPE' });
  }
  return v;
}

/** True for a numeric IPv4/IPv6 address. */
export function isNumericHost(h: string): boolean {
  return isIP(h) !== 0;
}
