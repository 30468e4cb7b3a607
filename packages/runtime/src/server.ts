/**
 * Server: the acceptor ring on this thread, a piscina pool of shards (one
 * worker ring per thread), and the scheduler between them.
 *
 * Connections are never lost to load: a slot the acceptor holds stays ours
 * until a worker has it (hand-off OK) or we close it on purpose (overflow
 * 'reject', shutdown). When no worker can take more, accepting pauses and new
 * connections wait in the kernel's listen backlog.
 */
import { EventEmitter } from 'node:events';
import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import {
  abi,
  errnoError,
  errnoName,
  handoffClass,
  ioUringUnavailable,
  isSystemError,
  layout,
  native,
  probe,
  type NativeAcceptor,
  type NativeWorkerOptions,
  type RingleaderSystemError,
} from '@ringleader/core-native';
import {
  AI,
  AU,
  UpstreamBlock,
  WI,
  WU,
  acceptorBlock,
  handoffLatency,
  snapshot,
  workerBlock,
  type CounterBlock,
  type LatencySummary,
} from './counters.js';
import { fromErrorInfo } from './host.js';
import { isNumericHost, resolveOptions, type BuiltinHandler, type ResolvedOptions, type ServerOptions } from './options.js';
import { Scheduler } from './scheduler.js';
import { isOwnAddress, probeUpstream, resolveUpstreams, type ResolvedUpstream } from './upstream.js';
import { outOfRange } from './validate.js';
import type { ShardCommand, ShardMessage, ShardResult, ShardTask } from './shard.js';

/** Where the server listens. */
export interface AddressInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

/** Options of {@link Server.close}. */
export interface CloseOptions {
  /** How long to let connections finish before closing them. Default 5000 ms. */
  timeout?: number;
}

/** What {@link Server.close} reports. */
export interface CloseSummary {
  /** Connections that ended by themselves while draining. */
  drained: number;
  /** Connections closed because the timeout passed. */
  forced: number;
  /** Accepted connections that had not reached a worker and were closed. */
  dropped: number;
  durationMs: number;
}

/** Per-worker statistics. */
export interface WorkerStats {
  index: number;
  state: ShardState;
  threadId: number;
  restarts: number;
  live: number;
  inflight: number;
  saturated: boolean;
  saturations: number;
  lagMs: number;
  tableSize: number;
  tableUsed: number;
  bufFree: number;
  buffered: number;
  accepted: number;
  closed: number;
  bytesIn: number;
  bytesOut: number;
  recvs: number;
  sends: number;
  enobufs: number;
  rxPaused: number;
  connErrors: number;
  forced: number;
  /** handler-module callbacks that threw */
  handlerErrors: number;
  /** events delivered to a handler module, and the calls into JS that carried them */
  jsEvents: number;
  jsBatches: number;
  handoff: LatencySummary;
  /** proxy only */
  proxy?: ProxyWorkerStats;
  zeroCopy: ZeroCopyStats;
}

/** A proxy worker's view of one upstream. */
export interface UpstreamStats {
  address: string;
  live: number;
  down: number;
  backoffMs: number;
  dials: number;
  connected: number;
  failed: number;
  refused: number;
  timeouts: number;
  unreachable: number;
  otherErrors: number;
}

/** Proxy counters of one worker. */
export interface ProxyWorkerStats {
  c2uBytes: number;
  u2cBytes: number;
  dials: number;
  dialFailures: number;
  upstreamUnavailable: number;
  idleTimeouts: number;
  resets: number;
  upstreams: UpstreamStats[];
}

/** Zero-copy sends. */
export interface ZeroCopyStats {
  /** bytes at or above which a send uses send_zc; 0 = off */
  threshold: number;
  enabled: boolean;
  sends: number;
  /** sends the kernel reported as copied after all */
  copied: number;
  /** sockets that went back to plain send because the kernel kept copying */
  stoppedSockets: number;
  fallbacks: number;
  /** errno name that switched send_zc off, if it was */
  error?: string;
  note?: string;
}

/** Totals over every worker (including workers that were replaced). */
export interface Totals {
  accepted: number;
  closed: number;
  bytesIn: number;
  bytesOut: number;
  recvs: number;
  sends: number;
  forced: number;
  connErrors: number;
  handlerErrors: number;
}

/** Whole-server statistics from {@link Server.stats}. */
export interface ServerStats {
  listening: boolean;
  address: AddressInfo | null;
  uptimeMs: number;
  workers: WorkerStats[];
  total: Totals & { live: number };
  acceptor: Record<string, number>;
  held: number;
  paused: boolean;
  pauseReason: PauseReason | null;
  pauses: number;
  resumes: number;
  rejected: number;
  dropped: number;
  restarts: number;
  handoff: LatencySummary;
  zeroCopy: ZeroCopyStats;
  /** proxy: every upstream, summed over the workers (down = down in any) */
  upstreams?: UpstreamStats[];
}

export type ShardState = 'starting' | 'ready' | 'failed' | 'closing' | 'closed';
export type PauseReason = 'capacity' | 'max-connections';

