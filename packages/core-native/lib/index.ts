/**
 * @ringleader/core-native: the io_uring engine and its binding.
 * Thin, typed wrappers only; policy lives in @ringleader/runtime.
 */
import { AddonMissingError, loadAddon } from './addon.js';
import { errnoError, useStrerror } from './errors.js';

export * from './errors.js';
export { AddonMissingError, type AddonStatus, loadAddon } from './addon.js';

/** Names of the counters in a shared stats block, in index order. */
export interface CounterLayout {
  workerI32: string[];
  workerU64: string[];
  workerU64Size: number;
  handoffHistOffset: number;
  handoffHistBuckets: number;
  handoffHistSubBits: number;
  upstreamI32: string[];
  upstreamU64: string[];
  acceptorI32: string[];
  acceptorU64: string[];
}

/** What the kernel offers, as `ringleader doctor` reports it. */
export interface ProbeResult {
  setupError: number;
  ioUringDisabled: number;
  features: number;
  singleIssuer: boolean;
  deferTaskrun: boolean;
  coopTaskrun: boolean;
  submitAll: boolean;
  bufRing: boolean;
  sparseFiles: boolean;
  msgRingFd: boolean;
  msgRingFdError: number;
  sockCmdSetsockopt: boolean;
  /** a multishot recv capped by total bytes (Linux >= 6.17): the proxy receives multishot */
  recvCap: boolean;
  /** -errno when the recvCap probe could not ask the kernel (its ring could not be set up: low RLIMIT_MEMLOCK), else 0 */
  recvCapError: number;
  ops: Record<string, boolean>;
}

/**
 * Options of the native acceptor. The runtime validates them and passes
 * every one (the defaults live in its options); the binding throws a
 * TypeError naming an option that is missing or of the wrong type.
 */
export interface NativeAcceptorOptions {
  tableSize: number;
  maxArmed: number;
  multishot: boolean;
  /** free slots needed to keep a multishot accept armed */
  multishotMargin: number;
  wantAddress: boolean;
  deferTaskrun: boolean;
}

/** What every ring object has (binding/common.h, RingWrap::DefineRing). */
export interface NativeRing {
  /** The ring's fd, -1 once closed (a msg_ring target). */
  readonly ringFd: number;
  /** The io_uring setup flags the kernel accepted, 0 once closed. */
  readonly setupFlags: number;
  /** Tear the ring down now; later calls do nothing. */
  close(): void;
}

/** The acceptor ring on the main thread. */
export interface NativeAcceptor extends NativeRing {
  /** Event records, `abi.acceptorWords` int32 each (fields: `abi.acceptorFields`). Valid during onBatch. */
  readonly events: Int32Array;
  /** bind + listen + start accepting; returns the bound port. */
  listen(ip: string, port: number, backlog: number, flags: number): number;
  /**
   * Serve inherited listening sockets (socket activation, --fd), all or
   * none, at most `abi.limits.maxListeners`; throws (syscall "adopt", with
   * `.fd`) when one is not a listening IPv4/IPv6 TCP socket. Stopping never
   * shuts them down: other holders keep them listening.
   */
  adopt(fds: number[]): { address: string; port: number }[];
  /** The listening fds, to hand to another process; from now on stopping never shuts them down. */
  share(): number[];
  /** Shared listeners readable on two calls in a row with accepts asleep: re-arm them (a wakeup lost to the other process). How many it did. */
  kick(): number;
  /** The client address recorded for connection `id` (wantAddress): out[0] = family << 16 | port, out[1..4] its bytes. 0 or -ENOENT. */
  peer(id: number, out: Int32Array): number;
  addTarget(ringFd: number): number;
  removeTarget(idx: number): number;
  /** Hand slots[i] to targets[i] for i < n; returns how many were queued. */
  dispatch(slots: Int32Array, targets: Int32Array, n: number): number;
  /**
   * The pick for the next accepted connection, made ahead (-1: none): that
   * accept is handed off as it completes and reported as PLACED. Returns the
   * previous pick (-1 when it was used or there was none), or -errno.
   */
  setNext(target: number): number;
  reject(slot: number): number;
  drop(slot: number): number;
  pause(): void;
  /** keep `delta` more (negative: fewer) slots free for connections a failing worker sends back */
  reserve(delta: number): void;
  /** ring the doorbell of target `target`: a worker waiting in its ring (waitInRing) returns to its JS; 0 or -errno */
  wake(target: number): number;
  resume(): void;
  stop(): void;
  free(): number;
}

