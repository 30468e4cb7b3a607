/**
 * A shard: the long-lived piscina task that owns one worker thread's ring.
 *
 * It creates the ring on this thread (so the ring's single issuer is this
 * thread), reports the ring fd to the main thread, serves until told to
 * close, then force-closes what is left and tears the ring down.
 *
 * With a handler module, it first imports the module and runs its init (a
 * failure there ends the task with the error, which makes listen() reject),
 * then creates the ring in JS mode with a Host dispatching its events.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { native, type NativeWorkerOptions } from '@ringleader/core-native';
import { UpstreamBlock, WI, workerBlock } from './counters.js';
import { type ErrorInfo, errorInfo } from './error-info.js';
import { handlerContext, Host, loadHandler } from './host.js';

/** A handler module to run in the shard (JS mode). */
export interface ShardHandler {
  /** module URL (file:) */
  url: string;
  /** reloads so far: a new version is imported afresh, not from this thread's module cache */
  version: number;
  /** handlerOptions, passed to init as ctx.options */
  options: unknown;
  dev: boolean;
}

/** What the main thread sends to start a shard. */
export interface ShardTask {
  id: number;
  /** worker index (0..workers-1) and worker count, for the handler's context */
  index: number;
  workers: number;
  ring: NativeWorkerOptions;
  counters: SharedArrayBuffer;
  /** proxy: per-upstream counters of this worker */
  upstreamCounters?: SharedArrayBuffer;
  port: MessagePort;
  handler?: ShardHandler;
  /** the acceptor ring, where a failing shard sends its late arrivals back */
  acceptorRingFd: number;
  /** the scheduling slice this thread asks for, microseconds; 0: the kernel's default */
  sliceUs: number;
}

/** Messages from the shard to the main thread. */
export type ShardMessage =
  /** sliceError: 0, or the -errno setting the thread's slice failed with */
  | { type: 'ready'; ringFd: number; threadId: number; setupFlags: number; sliceError: number }
  | { type: 'closed'; forced: number }
  | { type: 'handler-error'; error: ErrorInfo; suppressed: number }
  /** an uncaught exception: the shard will end; take it out of rotation */
  | { type: 'failing'; error: ErrorInfo };

/** Messages from the main thread to the shard. */
export type ShardCommand =
  | { type: 'close'; graceMs: number }
  /** failing: send every later arrival back to the acceptor */
  | { type: 'evacuate' }
  /** failing: nothing more is on its way; end the thread with the error */
  | { type: 'exit' };

/** What the task resolves with. */
export interface ShardResult {
  id: number;
  forced: number;
  /** the handler module failed to load or init: the shard never served */
  error?: ErrorInfo;
}

