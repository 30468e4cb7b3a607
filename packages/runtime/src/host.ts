/**
 * The handler host: runs a user's handler module on one worker's ring.
 *
 * The ring hands over all events of a completion batch with one call
 * (onEvents(n)) through an Int32Array of fixed-size records; this file turns
 * them into handler callbacks. Nothing on the data path allocates per
 * message: a connection is an object made once per connection, and a data
 * event's Buffer is a view into the receive buffers, cached per buffer id and
 * reused while the length matches (the view is only valid during the
 * callback anyway). Writes go straight to the engine's per-connection stage;
 * everything written during a batch leaves in one send per connection when
 * the batch ends, and writes made outside a batch are flushed by one
 * microtask per tick.
 */
import { threadId } from 'node:worker_threads';
import { abi, errnoError, type NativeWorkerRing } from '@ringleader/core-native';
import { peerAddress } from './address.js';
import { WU, type CounterBlock } from './counters.js';
import { checkHandler, type Connection, type Handler, type HandlerContext } from './handler.js';
import { type ErrorInfo, errorInfo } from './error-info.js';

const { CONNECT, DATA, END, DRAIN, CLOSE } = abi.jsEvents;
const WORDS = abi.jsWords;
const TYPE_MASK = (1 << abi.jsTypeBits) - 1;
/** the longest a batch of events runs in the handler before the rest waits for the next turn of the event loop */
const SLICE_MS = 20;
const GEN_SHIFT = abi.jsTypeBits;
// the word of each field in a record (engine/abi.h RL_JS_FIELDS)
const { head: F_HEAD, index: F_INDEX, id: F_ID, peer: F_PEER, addr: F_ADDR, buffer: F_BUFFER, length: F_LENGTH, error: F_ERROR } = abi.jsFields;
const { ESTALE, EBADF, ECONNABORTED } = abi.errno;
const { IPv4: AF_INET, IPv6: AF_INET6 } = abi.addressFamilies;

// connection state bits
const S_ENDED = 1; // end() called
const S_EOF = 2; // peer FIN seen (onEnd delivered)
const S_DESTROYED = 4; // destroy() called (or a callback threw)
const S_CLOSED = 8; // CLOSE event seen: the handle is dead
const S_PAUSED = 16;
const S_NEED_DRAIN = 32;
const S_TOUCHED = 64; // activity since the last timeout sweep

function writeAfterEnd(): Error {
  return Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' });
}

/** A connection as the handler sees it; see {@link Connection}. */
class Conn implements Connection<unknown> {
  readonly id: number;
  readonly workerId: number;
  data: unknown = undefined;
  /** @internal */ _idx: number;
  /** @internal */ _gen: number;
  /** @internal */ _state = 0;
  /** @internal */ _corks = 0;
  /** @internal */ _timeout = 0;
  /** @internal when it was last seen active (performance.now()), -1 after its timeout fired (until activity) */ _idle = 0;
  /** @internal */ _error: Error | undefined = undefined;
  /** @internal data (copies) and END (null) that arrived while paused */ _pending: (Buffer | null)[] | null = null;
  #host: Host;
  #fam: number;
  #a0: number;
  #a1: number;
  #a2: number;
  #a3: number;

  constructor(host: Host, idx: number, gen: number, id: number, famPort: number, a0: number, a1: number, a2: number, a3: number) {
    this.#host = host;
    this._idx = idx;
    this._gen = gen;
    this.id = id;
    this.workerId = host.ctx.workerId;
    this.#fam = famPort;
    this.#a0 = a0;
    this.#a1 = a1;
    this.#a2 = a2;
    this.#a3 = a3;
  }

  get remoteFamily(): 'IPv4' | 'IPv6' | undefined {
    const f = this.#fam >>> 16;
    return f === AF_INET ? 'IPv4' : f === AF_INET6 ? 'IPv6' : undefined;
  }

  get remotePort(): number | undefined {
    return this.#fam >>> 16 ? this.#fam & 0xffff : undefined;
  }