/** Proxy mode configuration of a worker ring. */
export interface NativeProxyOptions {
  /** tier: its upstream group's priority (0 first; absent: 0) */
  upstreams: { ip: string; port: number; tier?: number }[];
  policy: number;
  connectTimeout: number;
  idleTimeout: number;
  backoffBase: number;
  backoffMax: number;
  /** consecutive failed dials that mark an upstream down */
  maxFails: number;
  /** dials a client may make beyond one per upstream */
  dialRetries: number;
  /** per-upstream gauges, upstreams.length * layout.upstreamI32.length */
  i32?: Int32Array;
  /** per-upstream totals, upstreams.length * layout.upstreamU64.length */
  u64?: BigUint64Array;
}

/** Options of a worker ring: every one required, as for {@link NativeAcceptorOptions}. */
export interface NativeWorkerOptions {
  tableSize: number;
  bufCount: number;
  bufSize: number;
  mode: number;
  /** queued bytes per connection and direction that pause receiving (and resume at half) */
  highWater: number;
  /** echo and proxy: provided buffers one direction may hold queued (0: no cap) */
  maxBuffers: number;
  deferTaskrun: boolean;
  /** sends of at least this many bytes use send_zc_fixed; 0 = never */
  zcThreshold: number;
  /** JS mode: copy received data into a JS-owned arena instead of exposing the buffers in place. */
  copyBuffers: boolean;
  /**
   * The thread waits for completions in io_uring_enter (serve()) rather than
   * in its event loop: one syscall per batch, no eventfd. Native modes only.
   */
  waitInRing: boolean;
  /** proxy mode only, and required there */
  proxy?: NativeProxyOptions;
}

/** A worker's ring, created on the thread that drives it. */
export interface NativeWorkerRing extends NativeRing {
  readonly live: number;
  closeAll(): number;
  /** the worker is failing: send every later arrival back to the acceptor ring `acceptorRingFd` */
  evacuate(acceptorRingFd: number): void;
  /** waitInRing: serve until maxMs have passed or the doorbell rang; completions handled */
  serve(maxMs: number): number;

  // ---- JS mode (see engine/js.h); connections are named by (index, generation)
  /** Event records, `abi.jsWords` int32 each (fields: `abi.jsFields`); valid during onEvents. */
  readonly events: Int32Array;
  /** The receive buffers; a data event's bytes are at `bufferId * bufferSize`. */
  readonly buffers: ArrayBuffer;
  readonly bufferSize: number;
  /** Queued bytes per connection at which write() reports backpressure. */
  readonly highWater: number;
  /** Queue data (copied, or the batch's own buffer queued in place); bytes now queued, or -errno. */
  write(index: number, gen: number, data: string | ArrayBufferView): number;
  /** FIN after what is queued; 0 or -errno. */
  end(index: number, gen: number): number;
  /** Close now; `errno` < 0 counts it as ended by an error. 0 or -errno. */
  destroy(index: number, gen: number, errno: number): number;
  pause(index: number, gen: number): number;
  resume(index: number, gen: number): number;
  cork(index: number, gen: number, on: boolean): number;
  /** Bytes staged and queued on the connection, or -errno. */
  queued(index: number, gen: number): number;
  /** Send what was staged outside a batch and submit; no-op inside one. */
  flush(): void;
}

