/**
 * Prometheus metrics of a server (prom-client). Nothing here runs on the
 * data path: every value is read from the shared counter blocks when the
 * registry is scraped (each metric's `collect`), from one snapshot taken at
 * the start of the scrape so the families agree with each other.
 *
 * Names: `ringleader_` + what is counted, in base units (`_bytes_total`,
 * `_seconds`). Per-worker series carry `worker` (the worker's index); a
 * replaced worker's counters start again from 0, which Prometheus's rate()
 * reads as a counter reset. Hand-off latency is a real histogram whose
 * buckets are the engine's own bucket counts, summed at powers of two ns
 * (exact bucket boundaries of its log-linear histogram).
 */
import { layout } from '@ringleader/core-native';
import { Counter, Gauge, type Metric, Registry } from 'prom-client';
import { type CounterBlock, camel, WU } from './counters.js';
import { bucketBounds, mergeBuckets } from './histogram.js';
import type { ServerStats, UpstreamStats, WorkerStats } from './server-types.js';

/** What one scrape reads: the stats, the worker blocks (for the histogram), and the server's state. */
export interface MetricsView {
  stats: ServerStats;
  /** the counter block of stats.workers[i] */
  blocks: readonly CounterBlock[];
  ready: boolean;
  draining: boolean;
}

const P = 'ringleader_';

type WorkerValue = (w: WorkerStats) => number | undefined;

/** Per-worker counters: name (after the prefix), help, value. */
const WORKER_COUNTERS: [string, string, WorkerValue][] = [
  ['connections_accepted_total', 'Connections handed to the worker', (w) => w.accepted],
  ['connections_closed_total', 'Connections the worker closed', (w) => w.closed],
  ['connections_forced_total', 'Connections closed because a drain timed out', (w) => w.forced],
  ['connection_errors_total', 'Connections that ended with an error', (w) => w.connErrors],
  ['received_bytes_total', 'Bytes received from clients', (w) => w.bytesIn],
  ['sent_bytes_total', 'Bytes sent to clients', (w) => w.bytesOut],
  ['receives_total', 'Receive completions', (w) => w.recvs],
  ['sends_total', 'Send completions', (w) => w.sends],
  ['handler_errors_total', 'Handler-module callbacks that threw', (w) => w.handlerErrors],
  ['handler_events_total', 'Events delivered to a handler module', (w) => w.jsEvents],
  ['handler_batches_total', 'Calls into JavaScript that carried handler events', (w) => w.jsBatches],
  ['receive_buffers_exhausted_total', 'Receives that found no free buffer (ENOBUFS)', (w) => w.enobufs],
  ['receive_pauses_total', 'Times receiving paused for backpressure', (w) => w.rxPaused],
  ['receive_buffer_copies_total', "Receive buffers past a direction's cap (maxBuffersHeld) copied out so the pool gets them back", (w) => w.bufferCopies],
  ['worker_saturations_total', 'Times the worker table filled (ENFILE on hand-off)', (w) => w.saturations],
  ['worker_restarts_total', 'Times this worker slot was replaced after a crash', (w) => w.restarts],
  ['zerocopy_sends_total', 'Zero-copy sends', (w) => w.zeroCopy.sends],
  ['zerocopy_copied_total', 'Zero-copy sends the kernel copied after all', (w) => w.zeroCopy.copied],
  ['proxy_client_to_upstream_bytes_total', 'Proxy: bytes relayed from clients to upstreams (counted when sent)', (w) => w.proxy?.c2uBytes],
  ['proxy_upstream_to_client_bytes_total', 'Proxy: bytes relayed from upstreams to clients (counted when sent)', (w) => w.proxy?.u2cBytes],
  ['proxy_dials_total', 'Proxy: upstream dials', (w) => w.proxy?.dials],
  ['proxy_dial_failures_total', 'Proxy: upstream dials that failed', (w) => w.proxy?.dialFailures],
  ['proxy_upstream_unavailable_total', 'Proxy: clients closed because no upstream could be reached', (w) => w.proxy?.upstreamUnavailable],
  ['proxy_idle_timeouts_total', 'Proxy: connections closed for idleness', (w) => w.proxy?.idleTimeouts],
  ['proxy_resets_total', 'Proxy: connections reset', (w) => w.proxy?.resets],
];

/** Per-worker gauges. */
const WORKER_GAUGES: [string, string, WorkerValue][] = [
  ['connections', 'Open connections', (w) => w.live],
  ['handoffs_in_flight', 'Hand-offs sent to the worker and not yet settled', (w) => w.inflight],
  ['worker_up', '1 while the worker serves', (w) => (w.state === 'ready' ? 1 : 0)],
  ['worker_saturated', '1 while the worker takes no new connections (table full)', (w) => (w.saturated ? 1 : 0)],
  ['worker_event_loop_lag_seconds', "Lag of the worker thread's event loop", (w) => w.lagMs / 1000],
  ['worker_table_slots', "Slots of the worker ring's fixed-file table", (w) => w.tableSize],
  ['worker_table_slots_used', "Used slots of the worker ring's fixed-file table", (w) => w.tableUsed],
  ['worker_free_receive_buffers', "Receive buffers free (in the kernel's ring or waiting to go back to it)", (w) => w.bufFree],
  ['worker_buffered_bytes', 'Bytes queued to send', (w) => w.buffered],
];