export default async function shard(task: ShardTask): Promise<ShardResult> {
  const counters = workerBlock(task.counters);
  let host: Host | undefined;
  if (task.handler) {
    const h = task.handler;
    try {
      const handler = await loadHandler(h.url, h.version);
      const ctx = handlerContext(task.index, task.workers, h.options, h.dev);
      host = new Host(handler, ctx, {
        dev: h.dev,
        counters,
        report: (error, suppressed) => {
          const m: ShardMessage = { type: 'handler-error', error, suppressed };
          task.port.postMessage(m);
        },
      });
      await handler.init?.(ctx);
    } catch (e) {
      task.port.close();
      return { id: task.id, forced: 0, error: errorInfo(e) };
    }
  }
  const opts = { ...task.ring };
  if (opts.proxy && task.upstreamCounters) {
    const ub = new UpstreamBlock(opts.proxy.upstreams.length, task.upstreamCounters);
    opts.proxy = { ...opts.proxy, i32: ub.i32, u64: ub.u64 };
  }
  // the thread serves from here on: its slice (0: the kernel's default); a
  // failure matters only when one was asked for
  const sliceResult = native.setThreadSlice(task.sliceUs);
  const sliceError = task.sliceUs > 0 ? sliceResult : 0;
  let ring: InstanceType<typeof native.WorkerRing>;
  try {
    ring = host ? new native.WorkerRing(opts, counters.i32, counters.u64, host.onEvents) : new native.WorkerRing(opts, counters.i32, counters.u64);
  } catch (e) {
    // as a result, not a throw: a throw crosses piscina as a bare Error and
    // loses code, errno and syscall (ENOMEM from io_uring_queue_init: the
    // RLIMIT_MEMLOCK hint depends on them)
    task.port.close();
    return { id: task.id, forced: 0, error: errorInfo(e) };
  }
  host?.attach(ring);
  onFatal(task, ring);
  // A ring served by its event loop reports the loop's lag. One that waits
  // in io_uring_enter (workerWait 'ring') sleeps there by design, runs its JS
  // between serve() calls only, and reports none.
  const lagMonitor = opts.waitInRing ? undefined : watchLag(counters);
  let serving = opts.waitInRing;
  const serveLoop = () => {
    if (!serving) return;
    // next turn first: a throw from serve() must not stop the serving
    setImmediate(serveLoop);
    ring.serve(SERVE_MS);
  };
  if (serving) setImmediate(serveLoop);

  const ready: ShardMessage = { type: 'ready', ringFd: ring.ringFd, threadId, setupFlags: ring.setupFlags, sliceError };
  task.port.postMessage(ready);

  const cmd = await new Promise<Extract<ShardCommand, { type: 'close' }>>((resolve) => {
    task.port.on('message', (m: ShardCommand) => {
      if (m.type === 'close') resolve(m);
    });
  });

  // force-close what is still open, give the closes a moment to complete
  serving = false;
  const forced = ring.live;
  ring.closeAll();
  const until = Date.now() + Math.max(50, cmd.graceMs);
  while (ring.live > 0 && Date.now() < until) {
    if (opts.waitInRing) ring.serve(Math.max(1, Math.min(10, until - Date.now())));
    await new Promise((r) => setTimeout(r, opts.waitInRing ? 0 : 2));
  }
  ring.close();
  // the thread goes back to the pool as it came: an idle pool thread keeps no slice of ours
  if (task.sliceUs > 0) native.setThreadSlice(0);
  host?.timers.stop();
  lagMonitor?.stop();
  if (host?.handler.close) {
    try {
      await host.handler.close(host.ctx);
    } catch (e) {
      const m: ShardMessage = { type: 'handler-error', error: errorInfo(e), suppressed: 0 };
      task.port.postMessage(m);
    }
  }
  const done: ShardMessage = { type: 'closed', forced };
  task.port.postMessage(done);
  task.port.close();
  return { id: task.id, forced };
}

/** Longest serve() of a ring that waits in io_uring_enter: how late its JS (commands) may run without a doorbell. */
const SERVE_MS = 50;

/** The event loop's lag, as the worker's lag_us gauge, every 500 ms. */
function watchLag(counters: ReturnType<typeof workerBlock>): { stop(): void } {
  const RESOLUTION_MS = 10;
  const lag = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  lag.enable();
  const timer = setInterval(() => {
    // the histogram holds whole timer periods; lag is what exceeds the period
    const mean = Number.isFinite(lag.mean) ? lag.mean / 1000 - RESOLUTION_MS * 1000 : 0;
    counters.setGauge(WI.lag_us, Math.max(0, Math.round(mean)));
    lag.reset();
  }, 500);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      lag.disable();
    },
  };
}

/**
 * An uncaught exception (a handler throwing from a timer, say) ends this
 * thread, as it would end a Node process. Before it does, the main thread
 * takes the shard out of rotation and the ring sends every hand-off still
 * arriving back to the acceptor, to be placed on another worker: the crash
 * costs the connections this worker already had, and no others. If the
 * main thread does not answer within 2 s the thread ends anyway.
 */
function onFatal(task: ShardTask, ring: { evacuate(fd: number): void }): void {
  const fatal = (err: unknown) => {
    process.off('uncaughtException', fatal);
    const die = () =>
      setImmediate(() => {
        throw err;
      });
    const timer = setTimeout(die, 2000);
    task.port.on('message', (m: ShardCommand) => {
      if (m.type === 'evacuate') {
        try {
          ring.evacuate(task.acceptorRingFd);
        } catch {
          // the ring is gone already: nothing can arrive
        }
      } else if (m.type === 'exit') {
        clearTimeout(timer);
        die();
      }
    });
    const m: ShardMessage = { type: 'failing', error: errorInfo(err) };
    task.port.postMessage(m);
  };
  process.on('uncaughtException', fatal);
}