/** Counter names and offsets of a client (load generator) ring's block. */
export interface ClientLayout {
  i32: string[];
  u64: string[];
  u64Size: number;
  histOffset: number;
  connectHistOffset: number;
  histBuckets: number;
  histSubBits: number;
  errOffset: number;
  errSlots: number;
  /** request modes: protocol errors by `abi.protoErrors` code */
  protoErrOffset: number;
  protoErrSlots: number;
  /** http: responses by status code */
  statusOffset: number;
  statusSlots: number;
  /** messages (requests, cycles) completed in each second of the measured window */
  secondsOffset: number;
  secondsSlots: number;
  /** the first latencies recorded by the ring, exactly (ns) */
  exactOffset: number;
  exactSlots: number;
}

/** What the load generator needs from the kernel. */
export interface ClientProbeResult {
  setupError: number;
  socket: boolean;
  connect: boolean;
  sendZc: boolean;
  filesUpdate: boolean;
  /** IORING_OP_BIND (Linux 6.11) */
  bind: boolean;
  /** setsockopt through uring_cmd on a direct socket (Linux 6.7) */
  sockCmd: boolean;
  bufRing: boolean;
}

/** Options of one client ring: every one required, as for {@link NativeAcceptorOptions}. */
export interface NativeClientOptions {
  mode: number;
  connections: number;
  idBase: number;
  targets: { ip: string; port: number }[];
  sources: string[];
  sockMode: number;
  sockCmd: boolean;
  sizeMin: number;
  sizeMax: number;
  pipeline: number;
  window: number;
  chunk: number;
  zcThreshold: number;
  rate: number;
  connectRate: number;
  seed: bigint;
  quota: number;
  retryMs: number;
  drainMs: number;
  /** a connect not done within this time fails with ETIMEDOUT (a linked timeout); 0 = none */
  connectTimeoutMs: number;
  bufCount: number;
  bufSize: number;
  deferTaskrun: boolean;
  /** the thread waits for completions in io_uring_enter (serve()) rather than in its event loop */
  waitInRing: boolean;
  /** request modes: a request unanswered this long fails its connection; 0 = never */
  timeoutMs: number;
  /** request modes (http, redis, custom): what to send and expect */
  request?: NativeRequestSpec;
}

/** What a request-mode client ring sends and expects; the engine compiles it (engine/client_req.h). */
export interface NativeRequestSpec {
  http?: {
    /** one per target: connection k asks target k % n */
    requests: { method: string; target: string; host: string; headers: [string, string][]; body: Uint8Array | null }[];
    /** 600 flags by status code: 1 = success */
    statusOk: Uint8Array;
  };
  redis?: {
    /** request seq is commands[seq % n] */
    commands: { args?: Uint8Array[]; inline?: Uint8Array; expect: string[] | null; word: string | null }[];
    keyspace: number;
    dataSize: number;
  };
  custom?: {
    send: Uint8Array;
    framing: { kind: 'bytes'; bytes: number } | { kind: 'delimiter'; delimiter: Uint8Array; maxFrame: number } | { kind: 'prefix'; prefix: string; inclusive: boolean; maxFrame: number };
    expect: Uint8Array | null;
  };
}

/** A verification failure (or, in the request modes, a wrong answer) found by a client ring. */
export interface NativeMismatch {
  /**
   * 'mismatch': a byte differs; 'eof': the peer closed with the message incomplete; 'extra': more bytes than were sent.
   * Request modes: 'protocol' (a response broke the protocol, see protocolError), 'status' (got = the HTTP status),
   * 'reply' (a Redis reply not expected; got = its type byte, text = its first line, cut at 95 bytes), 'timeout'.
   * Every mode: 'error' (a socket error, got = -errno, with this message the first unanswered).
   */
  kind: 'mismatch' | 'eof' | 'extra' | 'protocol' | 'status' | 'reply' | 'timeout' | 'error';
  connection: number;
  message: number;
  offset: number;
  /** byte values, -1 when not applicable ('protocol' MISMATCH: the byte --expect has there, -1 past its end, and the byte received) */
  expected: number;
  got: number;
  /** 'protocol': the error's name in `abi.protoErrors` */
  protocolError?: string;
  text?: string;
}