type ServerValue = (v: MetricsView) => number;

const SERVER_GAUGES: [string, string, ServerValue][] = [
  ['listening', '1 while the listener accepts', (v) => (v.stats.listening ? 1 : 0)],
  ['ready', '1 while /readyz answers 200 (listening, a worker ready, not draining)', (v) => (v.ready ? 1 : 0)],
  ['draining', '1 while the server drains', (v) => (v.draining ? 1 : 0)],
  ['accept_paused', '1 while accepting is paused (capacity or max-connections)', (v) => (v.stats.paused ? 1 : 0)],
  ['held_connections', 'Accepted connections waiting for a worker', (v) => v.stats.held],
  ['workers', 'Worker threads', (v) => v.stats.workers.length],
  ['uptime_seconds', 'Seconds since the server started listening', (v) => v.stats.uptimeMs / 1000],
];

const SERVER_COUNTERS: [string, string, ServerValue][] = [
  ['accept_pauses_total', 'Times accepting paused', (v) => v.stats.pauses],
  ['accept_resumes_total', 'Times accepting resumed', (v) => v.stats.resumes],
  ['connections_rejected_total', 'Connections reset beyond the limit (overflow reject)', (v) => v.stats.rejected],
  ['connections_dropped_total', 'Accepted connections closed before reaching a worker', (v) => v.stats.dropped],
  ['worker_replacements_total', 'Workers replaced after a crash', (v) => v.stats.restarts],
  ['placements_total', 'Connections placed by source-hash or a placement function', (v) => v.stats.placement?.calls ?? 0],
  ['placement_errors_total', 'Placement function calls that threw or returned a bad index', (v) => v.stats.placement?.errors ?? 0],
  ['placement_fallbacks_total', 'Preferred placements that went to another worker (saturated, replaced)', (v) => v.stats.placement?.fallbacks ?? 0],
];

const UPSTREAM_FAILURES: [string, keyof UpstreamStats][] = [
  ['refused', 'refused'],
  ['timeout', 'timeouts'],
  ['unreachable', 'unreachable'],
  ['other', 'otherErrors'],
];

/**
 * Per-upstream families: name, help, the name of a second label (or null),
 * and the upstream's value, or with a second label its value for each value
 * of that label.
 */
type UpstreamFamily = [string, string, string | null, (u: UpstreamStats) => number | [string, number][]];

const UPSTREAM_GAUGES: UpstreamFamily[] = [
  [
    'upstream_state',
    'Proxy: 1 for the state each upstream is in (up, or down while any worker backs off from it)',
    'state',
    (u) => [
      ['up', u.down ? 0 : 1],
      ['down', u.down ? 1 : 0],
    ],
  ],
  ['upstream_connections', 'Proxy: open connections to the upstream', null, (u) => u.live],
  ['upstream_backoff_seconds', 'Proxy: longest back-off before the upstream is tried again', null, (u) => u.backoffMs / 1000],
];

const UPSTREAM_COUNTERS: UpstreamFamily[] = [
  ['upstream_dials_total', 'Proxy: dials to the upstream', null, (u) => u.dials],
  ['upstream_connects_total', 'Proxy: dials to the upstream that connected', null, (u) => u.connected],
  ['upstream_connect_failures_total', 'Proxy: failed dials to the upstream, by reason', 'reason', (u) => UPSTREAM_FAILURES.map(([reason, k]) => [reason, u[k] as number])],
];

/** Upper bounds of the exported hand-off buckets: powers of two ns from 1 us to ~8.6 s. */
const HANDOFF_LE_NS = Array.from({ length: 24 }, (_, i) => 2 ** (10 + i));

/** A histogram family built from the engine's bucket counts (prom-client's Histogram only observes). */
class HandoffHistogram {
  readonly name = `${P}handoff_latency_seconds`;
  readonly help = 'Time from accept to the connection landing in the worker ring';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #bounds = bucketBounds(layout.handoffHistSubBits, layout.handoffHistBuckets);
  /** for each exported bound, how many engine buckets lie below it */
  readonly #cut = HANDOFF_LE_NS.map((ns) => this.#bounds.indexOf(ns));
  constructor(readonly view: () => MetricsView) {
    if (this.#cut.some((c) => c < 0)) throw new Error('hand-off histogram: the engine bucket bounds no longer include powers of two');
  }
  get() {
    const v = this.view();
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    v.stats.workers.forEach((w, i) => {
      const counts = mergeBuckets([v.blocks[i]], layout.handoffHistOffset, layout.handoffHistBuckets);
      const worker = String(w.index);
      let cum = 0;
      let at = 0;
      this.#cut.forEach((cut, j) => {
        for (; at < cut; at++) cum += counts[at];
        values.push({ metricName: `${this.name}_bucket`, labels: { le: HANDOFF_LE_NS[j] / 1e9, worker }, value: cum });
      });
      for (; at < counts.length; at++) cum += counts[at];
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', worker }, value: cum });
      values.push({ metricName: `${this.name}_sum`, labels: { worker }, value: v.blocks[i].total(WU.handoff_ns) / 1e9 });
      values.push({ metricName: `${this.name}_count`, labels: { worker }, value: cum });
    });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
  reset() {}
}

