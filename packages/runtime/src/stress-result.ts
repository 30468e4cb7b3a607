/**
 * What a stress run reports: the result and progress types, and the merge
 * of every thread's counter block (sums, histogram buckets, error table)
 * into one {@link StressResult}.
 */
import { abi, clientLayout as L, errnoError, errnoName, type NativeMismatch } from '@ringleader/core-native';
import { CI, CU, type CounterBlock, maxTotal, sumGauges, sumTotals } from './counters.js';
import { bucketBounds, mergeBuckets, percentile, sampleCount } from './histogram.js';
import { statusExpected } from './stress-http.js';
import type { ResolvedStressOptions, StressMode } from './stress-options.js';
import { latencyStats, type PerSecond, perSecond, type SecondSample, type SparseHistogram, toSparse } from './stress-report.js';

/** Latency summary in microseconds: the percentile spectrum from p50 to p99.999. */
export interface LatencyStats {
  count: number;
  min: number;
  mean: number;
  stdev: number;
  p50: number;
  p75: number;
  p90: number;
  p99: number;
  p999: number;
  p9999: number;
  p99999: number;
  max: number;
}

/** One verification failure, as the engine found it. */
/** A wrong answer or failed verification; `target`: the server of its connection, when the run had several */
export type StressMismatch = NativeMismatch & { target?: string };

/** Live numbers, for a progress display. Rates cover the last interval. */
export interface StressProgress {
  /** the run's mode (after URL targets and options picked it) */
  mode?: StressMode;
  elapsedMs: number;
  phase: 'connecting' | 'warmup' | 'measuring' | 'draining';
  up: number;
  connecting: number;
  msgsPerSec: number;
  cyclesPerSec: number;
  outMiBPerSec: number;
  inMiBPerSec: number;
  /** of the messages (churn: cycles) completed in the last interval */
  p50Us: number;
  p99Us: number;
  errors: number;
  verifyFailures: number;
  verified: number;
}