/** A client ring, created on (and driven by) the calling thread. */
export interface NativeClientRing extends NativeRing {
  /** 0 new, 1 running, 2 draining, 3 done */
  readonly state: number;
  /** Monotonic nanoseconds (see monotonicNs); tEnd 0n = until the quota is met or stop(). */
  start(tStart: bigint, tMeasure: bigint, tEnd: bigint): void;
  stop(): void;
  /** A waitInRing ring: serve it in io_uring_enter for up to maxMs, or until the run is over (onDone has then been called). Returns the completions handled. */
  serve(maxMs: number): number;
  mismatches(): NativeMismatch[];
}

/** What the runtime does about a failed hand-off (engine/abi.h RL_HANDOFF_ERRNOS). */
export type HandoffClass = 'full' | 'dead' | 'retry' | 'overflow';

/** engine/abi.h, as the binding exports it. */
export interface Abi {
  workerModes: Record<'echo' | 'proxy' | 'js', number>;
  upstreamPolicies: Record<'round-robin' | 'least-connections' | 'random', number>;
  clientModes: Record<'echo' | 'churn' | 'bulk' | 'idle' | 'http' | 'redis' | 'custom', number>;
  clientSockModes: Record<'ring' | 'fd', number>;
  /** JS-mode event record types */
  jsEvents: Record<'CONNECT' | 'DATA' | 'END' | 'DRAIN' | 'CLOSE', number>;
  /** the word of each field of a JS-mode event record */
  jsFields: Record<'head' | 'index' | 'id' | 'peer' | 'addr' | 'buffer' | 'length' | 'error', number>;
  /** int32 words per JS-mode event record */
  jsWords: number;
  /** head = type | generation << jsTypeBits */
  jsTypeBits: number;
  acceptorEvents: Record<'ACCEPT' | 'HANDOFF_OK' | 'HANDOFF_ERR' | 'ACCEPT_ERR' | 'STALL' | 'UNSTALL' | 'REJECTED' | 'CLOSED' | 'PLACED', number>;
  acceptorFields: Record<'type' | 'slot' | 'a' | 'b', number>;
  acceptorWords: number;
  /** negative errnos of each hand-off failure class */
  handoffErrors: Record<HandoffClass, number[]>;
  /** negative errno values */
  errno: Record<'EBADF' | 'EINVAL' | 'ENOMEM' | 'ENOSYS' | 'EPIPE' | 'EMSGSIZE' | 'ESTALE' | 'ECONNABORTED', number>;
  /** address family numbers in a CONNECT record's peer word */
  addressFamilies: { IPv4: number; IPv6: number };
  limits: { maxUpstreams: number; maxUpstreamGroups: number; maxBufferCount: number; maxListeners: number; gatherBuffers: number };
  /** the load generator's protocol errors (engine/proto/proto.h RL_PROTO_ERRORS) */
  protoErrors: Record<string, { code: number; message: string }>;
}

