/**
 * Shard supervision: the piscina pool whose threads each run one worker
 * ring (shard.ts), starting a shard and registering its ring with the
 * acceptor and the scheduler, replacing one that crashes (with back-off),
 * folding a retired shard's totals into sums that never go backward, and
 * closing them all.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { abi, errnoName, isSystemError, type NativeAcceptor, type NativeWorkerOptions } from '@ringleader/core-native';
import { Piscina } from 'piscina';
import { type CounterBlock, UpstreamBlock, WI, WU, workerBlock } from './counters.js';
import { type ErrorInfo, fromErrorInfo } from './error-info.js';
import type { BuiltinHandler, ResolvedOptions } from './options.js';
import type { Scheduler } from './scheduler.js';
import type { ShardCommand, ShardMessage, ShardResult, ShardTask } from './shard.js';
import type { ReloadSummary, ShardState, Totals } from './server-types.js';
import { workerTotals } from './server-stats.js';
import { ringError } from './startup.js';
import type { ResolvedUpstream } from './upstream.js';

/** One worker ring and what the main thread knows of it. */
export interface Shard {
  /** its place among the workers (0..workers-1); a replacement takes the same index */
  index: number;
  /** unique over the server's life: the scheduler's key */
  id: number;
  upstreams?: UpstreamBlock;
  /** proxy: the upstreams it was started with (a reload may give its successor others) */
  upstreamList?: readonly ResolvedUpstream[];
  /** hand-offs that succeeded (the fd is in the worker's table) */
  delivered: number;
  block: CounterBlock;
  port: MessagePort;
  /** its index in the acceptor's target table, -1 when not registered */
  target: number;
  state: ShardState;
  threadId: number;
  task?: Promise<ShardResult>;
  /** failing: the connections it still held when it was told to end */
  liveAtExit?: number;
}

/** Totals carried over from shards that died, so sums never go backward. */
export interface Retired extends Totals {
  restarts: number;
}

/** What the pool needs from the server that owns it. */
export interface ShardHost {
  /** the options new workers start with (a reload may change them) */
  options(): ResolvedOptions;
  readonly scheduler: Scheduler;
  acceptor(): NativeAcceptor | undefined;
  upstreams(): readonly ResolvedUpstream[];
  /** shards are replaced only while this is true; failures are reported while starting too */
  running(): 'starting' | 'listening' | false;
  emit(event: string, ...args: unknown[]): boolean;
  listenerCount(event: string): number;
  /** a shard became ready: hand it what waits */
  onReady(): void;
}

export class ShardPool {
  readonly shards: Shard[] = [];
  readonly retired: Retired = { accepted: 0, closed: 0, bytesIn: 0, bytesOut: 0, recvs: 0, sends: 0, forced: 0, connErrors: 0, handlerErrors: 0, restarts: 0 };
  /** restarts per worker index */
  readonly restarts: number[];
  #pool?: Piscina;
  #byId = new Map<number, Shard>();
  #byTarget = new Map<number, Shard>();
  /** ERR_WORKER_SLICE is said once, not once per worker */
  #sliceWarned = false;
  #nextId = 1;
  #crashTimes: number[][];
  #handlerErrorLogged = 0;
  /** shards replaced by a reload, still finishing their connections */
  readonly draining: Shard[] = [];
  /** how many reloads have completed: a new shard imports its handler module as this version */
  #generation = 0;
  #reloading: Promise<unknown> = Promise.resolve();

  constructor(readonly host: ShardHost) {
    const n = host.options().workers;
    this.restarts = new Array(n).fill(0);
    this.#crashTimes = Array.from({ length: n }, () => []);
  }

  byId(id: number): Shard | undefined {
    return this.#byId.get(id);
  }

  byTarget(target: number): Shard | undefined {
    return this.#byTarget.get(target);
  }

