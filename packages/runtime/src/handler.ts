/**
 * The handler API: a module whose default export is a {@link Handler} runs
 * inside every worker, on that worker's ring.
 *
 * ```js
 * // handler.js
 * import { defineHandler } from '@ringleader/runtime';
 * export default defineHandler({
 *   init(ctx) { console.log(`worker ${ctx.workerId} of ${ctx.workers}`); },
 *   onData(conn, data) { conn.write(data); },
 * });
 * ```
 * ```js
 * const server = createServer({ handler: new URL('./handler.js', import.meta.url) });
 * ```
 *
 * Lifetime of `data`: the Buffer handed to {@link Handler.onData} is a view
 * into the worker's receive buffers and is valid only until `onData`
 * returns; the buffer is then given back to the kernel and refilled with
 * other bytes. Copy what you keep (`Buffer.from(data)`, `data.toString()`).
 * In development mode (`dev: true`, or `NODE_ENV=development`) each callback
 * gets a copy that is detached when it returns, so a kept view reads as empty
 * (`length` 0) and its `read*()` methods throw.
 */

/** What {@link Handler.init} and {@link Handler.close} receive, once per worker. */
export interface HandlerContext<O = unknown> {
  /** Index of this worker, from 0 to `workers - 1`. */
  readonly workerId: number;
  /** Number of workers the server runs. */
  readonly workers: number;
  /** The worker thread's id (`worker_threads.threadId`). */
  readonly threadId: number;
  /** `handlerOptions` given to `createServer` (a structured clone of it). */
  readonly options: O;
  /** True in development mode: data views are detached after each callback. */
  readonly dev: boolean;
}

/**
 * One TCP connection, as a handler sees it. Calls on a connection that was
 * destroyed or has closed are ignored (`write` returns false); `write` after
 * `end()` on a connection still open throws `ERR_STREAM_WRITE_AFTER_END`.
 */
export interface Connection<T = unknown> {
  /** Process-wide connection id, assigned when it was accepted. */
  readonly id: number;
  /** The worker serving it (see {@link HandlerContext.workerId}). */
  readonly workerId: number;
  /** The peer's IP address, e.g. `'127.0.0.1'` or `'::1'`. */
  readonly remoteAddress: string | undefined;
  /** The peer's port. */
  readonly remotePort: number | undefined;
  /** `'IPv4'` or `'IPv6'`. */
  readonly remoteFamily: 'IPv4' | 'IPv6' | undefined;
  /** Free for the handler's per-connection state; starts `undefined`. */
  data: T;
  /** Bytes written and not yet handed to the kernel. */
  readonly writableLength: number;
  /** True after `write` returned false, until {@link Handler.onDrain}. */
  readonly writableNeedDrain: boolean;
  /** True once `end()` was called. */
  readonly writableEnded: boolean;
  /** True once the peer has sent its FIN ({@link Handler.onEnd} ran). */
  readonly readableEnded: boolean;
  /** True once `destroy()` was called or the connection closed. */
  readonly destroyed: boolean;
  /** True while receiving is paused by `pause()`. */
  readonly isPaused: boolean;
  /**
   * Queue bytes (a string is sent as UTF-8). Writes made during one batch of
   * events, or one tick outside it, leave in one send. Returns false when the
   * queued bytes reach the server's `highWaterMark`; {@link Handler.onDrain}
   * follows when they fall to half of it. Data is copied (or, for a `data`
   * view written back whole or in part during its own callback, sent from
   * the receive buffer itself), so `data` may be reused at once.
   */
  write(data: string | Uint8Array | ArrayBufferView): boolean;
  /**
   * Half-close: optionally write `data`, then send FIN after everything
   * queued. Receiving goes on until the peer's FIN; the connection closes
   * when both directions have ended.
   */
  end(data?: string | Uint8Array | ArrayBufferView): void;
  /**
   * Close now, dropping what is still queued. {@link Handler.onClose} gets
   * `err`; with an error the close counts as a connection error.
   */
  destroy(err?: Error): void;
  /** Stop receiving: no `onData` until `resume()` (bytes wait in the kernel). */
  pause(): void;
  /** Receive again; data that arrived while paused is delivered first. */
  resume(): void;
  /**
   * Idle timeout: after `ms` without bytes in either direction, call
   * {@link Handler.onTimeout} (or, without one, destroy the connection with
   * an `ETIMEDOUT` error). `0` turns it off. Checked by a coarse per-worker
   * sweep every `ms / 4` (10 ms to 1 s), so it fires between `ms` and about
   * `1.5 × ms` after the last activity; it fires once, and again only after
   * new activity.
   */
  setTimeout(ms: number): void;
  /** Hold writes (past the end of the batch) until the matching `uncork()`. */
  cork(): void;
  /** Release writes held by `cork()`; nested corks need as many uncorks. */
  uncork(): void;
}