  get remoteAddress(): string | undefined {
    return peerAddress(this.#fam >>> 16, [this.#a0, this.#a1, this.#a2, this.#a3], 0);
  }

  get writableLength(): number {
    if (this._state & S_CLOSED) return 0;
    const q = this.#host.ring.queued(this._idx, this._gen);
    return Math.max(q, 0);
  }

  get writableNeedDrain(): boolean {
    return (this._state & S_NEED_DRAIN) !== 0;
  }

  get writableEnded(): boolean {
    return (this._state & S_ENDED) !== 0;
  }

  get readableEnded(): boolean {
    return (this._state & S_EOF) !== 0;
  }

  get destroyed(): boolean {
    return (this._state & (S_DESTROYED | S_CLOSED)) !== 0;
  }

  get isPaused(): boolean {
    return (this._state & S_PAUSED) !== 0;
  }

  write(data: string | Uint8Array | ArrayBufferView): boolean {
    const st = this._state;
    if (typeof data !== 'string' && !ArrayBuffer.isView(data)) {
      throw Object.assign(new TypeError(`conn.write(data): data must be a string, Buffer, TypedArray or DataView; got ${data === null ? 'null' : typeof data}`), {
        code: 'ERR_INVALID_ARG_TYPE',
      });
    }
    if (st & (S_DESTROYED | S_CLOSED)) return false;
    if (st & S_ENDED) throw writeAfterEnd();
    const h = this.#host;
    const q = h.ring.write(this._idx, this._gen, data);
    this._state = st | S_TOUCHED;
    if (!h.inBatch) h.scheduleFlush();
    if (q < 0) {
      if (q === ESTALE || q === EBADF) return false; // closed (onClose is on its way), or the ring is gone
      throw errnoError(q, 'write');
    }
    if (q >= h.highWater) {
      this._state |= S_NEED_DRAIN;
      return false;
    }
    return true;
  }

  end(data?: string | Uint8Array | ArrayBufferView): void {
    if (data !== undefined && data !== null) this.write(data);
    if (this._state & (S_ENDED | S_DESTROYED | S_CLOSED)) return;
    this._state |= S_ENDED;
    const h = this.#host;
    h.ring.end(this._idx, this._gen);
    if (!h.inBatch) h.scheduleFlush();
  }

  destroy(err?: Error): void {
    if (this._state & (S_DESTROYED | S_CLOSED)) return;
    this._state |= S_DESTROYED;
    this._error = err;
    this._pending = null;
    const h = this.#host;
    h.ring.destroy(this._idx, this._gen, err ? ECONNABORTED : 0);
    if (!h.inBatch) h.scheduleFlush();
  }

  pause(): void {
    if (this._state & (S_PAUSED | S_DESTROYED | S_CLOSED)) return;
    this._state |= S_PAUSED;
    const h = this.#host;
    h.ring.pause(this._idx, this._gen);
    if (!h.inBatch) h.scheduleFlush();
  }

  resume(): void {
    if (!(this._state & S_PAUSED) || this._state & (S_DESTROYED | S_CLOSED)) return;
    this._state &= ~S_PAUSED;
    const h = this.#host;
    h.ring.resume(this._idx, this._gen);
    if (this._pending) h.replaySoon(this);
    if (!h.inBatch) h.scheduleFlush();
  }

  setTimeout(ms: number): void {
    if (typeof ms !== 'number' || !(ms >= 0) || !Number.isFinite(ms)) {
      throw Object.assign(new RangeError(`conn.setTimeout(ms): ms must be a finite number >= 0; got ${String(ms)}`), { code: 'ERR_OUT_OF_RANGE' });
    }
    if (this._state & (S_DESTROYED | S_CLOSED)) return;
    this._timeout = ms;
    this._idle = performance.now();
    this.#host.timers.set(this, ms);
  }

  cork(): void {
    if (this._state & (S_DESTROYED | S_CLOSED)) return;
    if (this._corks++ === 0) this.#host.ring.cork(this._idx, this._gen, true);
  }

  uncork(): void {
    if (this._corks === 0) return;
    if (--this._corks > 0 || this._state & (S_DESTROYED | S_CLOSED)) return;
    const h = this.#host;
    h.ring.cork(this._idx, this._gen, false);
    if (!h.inBatch) h.scheduleFlush();
  }
}

/** Idle timeouts: one coarse sweep for every connection that has one. */
class Timers {
  #conns = new Set<Conn>();
  #timer: NodeJS.Timeout | undefined;
  #period = 0;
  constructor(private readonly onTimeout: (c: Conn) => void) {}