interface Shard {
  index: number;
  id: number;
  upstreams?: UpstreamBlock;
  /** hand-offs that succeeded (the fd is in the worker's table) */
  delivered: number;
  block: CounterBlock;
  port: import('node:worker_threads').MessagePort;
  target: number;
  state: ShardState;
  threadId: number;
  task?: Promise<ShardResult>;
  /** failing: the connections it still held when it was told to end */
  liveAtExit?: number;
}

/** Totals carried over from shards that died, so sums never go backward. */
interface Retired extends Totals {
  restarts: number;
}

const EV = abi.acceptorEvents;
const AF = abi.acceptorFields;

let probed: ReturnType<typeof probe> | undefined;

/** Refuse early, with a pointer to `ringleader doctor`, when io_uring can't work. */
function checkKernel(): void {
  probed ??= probe();
  const p = probed;
  if (p.setupError < 0) throw ioUringUnavailable(errnoError(p.setupError, 'io_uring_setup'));
  const missing = Object.entries(p.ops).filter(([, ok]) => !ok).map(([op]) => op);
  if (missing.length) throw ioUringUnavailable(`the kernel lacks io_uring operations ${missing.join(', ')}`);
  if (!p.msgRingFd) throw ioUringUnavailable(errnoError(p.msgRingFdError || abi.errno.EINVAL, 'io_uring_prep_msg_ring_fd_alloc'));
  if (!p.bufRing) throw ioUringUnavailable('the kernel lacks provided buffer rings');
}

/** A sharded io_uring TCP server. Create it with {@link createServer}. */
export class Server extends EventEmitter {
  readonly options: ResolvedOptions;
  #state: 'new' | 'starting' | 'listening' | 'closing' | 'closed' = 'new';
  #acceptor?: NativeAcceptor;
  #acc = acceptorBlock();
  #pool?: Piscina;
  #shards: Shard[] = [];
  #byId = new Map<number, Shard>();
  #byTarget = new Map<number, Shard>();
  #nextId = 1;
  #scheduler: Scheduler;
  #address: AddressInfo | null = null;
  #startedAt = 0;
  // slots accepted and waiting for a worker (FIFO ring buffer)
  #held: Int32Array;
  #heldHead = 0;
  #heldLen = 0;
  #slotsBuf: Int32Array;
  #targetsBuf: Int32Array;
  #idsBuf: Int32Array;
  #paused: PauseReason | null = null;
  #pauses = 0;
  #resumes = 0;
  #dropped = 0;
  #dispatchWarned = false;
  #recheck?: NodeJS.Timeout;
  #retryTimer?: NodeJS.Timeout;
  #retryLater: number[] = [];
  #retired: Retired = { accepted: 0, closed: 0, bytesIn: 0, bytesOut: 0, recvs: 0, sends: 0, forced: 0, connErrors: 0, handlerErrors: 0, restarts: 0 };
  #restarts: number[] = [];
  #crashTimes: number[][] = [];
  #upstreams: ResolvedUpstream[] = [];
  #maint?: NodeJS.Timeout;
  #zcWarned = new Set<number>();

