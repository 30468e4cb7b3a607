/**
 * The one reader of the engine's log-linear latency histograms (hand-off
 * latency in worker blocks, round-trip and connect latency in client
 * blocks). The engine counts samples into buckets whose lower bounds come
 * from `histLowerBounds`; these functions merge buckets across threads and
 * read percentiles from them.
 */
import { histLowerBounds } from '@ringleader/core-native';
import type { CounterBlock } from './counters.js';

/** A histogram's bucket bounds (ns): bucket i holds values in [b[i], b[i+1]). */
export function bucketBounds(subBits: number, buckets: number): Float64Array {
  return histLowerBounds(subBits, buckets);
}

/** Bucket counts of one histogram, summed over blocks (u64 words from `offset`). */
export function mergeBuckets(blocks: readonly CounterBlock[], offset: number, buckets: number): Float64Array {
  const h = new Float64Array(buckets);
  for (const b of blocks) for (let i = 0; i < buckets; i++) h[i] += b.total(offset + i);
  return h;
}

/** Number of samples in a histogram. */
export function sampleCount(counts: Float64Array): number {
  let n = 0;
  for (const c of counts) n += c;
  return n;
}

/**
 * Percentile `q` (0..1) by the nearest-rank rule, as HdrHistogram reads it:
 * the bucket holding the ceil(q * N)-th smallest sample (at least the
 * first). Reported as that bucket's midpoint (the value lies within the
 * bucket, ~3% wide), clamped to [min, max] when those are known exactly;
 * the rank of the last sample is `max` and that of the first `min`, when
 * known (a p99.9 of 100 samples is their largest, not a midpoint under it).
 * 0 for an empty histogram.
 */
export function percentile(counts: Float64Array, bounds: Float64Array, q: number, min = 0, max = Infinity): number {
  const total = sampleCount(counts);
  if (!total) return 0;
  const rank = Math.max(1, Math.ceil(q * total));
  if (rank >= total && Number.isFinite(max)) return max;
  if (rank === 1 && min > 0) return min;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= rank) return Math.min(max, Math.max(min, (bounds[i] + bounds[i + 1]) / 2));
  }
  return Math.min(max, bounds[counts.length]);
}

/** Upper bound of the highest non-empty bucket: a ceiling on the largest sample. */
export function upperBound(counts: Float64Array, bounds: Float64Array): number {
  for (let i = counts.length - 1; i >= 0; i--) if (counts[i] > 0) return bounds[i + 1];
  return 0;
}