/**
 * A protocol handler. Every callback is optional. Order per connection:
 * `onConnection` → `onData`* → `onEnd` → `onClose` (`onEnd` only if the
 * peer half-closed; `onDrain` and `onTimeout` in between as they happen).
 *
 * Errors: a callback that throws, or returns a promise that rejects, closes
 * only its connection (destroyed with the error, which `onClose` receives);
 * the error is counted (`stats().total.handlerErrors`, every one) and
 * reported at most once a second per worker: the server's `'handler-error'`
 * event, `{ worker, error, suppressed }` (`suppressed`: errors of that
 * worker since the last report that were not reported themselves), or a
 * line on stderr when nothing listens.
 * The worker keeps serving. Errors thrown from the handler's own timers or
 * event emitters are not caught: they end the worker (which is replaced), as
 * an uncaught exception ends a Node process.
 */
export interface Handler<T = unknown, O = unknown> {
  /**
   * Keep the connection writable after the peer's FIN (default false: after
   * `onEnd` returns, the connection is `end()`ed automatically, as Node's
   * `net` does).
   */
  allowHalfOpen?: boolean;
  /**
   * Runs once per worker before it accepts connections; may be async. A
   * throw (or rejection) makes `listen()` reject with that error.
   */
  init?(ctx: HandlerContext<O>): void | Promise<void>;
  /** A connection arrived on this worker. */
  onConnection?(conn: Connection<T>): void | Promise<void>;
  /** Bytes arrived. `data` is valid only during this call (see module docs). */
  onData?(conn: Connection<T>, data: Buffer): void | Promise<void>;
  /** The peer sent FIN: no more data will arrive. */
  onEnd?(conn: Connection<T>): void | Promise<void>;
  /** Queued bytes fell to the low-water mark after `write` returned false. */
  onDrain?(conn: Connection<T>): void | Promise<void>;
  /** The idle timeout set with `conn.setTimeout()` passed. */
  onTimeout?(conn: Connection<T>): void | Promise<void>;
  /**
   * The connection is closed and its handle is dead. `err` is the error
   * given to `destroy`, the one a callback threw, or the socket error that
   * ended it (`code` such as `'ECONNRESET'`); undefined for a clean close.
   */
  onClose?(conn: Connection<T>, err?: Error): void | Promise<void>;
  /** Runs once per worker when the server closes, after its connections. */
  close?(ctx: HandlerContext<O>): void | Promise<void>;
}

const CALLBACKS = ['init', 'onConnection', 'onData', 'onEnd', 'onDrain', 'onTimeout', 'onClose', 'close'] as const;
const KNOWN = new Set<string>([...CALLBACKS, 'allowHalfOpen']);

/**
 * Check a handler's shape and return it unchanged (typed). Use it as the
 * module's default export: `export default defineHandler({ ... })`.
 */
export function defineHandler<T = unknown, O = unknown>(handler: Handler<T, O>): Handler<T, O> {
  checkHandler(handler, 'defineHandler()');
  return handler;
}

/** Throws a TypeError naming what is wrong with a handler object. */
export function checkHandler(h: unknown, where: string): asserts h is Handler {
  if (h === null || typeof h !== 'object') {
    throw Object.assign(new TypeError(`${where}: a handler must be an object with callbacks (onData, ...); got ${h === null ? 'null' : typeof h}`), {
      code: 'ERR_INVALID_HANDLER',
    });
  }
  for (const k of Object.keys(h)) {
    if (!KNOWN.has(k)) {
      throw Object.assign(new TypeError(`${where}: unknown handler property "${k}" (known: ${[...KNOWN].join(', ')})`), { code: 'ERR_INVALID_HANDLER' });
    }
  }
  const r = h as Record<string, unknown>;
  for (const k of CALLBACKS) {
    if (r[k] !== undefined && typeof r[k] !== 'function') {
      throw Object.assign(new TypeError(`${where}: handler.${k} must be a function; got ${typeof r[k]}`), { code: 'ERR_INVALID_HANDLER' });
    }
  }
  if (r.allowHalfOpen !== undefined && typeof r.allowHalfOpen !== 'boolean') {
    throw Object.assign(new TypeError(`${where}: handler.allowHalfOpen must be a boolean; got ${typeof r.allowHalfOpen}`), { code: 'ERR_INVALID_HANDLER' });
  }
}