  set(c: Conn, ms: number): void {
    if (ms === 0) {
      this.#conns.delete(c);
      if (this.#conns.size === 0) this.stop();
      return;
    }
    this.#conns.add(c);
    const want = Math.max(10, Math.min(1000, Math.floor(ms / 4)));
    if (!this.#timer || want < this.#period) {
      this.stop();
      this.#period = want;
      this.#timer = setInterval(() => this.#sweep(), want);
      this.#timer.unref();
    }
  }

  delete(c: Conn): void {
    if (this.#conns.delete(c) && this.#conns.size === 0) this.stop();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#period = 0;
  }

  #sweep(): void {
    // idle time is measured from a timestamp: from setTimeout(), or from the
    // sweep that saw activity (so at most one period late, never early; a
    // connection whose timeout was set partway through a period used to be
    // charged the whole period, and fired up to 25% early)
    const now = performance.now();
    for (const c of this.#conns) {
      if (c._state & S_TOUCHED) {
        c._state &= ~S_TOUCHED;
        c._idle = now;
        continue;
      }
      if (c._idle < 0) continue; // fired; waits for activity
      if (now - c._idle >= c._timeout) {
        c._idle = -1;
        this.onTimeout(c);
      }
    }
  }
}

/** Options of a {@link Host}. */
export interface HostOptions {
  dev: boolean;
  counters: CounterBlock;
  /** rate-limited report of a handler error (another thread logs it) */
  report(err: ErrorInfo, suppressed: number): void;
}

/** Loads and checks a handler module; the error names the module. */
export async function loadHandler(url: string, version = 0): Promise<Handler> {
  // ESM caches a module by URL for the life of the thread: a query makes a
  // reload's version another module (the modules it imports stay cached)
  const at = version ? `${url}${url.includes('?') ? '&' : '?'}ringleader-version=${version}` : url;
  const mod = (await import(at)) as { default?: unknown; handler?: unknown };
  const h = mod.default ?? mod.handler;
  if (h === undefined) {
    throw Object.assign(new TypeError(`handler module ${url} has no default export (export default defineHandler({ ... }))`), { code: 'ERR_INVALID_HANDLER' });
  }
  checkHandler(h, `handler module ${url}`);
  return h;
}

/** Dispatches one worker ring's events to a handler. */
export class Host {
  readonly handler: Handler;
  readonly ctx: HandlerContext;
  ring!: NativeWorkerRing;
  highWater = 0;
  /** true while a batch is being dispatched: the batch end flushes writes */
  inBatch = false;
  readonly timers: Timers;
  #conns: (Conn | undefined)[] = [];
  #ev!: Int32Array;
  #region!: ArrayBuffer;
  #bufSize = 0;
  #views: (Buffer | undefined)[] = [];
  #dev: boolean;
  #counters: CounterBlock;
  #report: HostOptions['report'];
  #flushQueued = false;
  #lastReport = 0;
  #suppressed = 0;
  #held: unknown; // the last error not reported yet, and the timer that will
  #heldTimer: NodeJS.Timeout | undefined;
  #replay = new Set<Conn>();
  #replayQueued = false;
  #halfOpen: boolean;
  // callbacks, bound once (undefined ones are skipped)
  #onConnection: Handler['onConnection'];
  #onData: Handler['onData'];
  #onEnd: Handler['onEnd'];
  #onDrain: Handler['onDrain'];
  #onClose: Handler['onClose'];
  #onTimeout: Handler['onTimeout'];

  constructor(handler: Handler, ctx: HandlerContext, o: HostOptions) {
    this.handler = handler;
    this.ctx = ctx;
    this.#dev = o.dev;
    this.#counters = o.counters;
    this.#report = o.report;
    this.#halfOpen = handler.allowHalfOpen === true;
    this.#onConnection = handler.onConnection;
    this.#onData = handler.onData;
    this.#onEnd = handler.onEnd;
    this.#onDrain = handler.onDrain;
    this.#onClose = handler.onClose;
    this.#onTimeout = handler.onTimeout;
    this.timers = new Timers((c) => this.#timeout(c));
  }

  /** the ring calls this with the number of records in `ring.events` */
  readonly onEvents = (n: number): number => this.#dispatch(n);

  attach(ring: NativeWorkerRing): void {
    this.ring = ring;
    this.highWater = ring.highWater;
    this.#ev = ring.events;
    this.#region = ring.buffers;
    this.#bufSize = ring.bufferSize;
  }

  scheduleFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(this.#flush);
  }

  readonly #flush = (): void => {
    this.#flushQueued = false;
    this.ring.flush();
  };

