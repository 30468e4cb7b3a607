/**
 * @ringleader/runtime: sharded io_uring TCP servers for Node.js.
 *
 * ```ts
 * import { createServer } from '@ringleader/runtime';
 * const server = createServer({ port: 7000, workers: 4, handler: 'echo' });
 * await server.listen();
 * ```
 */
export { createServer, Server } from './server.js';
export type {
  AddressInfo,
  CloseOptions,
  CloseSummary,
  PauseReason,
  ProxyWorkerStats,
  ServerStats,
  Totals,
  UpstreamStats,
  ZeroCopyStats,
  ShardState,
  WorkerStats,
} from './server.js';
export { resolveOptions, BUILTIN_HANDLERS, UPSTREAM_POLICIES, DEFAULT_ZC_THRESHOLD } from './options.js';
export type { BuiltinHandler, HandlerModule, HandlerModuleSpec, Overflow, ResolvedOptions, ServerOptions, UpstreamPolicy } from './options.js';
export { parseUpstream } from './upstream.js';
export type { UpstreamSpec } from './upstream.js';
export { defineHandler } from './handler.js';
export type { Connection, Handler, HandlerContext } from './handler.js';
export { JS_ECHO_HANDLER } from './handlers/index.js';
export { Scheduler, POLICIES } from './scheduler.js';
export type { Policy, ShardInfo, SchedulerListener } from './scheduler.js';
export type { LatencySummary } from './counters.js';
export { rlimit, sysctl, maxTableSize } from './limits.js';
export { runStress, resolveStressOptions, describeMismatch, parseTarget, parseSources, STRESS_MODES } from './stress.js';
export type {
  LatencyStats,
  ResolvedStressOptions,
  SocketMode,
  StressMismatch,
  StressMode,
  StressOptions,
  StressProgress,
  StressResult,
} from './stress.js';
// the request modes of stress (issue 11): option handling, not yet wired into runStress
export { resolveProtocol, PROTOCOL_MODES, PROTOCOL_FLAGS } from './stress-protocol.js';
export type { ProtocolMode, ProtocolOptions, ProtocolTarget, ResolvedProtocol } from './stress-protocol.js';
export { isUrlTarget, parseUrlTarget, parseHeader, parseMethod, parseExpectStatus, statusExpected, resolveHttp } from './stress-http.js';
export type { HttpOptions, ResolvedHttp, StatusRanges, UrlTarget } from './stress-http.js';
export { splitCommand, parseTests, threadsOrTests, resolveRedis, REDIS_TESTS, MAX_KEYSPACE, MAX_DATA_SIZE } from './stress-redis.js';
export type { RedisCommand, RedisOptions, ReplyKind, ResolvedRedis } from './stress-redis.js';
export { parseBytes, checkPlaceholders, resolveCustom, LENGTH_PREFIXES, DEFAULT_MAX_FRAME } from './stress-custom.js';
export type { CustomOptions, Framing, LengthPrefix, ResolvedCustom } from './stress-custom.js';
export {
  errnoError,
  errnoName,
  ioUringUnavailable,
  isSystemError,
  probe,
  versions,
  type ProbeResult,
  type RingleaderSystemError,
} from '@ringleader/core-native';
