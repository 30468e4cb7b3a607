/**
 * The parts of a stress result that are read from a latency histogram or a
 * time series, and what is made from whole results: the latency summary
 * (mean, stdev, the percentile spectrum), the per-second throughput
 * distribution, the HdrHistogram percentile distribution (`--hdr-out`, as
 * wrk2 -U prints it and HdrHistogram's plotter reads it), CSV, and the merge
 * of results from several load machines (`ringleader stress merge`).
 */
import { clientLayout as L } from '@ringleader/core-native';
import { bucketBounds, percentile, sampleCount } from './histogram.js';
import type { LatencyStats, StressResult } from './stress-result.js';

const bounds = bucketBounds(L.histSubBits, L.histBuckets);

/** A histogram as JSON carries it: the engine's layout, and the non-empty buckets. */
export interface SparseHistogram {
  /** bucket values are nanoseconds, log-linear with 2^subBits sub-buckets (engine/client.h) */
  subBits: number;
  buckets: [index: number, count: number][];
}

export function toSparse(h: Float64Array): SparseHistogram {
  const buckets: [number, number][] = [];
  h.forEach((n, i) => {
    if (n) buckets.push([i, n]);
  });
  return { subBits: L.histSubBits, buckets };
}

export function fromSparse(s: SparseHistogram): Float64Array {
  if (s.subBits !== L.histSubBits) throw new RangeError(`a histogram of ${s.subBits} sub-bucket bits cannot be read by this build (${L.histSubBits})`);
  const h = new Float64Array(L.histBuckets);
  for (const [i, n] of s.buckets) if (i >= 0 && i < h.length) h[i] += n;
  return h;
}

const us = (ns: number) => Math.round(ns / 10) / 100;

/**
 * Latency summary in microseconds. Percentiles are bucket midpoints (~3%
 * wide) clamped to the exact min and max; the mean is exact (from the sum),
 * the stdev is read from the buckets. When `exact` holds every sample (a
 * small run: the engine keeps its first latencies exactly), everything is
 * read from the real values instead.
 */
export function latencyStats(h: Float64Array, sumNs: number, minNs: number, maxNs: number, exact?: number[]): LatencyStats | null {
  const count = sampleCount(h);
  if (!count) return null;
  if (exact && exact.length === count) return exactStats(exact);
  const mean = sumNs / count;
  // one sample: its sum is its value (connects keep no exact samples)
  if (count === 1) return exactStats([mean]);
  let sq = 0;
  h.forEach((n, i) => {
    if (!n) return;
    const mid = Math.min(maxNs, Math.max(minNs, (bounds[i] + bounds[i + 1]) / 2));
    sq += n * (mid - mean) ** 2;
  });
  const p = (q: number) => us(percentile(h, bounds, q, minNs, maxNs));
  return {
    count,
    min: us(minNs),
    mean: us(mean),
    stdev: us(Math.sqrt(sq / count)),
    p50: p(0.5),
    p75: p(0.75),
    p90: p(0.9),
    p99: p(0.99),
    p999: p(0.999),
    p9999: p(0.9999),
    p99999: p(0.99999),
    max: us(maxNs),
  };
}

/** nearest-rank percentiles of every sample (ns) */
function exactStats(values: number[]): LatencyStats {
  const v = [...values].sort((a, b) => a - b);
  const n = v.length;
  const at = (q: number) => us(v[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]);
  const mean = v.reduce((a, b) => a + b, 0) / n;
  const stdev = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  return {
    count: n,
    min: us(v[0]),
    mean: us(mean),
    stdev: us(stdev),
    p50: at(0.5),
    p75: at(0.75),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
    p9999: at(0.9999),
    p99999: at(0.99999),
    max: us(v[n - 1]),
  };
}

/** One second of the measured window: the messages (requests, churn cycles) completed in it. */
export interface SecondSample {
  /** seconds since measuring began */
  t: number;
  msgs: number;
}

/** The distribution of per-second counts, as autocannon shows it. */
export interface PerSecond {
  min: number;
  p2_5: number;
  p50: number;
  p97_5: number;
  max: number;
  mean: number;
  stdev: number;
  seconds: number;
}

/** of the whole seconds inside the measured window */
export function perSecond(series: readonly SecondSample[]): PerSecond | null {
  const v = series.map((s) => s.msgs).sort((a, b) => a - b);
  if (!v.length) return null;
  const at = (q: number) => v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))];
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const stdev = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { min: v[0], p2_5: at(0.025), p50: at(0.5), p97_5: at(0.975), max: v[v.length - 1], mean, stdev, seconds: v.length };
}

