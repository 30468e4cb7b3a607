/**
 * @ringleader/runtime/internal: what the `ringleader` command (and the
 * tests) use beyond the public API: option resolution, address parsing,
 * process limits, the scheduler, kernel probing. Not a stable interface.
 */
export { formatHostPort, parseHostPort, parseSources } from './address.js';
export type { HostPort, HostPortRules } from './address.js';
export { availableMemory, hasCapIpcLock, maxTableSize, rlimit, sysctl } from './limits.js';
export type { Rlimit } from './limits.js';
export { resolveOptions } from './options.js';
export type { HandlerModule, ResolvedOptions } from './options.js';
export { Scheduler } from './scheduler.js';
export type { SchedulerListener, ShardInfo } from './scheduler.js';
export { REQUEST_OPTIONS, resolveStressOptions } from './stress-options.js';
export type { ResolvedStressOptions } from './stress-options.js';
export { parseUpstream } from './upstream.js';
export { csvText, hdrText, latencyStats, mergeResults } from './stress-report.js';
export type { PerSecond, SecondSample, SparseHistogram } from './stress-report.js';
// the request modes of stress (issue 11): option handling
export { PROTOCOL_MODES, resolveProtocol } from './stress-protocol.js';
export type { ProtocolMode, ProtocolOptions, ProtocolTarget, ResolvedProtocol } from './stress-protocol.js';
export { isUrlTarget, parseExpectStatus, parseHeader, parseMethod, parseUrlTarget, resolveHttp, statusExpected } from './stress-http.js';
export type { HttpOptions, ResolvedHttp, StatusRanges, UrlTarget } from './stress-http.js';
export { MAX_DATA_SIZE, MAX_KEYSPACE, parseTests, REDIS_TESTS, resolveRedis, splitCommand, threadsOrTests } from './stress-redis.js';
export type { RedisCommand, RedisOptions, ReplyKind, ResolvedRedis } from './stress-redis.js';
export { checkPlaceholders, DEFAULT_MAX_FRAME, LENGTH_PREFIXES, parseBytes, resolveCustom } from './stress-custom.js';
export type { CustomOptions, Framing, LengthPrefix, ResolvedCustom } from './stress-custom.js';
export { errnoError, errnoName, ioUringUnavailable, probe, versions, type ProbeResult } from '@ringleader/core-native';
