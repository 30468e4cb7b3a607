/**
 * `server.stats()`: every worker's counter block, read without stopping it,
 * turned into the public shapes (server-types.ts), and their sums. Pure
 * functions of the blocks and what the server knows besides.
 */
import { errnoName, layout } from '@ringleader/core-native';
import { formatHostPort } from './address.js';
import { type CounterBlock, snapshot, sumTotals, type UpstreamBlock, WI, WU, workerBlock } from './counters.js';
import { bucketBounds, mergeBuckets, percentile, sampleCount, upperBound } from './histogram.js';
import type { PlacementStats } from './placement.js';
import type { Scheduler } from './scheduler.js';
import type { AcceptorStats, AddressInfo, PauseReason, ProxyWorkerStats, ServerStats, Totals, UpstreamStats, WorkerStats, ZeroCopyStats } from './server-types.js';
import type { Retired, Shard } from './shards.js';
import type { ResolvedUpstream } from './upstream.js';

/** Hand-off latency summary (microseconds). */
export interface LatencySummary {
  count: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
}

const handoffBounds = bucketBounds(layout.handoffHistSubBits, layout.handoffHistBuckets);

/** Hand-off latency (accept to the worker's table) over one or more worker blocks. */
export function handoffLatency(blocks: CounterBlock[]): LatencySummary {
  const counts = mergeBuckets(blocks, layout.handoffHistOffset, layout.handoffHistBuckets);
  const total = sampleCount(counts);
  const sumNs = sumTotals(blocks, WU.handoff_ns);
  // no exact maximum is kept: the top bucket's upper bound stands for it
  const maxNs = upperBound(counts, handoffBounds);
  const at = (q: number) => percentile(counts, handoffBounds, q, 0, maxNs) / 1000;
  return { count: total, meanUs: total ? sumNs / total / 1000 : 0, p50Us: at(0.5), p90Us: at(0.9), p99Us: at(0.99), maxUs: maxNs / 1000 };
}

/** Zero-copy sends over some worker blocks. */
export function zeroCopyStats(blocks: CounterBlock[], threshold: number): ZeroCopyStats {
  const sends = sumTotals(blocks, WU.zc_sends);
  const copied = sumTotals(blocks, WU.zc_copied);
  const errs = blocks.map((b) => b.gauge(WI.zc_error)).filter((e) => e !== 0);
  const out: ZeroCopyStats = {
    threshold,
    enabled: threshold > 0 && blocks.length > 0 && blocks.every((b) => b.gauge(WI.zc_enabled) === 1),
    sends,
    copied,
    stoppedSockets: sumTotals(blocks, WU.zc_stopped),
    fallbacks: sumTotals(blocks, WU.zc_fallbacks),
  };
  if (errs.length) out.error = errnoName(errs[0]);
  if (sends > 0 && copied === sends) {
    out.note =
      'every zero-copy send was copied by the kernel: loopback and same-host peers always copy (send_zc avoids copies only toward a network device); ' +
      'such sockets switch to plain send after 4 copies in a row';
  }
  return out;
}

function proxyStats(b: CounterBlock, ub: UpstreamBlock, upstreams: readonly ResolvedUpstream[]): ProxyWorkerStats {
  return {
    c2uBytes: b.total(WU.c2u_bytes),
    u2cBytes: b.total(WU.u2c_bytes),
    dials: b.total(WU.dials),
    dialFailures: b.total(WU.dial_failures),
    upstreamUnavailable: b.total(WU.upstream_unavailable),
    idleTimeouts: b.total(WU.idle_timeouts),
    resets: b.total(WU.resets),
    upstreams: upstreams.map((u, i) => ({ address: formatHostPort(u.host, u.port), group: u.group, ...(ub.snapshot(i) as Omit<UpstreamStats, 'address' | 'group'>) })),
  };
}

/**
 * Each upstream (by group and address) over several lists of them (each
 * worker's, or each acceptor's sums): counts add up, `down` and
 * `backoffMs` are the worst. `order` comes first (the current upstreams,
 * in priority order); after a reload changed them, ones that only workers
 * not yet replaced still use follow.
 */