/**
 * HdrHistogram's percentile distribution (outputPercentileDistribution,
 * values in milliseconds, 5 ticks per half distance), the text wrk2 -U
 * prints and the HdrHistogram plotter reads.
 */
export function hdrText(s: SparseHistogram | null, minNs: number, maxNs: number, meanUs: number, stdevUs: number): string {
  // no sample (nothing was answered): the header and footer of an empty distribution
  const h = s ? fromSparse(s) : new Float64Array(L.histBuckets);
  const total = sampleCount(h);
  const out = ['       Value     Percentile TotalCount 1/(1-Percentile)', ''];
  const ms = (ns: number) => (ns / 1e6).toFixed(3).padStart(12);
  const row = (ns: number, q: number, n: number) => {
    const inv = q < 1 ? (1 / (1 - q)).toFixed(2).padStart(14) : '';
    out.push(`${ms(ns)} ${q.toFixed(12).padStart(14)} ${String(n).padStart(10)} ${inv}`.trimEnd());
  };
  if (total) {
    const ticksPerHalf = 5;
    let level = 0;
    for (;;) {
      const q = level / 100;
      const rank = Math.max(1, Math.ceil(q * total));
      let seen = 0;
      let i = 0;
      for (; i < h.length; i++) {
        seen += h[i];
        if (seen >= rank) break;
      }
      // the first sample is the exact minimum, kept apart from the buckets
      const v = rank === 1 && minNs > 0 ? minNs : Math.min(maxNs, Math.max(minNs, i < h.length ? bounds[i + 1] : maxNs));
      if (seen >= total) {
        // HdrHistogram starts at 0% even when one bucket holds every sample
        if (level === 0) row(v, 0, seen);
        row(maxNs, 1, total);
        break;
      }
      row(v, q, seen);
      // HdrHistogram's percentile iterator: steps halve with every halving of the distance to 100%
      const halves = Math.floor(Math.log2(100 / (100 - level))) + 1;
      level += 100 / (ticksPerHalf * 2 ** halves);
    }
  }
  const f = (x: number) => x.toFixed(3).padStart(12);
  out.push(`#[Mean    = ${f(meanUs / 1000)}, StdDeviation   = ${f(stdevUs / 1000)}]`);
  out.push(`#[Max     = ${f(maxNs / 1e6)}, Total count    = ${String(total).padStart(12)}]`);
  // as HdrHistogram counts them: power-of-two buckets of 2^subBits sub-buckets
  out.push(`#[Buckets = ${String(L.histBuckets >> L.histSubBits).padStart(12)}, SubBuckets     = ${String(2 ** L.histSubBits).padStart(12)}]`);
  return `${out.join('\n')}\n`;
}

/** The figures of a result as CSV: one header line, one value line. */
export function csvText(r: StressResult): string {
  const l = r.latencyUs;
  const ps = r.throughput.perSecond;
  const cols: [string, string | number | null | undefined][] = [
    ['mode', r.mode],
    ['test', r.test],
    ['targets', r.targets.join(' ')],
    ['connections', r.connections],
    ['threads', r.threads],
    ['duration_ms', r.durationMs],
    ['ok', r.ok ? 1 : 0],
    ['msgs_per_sec', r.throughput.msgsPerSec],
    ['requests_per_sec', r.throughput.requestsPerSec],
    ['out_mib_per_sec', r.throughput.outMiBPerSec],
    ['in_mib_per_sec', r.throughput.inMiBPerSec],
    ['per_sec_min', ps?.min],
    ['per_sec_p2_5', ps?.p2_5],
    ['per_sec_p50', ps?.p50],
    ['per_sec_p97_5', ps?.p97_5],
    ['per_sec_max', ps?.max],
    ['lat_count', l?.count],
    ['lat_min_us', l?.min],
    ['lat_mean_us', l?.mean],
    ['lat_stdev_us', l?.stdev],
    ['lat_p50_us', l?.p50],
    ['lat_p75_us', l?.p75],
    ['lat_p90_us', l?.p90],
    ['lat_p99_us', l?.p99],
    ['lat_p99_9_us', l?.p999],
    ['lat_p99_99_us', l?.p9999],
    ['lat_p99_999_us', l?.p99999],
    ['lat_max_us', l?.max],
    ['verified', r.messages.verified],
    ['errors', r.errors.total],
  ];
  const cell = (v: string | number | null | undefined) =>
    v === null || v === undefined ? '' : typeof v === 'number' ? String(Math.round(v * 1000) / 1000) : /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
  return `${cols.map(([k]) => k).join(',')}\n${cols.map(([, v]) => cell(v)).join(',')}\n`;
}