/** What {@link runStress} resolves with. */
export interface StressResult {
  /** true when nothing failed verification, errors stayed within maxErrors, and work was done */
  ok: boolean;
  /** 0 ok, 1 failed (what `ringleader stress` exits with) */
  exitCode: 0 | 1;
  /** why the run counts as failed, one line each */
  failures: string[];
  warnings: string[];
  mode: StressMode;
  targets: string[];
  threads: number;
  connections: number;
  size: { min: number; max: number };
  pipeline: number;
  /** open-loop rate (per second), null for closed loop */
  rate: number | null;
  connectRate: number | null;
  seed: number;
  socketMode: 'ring' | 'fd';
  warmupMs: number;
  /** when the measured window began, wall clock (ISO 8601): `merge` checks that several machines' windows overlap */
  windowStart: string;
  /** the measured window */
  durationMs: number;
  /** from the first connection attempt until every ring had closed */
  elapsedMs: number;
  interrupted: boolean;
  /** why the run was cut short by ringleader itself (e.g. nothing listening), or null */
  aborted: string | null;
  /** some rings had not closed every connection by their time limit: the counts are what they had reached then */
  partial: boolean;
  messages: {
    /** messages whose last byte was sent */
    sent: number;
    /** messages echoed and verified byte for byte (whole run); in the request modes, every response, a wrong one (also an error) included */
    verified: number;
    /** verified inside the measured window */
    measured: number;
    /** still in flight when the run ended */
    unfinished: number;
    /** of them, still unanswered when the drain time ran out (with a drain, the run fails) */
    unansweredAfterDrain: number;
    /** in flight on a connection that ended during the run, behind the one that ended it (which is counted as its error) */
    abandoned: number;
    /** open loop: sent more than 1 ms after their scheduled time */
    late: number;
    /** open loop: fell due before the end and were never sent (held back by answers that did not come); not in the latency figures */
    unsent: number;
  };
  throughput: {
    /** the distribution of per-second message (request) counts in the window: min, p2.5, p50, p97.5, max */
    perSecond: PerSecond | null;
    msgsPerSec: number;
    /** request modes: responses per second (the same as msgsPerSec) */
    requestsPerSec?: number;
    /** churn: connect/echo/close cycles per second */
    cyclesPerSec: number;
    outMiBPerSec: number;
    inMiBPerSec: number;
  };
  bytes: { sent: number; received: number };
  /** echo: message round trip from its send (open loop: scheduled) time; churn: whole cycle; request modes: request to response; null when nothing was timed */
  latencyUs: LatencyStats | null;
  /** the buckets latencyUs was read from (for --hdr-out and merging results) */
  latencyHistogram: SparseHistogram | null;
  /** what completed in each whole second of the measured window */
  timeSeries: SecondSample[];
  /** the load generator's CPU time over the run (every thread of the process, start-up excluded), and per completed message (request, cycle) */
  clientCpu: { userMs: number; systemMs: number; usPerMessage: number | null };
  /** `ringleader stress merge`: how many results this one adds up */
  mergedFrom?: number;
  /** connect latency (socket op to connect completion) */
  connectUs: LatencyStats | null;
  /** the buckets connectUs was read from (for merging results) */
  connectHistogram?: SparseHistogram | null;
  /** redis: the redis-benchmark test this result is of (`-t set,get` runs one after another, a result each) */
  test?: string;
  connected: {
    /** connections established over the run */
    opened: number;
    attempts: number;
    /** attempts that failed */
    failed: number;
    /** established connections that ended by an error */
    dropped: number;
    peakUp: number;
    /** up when the run stopped */
    upAtEnd: number;
    /** churn: completed cycles (whole run) */
    cycles: number;
  };
  errors: { total: number; byCode: Record<string, number> };
  verification: {
    /** echo, churn, bulk: echoes that differed from what was sent (request modes count wrong answers under `responses` and `errors`) */
    failures: number;
    /** the first wrong answers, failed verifications and socket errors of each ring (up to 16 each), naming connection, message and offset */
    mismatches: StressMismatch[];
  };
  zeroCopy: {
    threshold: number;
    sends: number;
    notifications: number;
    copied: number;
    fallbacks: number;
    /** failed send_zc (ENOMEM, EOPNOTSUPP) sent again as plain send, not counted as errors */
    retried: number;
    fallbackCode: string | null;
  };
  /** request modes (http, redis, custom): what came back; null in the echo modes */
  responses: {
    /** every response (counted in `messages.verified` too), right or wrong */
    total: number;
    /** responses that broke the protocol, by name (HTTP_CHUNK_SIZE, RESP_TYPE, MISMATCH, TRUNCATED, ...) */
    protocolErrors: Record<string, number>;
    /** http: responses by status code, and by class (2xx ...) */
    statuses: Record<string, number>;
    classes: Record<string, number>;
    /** http: responses whose status was not expected (option "expectStatus") */
    unexpectedStatus: number;
    /** redis: error replies, and replies of a kind the command does not expect */
    errorReplies: number;
    unexpectedReplies: number;
    /** answers to no request sent: the server answered more than it was asked (an error; the connection ends) */
    extraAnswers: number;
    /** requests unanswered within the timeout */
    timeouts: number;
    /** sockets the server ended (Connection: close, or an idle close); each dialled again */
    serverCloses: number;
    /** requests such a close left unanswered (pipelined behind the last response): issued again on the next socket, so counted twice in messages.sent */
    reissued: number;
  } | null;
}

const bounds = bucketBounds(L.histSubBits, L.histBuckets);

/** Round-trip (or cycle) latency buckets of every block, merged. */
export function latencyBuckets(blocks: readonly CounterBlock[]): Float64Array {
  return mergeBuckets(blocks, L.histOffset, L.histBuckets);
}

/** p50/p99 of a bucket histogram, in microseconds (for the live line). */
export function progressPercentiles(counts: Float64Array): { p50Us: number; p99Us: number } {
  return { p50Us: percentile(counts, bounds, 0.5) / 1000, p99Us: percentile(counts, bounds, 0.99) / 1000 };
}