function sumUpstreams(lists: readonly (readonly UpstreamStats[])[], order: readonly { address: string; group: string }[]): UpstreamStats[] {
  const zero = (address: string, group: string): UpstreamStats => ({
    address,
    group,
    live: 0,
    down: 0,
    backoffMs: 0,
    dials: 0,
    connected: 0,
    failed: 0,
    refused: 0,
    timeouts: 0,
    unreachable: 0,
    otherErrors: 0,
  });
  const byKey = new Map<string, UpstreamStats>();
  for (const u of order) byKey.set(`${u.group} ${u.address}`, zero(u.address, u.group));
  for (const list of lists) {
    for (const x of list) {
      const key = `${x.group} ${x.address}`;
      let out = byKey.get(key);
      if (!out) byKey.set(key, (out = zero(x.address, x.group)));
      for (const k of Object.keys(out) as (keyof UpstreamStats)[]) {
        if (k === 'address' || k === 'group') continue;
        if (k === 'down' || k === 'backoffMs') out[k] = Math.max(out[k], x[k]);
        else out[k] += x[k];
      }
    }
  }
  return [...byKey.values()];
}

/** The counter behind each total. */
const TOTALS: Record<keyof Totals, number> = {
  accepted: WU.accepted,
  closed: WU.closed,
  bytesIn: WU.bytes_in,
  bytesOut: WU.bytes_out,
  recvs: WU.recvs,
  sends: WU.sends,
  forced: WU.forced,
  connErrors: WU.conn_errors,
  handlerErrors: WU.handler_errors,
};
const TOTAL_KEYS = Object.keys(TOTALS) as (keyof Totals)[];

/** A worker's totals, read from its block. */
export function workerTotals(b: CounterBlock): Totals {
  const out = {} as Totals;
  for (const k of TOTAL_KEYS) out[k] = b.total(TOTALS[k]);
  return out;
}

/** What the server knows beside the counter blocks. */
export interface StatsInput {
  listening: boolean;
  address: AddressInfo | null;
  addresses: readonly AddressInfo[];
  startedAt: number;
  shards: readonly Shard[];
  /** workers replaced by a reload that still finish their connections: in the totals, not in the list */
  draining: readonly Shard[];
  restarts: readonly number[];
  retired: Retired;
  scheduler: Scheduler;
  acceptor: CounterBlock;
  /** the acceptor thread's kernel id */
  acceptorTid: number;
  upstreams: readonly ResolvedUpstream[] | undefined;
  zcThreshold: number;
  held: number;
  paused: PauseReason | null;
  pauses: number;
  resumes: number;
  dropped: number;
  placement: PlacementStats | undefined;
}

export function serverStats(x: StatsInput): ServerStats {
  const { scheduler } = x;
  // saturation clears as workers drain, even when no new connection arrives
  scheduler.refresh();
  const workers: WorkerStats[] = x.shards.map((s) => {
    const b = s.block;
    return {
      index: s.index,
      state: s.state,
      threadId: s.threadId,
      restarts: x.restarts[s.index] ?? 0,
      live: b.gauge(WI.live),
      inflight: scheduler.inflight(s.id),
      saturated: s.state === 'ready' && scheduler.isSaturated(s.id),
      saturations: scheduler.saturations(s.id),
      lagMs: b.gauge(WI.lag_us) / 1000,
      tableSize: b.gauge(WI.table_size),
      tableUsed: b.gauge(WI.table_used),
      bufFree: b.gauge(WI.buf_free),
      buffered: b.gauge(WI.buffered),
      ...workerTotals(b),
      enobufs: b.total(WU.enobufs),
      rxPaused: b.total(WU.rx_paused),
      bufferCopies: b.total(WU.buffer_copies),
      jsEvents: b.total(WU.js_events),
      jsBatches: b.total(WU.js_batches),
      handoff: handoffLatency([b]),
      proxy: s.upstreams && s.upstreamList ? proxyStats(b, s.upstreams, s.upstreamList) : undefined,
      zeroCopy: zeroCopyStats([b], x.zcThreshold),
    };
  });
  // the workers' totals plus what replaced workers had counted
  const draining = x.draining.map((s) => ({ live: s.block.gauge(WI.live), ...workerTotals(s.block) }));
  const all = [...workers, ...draining];
  const total = { live: all.reduce((a, w) => a + w.live, 0) } as Totals & { live: number };
  for (const k of TOTAL_KEYS) total[k] = all.reduce((a, w) => a + w[k], x.retired[k]);
  const acceptor = snapshot(x.acceptor, layout.acceptorU64);
  const blocks = [...x.shards, ...x.draining].map((s) => s.block);
  return {
    listening: x.listening,
    address: x.address,
    addresses: [...x.addresses],
    uptimeMs: x.startedAt ? Date.now() - x.startedAt : 0,
    workers,
    total,
    acceptor,
    acceptors: [
      { index: 0, tid: x.acceptorTid, addresses: [...x.addresses], workers: workers.map((w) => w.index), held: x.held, paused: x.paused !== null, pauseReason: x.paused, counters: acceptor },
    ],
    held: x.held,
    paused: x.paused !== null,
    pauseReason: x.paused,
    pauses: x.pauses,
    resumes: x.resumes,
    rejected: acceptor.rejected ?? 0,
    dropped: x.dropped,
    restarts: x.retired.restarts,
    handoff: handoffLatency(blocks),
    zeroCopy: zeroCopyStats(blocks, x.zcThreshold),
    upstreams: x.upstreams
      ? sumUpstreams(
          workers.map((w) => w.proxy?.upstreams ?? []),
          x.upstreams.map((u) => ({ address: formatHostPort(u.host, u.port), group: u.group })),
        )
      : undefined,
    placement: x.placement,
  };
}

