/**
 * Shared counter blocks: one SharedArrayBuffer per worker ring, one for the
 * acceptor, one per load-generator ring, written by the native engine and
 * read here with Atomics from any thread. The names and their order come
 * from the engine's counters.h and client.h via the binding, so this file
 * only maps names to indexes.
 */
import { clientLayout, layout } from '@ringleader/core-native';

function indexOf(names: string[], wanted: readonly string[], what: string): Record<string, number> {
  const map: Record<string, number> = {};
  names.forEach((n, i) => (map[n] = i));
  for (const w of wanted) {
    if (!(w in map)) throw new Error(`native ${what} counters lack "${w}": the addon and the runtime are out of step; rebuild`);
  }
  return map;
}

/** Worker gauges (int32). */
export const WI = indexOf(layout.workerI32, ['live', 'inflight', 'saturated', 'lag_us', 'state', 'table_size', 'table_used', 'buf_free', 'buffered'], 'worker i32');
/** Worker totals (uint64). */
export const WU = indexOf(layout.workerU64, ['accepted', 'closed', 'bytes_in', 'bytes_out', 'recvs', 'sends', 'forced', 'handoff_n', 'js_events', 'js_batches', 'handler_errors'], 'worker u64');
/** Per-upstream gauges and totals (proxy). */
export const UI = indexOf(layout.upstreamI32, ['live', 'down', 'backoff_ms'], 'upstream i32');
export const UU = indexOf(layout.upstreamU64, ['dials', 'connected', 'failed', 'refused', 'timeouts', 'unreachable', 'other_errors'], 'upstream u64');

/** Acceptor gauges. */
export const AI = indexOf(layout.acceptorI32, ['table_size', 'table_used', 'accepts_armed', 'paused', 'stalled', 'accepting'], 'acceptor i32');
/** Acceptor totals. */
export const AU = indexOf(layout.acceptorU64, ['accepted', 'handoffs', 'handoff_enfile', 'accept_errors'], 'acceptor u64');

/** Load-generator (client ring) gauges. */
export const CI = indexOf(clientLayout.i32, ['up', 'connecting', 'peak_up', 'state', 'zc_fallback_err', 'up_at_stop'], 'client i32');
/** Load-generator totals. */
export const CU = indexOf(
  clientLayout.u64,
  [
    'msgs',
    'msgs_all',
    'msgs_sent',
    'cycles',
    'cycles_all',
    'errors',
    'verify_failures',
    'unfinished',
    'late',
    'connects',
    'connect_attempts',
    'connect_errors',
    'conn_errors',
    't_stop_ns',
    'lat_min_ns',
    'lat_max_ns',
    'lat_sum_ns',
    'conn_lat_sum_ns',
    'conn_lat_max_ns',
    'bytes_in',
    'bytes_out',
    'bytes_in_all',
    'bytes_out_all',
    'zc_sends',
    'zc_copied',
    'zc_notifs',
    'zc_fallbacks',
    'zc_retries',
    'proto_errors',
    'status_errors',
    'error_replies',
    'unexpected_replies',
    'timeouts',
    'extra_answers',
    'server_closes',
    'reissued',
  ],
  'client u64',
);

const I32_BYTES = (n: number) => Math.ceil((n * 4) / 8) * 8;

/** A counters block over shared memory. */
export class CounterBlock {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly u64: BigUint64Array;
  constructor(
    readonly i32Names: string[],
    readonly u64Size: number,
    sab?: SharedArrayBuffer,
  ) {
    const bytes = I32_BYTES(i32Names.length) + u64Size * 8;
    this.sab = sab ?? new SharedArrayBuffer(bytes);
    if (this.sab.byteLength < bytes) throw new RangeError('counter block too small for this layout');
    this.i32 = new Int32Array(this.sab, 0, i32Names.length);
    this.u64 = new BigUint64Array(this.sab, I32_BYTES(i32Names.length), u64Size);
  }
  gauge(i: number): number {
    return Atomics.load(this.i32, i);
  }
  setGauge(i: number, v: number): void {
    Atomics.store(this.i32, i, v);
  }
  addGauge(i: number, v: number): number {
    return Atomics.add(this.i32, i, v) + v;
  }
  total(i: number): number {
    return Number(Atomics.load(this.u64, i));
  }
}

/** Sum of total `i` over blocks. */
export function sumTotals(blocks: readonly CounterBlock[], i: number): number {
  return blocks.reduce((a, b) => a + b.total(i), 0);
}

/** Sum of gauge `i` over blocks. */
export function sumGauges(blocks: readonly CounterBlock[], i: number): number {
  return blocks.reduce((a, b) => a + b.gauge(i), 0);
}

/** Largest total `i` over blocks. */
export function maxTotal(blocks: readonly CounterBlock[], i: number): number {
  return blocks.reduce((a, b) => Math.max(a, b.total(i)), 0);
}

export function workerBlock(sab?: SharedArrayBuffer): CounterBlock {
  return new CounterBlock(layout.workerI32, layout.workerU64Size, sab);
}

/** Per-upstream counters of one worker: n blocks laid out back to back. */
export class UpstreamBlock {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly u64: BigUint64Array;
  readonly ni = layout.upstreamI32.length;
  readonly nu = layout.upstreamU64.length;
  constructor(
    readonly n: number,
    sab?: SharedArrayBuffer,
  ) {
    const i32Bytes = I32_BYTES(n * this.ni);
    this.sab = sab ?? new SharedArrayBuffer(i32Bytes + n * this.nu * 8);
    this.i32 = new Int32Array(this.sab, 0, n * this.ni);
    this.u64 = new BigUint64Array(this.sab, i32Bytes, n * this.nu);
  }
  gauge(up: number, i: number): number {
    return Atomics.load(this.i32, up * this.ni + i);
  }
  total(up: number, i: number): number {
    return Number(Atomics.load(this.u64, up * this.nu + i));
  }
  /** upstream `up` as a plain object (camelCase keys) */
  snapshot(up: number): Record<string, number> {
    const out: Record<string, number> = {};
    layout.upstreamI32.forEach((n, i) => (out[camel(n)] = this.gauge(up, i)));
    layout.upstreamU64.forEach((n, i) => (out[camel(n)] = this.total(up, i)));
    return out;
  }
}

export function acceptorBlock(sab?: SharedArrayBuffer): CounterBlock {
  return new CounterBlock(layout.acceptorI32, layout.acceptorU64.length, sab);
}

/** A load-generator ring's block (the main thread makes it, the stress thread wraps the same memory). */
export function clientBlock(sab?: SharedArrayBuffer): CounterBlock {
  return new CounterBlock(clientLayout.i32, clientLayout.u64Size, sab);
}

/** camelCase a snake_case counter name. */
export function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** All named counters of a block as a plain object (camelCase keys). */
export function snapshot(b: CounterBlock, u64Names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  b.i32Names.forEach((n, i) => (out[camel(n)] = b.gauge(i)));
  u64Names.forEach((n, i) => (out[camel(n)] = b.total(i)));
  return out;
}