/** Errors by code over every block ("EOF" for a peer that closed early). */
export function errorTable(blocks: readonly CounterBlock[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (let e = 0; e < L.errSlots; e++) {
    const n = sumTotals(blocks, L.errOffset + e);
    if (!n) continue;
    const code = e === 0 ? 'EOF' : errnoName(-e);
    out[code] = (out[code] ?? 0) + n;
  }
  return out;
}

const PROTO_ERROR_NAME: Record<number, string> = Object.fromEntries(Object.entries(abi.protoErrors).map(([name, e]) => [e.code, name]));

/** Request modes: protocol errors by name. */
export function protocolErrorTable(blocks: readonly CounterBlock[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (let e = 1; e < L.protoErrSlots; e++) {
    const n = sumTotals(blocks, L.protoErrOffset + e);
    if (n) out[PROTO_ERROR_NAME[e] ?? `PROTOCOL_${e}`] = n;
  }
  return out;
}

/** http: responses by status code. */
export function statusTable(blocks: readonly CounterBlock[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (let st = 100; st < L.statusSlots; st++) {
    const n = sumTotals(blocks, L.statusOffset + st);
    if (n) out[String(st)] = n;
  }
  return out;
}

/** "ECONNREFUSED 3, EOF 1": most frequent first. */
export function describeErrors(byCode: Record<string, number>): string {
  return Object.entries(byCode)
    .sort((a, b) => b[1] - a[1])
    .map(([c, n]) => `${c} ${n}`)
    .join(', ');
}

function hex(b: number): string {
  return b < 0 ? '-' : `0x${b.toString(16).padStart(2, '0')}`;
}

/** RESP2 reply types by their first byte, for a wrong-answer line */
const RESP_TYPES: Record<string, string> = { '+': 'a simple string', ':': 'an integer', $: 'a bulk string', '*': 'an array' };

/** "+PANG", or the type of a reply whose line is not kept: "an array (*)" */
function describeReply(type: number, text?: string): string {
  const c = String.fromCharCode(type);
  if (c === '+') return `+${text ?? ''}`;
  return RESP_TYPES[c] ? `${RESP_TYPES[c]} (${c})` : `starting with ${hex(type)}`;
}

/**
 * One line about a verification failure or a wrong answer: names connection,
 * message (request) and offset. `mode` words the kinds both families share
 * (eof, extra) for a request mode.
 */
export function describeMismatch(m: StressMismatch, mode?: StressMode): string {
  const conn = `connection ${m.connection}${m.target ? ` (${m.target})` : ''}`;
  const req = `${conn}, request ${m.message}`;
  if (mode === 'http' || mode === 'redis' || mode === 'custom') {
    if (m.kind === 'eof') return `${req}: the server closed the connection with the request unanswered`;
    if (m.kind === 'extra') return `${req}: the server sent an answer to a request that was never sent (first byte ${hex(m.got)})`;
    if (m.kind === 'error') return `${req}: ${errnoName(-m.got)} with the request unanswered`;
  }
  switch (m.kind) {
    case 'protocol': {
      const e = m.protocolError ? abi.protoErrors[m.protocolError] : undefined;
      // a response that differs from --expect names both bytes, as echo mode does
      const bytes = m.expected >= 0 || m.got >= 0 ? `: expected ${m.expected >= 0 ? hex(m.expected) : 'the end of the response'}, got ${hex(m.got)}` : '';
      return `${req}, offset ${m.offset} of the response: ${e?.message ?? 'protocol error'} (${m.protocolError || 'unknown'})${bytes}`;
    }
    case 'status':
      return `${req}: HTTP ${m.got}, a status not expected (option "expectStatus")`;
    case 'reply':
      return m.got === 45 ? `${req}: error reply -${m.text ?? ''}` : `${req}: unexpected reply ${describeReply(m.got, m.text)}`;
    case 'timeout':
      return `${req}: no response within the timeout (option "timeout")`;
  }
  const where = `${conn}, message ${m.message}, offset ${m.offset}`;
  if (m.kind === 'eof') return `${where}: the server closed the connection before the echo was complete`;
  if (m.kind === 'extra') return `${where}: the server sent bytes that were never sent to it (first ${hex(m.got)})`;
  if (m.kind === 'error') return `${where}: ${errnoName(-m.got)} before the echo was complete`;
  return `${where}: expected ${hex(m.expected)}, got ${hex(m.got)}`;
}

/** How the run went, beside the counters: what runStress knows and the blocks do not. */
export interface RunFacts {
  targets: { ip: string; label: string }[];
  threads: number;
  socketMode: 'ring' | 'fd';
  zcThreshold: number;
  /** the CLOCK_MONOTONIC instants the rings were given (ns) */
  tMeasure: bigint;
  tEnd: bigint;
  /** tMeasure on the wall clock, ms since the epoch */
  windowStartMs: number;
  elapsedMs: number;
  interrupted: boolean;
  aborted: string | null;
  warnings: string[];
  /** only the rings that finished */
  outcomes: { runErrno: number; mismatches: NativeMismatch[] }[];
  /** rings past their time limit: why, and what was up and when, taken at that
   * moment (a ring's gauges are reset when it is torn down); null if none */
  unfinished: { reason: string; up: number; atNs: number } | null;
  /** process.cpuUsage() over the run (start instants to the last close) */
  cpu: { user: number; system: number };
}

/** idle: why not every connection was up, when the connect ramp outlasts the run */
function rampNote(o: ResolvedStressOptions): string {
  const rampMs = o.connectRate ? (o.connections / o.connectRate) * 1000 : 0;
  if (rampMs <= o.warmup + o.duration) return '';
  return `: at option "connectRate" ${o.connectRate}/s the connect ramp takes ${(rampMs / 1000).toFixed(1)} s, longer than option "warmup" plus option "duration" (${((o.warmup + o.duration) / 1000).toFixed(1)} s)`;
}

/** Merge every thread's block into the result, and judge it. */
export function summarize(o: ResolvedStressOptions, blocks: readonly CounterBlock[], f: RunFacts): StressResult {
  const warnings = [...f.warnings];
  for (const oc of f.outcomes) {
    if (oc.runErrno) warnings.push(`a ring stopped early: ${errnoError(oc.runErrno, 'io_uring_enter').message}`);
  }
  // connection k dialled targets[k % n] (engine/client.c): name the server when there were several
  const mismatches: StressMismatch[] = f.outcomes.flatMap((oc) => oc.mismatches.map((m) => (f.targets.length > 1 ? { ...m, target: f.targets[m.connection % f.targets.length].label } : m)));
  const u = (name: string) => sumTotals(blocks, CU[name]);
  // counting stopped at the scheduled end, or earlier (quota met, SIGINT);
  // a stop noticed a little after the scheduled end does not widen it
  const stopNs = f.unfinished ? f.unfinished.atNs : maxTotal(blocks, CU.t_stop_ns);
  const endNs = f.tEnd && stopNs > Number(f.tEnd) ? Number(f.tEnd) : stopNs;
  const windowNs = Math.max(0, endNs - Number(f.tMeasure));
  const windowS = windowNs / 1e9;
  // the engine counted completions by second of the window; only whole seconds
  const series: SecondSample[] = [];
  for (let s = 0; s < Math.min(Math.floor(windowS), L.secondsSlots - 1); s++) series.push({ t: s, msgs: sumTotals(blocks, L.secondsOffset + s) });
  const measured = u('msgs');
  const cycles = u('cycles');
  const timed = blocks.filter((b) => b.total(CU.lat_min_ns) > 0 || b.total(CU.lat_max_ns) > 0);
  const minNs = Math.min(...timed.map((b) => b.total(CU.lat_min_ns)));
  const latHist = latencyBuckets(blocks);
  // each ring kept its first latencies exactly: with few samples, the real values
  const exact = blocks.flatMap((b) => {
    const n = Math.min(L.exactSlots, sampleCount(mergeBuckets([b], L.histOffset, L.histBuckets)));
    return Array.from({ length: n }, (_, i) => b.total(L.exactOffset + i));
  });
  const latencyUs = latencyStats(latHist, u('lat_sum_ns'), Number.isFinite(minNs) ? minNs : 0, maxTotal(blocks, CU.lat_max_ns), exact);
  const connHist = mergeBuckets(blocks, L.connectHistOffset, L.histBuckets);
  const connMaxNs = maxTotal(blocks, CU.conn_lat_max_ns);
  const connectUs = latencyStats(connHist, u('conn_lat_sum_ns'), 0, connMaxNs);
  // no exact minimum is kept for connects: the lowest bucket stands for it
  if (connectUs) connectUs.min = Math.round(percentile(connHist, bounds, 0, 0, connMaxNs) / 10) / 100;
  const request = o.protocol !== null;
  const byCode = errorTable(blocks);
  const protocolErrors = request ? protocolErrorTable(blocks) : {};
  const statuses = o.protocol?.mode === 'http' ? statusTable(blocks) : {};
  const classes: Record<string, number> = {};
  for (const [st, n] of Object.entries(statuses)) {
    const c = `${st[0]}xx`;
    classes[c] = (classes[c] ?? 0) + n;
  }
  if (request) {
    // the wrong answers, named as a user reads them
    Object.assign(byCode, protocolErrors);
    if (o.protocol?.mode === 'http') {
      for (const [st, n] of Object.entries(statuses)) if (!statusExpected(o.protocol.http.expectStatus, Number(st))) byCode[`HTTP ${st}`] = n;
    }
    if (u('error_replies')) byCode['error reply'] = u('error_replies');
    if (u('unexpected_replies')) byCode['unexpected reply'] = u('unexpected_replies');
    if (u('extra_answers')) byCode['answer to no request'] = u('extra_answers');
  }
  const errorsTotal = u('errors');
  const verifyFailures = u('verify_failures');
  const fallbackErr = blocks.map((b) => b.gauge(CI.zc_fallback_err)).find((e) => e !== 0);
  const verified = u('msgs_all');
  const cyclesAll = u('cycles_all');
  const upAtEnd = f.unfinished ? f.unfinished.up : sumGauges(blocks, CI.up_at_stop);
  const zcSends = u('zc_sends');
  const zcCopied = u('zc_copied');

  if (fallbackErr) {
    const code = errnoName(fallbackErr);
    warnings.push(`send_zc failed with ${code}; large sends fell back to plain send${code === 'ENOMEM' ? ' (raise the locked-memory limit, ulimit -l)' : ''}`);
  }
  if (zcSends > 0 && zcCopied === zcSends && f.targets.every((t) => t.ip.startsWith('127.') || t.ip === '::1')) {
    warnings.push('every zero-copy send was copied by the kernel, as it always is on loopback');
  }

  const unit = o.mode === 'churn' ? 'cycle(s)' : request ? 'request(s)' : 'message(s)';
  const drainLeft = u('drain_left');
  const unsent = u('unsent');
  if (unsent)
    warnings.push(
      `${unsent} ${unit} fell due and were never sent: the connections were still waiting for answers (the server did not keep up with option "rate"); their latency is not in the figures`,
    );

  const failures: string[] = [];
  if (f.aborted) failures.push(f.aborted);
  if (f.unfinished) failures.push(f.unfinished.reason);
  if (verifyFailures) {
    const first = mismatches[0];
    failures.push(`verification failed ${verifyFailures} time(s)${first ? `; first: ${describeMismatch(first, o.mode)}` : ''}`);
  }
  if (errorsTotal > o.maxErrors) {
    const first = mismatches.find((m) => m.kind !== 'mismatch');
    failures.push(`${errorsTotal} error(s) (${describeErrors(byCode)}), more than the ${o.maxErrors} allowed (option "maxErrors")${first ? `; first: ${describeMismatch(first, o.mode)}` : ''}`);
  }
  // a server that stops answering is a failure, not a short run: a drain is time given to answer
  if (drainLeft && o.drain > 0 && !f.aborted) failures.push(`${drainLeft} ${unit} still unanswered when the ${o.drain} ms drain ended: the server stopped answering (option "drain" waits longer)`);
  if (!f.aborted) {
    if ((o.mode === 'echo' || o.mode === 'bulk') && verified === 0) failures.push('no message was echoed');
    if (request && verified === 0) failures.push('no response was received');
    if (o.mode === 'churn' && cyclesAll === 0) failures.push('no connect/echo/close cycle completed');
    if (o.mode === 'idle' && upAtEnd < o.connections && !f.interrupted) failures.push(`${upAtEnd} of ${o.connections} connections were up at the end${rampNote(o)}`);
    const done = o.mode === 'churn' ? cyclesAll : verified;
    const what = o.mode === 'churn' ? 'cycles' : request ? 'requests' : 'messages';
    if (o.messages && done < o.messages && !f.interrupted) failures.push(`${done} of ${o.messages} ${what} completed`);
    // stopped (SIGINT) within the warmup: work was done, none of it measured; a result of zeros is not a pass
    if (o.mode !== 'idle' && !o.messages && windowNs === 0 && done > 0) failures.push(`nothing was measured: the run stopped within its ${o.warmup} ms warmup`);
  }
  const rate = (n: number) => (windowS > 0 ? n / windowS : 0);
  const ok = failures.length === 0;
  return {
    ok,
    exitCode: ok ? 0 : 1,
    failures,
    warnings,
    mode: o.mode,
    ...(o.protocol?.mode === 'redis' && o.protocol.redis.tests ? { test: o.protocol.redis.tests } : {}),
    targets: f.targets.map((t) => t.label),
    threads: f.threads,
    connections: o.connections,
    size: { min: o.sizeMin, max: o.sizeMax },
    pipeline: o.pipeline,
    rate: o.rate || null,
    connectRate: o.connectRate || null,
    seed: o.seed,
    socketMode: f.socketMode,
    warmupMs: o.warmup,
    windowStart: new Date(Math.round(f.windowStartMs)).toISOString(),
    durationMs: Math.round(windowNs / 1e6),
    elapsedMs: f.elapsedMs,
    interrupted: f.interrupted,
    aborted: f.aborted,
    partial: f.unfinished !== null,
    messages: {
      sent: u('msgs_sent'),
      verified,
      measured,
      unfinished: u('unfinished'),
      unansweredAfterDrain: u('drain_left'),
      abandoned: u('abandoned'),
      late: u('late'),
      unsent: u('unsent'),
    },
    throughput: {
      perSecond: perSecond(series),
      msgsPerSec: rate(measured),
      ...(request ? { requestsPerSec: rate(measured) } : {}),
      cyclesPerSec: rate(cycles),
      outMiBPerSec: rate(u('bytes_out')) / 1048576,
      inMiBPerSec: rate(u('bytes_in')) / 1048576,
    },
    bytes: { sent: u('bytes_out_all'), received: u('bytes_in_all') },
    latencyUs,
    latencyHistogram: latencyUs ? toSparse(latHist) : null,
    timeSeries: series,
    clientCpu: {
      userMs: Math.round(f.cpu.user / 1000),
      systemMs: Math.round(f.cpu.system / 1000),
      usPerMessage: (o.mode === 'churn' ? cyclesAll : verified) ? Math.round(((f.cpu.user + f.cpu.system) / (o.mode === 'churn' ? cyclesAll : verified)) * 100) / 100 : null,
    },
    connectUs,
    connectHistogram: connectUs ? toSparse(connHist) : null,
    connected: {
      opened: u('connects'),
      attempts: u('connect_attempts'),
      failed: u('connect_errors'),
      dropped: u('conn_errors'),
      peakUp: sumGauges(blocks, CI.peak_up),
      upAtEnd,
      cycles: cyclesAll,
    },
    errors: { total: errorsTotal, byCode },
    verification: { failures: verifyFailures, mismatches },
    zeroCopy: {
      threshold: f.zcThreshold,
      sends: zcSends,
      notifications: u('zc_notifs'),
      copied: zcCopied,
      fallbacks: u('zc_fallbacks'),
      retried: u('zc_retries'),
      fallbackCode: fallbackErr ? errnoName(fallbackErr) : null,
    },
    responses: request
      ? {
          total: verified,
          protocolErrors,
          statuses,
          classes,
          unexpectedStatus: u('status_errors'),
          errorReplies: u('error_replies'),
          unexpectedReplies: u('unexpected_replies'),
          extraAnswers: u('extra_answers'),
          timeouts: u('timeouts'),
          serverCloses: u('server_closes'),
          reissued: u('reissued'),
        }
      : null,
  };
}