/** One acceptor's stats and its worker counter blocks (shared memory), as its thread reports them. */
export interface AcceptorPart {
  stats: ServerStats;
  /** every worker block it reads, replaced ones still draining too */
  blocks: SharedArrayBuffer[];
  /** the global index of its first worker */
  firstWorker: number;
}

/**
 * Several acceptors' stats as one server's (option `acceptors`): workers
 * renumbered into one list, counts added, latency and zero-copy figures
 * recomputed from every worker block rather than averaged.
 */
export function mergeAcceptorStats(parts: readonly AcceptorPart[], x: { listening: boolean; startedAt: number; zcThreshold: number }): { stats: ServerStats; blocks: CounterBlock[] } {
  const blocks = parts.flatMap((p) => p.blocks.map((sab) => workerBlock(sab)));
  const sum = <K extends keyof ServerStats>(k: K) => parts.reduce((a, p) => a + (p.stats[k] as number), 0);
  const add = (into: Record<string, number>, from: Record<string, number>) => {
    for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
    return into;
  };
  const acceptors: AcceptorStats[] = parts.map((p, i) => ({
    ...p.stats.acceptors[0],
    index: i,
    workers: p.stats.workers.map((w) => w.index + p.firstWorker),
  }));
  const paused = acceptors.find((a) => a.paused);
  const addresses = parts.flatMap((p) => p.stats.addresses);
  return {
    blocks,
    stats: {
      listening: x.listening,
      address: addresses[0] ?? null,
      addresses,
      uptimeMs: x.startedAt ? Date.now() - x.startedAt : 0,
      workers: parts.flatMap((p) => p.stats.workers.map((w) => ({ ...w, index: w.index + p.firstWorker }))),
      total: parts.reduce((t, p) => add(t, p.stats.total as unknown as Record<string, number>), {} as Record<string, number>) as unknown as Totals & { live: number },
      acceptor: parts.reduce((t, p) => add(t, p.stats.acceptor), {} as Record<string, number>),
      acceptors,
      held: sum('held'),
      paused: paused !== undefined,
      pauseReason: paused?.pauseReason ?? null,
      pauses: sum('pauses'),
      resumes: sum('resumes'),
      rejected: sum('rejected'),
      dropped: sum('dropped'),
      restarts: sum('restarts'),
      handoff: handoffLatency(blocks),
      zeroCopy: zeroCopyStats(blocks, x.zcThreshold),
      upstreams: parts[0]?.stats.upstreams
        ? sumUpstreams(
            parts.map((p) => p.stats.upstreams ?? []),
            [],
          )
        : undefined,
    },
  };
}