  /** Deliver what a resumed connection got while paused, soon. */
  replaySoon(c: Conn): void {
    this.#replay.add(c);
    if (this.#replayQueued) return;
    this.#replayQueued = true;
    queueMicrotask(() => {
      this.#replayQueued = false;
      const list = [...this.#replay];
      this.#replay.clear();
      const was = this.inBatch;
      this.inBatch = true;
      try {
        for (const c of list) this.#replayPending(c);
      } finally {
        this.inBatch = was;
      }
      if (!was) this.ring.flush();
    });
  }

  // ---------------------------------------------------------------- dispatch

  /**
   * Hand events to the handler, in order; returns how many were handled.
   * A batch stops once it has run SLICE_MS (a slow handler): the ring sends
   * what was written, the event loop turns (timers, a close, the lag
   * monitor), and the rest comes back on the next turn.
   */
  #dispatch(n: number): number {
    const ev = this.#ev;
    this.inBatch = true;
    const t0 = performance.now();
    try {
      for (let i = 0, o = 0; i < n; i++, o += WORDS) {
        if (i > 0 && performance.now() - t0 > SLICE_MS) return i;
        const w0 = ev[o + F_HEAD];
        const type = w0 & TYPE_MASK;
        const gen = w0 >>> GEN_SHIFT;
        const idx = ev[o + F_INDEX];
        if (type === DATA) {
          const c = this.#conns[idx];
          if (c !== undefined && c._gen === gen) this.#data(c, ev[o + F_BUFFER], ev[o + F_LENGTH]);
          continue;
        }
        switch (type) {
          case CONNECT:
            this.#connect(idx, gen, o);
            break;
          case END: {
            const c = this.#conns[idx];
            if (c !== undefined && c._gen === gen) this.#end(c);
            break;
          }
          case DRAIN: {
            const c = this.#conns[idx];
            if (c !== undefined && c._gen === gen) this.#drain(c);
            break;
          }
          case CLOSE: {
            const c = this.#conns[idx];
            if (c !== undefined && c._gen === gen) this.#close(c, ev[o + F_ERROR]);
            break;
          }
          default:
            break;
        }
      }
    } finally {
      this.inBatch = false;
    }
    return n;
  }

  #connect(idx: number, gen: number, o: number): void {
    const ev = this.#ev;
    const a = o + F_ADDR;
    const c = new Conn(this, idx, gen, ev[o + F_ID] >>> 0, ev[o + F_PEER], ev[a], ev[a + 1], ev[a + 2], ev[a + 3]);
    this.#conns[idx] = c;
    const cb = this.#onConnection;
    if (cb !== undefined) this.#invoke(c, cb);
  }

  #view(bid: number, len: number): Buffer {
    let v = this.#views[bid];
    if (v === undefined || v.length !== len) {
      v = Buffer.from(this.#region, bid * this.#bufSize, len);
      this.#views[bid] = v;
    }
    return v;
  }

  /** a copy in an ArrayBuffer of its own (detachable) */
  #copy(src: Uint8Array): Buffer {
    const ab = new ArrayBuffer(src.length);
    const b = Buffer.from(ab);
    b.set(src);
    return b;
  }

  #data(c: Conn, bid: number, len: number): void {
    const st = c._state;
    if (st & (S_DESTROYED | S_CLOSED)) return;
    c._state = st | S_TOUCHED;
    if (st & S_PAUSED || c._pending !== null) {
      if (c._pending !== null && !(st & S_PAUSED)) this.#replayPending(c);
      if (c._state & S_PAUSED || c._pending !== null) {
        (c._pending ??= []).push(this.#copy(this.#view(bid, len)));
        return;
      }
      if (c._state & (S_DESTROYED | S_CLOSED)) return;
    }
    const cb = this.#onData;
    if (cb === undefined) return;
    if (this.#dev) {
      this.#deliverCopy(c, this.#copy(this.#view(bid, len)));
      return;
    }
    this.#invoke(c, cb, this.#view(bid, len));
  }

  /** onData with a copy; in dev mode the copy is detached afterwards */
  #deliverCopy(c: Conn, b: Buffer): void {
    try {
      this.#invoke(c, this.#onData!, b);
    } finally {
      if (this.#dev) {
        const ab = b.buffer as ArrayBuffer;
        structuredClone(ab, { transfer: [ab] });
      }
    }
  }

  #replayPending(c: Conn): void {
    const q = c._pending;
    if (q === null) return;
    while (q.length && !(c._state & (S_PAUSED | S_DESTROYED | S_CLOSED))) {
      const b = q.shift()!;
      if (b === null) {
        c._pending = q.length ? q : null;
        this.#deliverEnd(c);
        continue;
      }
      if (this.#onData !== undefined) this.#deliverCopy(c, b);
    }
    if (c._state & (S_DESTROYED | S_CLOSED)) c._pending = null;
    else if (!q.length) c._pending = null;
  }

