/**
 * @ringleader/runtime: sharded io_uring TCP servers for Node.js, and the
 * load generator that drives them. What an embedder needs, nothing more;
 * the command line's helpers live in `@ringleader/runtime/internal`.
 *
 * ```ts
 * import { createServer } from '@ringleader/runtime';
 * const server = createServer({ port: 7000, workers: 4, handler: 'echo' });
 * await server.listen();
 * ```
 */
export { createServer, Server } from './server.js';
export type {
  AcceptorStats,
  AddressInfo,
  CloseOptions,
  CloseSummary,
  PauseReason,
  ProxyWorkerStats,
  ReloadSummary,
  ServerStats,
  ShardState,
  Totals,
  UpstreamStats,
  WorkerStats,
  ZeroCopyStats,
} from './server-types.js';
export type { LatencySummary } from './server-stats.js';
export { BUILTIN_HANDLERS, OVERFLOWS, SERVER_DEFAULTS, UPSTREAM_POLICIES } from './options.js';
export type { BuiltinHandler, HandlerModuleSpec, Overflow, ServerOptions, UpstreamPolicy } from './options.js';
export type { UpstreamGroupSpec, UpstreamSpec } from './upstream.js';
export { POLICIES } from './scheduler.js';
export type { Policy } from './scheduler.js';
export type { PlacementFunction, PlacementInfo, PlacementStats, PlacementWorker } from './placement.js';
export { defineHandler } from './handler.js';
export { LISTEN_FDS_START, listenFds, sdNotify } from './systemd.js';
export type { Connection, Handler, HandlerContext } from './handler.js';
export { JS_ECHO_HANDLER } from './handlers/index.js';
export { runStress } from './stress.js';
export { STRESS_DEFAULTS, STRESS_MODES } from './stress-options.js';
export type { SocketMode, StressMode, StressOptions } from './stress-options.js';
export { describeMismatch } from './stress-result.js';
export type { LatencyStats, StressMismatch, StressProgress, StressResult } from './stress-result.js';
export { isSystemError, type RingleaderSystemError } from '@ringleader/core-native';
