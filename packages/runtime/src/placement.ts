/**
 * Placement users steer: which worker an accepted connection should go to,
 * decided on the main thread when the acceptor reports it, before the
 * scheduler (scheduler.ts) hands it off.
 *
 * - `source-hash` (HAProxy's `balance source`): the client address (not its
 *   port) hashed to a worker index, so one client keeps landing on one
 *   worker; the scheduler walks on to the next index when that worker is
 *   saturated or being replaced, and never drops the connection.
 * - a placement function `(conn) => workerIndex`, given the peer address and
 *   port and (lazily) each worker's live counts. Its answer is validated; a
 *   throw or a bad index is counted and the connection goes where the
 *   `policy` (default p2c) puts it. Calls are timed: mean and max in stats,
 *   a warning once the mean over 100 or more calls passes 1 ms (it runs on
 *   the thread that accepts).
 */
import { performance } from 'node:perf_hooks';
import { abi } from '@ringleader/core-native';
import { peerAddress } from './address.js';

/** A worker as a placement function sees it. */
export interface PlacementWorker {
  index: number;
  /** open connections */
  live: number;
  /** hand-offs on their way to it */
  inflight: number;
  /** its table is full: a connection placed here goes elsewhere */
  saturated: boolean;
  /** false while it starts or is being replaced */
  ready: boolean;
}

/** What a placement function is called with, once per accepted connection. */
export interface PlacementInfo {
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  remoteFamily: 'IPv4' | 'IPv6' | undefined;
  /** every worker, computed when first read */
  readonly workers: readonly PlacementWorker[];
}

/** `placement` option: return the index (0..workers-1) of the worker that should serve `conn`. */
export type PlacementFunction = (conn: PlacementInfo) => number;

/** Placement counters in `stats()`. */
export interface PlacementStats {
  mode: 'source-hash' | 'function';
  /** connections placed by it */
  calls: number;
  /** function calls that threw or returned something other than a worker index */
  errors: number;
  /** placements that could not be honoured (worker saturated, replaced) and went elsewhere */
  fallbacks: number;
  meanUs: number;
  maxUs: number;
}

const { IPv4: AF_INET, IPv6: AF_INET6 } = abi.addressFamilies;
const SLOW_MS = 1;

/** FNV-1a over the address words (family included, port not). */
function hashPeer(family: number, w: Int32Array): number {
  let h = 0x811c9dc5 ^ family;
  const words = family === AF_INET ? 1 : 4;
  for (let k = 1; k <= words; k++) {
    const v = w[k];
    for (let b = 0; b < 32; b += 8) h = Math.imul(h ^ ((v >>> b) & 0xff), 0x01000193);
  }
  return h >>> 0;
}

export interface PlacementHost {
  workers: number;
  /** the acceptor's record of connection `id`'s peer (acceptor.peer); 0 or -ENOENT */
  peer(id: number, out: Int32Array): number;
  view(): PlacementWorker[];
  warn(e: Error): void;
}

export class Placement {
  readonly mode: 'source-hash' | 'function';
  calls = 0;
  errors = 0;
  #ms = 0;
  #maxMs = 0;
  #slowWarned = false;
  #errorWarned = false;
  #words = new Int32Array(5);

  constructor(
    private readonly fn: PlacementFunction | 'source-hash',
    private readonly host: PlacementHost,
  ) {
    this.mode = fn === 'source-hash' ? 'source-hash' : 'function';
  }

  /** The worker index connection `id` should go to, or -1 for the policy's own choice. */
  prefer(id: number): number {
    const w = this.#words;
    const known = this.host.peer(id, w) === 0;
    const family = known ? w[0] >>> 16 : 0;
    if (this.fn === 'source-hash') {
      if (family !== AF_INET && family !== AF_INET6) return -1;
      this.calls++;
      return hashPeer(family, w) % this.host.workers;
    }
    return this.#call(this.fn, family, w);
  }

  #call(fn: PlacementFunction, family: number, w: Int32Array): number {
    const host = this.host;
    let workers: PlacementWorker[] | undefined;
    const info: PlacementInfo = {
      remoteAddress: peerAddress(family, w, 1),
      remotePort: family ? w[0] & 0xffff : undefined,
      remoteFamily: family === AF_INET ? 'IPv4' : family === AF_INET6 ? 'IPv6' : undefined,
      get workers() {
        workers ??= host.view();
        return workers;
      },
    };
    this.calls++;
    const t0 = performance.now();
    let r: unknown;
    let threw: unknown;
    try {
      r = fn(info);
    } catch (e) {
      threw = e;
    }
    const dt = performance.now() - t0;
    this.#ms += dt;
    if (dt > this.#maxMs) this.#maxMs = dt;
    // judged on the mean: one slow call is usually a GC pause or the thread being preempted
    if (!this.#slowWarned && this.calls >= 100 && this.#ms / this.calls > SLOW_MS) {
      this.#slowWarned = true;
      const mean = (this.#ms / this.calls).toFixed(2);
      host.warn(Object.assign(new Error(`the placement function takes ${mean} ms per connection on average; it runs on the accepting thread`), { code: 'ERR_PLACEMENT_SLOW' }));
    }
    if (threw === undefined && Number.isInteger(r) && (r as number) >= 0 && (r as number) < host.workers) return r as number;
    this.errors++;
    if (!this.#errorWarned) {
      this.#errorWarned = true;
      const why =
        threw !== undefined ? `threw: ${threw instanceof Error ? threw.message : String(threw)}` : `returned ${typeof r === 'number' ? r : typeof r}, not a worker index from 0 to ${host.workers - 1}`;
      host.warn(Object.assign(new Error(`the placement function ${why}; such connections are placed by the policy (counted in stats().placement.errors)`), { code: 'ERR_PLACEMENT' }));
    }
    return -1;
  }

  stats(fallbacks: number): PlacementStats {
    return {
      mode: this.mode,
      calls: this.calls,
      errors: this.errors,
      fallbacks,
      meanUs: this.calls && this.mode === 'function' ? (this.#ms * 1000) / this.calls : 0,
      maxUs: this.#maxMs * 1000,
    };
  }
}