const add = (a: Record<string, number>, b: Record<string, number>) => {
  for (const [k, n] of Object.entries(b)) a[k] = (a[k] ?? 0) + n;
  return a;
};

/** Latency histograms of several results added up, with the exact min, max and sum (ns) that make their stats. */
class HistSum {
  readonly h = new Float64Array(L.histBuckets);
  min = Infinity;
  max = 0;
  sum = 0;
  add(sparse: SparseHistogram, s: LatencyStats): void {
    const h = fromSparse(sparse);
    for (let k = 0; k < this.h.length; k++) this.h[k] += h[k];
    this.min = Math.min(this.min, s.min * 1000);
    this.max = Math.max(this.max, s.max * 1000);
    this.sum += s.mean * 1000 * s.count;
  }
  /** [the merged sparse histogram, its stats], or nulls with no sample */
  result(): [SparseHistogram | null, LatencyStats | null] {
    return sampleCount(this.h) ? [toSparse(this.h), latencyStats(this.h, this.sum, this.min, this.max)] : [null, null];
  }
}

/** "a churn", "an idle" */
const a = (word: string) => `${/^[aeiou]/.test(word) ? 'an' : 'a'} ${word}`;

/**
 * Results of one load spread over several machines, as one: histograms,
 * counts and rates added (the machines ran at the same time), per-second
 * series added second by second, latency read again from the merged
 * histogram. Throws a RangeError naming the file for results that cannot be
 * merged (another mode, no histogram).
 */