/** What the addon exports (see src/binding/module.cc). */
export interface Binding {
  Acceptor: new (opts: NativeAcceptorOptions, i32: Int32Array, u64: BigUint64Array, onBatch: (n: number) => void) => NativeAcceptor;
  WorkerRing: new (opts: NativeWorkerOptions, i32: Int32Array, u64: BigUint64Array, onEvents?: (n: number) => void) => NativeWorkerRing;
  ClientRing: new (opts: NativeClientOptions, i32: Int32Array, u64: BigUint64Array, onDone: (errno: number) => void) => NativeClientRing;
  monotonicNs(): bigint;
  clientProbe(): ClientProbeResult;
  patternBytes(seed: bigint, id: number, seq: number, offset: number, n: number): Uint8Array;
  patternSize(seed: bigint, id: number, seq: number, min: number, max: number): number;
  clientLayout: ClientLayout;
  setErrorFactory(fn: (errno: number, syscall: string) => Error): void;
  strerror(errno: number): string;
  probe(): ProbeResult;
  histLowerBounds(subBits: number, n: number): Float64Array;
  sdNotify(path: string, state: string): number;
  /** ask the kernel for a `us` microsecond scheduling slice for the calling thread (engine/sched.h); 0 or -errno */
  setThreadSlice(us: number): number;
  /** the calling thread's kernel id (gettid), as /proc/PID/task and taskset -p name it */
  threadTid(): number;
  layout: CounterLayout;
  abi: Abi;
  versions: { liburing: string; liburingHeader: string };
}

function load(): Binding {
  const s = loadAddon();
  if (!s.ok) throw new AddonMissingError(s);
  return s.addon;
}

/** The loaded addon: importing this module throws AddonMissingError when it cannot be loaded. */
export const native: Binding = load();
useStrerror(native.strerror);
native.setErrorFactory((errno, syscall) => errnoError(errno, syscall));

export const layout: CounterLayout = native.layout;
/** Everything else that crosses from the engine, by name (engine/abi.h). */
export const abi: Abi = native.abi;
export const versions = native.versions;
export const clientLayout: ClientLayout = native.clientLayout;

/** What the runtime does about a hand-off that failed with `errno` (negative). */
export function handoffClass(errno: number): HandoffClass | 'other' {
  for (const c of ['full', 'dead', 'retry', 'overflow'] as const) if (abi.handoffErrors[c].includes(errno)) return c;
  return 'other';
}

/**
 * sd_notify(3): send `state` ("READY=1", "STATUS=...") as one datagram to
 * the unix socket `path` (a leading '@' is the abstract namespace). Returns
 * 0 or a negative errno. In the addon because Node's dgram has no unix
 * datagram sockets.
 */
export function sdNotify(path: string, state: string): number {
  return native.sdNotify(path, state);
}

/** CLOCK_MONOTONIC in nanoseconds: the clock client rings schedule by. */
export function monotonicNs(): bigint {
  return native.monotonicNs();
}

/** Kernel features the load generator uses. */
export function clientProbe(): ClientProbeResult {
  return native.clientProbe();
}

/** The payload bytes [offset, offset + n) of message `seq` of connection `id`. */
export function patternBytes(seed: bigint, id: number, seq: number, offset: number, n: number): Uint8Array {
  return native.patternBytes(seed, id, seq, offset, n);
}

/** The size of message `seq` of connection `id` when sizes are drawn from [min, max]. */
export function patternSize(seed: bigint, id: number, seq: number, min: number, max: number): number {
  return native.patternSize(seed, id, seq, min, max);
}

/**
 * Probe the kernel (creates and closes a few tiny rings).
 *
 * For tests only: RINGLEADER_TEST_HIDE_OPS (a comma list such as
 * `SEND_ZC,MSG_RING`) reports those opcodes as missing, so what `doctor`
 * and `listen()` do on an older kernel can be tested on this one. The
 * engine's probe stays a plain report of the kernel.
 */
export function probe(): ProbeResult {
  const p = native.probe();
  for (const name of (process.env.RINGLEADER_TEST_HIDE_OPS ?? '').split(',')) {
    const op = name
      .trim()
      .toUpperCase()
      .replace(/^IORING_OP_/, '');
    if (op in p.ops) p.ops[op] = false;
  }
  return p;
}

/** Lower bound of each histogram bucket (n + 1 entries). */
export function histLowerBounds(subBits: number, n: number): Float64Array {
  return native.histLowerBounds(subBits, n);
}