/**
 * A registry whose metrics read `view()`. Call {@link MetricsRegistry.scrape}:
 * it takes one view and renders every family from it.
 */
export class MetricsRegistry {
  readonly registry = new Registry();
  #view?: MetricsView;

  constructor(source: () => MetricsView) {
    const view = () => (this.#view ??= source());
    const reg = [this.registry];
    // per-worker families: counters add the worker's total, gauges set its value
    const workers = (name: string, help: string, get: WorkerValue, put: (labels: { worker: number }, x: number) => void) => ({
      name: P + name,
      help,
      labelNames: ['worker'] as const,
      registers: reg,
      collect(this: { reset(): void }) {
        this.reset();
        for (const w of view().stats.workers) {
          const x = get(w);
          if (x !== undefined) put({ worker: w.index }, x);
        }
      },
    });
    for (const [name, help, get] of WORKER_COUNTERS) {
      const c: Counter<'worker'> = new Counter(workers(name, help, get, (l, x) => c.inc(l, x)));
    }
    for (const [name, help, get] of WORKER_GAUGES) {
      const g: Gauge<'worker'> = new Gauge(workers(name, help, get, (l, x) => g.set(l, x)));
    }
    for (const [name, help, get] of SERVER_GAUGES) {
      new Gauge({
        name: P + name,
        help,
        registers: reg,
        collect() {
          this.set(get(view()));
        },
      });
    }
    for (const [name, help, get] of SERVER_COUNTERS) {
      new Counter({
        name: P + name,
        help,
        registers: reg,
        collect() {
          this.reset();
          this.inc(get(view()));
        },
      });
    }
    this.#acceptorMetrics(view);
    this.#upstreamMetrics(view);
    this.registry.registerMetric(new HandoffHistogram(view) as unknown as Metric);
  }

  /**
   * Every acceptor counter the engine defines (layout from counters.h), so a
   * new one shows up without a change here: gauges as they are, totals as
   * `_total`; `_ms` values become `_seconds`. Labelled by acceptor (option
   * `acceptors`; "0" for the one acceptor): sum over it for the server.
   */
  #acceptorMetrics(view: () => MetricsView): void {
    const reg = [this.registry];
    for (const raw of layout.acceptorI32) {
      const ms = raw.endsWith('_ms');
      const key = camel(raw);
      new Gauge({
        name: `${P}acceptor_${ms ? `${raw.slice(0, -3)}_seconds` : raw}`,
        help: `Acceptor gauge ${raw}${ms ? ' (in seconds)' : ''}`,
        labelNames: ['acceptor'] as const,
        registers: reg,
        collect() {
          this.reset();
          for (const a of view().stats.acceptors) {
            const x = a.counters[key] ?? 0;
            this.set({ acceptor: a.index }, ms ? x / 1000 : x);
          }
        },
      });
    }
    for (const raw of layout.acceptorU64) {
      const key = camel(raw);
      new Counter({
        name: `${P}acceptor_${raw}_total`,
        help: `Acceptor counter ${raw}`,
        labelNames: ['acceptor'] as const,
        registers: reg,
        collect() {
          this.reset();
          for (const a of view().stats.acceptors) this.inc({ acceptor: a.index }, a.counters[key] ?? 0);
        },
      });
    }
  }

  /** Proxy upstreams, summed over the workers, labelled by address and group (and state / failure reason). */
  #upstreamMetrics(view: () => MetricsView): void {
    const reg = [this.registry];
    // counters add each series' value, gauges set it
    const perUpstream = ([name, help, by, get]: UpstreamFamily, put: (labels: Record<string, string>, x: number) => void) => ({
      name: P + name,
      help,
      labelNames: by ? ['upstream', 'group', by] : ['upstream', 'group'],
      registers: reg,
      collect(this: { reset(): void }) {
        this.reset();
        for (const u of view().stats.upstreams ?? []) {
          const x = get(u);
          const labels = { upstream: u.address, group: u.group };
          if (typeof x === 'number') put(labels, x);
          else for (const [v, n] of x) put({ ...labels, [by as string]: v }, n);
        }
      },
    });
    for (const f of UPSTREAM_GAUGES) {
      const g: Gauge = new Gauge(perUpstream(f, (l, x) => g.set(l, x)));
    }
    for (const f of UPSTREAM_COUNTERS) {
      const c: Counter = new Counter(perUpstream(f, (l, x) => c.inc(l, x)));
    }
  }

  /** The Prometheus text of one scrape, all families from one snapshot. */
  async scrape(): Promise<string> {
    this.#view = undefined;
    try {
      return await this.registry.metrics();
    } finally {
      this.#view = undefined;
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