export function mergeResults(rs: readonly StressResult[], names: readonly string[] = []): StressResult {
  if (!rs.length) throw new RangeError('merge needs at least one result');
  const name = (i: number) => names[i] ?? `result ${i + 1}`;
  rs.forEach((r, i) => {
    if (!r || typeof r !== 'object' || !r.throughput || !r.messages) throw new RangeError(`${name(i)} is not the JSON of ringleader stress --json`);
    if (r.mode !== rs[0].mode) throw new RangeError(`${name(i)} is ${a(r.mode)} run, ${name(0)} ${a(rs[0].mode)} run: only runs of one mode merge`);
  });
  // one result merged with nothing is itself (read again from its
  // histogram, its exact small-sample figures would turn into midpoints)
  if (rs.length === 1) return { ...structuredClone(rs[0]), mergedFrom: 1 };
  const m: StressResult = structuredClone(rs[0]);
  const lat = new HistSum();
  const conn = new HistSum();
  const series = new Map<number, SecondSample>();
  rs.forEach((r, i) => {
    if (r.test !== rs[0].test) throw new RangeError(`${name(i)} is of test ${r.test ?? '(none)'}, ${name(0)} of ${rs[0].test ?? '(none)'}: only results of one test merge`);
    if (r.connectUs && r.connectHistogram) conn.add(r.connectHistogram, r.connectUs);
    if (r.latencyUs && !r.latencyHistogram) throw new RangeError(`${name(i)} has no latency histogram (written by an older ringleader)`);
    if (r.latencyHistogram && r.latencyUs) lat.add(r.latencyHistogram, r.latencyUs);
    for (const s of r.timeSeries ?? []) {
      const e = series.get(s.t) ?? { t: s.t, msgs: 0 };
      e.msgs += s.msgs;
      series.set(s.t, e);
    }
    if (i === 0) return;
    m.targets = [...new Set([...m.targets, ...r.targets])];
    m.connections += r.connections;
    m.threads += r.threads;
    m.durationMs = Math.max(m.durationMs, r.durationMs);
    m.elapsedMs = Math.max(m.elapsedMs, r.elapsedMs);
    m.interrupted ||= r.interrupted;
    for (const k of Object.keys(m.messages) as (keyof StressResult['messages'])[]) m.messages[k] += r.messages[k] ?? 0;
    for (const k of ['msgsPerSec', 'cyclesPerSec', 'outMiBPerSec', 'inMiBPerSec', 'requestsPerSec'] as const) {
      if (m.throughput[k] !== undefined) m.throughput[k] = (m.throughput[k] ?? 0) + (r.throughput[k] ?? 0);
    }
    m.clientCpu.userMs += r.clientCpu.userMs;
    m.clientCpu.systemMs += r.clientCpu.systemMs;
    m.bytes.sent += r.bytes.sent;
    m.bytes.received += r.bytes.received;
    for (const k of Object.keys(m.connected) as (keyof StressResult['connected'])[]) m.connected[k] += r.connected[k];
    m.errors.total += r.errors.total;
    add(m.errors.byCode, r.errors.byCode);
    m.verification.failures += r.verification.failures;
    m.verification.mismatches.push(...r.verification.mismatches);
    if (m.responses && r.responses) {
      const a = m.responses;
      const b = r.responses;
      a.total += b.total;
      add(a.protocolErrors, b.protocolErrors);
      add(a.statuses, b.statuses);
      add(a.classes, b.classes);
      for (const k of ['unexpectedStatus', 'errorReplies', 'unexpectedReplies', 'extraAnswers', 'timeouts', 'serverCloses', 'reissued'] as const) a[k] += b[k];
    }
    m.warnings.push(...r.warnings.filter((w) => !m.warnings.includes(w)));
    m.failures.push(...r.failures.map((f) => `${name(i)}: ${f}`));
  });
  m.failures = [...rs[0].failures.map((f) => `${name(0)}: ${f}`), ...m.failures.slice(rs[0].failures.length)];
  m.ok = rs.every((r) => r.ok);
  m.exitCode = m.ok ? 0 : 1;
  [m.latencyHistogram, m.latencyUs] = lat.result();
  // connect latency: from the added histograms where every result has one
  // (results of an older ringleader do not: the first one's stands)
  if (rs.every((r) => !r.connectUs || r.connectHistogram)) [m.connectHistogram, m.connectUs] = conn.result();
  m.timeSeries = [...series.values()].sort((a, b) => a.t - b.t);
  m.throughput.perSecond = perSecond(m.timeSeries);
  const done = m.mode === 'churn' ? m.connected.cycles : m.messages.verified;
  m.clientCpu.usPerMessage = done ? Math.round(((m.clientCpu.userMs + m.clientCpu.systemMs) * 1000 * 100) / done) / 100 : null;
  m.mergedFrom = rs.length;
  // machines of one load run the same load: an open loop merged with a closed one (or other rates) reads as neither
  const loads = new Set(rs.map((r) => (r.rate ? `open loop ${r.rate}/s` : 'closed loop')));
  if (loads.size > 1) {
    m.warnings.push(`the merged results ran different loads (${[...loads].join(', ')}): the sum is of neither`);
    m.rate = rs.every((r) => r.rate) ? rs.reduce((a, r) => a + (r.rate ?? 0), 0) : null;
  } else if (m.rate) {
    // one open loop on every machine: together they offered the sum
    m.rate = rs.reduce((a, r) => a + (r.rate ?? 0), 0);
  }
  // the same file given twice counts everything twice
  const seen = new Map<string, number>();
  rs.forEach((r, i) => {
    const id = `${r.seed} ${r.windowStart} ${r.test ?? ''}`;
    const j = seen.get(id);
    if (j !== undefined) m.warnings.push(`${name(i)} is the same run as ${name(j)} (same seed and start): it is counted twice`);
    else seen.set(id, i);
  });
  // rates add up over the time every run loaded: runs of other lengths add rates that did not overlap
  const durations = rs.map((r) => r.durationMs);
  if (Math.max(...durations) > 1.1 * Math.min(...durations)) {
    m.warnings.push(`the merged runs measured for different times (${[...new Set(durations.map((d) => `${(d / 1000).toFixed(1)} s`))].join(', ')}): the rates are added as if they had overlapped`);
  }
  // several machines' rates add up only over time they loaded together
  const starts = rs.map((r) => Date.parse(r.windowStart ?? ''));
  if (starts.every(Number.isFinite)) {
    const first = Math.min(...starts);
    const apart = Math.max(...starts) - first;
    m.windowStart = new Date(first).toISOString();
    if (apart > 1000)
      m.warnings.push(
        `the measured windows began up to ${(apart / 1000).toFixed(1)} s apart (runs not started together, as --start-at does): rates and per-second figures add seconds that did not overlap`,
      );
  }
  return m;
}
