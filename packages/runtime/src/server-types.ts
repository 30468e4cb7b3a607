/**
 * What a server reports: its address, its close summary, and the shape of
 * `stats()` (per worker, per upstream, totals). Types only.
 */
import type { PlacementStats } from './placement.js';
import type { LatencySummary } from './server-stats.js';

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

/** Per-worker statistics: its totals, gauges and state. */
export interface WorkerStats extends Totals {
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
  enobufs: number;
  rxPaused: number;
  /**
   * receive buffers copied into memory of their connection's own because
   * a direction already held maxBuffersHeld (a receive that raced the
   * pause), so the shared pool got them back at once (echo and proxy)
   */
  bufferCopies: number;
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
  /** its upstream group ("default" for `upstreams`) */
  group: string;
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

/** Totals of a worker, or over every worker (including workers that were replaced). */
export interface Totals {
  accepted: number;
  closed: number;
  bytesIn: number;
  bytesOut: number;
  recvs: number;
  sends: number;
  forced: number;
  connErrors: number;
  /** handler-module callbacks that threw */
  handlerErrors: number;
}

/** Whole-server statistics from {@link Server.stats}. */
export interface ServerStats {
  listening: boolean;
  /** the first listening socket's address; `addresses` has every one (option `fds`) */
  address: AddressInfo | null;
  addresses: AddressInfo[];
  uptimeMs: number;
  workers: WorkerStats[];
  total: Totals & { live: number };
  /** the acceptors' counters, summed (one acceptor: its own) */
  acceptor: Record<string, number>;
  /** each acceptor on its own (option `acceptors`) */
  acceptors: AcceptorStats[];
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
  /** source-hash or a placement function: calls, errors, fallbacks, time per call */
  placement?: PlacementStats;
}

/** One acceptor ring: where it listens, its workers, its thread and its counters. */
export interface AcceptorStats {
  index: number;
  /** its thread's kernel id: /proc/PID/task/TID, `taskset -p`, `chrt -p` */
  tid: number;
  addresses: AddressInfo[];
  /** indexes of the workers it hands connections to */
  workers: number[];
  /** accepted connections waiting for one of its workers */
  held: number;
  paused: boolean;
  pauseReason: PauseReason | null;
  counters: Record<string, number>;
}

export type ShardState = 'starting' | 'ready' | 'draining' | 'failed' | 'closing' | 'closed';

/** What one {@link Server.reload} did. */
export interface ReloadSummary {
  /** the handler modules' version after it (1 for the first reload) */
  generation: number;
  /** workers replaced */
  replaced: number;
  /** connections of replaced workers that ended by themselves */
  drained: number;
  /** connections closed when the drain time ran out */
  forced: number;
  ms: number;
  /** a successor that failed to start: that worker and the ones after it were not replaced */
  error?: Error;
  /** options the reload was given that it could not apply (they take a restart or an upgrade) */
  restartRequired?: string[];
}
export type PauseReason = 'capacity' | 'max-connections';