  #end(c: Conn): void {
    if (c._state & (S_DESTROYED | S_CLOSED)) return;
    if (c._state & S_PAUSED || c._pending !== null) {
      (c._pending ??= []).push(null);
      return;
    }
    this.#deliverEnd(c);
  }

  #deliverEnd(c: Conn): void {
    c._state |= S_EOF | S_TOUCHED;
    const cb = this.#onEnd;
    if (cb !== undefined && !this.#invoke(c, cb)) return;
    if (!this.#halfOpen && !(c._state & (S_ENDED | S_DESTROYED | S_CLOSED))) c.end();
  }

  #drain(c: Conn): void {
    if (!(c._state & S_NEED_DRAIN) || c._state & (S_DESTROYED | S_CLOSED)) return;
    c._state &= ~S_NEED_DRAIN;
    const cb = this.#onDrain;
    if (cb !== undefined) this.#invoke(c, cb);
  }

  #close(c: Conn, errno: number): void {
    this.#conns[c._idx] = undefined;
    const wasDestroyed = (c._state & S_DESTROYED) !== 0;
    c._state |= S_CLOSED;
    c._pending = null;
    if (c._timeout) this.timers.delete(c);
    const cb = this.#onClose;
    if (cb === undefined) return;
    const err = c._error ?? (errno < 0 && !wasDestroyed ? errnoError(errno, 'connection') : undefined);
    try {
      const r = cb.call(this.handler, c, err);
      if (r !== undefined && typeof (r as PromiseLike<void>).then === 'function') (r as PromiseLike<void>).then(undefined, (e: unknown) => this.#count(e));
    } catch (e) {
      this.#count(e);
    }
  }

  #timeout(c: Conn): void {
    if (c._state & (S_DESTROYED | S_CLOSED)) return;
    const cb = this.#onTimeout;
    const was = this.inBatch;
    this.inBatch = true;
    try {
      if (cb === undefined) {
        c.destroy(Object.assign(new Error('connection idle timeout'), { code: 'ETIMEDOUT' }));
      } else {
        this.#async(c, cb.call(this.handler, c));
      }
    } catch (e) {
      this.#threw(c, e);
    } finally {
      this.inBatch = was;
    }
    if (!was) this.ring.flush();
  }

  // ---------------------------------------------------------------- errors

  /**
   * Calls a handler callback for c (with the data, for onData). A throw, or
   * a promise it returns that rejects, closes c only. False if it threw.
   */
  #invoke(c: Conn, cb: (this: unknown, c: Conn, data: Buffer) => unknown, data?: Buffer): boolean {
    try {
      const once = cb as (this: unknown, c: Conn) => unknown;
      this.#async(c, data === undefined ? once.call(this.handler, c) : cb.call(this.handler, c, data));
      return true;
    } catch (e) {
      this.#threw(c, e);
      return false;
    }
  }

  /** A callback returned a promise: its rejection counts as a throw. */
  #async(c: Conn, r: unknown): void {
    if (r !== undefined && r !== null && typeof (r as PromiseLike<void>).then === 'function') {
      (r as PromiseLike<void>).then(undefined, (e: unknown) => this.#threw(c, e));
    }
  }

  /** A callback threw: count, report, close that connection only. */
  #threw(c: Conn, e: unknown): void {
    this.#count(e);
    const err = e instanceof Error ? e : new Error(String(e));
    c.destroy(err);
  }

  /** Count every error; report at most one a second, with how many were not. */
  #count(e: unknown): void {
    Atomics.add(this.#counters.u64, WU.handler_errors, 1n);
    const now = Date.now();
    if (now - this.#lastReport >= 1000) {
      this.#flushErrors(e, now);
      return;
    }
    this.#suppressed++;
    this.#held = e;
    // the last error of a burst goes out when its second is over, with the
    // count, even if no later error comes to carry it
    this.#heldTimer ??= setTimeout(
      () => {
        this.#heldTimer = undefined;
        if (!this.#suppressed) return;
        this.#suppressed--;
        this.#flushErrors(this.#held, Date.now());
      },
      1000 - (now - this.#lastReport),
    ).unref();
  }

  #flushErrors(e: unknown, now: number): void {
    this.#lastReport = now;
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    this.#held = undefined;
    this.#report(errorInfo(e), suppressed);
  }
}

/** Build the context a handler's init/close receive. */
export function handlerContext(workerId: number, workers: number, options: unknown, dev: boolean): HandlerContext {
  return Object.freeze({ workerId, workers, threadId, options, dev });
}