  /** Start every worker; resolves when all serve. */
  startAll(): Promise<void> {
    const n = this.host.options().workers;
    this.#pool = new Piscina({
      filename: new URL('./shard.js', import.meta.url).href,
      minThreads: n,
      // a reload starts each worker's successor before the old one ends, and
      // the old ones drain together (see #reload): up to twice the workers
      maxThreads: 2 * n,
      idleTimeout: 60_000,
      concurrentTasksPerWorker: 1,
      atomics: 'disabled',
    });
    return Promise.all(Array.from({ length: n }, (_, i) => this.#start(i))).then(() => undefined);
  }

  #ringOptions(): NativeWorkerOptions {
    const o = this.host.options();
    const module = typeof o.handler === 'string' ? undefined : o.handler;
    const ring: NativeWorkerOptions = {
      tableSize: o.workerTableSize,
      bufCount: o.bufferCount,
      bufSize: o.bufferSize,
      mode: module ? abi.workerModes.js : abi.workerModes[o.handler as BuiltinHandler],
      highWater: o.highWaterMark,
      maxBuffers: o.maxBuffersHeld,
      deferTaskrun: o.workerDeferTaskrun,
      zcThreshold: o.zcThreshold,
      copyBuffers: false,
      waitInRing: o.workerWait === 'ring',
    };
    if (o.handler === 'proxy') {
      ring.proxy = {
        upstreams: this.host.upstreams().map((u) => ({ ip: u.ip, port: u.port, tier: u.tier })),
        policy: abi.upstreamPolicies[o.upstreamPolicy],
        connectTimeout: o.connectTimeout,
        idleTimeout: o.idleTimeout,
        backoffBase: o.upstreamBackoff,
        backoffMax: o.upstreamBackoffMax,
        maxFails: o.upstreamMaxFails,
        dialRetries: o.connectRetries,
      };
    }
    return ring;
  }

  #start(index: number): Promise<void> {
    const { scheduler } = this.host;
    const o = this.host.options();
    const block = workerBlock();
    const { port1, port2 } = new MessageChannel();
    const shard: Shard = { index, id: this.#nextId++, delivered: 0, block, port: port1, target: -1, state: 'starting', threadId: -1 };
    const proxy = o.handler === 'proxy';
    if (proxy) {
      shard.upstreamList = this.host.upstreams();
      shard.upstreams = new UpstreamBlock(shard.upstreamList.length);
    }
    this.shards[index] = shard;
    this.#byId.set(shard.id, shard);
    const module = typeof o.handler === 'string' ? undefined : o.handler;
    const task: ShardTask = {
      id: shard.id,
      index,
      workers: o.workers,
      ring: this.#ringOptions(),
      counters: block.sab,
      upstreamCounters: shard.upstreams?.sab,
      port: port2,
      handler: module ? { url: module.url, version: this.#generation, options: o.handlerOptions, dev: o.dev } : undefined,
      acceptorRingFd: this.host.acceptor()!.ringFd,
      sliceUs: o.workerSlice,
    };
    return new Promise<void>((resolve, reject) => {
      let started = false;
      port1.on('message', (m: ShardMessage) => {
        if (m.type === 'handler-error') {
          this.#onHandlerError(index, m.error, m.suppressed);
          return;
        }
        if (m.type === 'failing') {
          this.#onFailing(shard);
          return;
        }
        if (m.type !== 'ready' || shard.state !== 'starting') return;
        try {
          shard.target = this.host.acceptor()!.addTarget(m.ringFd);
        } catch (e) {
          reject(e);
          return;
        }
        shard.threadId = m.threadId;
        shard.state = 'ready';
        if (m.sliceError < 0 && !this.#sliceWarned) {
          // a hint the thread could not take: it serves, with the kernel's default slice
          this.#sliceWarned = true;
          this.host.emit(
            'warning',
            Object.assign(
              new Error(
                `worker ${index}: scheduling slice of ${o.workerSlice} us not set (${errnoName(m.sliceError)}); the kernel's default is used (workerSlice 0, --worker-slice 0: none asked for)`,
              ),
              { code: 'ERR_WORKER_SLICE' },
            ),
          );
        }
        this.#byTarget.set(shard.target, shard);
        scheduler.add({
          id: shard.id,
          index,
          weight: o.weights[index] ?? 1,
          // a proxy connection takes two slots: the client's and its upstream's
          capacity: proxy ? Math.min(o.maxConnectionsPerWorker, Math.floor(o.workerTableSize / 2)) : o.maxConnectionsPerWorker,
          // live, plus connections already in its table that it has not seen yet
          live: () => Atomics.load(block.i32, WI.live) + Math.max(0, shard.delivered - block.total(WU.accepted)),
          // taken by the worker before the acceptor's hand-off completion was seen here
          unsettled: () => Math.max(0, block.total(WU.accepted) - shard.delivered),
        });
        started = true;
        this.host.emit('worker-ready', { worker: index, threadId: m.threadId });
        resolve();
        this.host.onReady();
      });
      shard.task = this.#pool!.run(task, { transferList: [port2] as never });
      shard.task.then(
        (r) => {
          if (r.error && !started) {
            // the handler module failed to load or init, or the ring could
            // not be built (a system error): listen() rejects with its error
            shard.state = 'failed';
            const err = fromErrorInfo(r.error);
            if (isSystemError(err)) {
              reject(ringError(err));
              return;
            }
            // lets callers (the CLI) tell a module's failure from their own
            Object.defineProperty(err, 'handlerModule', { value: module?.path, enumerable: false });
            reject(err);
            return;
          }
          shard.state = 'closed';
          // told to close before it served (a reload racing close()): whoever waits must not hang
          if (!started) reject(Object.assign(new Error('server closed while a worker was starting'), { code: 'ERR_SERVER_NOT_RUNNING' }));
        },
        (err: Error) => {
          if (!started) {
            shard.state = 'failed';
            reject(isSystemError(err) ? ringError(err) : err);
            return;
          }
          this.failed(shard, err);
        },
      );
    });
  }

  /** A handler callback threw in a worker (reports are rate-limited there). */
  #onHandlerError(worker: number, info: ErrorInfo, suppressed: number): void {
    const error = fromErrorInfo(info);
    if (this.host.listenerCount('handler-error') > 0) {
      this.host.emit('handler-error', { worker, error, suppressed });
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
   * failed() replaces it.
   */
  #onFailing(shard: Shard): void {
    const acc = this.host.acceptor();
    if (shard.state !== 'ready' || !acc) {
      this.#send(shard, { type: 'exit' });
      return;
    }
    const scheduler = this.host.scheduler;
    if (scheduler.has(shard.id)) scheduler.remove(shard.id);
    const b = shard.block;
    // what can still arrive: hand-offs in flight, and delivered ones it has not seen
    const coming = Math.max(0, b.gauge(WI.inflight)) + Math.max(0, shard.delivered - b.total(WU.accepted));
    acc.reserve(coming);
    this.#send(shard, { type: 'evacuate' });
    const t0 = Date.now();
    const poll = setInterval(() => {
      if (b.gauge(WI.inflight) > 0 && Date.now() - t0 < 1000) return;
      clearInterval(poll);
      // its ring zeroes the gauge as it goes: what it holds now ends with it
      shard.liveAtExit = b.gauge(WI.live);
      this.#send(shard, { type: 'exit' });
      // the last returns land on the acceptor thread's next pass
      setTimeout(() => this.host.acceptor()?.reserve(-coming), 100).unref();
    }, 1);
  }

  /** A worker threw or exited: out of rotation first, then replace it. */
  failed(shard: Shard, err: Error): void {
    if (shard.state === 'failed' || shard.state === 'closed') return;
    const wasServing = shard.state === 'ready';
    shard.state = 'failed';
    this.#retire(shard, true);
    if (!this.host.running()) return;
    this.host.emit('worker-exit', { worker: shard.index, error: err });
    if (!wasServing) return;
    this.restarts[shard.index]++;
    this.retired.restarts++;
    // rate limit: back off exponentially while it keeps crashing
    const now = Date.now();
    const times = this.#crashTimes[shard.index].filter((t) => now - t < 30_000);
    times.push(now);
    this.#crashTimes[shard.index] = times;
    const delay = times.length <= 1 ? 0 : Math.min(10_000, 100 * 2 ** (times.length - 2));
    setTimeout(() => {
      if (this.host.running() !== 'listening') return;
      this.#start(shard.index).catch((e: Error) => this.failed(this.shards[shard.index], e));
    }, delay).unref();
  }

  /** Remove a shard from rotation and fold its totals into the retired sums. */
  #retire(shard: Shard, crashed: boolean): void {
    const scheduler = this.host.scheduler;
    if (scheduler.has(shard.id)) scheduler.remove(shard.id);
    if (shard.target >= 0) {
      this.host.acceptor()?.removeTarget(shard.target);
      this.#byTarget.delete(shard.target);
      shard.target = -1;
    }
    const b = shard.block;
    const r = this.retired;
    const t = workerTotals(b);
    for (const k of Object.keys(t) as (keyof Totals)[]) r[k] += t[k];
    if (crashed) {
      // a crashed worker's open connections ended with it, by an error
      const lost = Math.max(b.gauge(WI.live), shard.liveAtExit ?? 0);
      r.closed += lost;
      r.connErrors += lost;
    }
    b.setGauge(WI.live, 0);
    b.u64.fill(0n);
    this.#byId.delete(shard.id);
  }

  /** End worker `index`'s thread abruptly, as a crash would. */
  async terminate(index: number): Promise<void> {
    const shard = this.shards[index];
    if (shard?.state !== 'ready') throw new RangeError(`worker ${index} is not serving`);
    const thread = this.#pool?.threads.find((t) => t.threadId === shard.threadId);
    if (!thread) throw new Error(`worker ${index} has no thread`);
    // out of rotation before anything else can be sent to it
    this.host.scheduler.remove(shard.id);
    await thread.terminate();
  }

  /**
   * Replace the workers one at a time (see Server.reload): each successor
   * imports the handler module afresh and takes new connections; the worker
   * it replaces takes no more and has up to drainMs to see its connections
   * end, then the rest are closed. Reloads run one after another. If a
   * successor fails to start, the worker it was to replace keeps serving,
   * the workers not yet replaced stay as they are, and the error is returned.
   */
  reload(drainMs: number, apply?: () => void): Promise<ReloadSummary> {
    // new options take effect when this reload's turn comes, for its successors
    const run = this.#reloading.then(() => {
      if (this.host.running() === 'listening') apply?.();
      return this.#reload(drainMs);
    });
    this.#reloading = run.catch(() => undefined);
    return run;
  }

  async #reload(drainMs: number): Promise<ReloadSummary> {
    const t0 = Date.now();
    const generation = this.#generation + 1;
    const summary: ReloadSummary = { generation, replaced: 0, drained: 0, forced: 0, ms: 0 };
    this.#generation = generation;
    // Successors start one at a time; each old worker leaves rotation as
    // soon as its successor serves and drains alongside the others. Draining
    // each before starting the next kept the workers not yet replaced (and
    // their options: a proxy's old upstreams) taking new connections for
    // (workers - 1) x drainMs.
    const drains: Promise<{ drained: number; forced: number }>[] = [];
    for (let index = 0; index < this.shards.length; index++) {
      if (this.host.running() !== 'listening') break;
      const old = this.shards[index];
      if (old?.state !== 'ready') continue;
      // its slot goes to the successor at once: from here it is counted
      // (stats, a close meanwhile) with the workers being drained
      this.draining.push(old);
      try {
        await this.#start(index);
      } catch (e) {
        // the successor never served: the old worker goes on as it was
        this.#byId.delete(this.shards[index].id);
        this.shards[index] = old;
        this.draining.splice(this.draining.indexOf(old), 1);
        summary.error = e instanceof Error ? e : new Error(String(e));
        break;
      }
      drains.push(this.#drain(old, drainMs));
    }
    for (const { drained, forced } of await Promise.all(drains)) {
      summary.replaced++;
      summary.drained += drained;
      summary.forced += forced;
    }
    summary.ms = Date.now() - t0;
    return summary;
  }

  /** A replaced worker: out of rotation, its connections end or are closed after drainMs, then it is retired. */
  async #drain(old: Shard, drainMs: number): Promise<{ drained: number; forced: number }> {
    const { scheduler } = this.host;
    if (scheduler.has(old.id)) scheduler.remove(old.id);
    old.state = 'draining';
    if (!this.draining.includes(old)) this.draining.push(old);
    const b = old.block;
    const live0 = b.gauge(WI.live);
    const deadline = Date.now() + drainMs;
    // out of rotation, the scheduler no longer counts its hand-offs: wait on
    // the worker's own gauges, including connections already delivered to
    // its ring that it has not taken yet (told to close first, it would
    // close them unanswered)
    const busy = () => b.gauge(WI.live) > 0 || b.gauge(WI.inflight) > 0 || old.delivered > b.total(WU.accepted);
    // a server close() meanwhile keeps this drain going: it waits for these
    // connections too (within its own timeout), then closes this worker
    // with the others (its state leaves 'draining')
    while (Date.now() < deadline && busy() && old.state === 'draining') {
      await new Promise((r) => setTimeout(r, 5));
    }
    const forced0 = b.total(WU.forced);
    if (old.state === 'draining') {
      old.state = 'closing';
      this.#send(old, { type: 'close', graceMs: 1000 });
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([old.task?.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 3000)))]);
    clearTimeout(timer);
    const forced = b.total(WU.forced) - forced0;
    this.draining.splice(this.draining.indexOf(old), 1);
    // a worker that crashed while draining was retired by failed()
    if ((old.state as ShardState) !== 'failed') {
      this.#retire(old, false);
      old.state = 'closed';
    }
    return { drained: Math.max(0, live0 - forced), forced };
  }

  /**
   * A command to a shard. A shard that waits in its ring (workerWait 'ring')
   * runs its JS, and so reads its messages, between serve() calls of at most
   * SERVE_MS; the doorbell makes it read this one now.
   */
  #send(shard: Shard, cmd: ShardCommand): void {
    shard.port.postMessage(cmd);
    if (shard.target >= 0 && this.host.options().workerWait === 'ring') this.host.acceptor()?.wake(shard.target);
  }

  /** Ask every serving shard to close its connections within graceMs; wait for them (bounded). */
  async close(graceMs: number): Promise<void> {
    const waits: Promise<unknown>[] = [];
    for (const s of [...this.shards, ...this.draining]) {
      if (s?.state !== 'ready' && s?.state !== 'draining') continue;
      s.state = 'closing';
      if (this.host.scheduler.has(s.id)) this.host.scheduler.remove(s.id);
      this.#send(s, { type: 'close', graceMs });
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

  /** Close at once whatever still runs, then stop the threads. */
  async destroy(): Promise<void> {
    // a shard still starting reads no command until it serves (it may hang
    // in a handler's init): waiting on it only delayed listen()'s start
    // timeout by 3 s; the pool's destroy ends its thread
    const serving: Promise<unknown>[] = [];
    for (const s of [...this.shards, ...this.draining]) {
      if (!s) continue;
      if (s.state === 'ready' || s.state === 'draining' || s.state === 'closing') serving.push(s.task?.catch(() => undefined) ?? Promise.resolve());
      if (s.state === 'starting' || s.state === 'ready' || s.state === 'draining') {
        s.state = 'closing';
        try {
          this.#send(s, { type: 'close', graceMs: 0 });
        } catch {
          /* port already closed */
        }
      }
    }
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool) {
      // let shards that were told to close finish, then stop the threads
      await Promise.race([Promise.all(serving), new Promise((r) => setTimeout(r, 3000).unref())]);
      await pool.destroy();
    }
    for (const s of this.shards) {
      if (s && s.state !== 'failed') s.state = 'closed';
      try {
        (s?.port as { close?: () => void })?.close?.();
      } catch {
        /* closed */
      }
    }
  }
}