  constructor(options: ServerOptions = {}) {
    super();
    this.options = resolveOptions(options);
    const t = this.options.acceptorTableSize;
    this.#held = new Int32Array(t);
    this.#slotsBuf = new Int32Array(t);
    this.#targetsBuf = new Int32Array(t);
    this.#idsBuf = new Int32Array(t);
    this.#scheduler = new Scheduler(this.options.policy, Math.random, {
      onSaturated: (id, live) => this.emit('saturated', { worker: this.#byId.get(id)?.index ?? -1, live }),
      onUnsaturated: (id, live) => this.emit('unsaturated', { worker: this.#byId.get(id)?.index ?? -1, live }),
    });
    this.#restarts = new Array(this.options.workers).fill(0);
    this.#crashTimes = Array.from({ length: this.options.workers }, () => []);
  }

  /** Where the server listens, once listening. */
  address(): AddressInfo | null {
    return this.#address;
  }

  get listening(): boolean {
    return this.#state === 'listening';
  }

  /**
   * Bind, start the workers, start accepting. Resolves when every worker
   * serves. Rejects with EADDRINUSE (and `.address`/`.port`), or with an
   * io_uring error that points to `ringleader doctor`.
   */
  async listen(): Promise<AddressInfo> {
    if (this.#state !== 'new') {
      const e = new Error(this.#state === 'closed' || this.#state === 'closing' ? 'server is closed' : 'server is already listening') as Error & { code: string };
      e.code = 'ERR_SERVER_ALREADY_LISTEN';
      throw e;
    }
    this.#state = 'starting';
    const o = this.options;
    try {
      checkKernel();
      const ip = isNumericHost(o.host) ? o.host : (await lookup(o.host)).address;
      if (o.handler === 'proxy') await this.#prepareUpstreams(ip);
      try {
        this.#acceptor = new native.Acceptor(
          {
            tableSize: o.acceptorTableSize,
            multishot: o.multishotAccept,
            // a multishot pass can take the whole backlog at once (see options)
            multishotMargin: o.backlog + 1024,
            deferTaskrun: o.deferTaskrun,
            maxArmed: 64,
            // a handler module sees conn.remoteAddress: record peer addresses
            wantAddress: typeof o.handler !== 'string',
          },
          this.#acc.i32,
          this.#acc.u64,
          (n) => this.#onBatch(n),
        );
      } catch (e) {
        throw this.#ringError(e);
      }
      const family = ip.includes(':') ? 'IPv6' : 'IPv4';
      let port: number;
      try {
        port = this.#acceptor.listen(ip, o.port, o.backlog, (o.reusePort ? 1 : 0) | (o.ipv6Only ? 2 : 0));
      } catch (e) {
        if (isSystemError(e)) throw errnoError(e.errno, e.syscall === 'bind' || e.syscall === 'listen' ? 'listen' : e.syscall, { address: ip, port: o.port });
        throw e;
      }
      this.#address = { address: ip, family, port };
      this.#pool = new Piscina({
        filename: new URL('./shard.js', import.meta.url).href,
        minThreads: o.workers,
        maxThreads: o.workers,
        idleTimeout: 60_000,
        concurrentTasksPerWorker: 1,
        atomics: 'disabled',
      });
      const ready = Promise.all(Array.from({ length: o.workers }, (_, i) => this.#startShard(i)));
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error(`workers did not start within ${o.startTimeout} ms`), { code: 'ERR_WORKER_START_TIMEOUT' })), o.startTimeout);
      });
      try {
        await Promise.race([ready, timeout]);
      } finally {
        clearTimeout(timer);
      }
      this.#startedAt = Date.now();
      this.#maint = setInterval(() => this.#maintain(), 1000);
      this.#maint.unref();
      this.#state = 'listening';
      this.emit('listening', this.#address);
      return this.#address;
    } catch (e) {
      await this.#teardown();
      this.#state = 'closed';
      throw e;
    }
  }

  /** Resolve upstreams, refuse our own address, warn about unreachable ones. */
  async #prepareUpstreams(listenIp: string): Promise<void> {
    const o = this.options;
    this.#upstreams = await resolveUpstreams(o.upstreams);
    const local = new Set<string>();
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) local.add(a.address);
    this.#upstreams.forEach((u, i) => {
      if (isOwnAddress(listenIp, o.port, u, local)) {
        throw outOfRange(`upstreams[${i}]`, 'an address other than the proxy\'s own listening address', `${u.host}:${u.port}`);
      }
    });
    const probes = await Promise.all(this.#upstreams.map((u) => probeUpstream(u, Math.min(o.connectTimeout, 1000))));
    probes.forEach((p, i) => {
      if (p.ok) return;
      const u = this.#upstreams[i];
      const w = new Error(`upstream ${u.host}:${u.port} is not reachable (${p.code ?? 'error'}); the proxy starts and keeps trying it`) as Error & { code: string };
      w.code = 'ERR_UPSTREAM_UNREACHABLE';
      this.emit('warning', w);
    });
  }

  /** Once a second: things the workers cannot say themselves. */
  #maintain(): void {
    for (const s of this.#shards) {
      if (!s || s.state !== 'ready' || this.#zcWarned.has(s.index)) continue;
      if (s.block.total(WU.zc_fallbacks) > 0) {
        this.#zcWarned.add(s.index);
        const err = s.block.gauge(WI.zc_error);
        this.emit('warning', Object.assign(new Error(`worker ${s.index}: send_zc unavailable (${err ? errnoName(err) : 'error'}); using plain send`), { code: 'ERR_ZEROCOPY_FALLBACK' }));
      }
    }
  }

  #ringError(e: unknown): Error {
    if (isSystemError(e) && (e.code === 'ENOSYS' || e.code === 'EPERM') && e.syscall === 'io_uring_queue_init') {
      return ioUringUnavailable(e);
    }
    return e as Error;
  }

  // ---------------------------------------------------------------- shards

  #startShard(index: number): Promise<void> {
    const o = this.options;
    const block = workerBlock();
    const { port1, port2 } = new MessageChannel();
    const shard: Shard = { index, id: this.#nextId++, delivered: 0, block, port: port1, target: -1, state: 'starting', threadId: -1 };
    const proxy = o.handler === 'proxy';
    if (proxy) shard.upstreams = new UpstreamBlock(this.#upstreams.length);
    this.#shards[index] = shard;
    this.#byId.set(shard.id, shard);
    const module = typeof o.handler === 'string' ? undefined : o.handler;
    const ring: NativeWorkerOptions = {
      tableSize: o.workerTableSize,
      bufCount: o.bufferCount,
      bufSize: o.bufferSize,
      mode: module ? abi.workerModes.js : abi.workerModes[o.handler as BuiltinHandler],
      highWater: o.highWaterMark,
      deferTaskrun: o.workerDeferTaskrun,
      zcThreshold: o.zcThreshold,
      copyBuffers: false,
    };
    if (proxy) {
      ring.proxy = {
        upstreams: this.#upstreams.map((u) => ({ ip: u.ip, port: u.port })),
        policy: abi.upstreamPolicies[o.upstreamPolicy],
        connectTimeout: o.connectTimeout,
        idleTimeout: o.idleTimeout,
        backoffBase: o.upstreamBackoff,
        backoffMax: o.upstreamBackoffMax,
      };
    }
    const task: ShardTask = {
      id: shard.id,
      index,
      workers: o.workers,
      ring,
      counters: block.sab,
      upstreamCounters: shard.upstreams?.sab,
      port: port2,
      handler: module ? { url: module.url, options: o.handlerOptions, dev: o.dev } : undefined,
      acceptorRingFd: this.#acceptor!.ringFd,
    };
    return new Promise<void>((resolve, reject) => {
      let started = false;
      port1.on('message', (m: ShardMessage) => {
        if (m.type === 'handler-error') {
          this.#onHandlerError(index, m.error, m.suppressed);
          return;
        }
        if (m.type === 'failing') {
          this.#onShardFailing(shard, port1);
          return;
        }
        if (m.type !== 'ready' || shard.state !== 'starting') return;
        try {
          shard.target = this.#acceptor!.addTarget(m.ringFd);
        } catch (e) {
          reject(e);
          return;
        }
        shard.threadId = m.threadId;
        shard.state = 'ready';
        this.#byTarget.set(shard.target, shard);
        this.#scheduler.add({
          id: shard.id,
          weight: o.weights[index] ?? 1,
          // a proxy connection takes two slots: the client's and its upstream's
          capacity: proxy ? Math.min(o.maxConnectionsPerWorker, Math.floor(o.workerTableSize / 2)) : o.maxConnectionsPerWorker,
          // live, plus connections already in its table that it has not seen yet
          live: () => Atomics.load(block.i32, WI.live) + Math.max(0, shard.delivered - block.total(WU.accepted)),
        });
        started = true;
        this.emit('worker-ready', { worker: index, threadId: m.threadId });
        resolve();
        this.#schedule();
      });
      shard.task = this.#pool!.run(task, { transferList: [port2] as never });
      shard.task.then(
        (r) => {
          if (r.error && !started) {
            // the handler module failed to load or init: listen() rejects with its error
            shard.state = 'failed';
            const err = fromErrorInfo(r.error);
            // lets callers (the CLI) tell a module's failure from their own
            Object.defineProperty(err, 'handlerModule', { value: module?.path, enumerable: false });
            reject(err);
            return;
          }
          shard.state = 'closed';
        },
        (err: Error) => {
          if (!started) {
            shard.state = 'failed';
            reject(isSystemError(err) ? this.#ringError(err) : err);
            return;
          }
          this.#onShardFailed(shard, err);
        },
      );
    });
  }

  #handlerErrorLogged = 0;

  /** A handler callback threw in a worker (reports are rate-limited there). */
  #onHandlerError(worker: number, info: import('./host.js').ErrorInfo, suppressed: number): void {
    const error = fromErrorInfo(info);
    if (this.listenerCount('handler-error') > 0) {
      this.emit('handler-error', { worker, error, suppressed });
      return;
    }
    const now = Date.now();
    if (now - this.#handlerErrorLogged < 1000) return;
    this.#handlerErrorLogged = now;
    const more = suppressed ? ` (${suppressed} more since the last report)` : '';
    process.stderr.write(`ringleader: handler error in worker ${worker}${more}: ${error.stack ?? error.message}\n`);
  }

  /**
   * A worker's thread is about to end with an uncaught exception. Out of
   * rotation first; it sends what still arrives back to the acceptor (slots
   * reserved for that); once no hand-off to it is in flight it may end, and
   * #onShardFailed replaces it.
   */
  #onShardFailing(shard: Shard, port: import('node:worker_threads').MessagePort): void {
    const acc = this.#acceptor;
    if (shard.state !== 'ready' || !acc) {
      port.postMessage({ type: 'exit' } satisfies ShardCommand);
      return;
    }
    if (this.#scheduler.has(shard.id)) this.#scheduler.remove(shard.id);
    const b = shard.block;
    // what can still arrive: hand-offs in flight, and delivered ones it has not seen
    const coming = Math.max(0, b.gauge(WI.inflight)) + Math.max(0, shard.delivered - b.total(WU.accepted));
    acc.reserve(coming);
    port.postMessage({ type: 'evacuate' } satisfies ShardCommand);
    const t0 = Date.now();
    const poll = setInterval(() => {
      if (b.gauge(WI.inflight) > 0 && Date.now() - t0 < 1000) return;
      clearInterval(poll);
      // its ring zeroes the gauge as it goes: what it holds now ends with it
      shard.liveAtExit = b.gauge(WI.live);
      port.postMessage({ type: 'exit' } satisfies ShardCommand);
      // the last returns land on the acceptor thread's next pass
      setTimeout(() => this.#acceptor?.reserve(-coming), 100).unref();
    }, 1);
  }

  /** A worker threw or exited: out of rotation first, then replace it. */
  #onShardFailed(shard: Shard, err: Error): void {
    if (shard.state === 'failed' || shard.state === 'closed') return;
    const wasServing = shard.state === 'ready';
    shard.state = 'failed';
    this.#retire(shard, true);
    if (this.#state !== 'listening' && this.#state !== 'starting') return;
    this.emit('worker-exit', { worker: shard.index, error: err });
    if (!wasServing) return;
    this.#restarts[shard.index]++;
    this.#retired.restarts++;
    // rate limit: back off exponentially while it keeps crashing
    const now = Date.now();
    const times = this.#crashTimes[shard.index].filter((t) => now - t < 30_000);
    times.push(now);
    this.#crashTimes[shard.index] = times;
    const delay = times.length <= 1 ? 0 : Math.min(10_000, 100 * 2 ** (times.length - 2));
    setTimeout(() => {
      if (this.#state !== 'listening') return;
      this.#startShard(shard.index).catch((e: Error) => this.#onShardFailed(this.#shards[shard.index], e));
    }, delay).unref();
  }

  /** Remove a shard from rotation and fold its totals into the retired sums. */
  #retire(shard: Shard, crashed: boolean): void {
    if (this.#scheduler.has(shard.id)) this.#scheduler.remove(shard.id);
    if (shard.target >= 0) {
      this.#acceptor?.removeTarget(shard.target);
      this.#byTarget.delete(shard.target);
      shard.target = -1;
    }
    const b = shard.block;
    const r = this.#retired;
    const lost = crashed ? Math.max(b.gauge(WI.live), shard.liveAtExit ?? 0) : 0;
    r.accepted += b.total(WU.accepted);
    // a crashed worker's open connections ended with it
    r.closed += b.total(WU.closed) + lost;
    r.bytesIn += b.total(WU.bytes_in);
    r.bytesOut += b.total(WU.bytes_out);
    r.recvs += b.total(WU.recvs);
    r.sends += b.total(WU.sends);
    r.forced += b.total(WU.forced);
    r.connErrors += b.total(WU.conn_errors) + lost;
    r.handlerErrors += b.total(WU.handler_errors);
    b.setGauge(WI.live, 0);
    b.u64.fill(0n);
    this.#byId.delete(shard.id);
  }

  /**
   * Terminate worker `index` abruptly, as a crash would (for chaos testing):
   * its connections end, it is replaced, the server keeps serving.
   */
  async terminateWorker(index: number): Promise<void> {
    const shard = this.#shards[index];
    if (!shard || shard.state !== 'ready') throw new RangeError(`worker ${index} is not serving`);
    const thread = this.#pool?.threads.find((t) => t.threadId === shard.threadId);
    if (!thread) throw new Error(`worker ${index} has no thread`);
    // out of rotation before anything else can be sent to it
    this.#scheduler.remove(shard.id);
    await thread.terminate();
  }

  // ---------------------------------------------------------------- batches

  #holdPush(slot: number): void {
    const cap = this.#held.length;
    this.#held[(this.#heldHead + this.#heldLen) % cap] = slot;
    this.#heldLen++;
  }

  #holdUnshift(slot: number): void {
    const cap = this.#held.length;
    this.#heldHead = (this.#heldHead - 1 + cap) % cap;
    this.#held[this.#heldHead] = slot;
    this.#heldLen++;
  }

  #onBatch(n: number): void {
    const ev = this.#acceptor!.events;
    for (let i = 0, o = 0; i < n; i++, o += abi.acceptorWords) {
      const type = ev[o + AF.type];
      const slot = ev[o + AF.slot];
      const a = ev[o + AF.a];
      const b = ev[o + AF.b];
      switch (type) {
        case EV.ACCEPT:
          if (this.#overLimit() && this.options.overflow === 'reject') {
            this.#acceptor!.reject(slot);
          } else {
            this.#holdPush(slot);
          }
          break;
        case EV.HANDOFF_OK: {
          const s = this.#byTarget.get(a);
          if (s) {
            s.delivered++;
            this.#scheduler.settled(s.id);
            s.block.addGauge(WI.inflight, -1);
          }
          break;
        }
        case EV.HANDOFF_ERR:
          this.#onHandoffError(slot, a, b);
          break;
        case EV.ACCEPT_ERR:
          this.emit('accept-error', errnoError(a, 'accept'), { backoffMs: b });
          break;
        case EV.STALL:
          this.emit('stall', { held: this.#heldLen });
          break;
        case EV.REJECTED:
          this.emit('reject', { id: a >>> 0 });
          break;
        default:
          break;
      }
    }
    this.#schedule();
  }

  #onHandoffError(slot: number, target: number, err: number): void {
    const s = this.#byTarget.get(target);
    if (s) {
      this.#scheduler.settled(s.id);
      s.block.addGauge(WI.inflight, -1);
    }
    const cls = handoffClass(err);
    if (cls === 'full') {
      // the worker's table is full: the slot is still ours; try another now
      if (s) this.#scheduler.saturate(s.id);
      this.#holdUnshift(slot);
    } else if (cls === 'dead') {
      if (s && s.state === 'ready') this.#onShardFailed(s, errnoError(err, 'io_uring_prep_msg_ring_fd_alloc'));
      this.#holdUnshift(slot);
    } else if (cls === 'overflow') {
      // delivered to the worker unannounced: never retried (that would
      // install the socket twice); the engine has shut it down and closes it
      this.#dropped++;
      this.emit('warning', errnoError(err, 'io_uring_prep_msg_ring_fd_alloc'));
    } else if (cls === 'retry') {
      this.#retryLater.push(slot);
      this.#retryTimer ??= setTimeout(() => {
        this.#retryTimer = undefined;
        for (const sl of this.#retryLater.splice(0)) this.#holdPush(sl);
        this.#schedule();
      }, 5);
    } else {
      // not a condition we can fix by retrying: close it rather than leak it
      this.#dropped++;
      this.#acceptor?.drop(slot);
      this.emit('warning', errnoError(err, 'io_uring_prep_msg_ring_fd_alloc'));
    }
  }

  #overLimit(): boolean {
    const max = this.options.maxConnections;
    return Number.isFinite(max) && this.#scheduler.load() + this.#heldLen + this.#retryLater.length >= max;
  }

  /** Hand every held slot to a worker that can take it; pause when none can. */
  #schedule(): void {
    const acc = this.#acceptor;
    if (!acc) return;
    this.#scheduler.refresh();
    const max = this.options.maxConnections;
    // each pass either hands off every slot it was given or stops at one
    // that failed: a slot that can never be handed off is dropped, so it
    // costs only its own connection and never stalls the queue behind it
    for (let pass = 0; pass < 4; pass++) {
      let want = this.#heldLen;
      if (Number.isFinite(max)) want = Math.min(want, Math.max(0, max - this.#scheduler.load()));
      if (want <= 0) break;
      const got = this.#scheduler.assign(want, this.#idsBuf);
      if (!got) break;
      const cap = this.#held.length;
      for (let i = 0; i < got; i++) {
        const s = this.#byId.get(this.#idsBuf[i])!;
        this.#slotsBuf[i] = this.#held[(this.#heldHead + i) % cap];
        this.#targetsBuf[i] = s.target;
        s.block.addGauge(WI.inflight, 1);
      }
      const queued = acc.dispatch(this.#slotsBuf, this.#targetsBuf, got);
      this.#heldHead = (this.#heldHead + queued) % cap;
      this.#heldLen -= queued;
      // anything assigned but not queued goes back (still at the head)
      for (let i = queued; i < got; i++) {
        const s = this.#byId.get(this.#idsBuf[i])!;
        this.#scheduler.settled(s.id);
        s.block.addGauge(WI.inflight, -1);
      }
      if (queued === got) break;
      if (!this.#onDispatchError(this.#slotsBuf[queued], this.#targetsBuf[queued])) break;
    }
    this.#updatePause();
  }

  /**
   * A hand-off could not even be queued (the failing slot is at the head of
   * the held queue). Returns true when the queue can go on at once.
   */
  #onDispatchError(slot: number, err: number): boolean {
    const code = errnoName(err);
    if (code === 'EBUSY' || code === 'EAGAIN' || code === 'EBADFD') {
      // a full submission queue, or a worker removed since it was picked:
      // the slot is still ours; the next pass (or the 2 ms recheck) retries
      if (!this.#dispatchWarned) {
        this.#dispatchWarned = true;
        this.emit('warning', errnoError(err, 'io_uring_prep_msg_ring_fd_alloc'));
      }
      return code === 'EBADFD';
    }
    // the engine does not hold this slot (or refuses it for good): it can
    // never be handed off; drop it from the queue and count it
    this.#heldHead = (this.#heldHead + 1) % this.#held.length;
    this.#heldLen--;
    this.#dropped++;
    // close it if the engine still owns it (-EINVAL when it does not)
    this.#acceptor?.drop(slot);
    this.emit('warning', Object.assign(errnoError(err, 'io_uring_prep_msg_ring_fd_alloc'), { slot }));
    return true;
  }

  #updatePause(): void {
    const acc = this.#acceptor;
    if (!acc || this.#state === 'closing' || this.#state === 'closed') return;
    let reason: PauseReason | null = null;
    if (this.#overLimit() && this.options.overflow === 'pause') reason = 'max-connections';
    else if (this.#heldLen > 0 && !this.#scheduler.hasCapacity()) reason = 'capacity';
    if (reason && !this.#paused) {
      this.#paused = reason;
      this.#pauses++;
      acc.pause();
      Atomics.store(this.#acc.i32, AI.paused, 1);
      this.emit('pause', { reason, held: this.#heldLen });
    } else if (!reason && this.#paused) {
      this.#paused = null;
      this.#resumes++;
      acc.resume();
      this.emit('resume', { held: this.#heldLen });
    } else if (reason) {
      this.#paused = reason;
    }
    // worker counts fall without acceptor events: poll while waiting on them
    const waiting = this.#paused !== null || this.#heldLen > 0;
    if (waiting && !this.#recheck) {
      this.#recheck = setInterval(() => this.#schedule(), 2);
    } else if (!waiting && this.#recheck) {
      clearInterval(this.#recheck);
      this.#recheck = undefined;
    }
  }

  // ---------------------------------------------------------------- stats

  /** Counters of every worker, the acceptor, and their sums. */
  stats(): ServerStats {
    // saturation clears as workers drain, even when no new connection arrives
    this.#scheduler.refresh();
    const workers: WorkerStats[] = this.#shards.map((s) => {
      const b = s.block;
      const serving = s.state === 'ready';
      return {
        index: s.index,
        state: s.state,
        threadId: s.threadId,
        restarts: this.#restarts[s.index] ?? 0,
        live: b.gauge(WI.live),
        inflight: this.#scheduler.inflight(s.id),
        saturated: serving && this.#scheduler.isSaturated(s.id),
        saturations: this.#scheduler.saturations(s.id),
        lagMs: b.gauge(WI.lag_us) / 1000,
        tableSize: b.gauge(WI.table_size),
        tableUsed: b.gauge(WI.table_used),
        bufFree: b.gauge(WI.buf_free),
        buffered: b.gauge(WI.buffered),
        accepted: b.total(WU.accepted),
        closed: b.total(WU.closed),
        bytesIn: b.total(WU.bytes_in),
        bytesOut: b.total(WU.bytes_out),
        recvs: b.total(WU.recvs),
        sends: b.total(WU.sends),
        enobufs: b.total(WU.enobufs),
        rxPaused: b.total(WU.rx_paused),
        connErrors: b.total(WU.conn_errors),
        forced: b.total(WU.forced),
        handlerErrors: b.total(WU.handler_errors),
        jsEvents: b.total(WU.js_events),
        jsBatches: b.total(WU.js_batches),
        handoff: handoffLatency([b]),
        proxy: s.upstreams ? this.#proxyStats(b, s.upstreams) : undefined,
        zeroCopy: this.#zeroCopy([b]),
      };
    });
    const r = this.#retired;
    const sum = (k: keyof WorkerStats) => workers.reduce((a, w) => a + (w[k] as number), 0);
    const acceptor = snapshot(this.#acc, layout.acceptorU64);
    return {
      listening: this.listening,
      address: this.#address,
      uptimeMs: this.#startedAt ? Date.now() - this.#startedAt : 0,
      workers,
      total: {
        live: sum('live'),
        accepted: sum('accepted') + r.accepted,
        closed: sum('closed') + r.closed,
        bytesIn: sum('bytesIn') + r.bytesIn,
        bytesOut: sum('bytesOut') + r.bytesOut,
        recvs: sum('recvs') + r.recvs,
        sends: sum('sends') + r.sends,
        forced: sum('forced') + r.forced,
        connErrors: sum('connErrors') + r.connErrors,
        handlerErrors: sum('handlerErrors') + r.handlerErrors,
      },
      acceptor,
      held: this.#heldLen + this.#retryLater.length,
      paused: this.#paused !== null,
      pauseReason: this.#paused,
      pauses: this.#pauses,
      resumes: this.#resumes,
      rejected: acceptor.rejected ?? 0,
      dropped: this.#dropped,
      restarts: r.restarts,
      handoff: handoffLatency(this.#shards.map((s) => s.block)),
      zeroCopy: this.#zeroCopy(this.#shards.map((s) => s.block)),
      upstreams: this.options.handler === 'proxy' ? this.#sumUpstreams(workers) : undefined,
    };
  }

  #proxyStats(b: CounterBlock, ub: UpstreamBlock): ProxyWorkerStats {
    return {
      c2uBytes: b.total(WU.c2u_bytes),
      u2cBytes: b.total(WU.u2c_bytes),
      dials: b.total(WU.dials),
      dialFailures: b.total(WU.dial_failures),
      upstreamUnavailable: b.total(WU.upstream_unavailable),
      idleTimeouts: b.total(WU.idle_timeouts),
      resets: b.total(WU.resets),
      upstreams: this.#upstreams.map((u, i) => ({ address: `${u.host}:${u.port}`, ...(ub.snapshot(i) as Omit<UpstreamStats, 'address'>) })),
    };
  }

  #sumUpstreams(workers: WorkerStats[]): UpstreamStats[] {
    return this.#upstreams.map((u, i) => {
      const out: UpstreamStats = { address: `${u.host}:${u.port}`, live: 0, down: 0, backoffMs: 0, dials: 0, connected: 0, failed: 0, refused: 0, timeouts: 0, unreachable: 0, otherErrors: 0 };
      for (const w of workers) {
        const x = w.proxy?.upstreams[i];
        if (!x) continue;
        for (const k of Object.keys(out) as (keyof UpstreamStats)[]) {
          if (k === 'address') continue;
          if (k === 'down' || k === 'backoffMs') out[k] = Math.max(out[k], x[k]);
          else out[k] += x[k];
        }
      }
      return out;
    });
  }

  #zeroCopy(blocks: CounterBlock[]): ZeroCopyStats {
    const sends = blocks.reduce((a, b) => a + b.total(WU.zc_sends), 0);
    const copied = blocks.reduce((a, b) => a + b.total(WU.zc_copied), 0);
    const fallbacks = blocks.reduce((a, b) => a + b.total(WU.zc_fallbacks), 0);
    const stoppedSockets = blocks.reduce((a, b) => a + b.total(WU.zc_stopped), 0);
    const errs = blocks.map((b) => b.gauge(WI.zc_error)).filter((e) => e !== 0);
    const out: ZeroCopyStats = {
      threshold: this.options.zcThreshold,
      enabled: this.options.zcThreshold > 0 && blocks.length > 0 && blocks.every((b) => b.gauge(WI.zc_enabled) === 1),
      sends,
      copied,
      stoppedSockets,
      fallbacks,
    };
    if (errs.length) out.error = errnoName(errs[0]);
    if (sends > 0 && copied === sends) {
      out.note =
        'every zero-copy send was copied by the kernel: loopback and same-host peers always copy (send_zc avoids copies only toward a network device); ' +
        'such sockets switch to plain send after 4 copies in a row';
    }
    return out;
  }

  // ---------------------------------------------------------------- close

  /**
   * Stop accepting, let open connections finish for up to `timeout` ms, then
   * close the rest. Resolves with how many drained and how many were forced.
   */
  async close(opts: CloseOptions = {}): Promise<CloseSummary> {
    const timeout = opts.timeout ?? 5000;
    if (typeof timeout !== 'number' || !(timeout >= 0)) throw new RangeError(`option "timeout" must be a number of milliseconds >= 0; got ${String(timeout)}`);
    if (this.#state === 'closed' || this.#state === 'closing') return { drained: 0, forced: 0, dropped: 0, durationMs: 0 };
    if (this.#state !== 'listening') {
      await this.#teardown();
      this.#state = 'closed';
      return { drained: 0, forced: 0, dropped: 0, durationMs: 0 };
    }
    const t0 = Date.now();
    this.#state = 'closing';
    const acc = this.#acceptor!;
    acc.stop();
    const closedAt = () => this.#shards.reduce((n, s) => n + s.block.total(WU.closed), 0);
    const forcedAt = () => this.#shards.reduce((n, s) => n + s.block.total(WU.forced), 0);
    const closedStart = closedAt() + this.#retired.closed;
    // keep handing held slots to workers while draining; wait for live == 0
    const deadline = t0 + timeout;
    while (Date.now() < deadline) {
      this.#schedule();
      const live = this.#shards.reduce((n, s) => n + (s.state === 'ready' ? s.block.gauge(WI.live) : 0), 0);
      const inflight = this.#shards.reduce((n, s) => n + this.#scheduler.inflight(s.id), 0);
      if (live === 0 && inflight === 0 && this.#heldLen === 0 && this.#retryLater.length === 0) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    // slots that never reached a worker are closed (counted)
    let dropped = 0;
    for (const sl of this.#retryLater.splice(0)) {
      acc.drop(sl);
      dropped++;
    }
    while (this.#heldLen > 0) {
      acc.drop(this.#held[this.#heldHead]);
      this.#heldHead = (this.#heldHead + 1) % this.#held.length;
      this.#heldLen--;
      dropped++;
    }
    this.#dropped += dropped;
    const forcedBefore = forcedAt();
    await this.#closeShards(Math.max(100, Math.min(2000, timeout)));
    const forced = this.#shards.reduce((n, s) => n + s.block.total(WU.forced), 0) - forcedBefore;
    const closedEnd = closedAt() + this.#retired.closed;
    const drained = Math.max(0, closedEnd - closedStart - forced);
    await this.#teardown();
    this.#state = 'closed';
    const summary = { drained, forced, dropped, durationMs: Date.now() - t0 };
    this.emit('close', summary);
    return summary;
  }

  async #closeShards(graceMs: number): Promise<void> {
    const waits: Promise<unknown>[] = [];
    for (const s of this.#shards) {
      if (!s || s.state !== 'ready') continue;
      s.state = 'closing';
      if (this.#scheduler.has(s.id)) this.#scheduler.remove(s.id);
      const cmd: ShardCommand = { type: 'close', graceMs };
      s.port.postMessage(cmd);
      waits.push(
        (s.task ?? Promise.resolve()).then(
          () => undefined,
          () => undefined,
        ),
      );
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(waits), new Promise((r) => (timer = setTimeout(r, graceMs + 2000)))]);
    clearTimeout(timer);
  }

  async #teardown(): Promise<void> {
    if (this.#maint) clearInterval(this.#maint);
    this.#maint = undefined;
    if (this.#recheck) clearInterval(this.#recheck);
    this.#recheck = undefined;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    for (const s of this.#shards) {
      if (!s) continue;
      if (s.state === 'starting' || s.state === 'ready') {
        s.state = 'closing';
        try {
          s.port.postMessage({ type: 'close', graceMs: 0 } satisfies ShardCommand);
        } catch {
          /* port already closed */
        }
      }
    }
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool) {
      // let shards that were told to close finish, then stop the threads
      await Promise.race([
        Promise.all(this.#shards.map((s) => s?.task?.catch(() => undefined))),
        new Promise((r) => setTimeout(r, 3000).unref()),
      ]);
      await pool.destroy();
    }
    for (const s of this.#shards) {
      if (s && s.state !== 'failed') s.state = 'closed';
      try {
        (s?.port as { close?: () => void })?.close?.();
      } catch {
        /* closed */
      }
    }
    this.#acceptor?.close();
    this.#acceptor = undefined;
  }
}

/** Create a sharded server; nothing runs until {@link Server.listen}. */
export function createServer(options: ServerOptions = {}): Server {
  return new Server(options);
}

export type { RingleaderSystemError };
