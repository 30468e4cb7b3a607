/**
 * Connection placement: which worker ring gets each accepted connection.
 *
 * Plain TypeScript with no rings, so it is unit-testable with simulated
 * shards. The server calls {@link Scheduler.assign} once per completion batch
 * with every slot waiting for a worker, and reports what became of each
 * hand-off.
 *
 * Load of a shard = its occupancy (live connections, plus connections that
 * reached its ring but that it has not processed yet) + hand-offs in flight
 * to it (counted here).
 *
 * A worker's fixed-file table is its real limit, and -ENFILE on a hand-off is
 * how the scheduler learns it: the worker is saturated until it drains below
 * a low-water mark, and from then on it is sent no more than the occupancy at
 * which it filled, so one -ENFILE teaches the limit instead of a storm of them.
 */

/**
 * Placement policies. `source-hash` prefers the worker its client address
 * hashes to (placement.ts) and walks on to the next worker index when that
 * one cannot take it.
 */
export type Policy = 'round-robin' | 'least-connections' | 'p2c' | 'weighted' | 'source-hash';
export const POLICIES: readonly Policy[] = ['round-robin', 'least-connections', 'p2c', 'weighted', 'source-hash'];

/** What the scheduler knows of one worker. */
export interface ShardInfo {
  /** Stable id while the shard is in rotation. */
  readonly id: number;
  /** Connections the worker holds: live, plus delivered but not yet processed. */
  live(): number;
  /**
   * Hand-offs the worker has already taken (counted in live()) whose
   * completion the scheduler has not yet been told of ({@link Scheduler.settled}):
   * they are in flight too, and must not count twice. Default 0.
   */
  unsettled?(): number;
  /** Relative weight for the `weighted` policy (> 0). */
  weight: number;
  /** At most this many live + in-flight connections (per-worker limit, table size). */
  capacity: number;
  /** The worker's index (0..workers-1), kept by its replacement; a preferred placement names it. Default: the id. */
  index?: number;
}

interface Entry {
  info: ShardInfo;
  inflight: number;
  saturated: boolean;
  /** cleared when occupancy falls to this */
  lowWater: number;
  /** occupancy at the last -ENFILE: the table's effective size */
  learnedCap: number;
  /** smooth weighted round robin state */
  current: number;
  saturations: number;
}

/**
 * Connections a worker holds or will hold: live, plus hand-offs in flight
 * (less those it has taken already, which live() counts: without that a
 * burst counted each new connection twice for a moment, and
 * maxConnections with overflow 'reject' reset connections it had room for).
 */
function occupancy(e: Entry): number {
  return e.info.live() + e.inflight - Math.min(e.inflight, e.info.unsettled?.() ?? 0);
}

/** Saturation and resume events, for stats and the live display. */
export interface SchedulerListener {
  onSaturated?(id: number, live: number): void;
  onUnsaturated?(id: number, live: number): void;
  /** a shard joined or left rotation (a pick made ahead is out of date: it may name a worker gone, or miss a new one) */
  onRotation?(): void;
}

/** Result of one {@link Scheduler.assign} call. */
export interface Assignment {
  /** How many slots got a target (always a prefix of the request). */
  count: number;
}

export class Scheduler {
  private shards: Entry[] = [];
  private cursor = 0;

  /**
   * @param policy placement policy
   * @param random source of randomness for `p2c` (injectable for tests)
   * @param listener saturation events
   */
  constructor(
    readonly policy: Policy,
    private readonly random: () => number = Math.random,
    private readonly listener: SchedulerListener = {},
  ) {}

  /** Put a shard into rotation. */
  add(info: ShardInfo): void {
    if (this.shards.some((e) => e.info.id === info.id)) throw new Error(`shard ${info.id} is already in rotation`);
    this.shards.push({ info, inflight: 0, saturated: false, lowWater: 0, learnedCap: Infinity, current: 0, saturations: 0 });
    this.listener.onRotation?.();
  }

  /** Take a shard out of rotation; returns its hand-offs still in flight. */
  remove(id: number): number {
    const i = this.shards.findIndex((e) => e.info.id === id);
    if (i < 0) return 0;
    const [e] = this.shards.splice(i, 1);
    if (this.cursor > i) this.cursor--;
    this.listener.onRotation?.();
    return e.inflight;
  }

  has(id: number): boolean {
    return this.shards.some((e) => e.info.id === id);
  }

  get size(): number {
    return this.shards.length;
  }

  /** Hand-offs in flight to shard id. */
  inflight(id: number): number {
    return this.find(id)?.inflight ?? 0;
  }

  isSaturated(id: number): boolean {
    return this.find(id)?.saturated ?? false;
  }

  saturations(id: number): number {
    return this.find(id)?.saturations ?? 0;
  }

  /** Sum of live + in-flight over every shard in rotation. */
  load(): number {
    let n = 0;
    for (const e of this.shards) n += occupancy(e);
    return n;
  }

  /** A hand-off to id completed (either way). */
  settled(id: number): void {
    const e = this.find(id);
    if (e && e.inflight > 0) e.inflight--;
  }

  /**
   * id's table was full (-ENFILE): it takes nothing more until its live count
   * falls below a low-water mark, 10% (at least one) under where it filled.
   */
  saturate(id: number): void {
    const e = this.find(id);
    if (!e || e.saturated) return;
    const live = e.info.live();
    e.saturated = true;
    e.saturations++;
    e.learnedCap = Math.max(1, live);
    e.lowWater = Math.max(0, live - Math.max(1, Math.ceil(live * 0.1)));
    this.listener.onSaturated?.(id, live);
  }

  /** Clear saturation where the live count has fallen enough; true if any cleared. */
  refresh(): boolean {
    let changed = false;
    for (const e of this.shards) {
      if (!e.saturated) continue;
      const live = e.info.live();
      if (live <= e.lowWater) {
        e.saturated = false;
        changed = true;
        this.listener.onUnsaturated?.(e.info.id, live);
      }
    }
    return changed;
  }

  /** True when some shard can take a connection now. */
  hasCapacity(): boolean {
    return this.shards.some((e) => this.open(e));
  }

  /**
   * Choose targets for n waiting slots: out[i] = shard id for i < count.
   * Stops at the first slot no shard can take (the rest stay waiting).
   * With `prefer`, prefer[i] >= 0 names the worker index slot i should go
   * to: under `source-hash` it gets that worker or the next open index
   * after it; otherwise (a placement function) that worker if it is open,
   * else the policy's own choice (counted in {@link fallbacks}).
   */
  assign(n: number, out: Int32Array, prefer?: Int32Array): number {
    let i = 0;
    for (; i < n; i++) {
      const w = prefer ? prefer[i] : -1;
      const e = w >= 0 ? this.pickPreferred(w) : this.pick();
      if (!e) break;
      e.inflight++;
      out[i] = e.info.id;
    }
    return i;
  }

  /**
   * The policy's choice for the next connection, made ahead of its accept
   * (the acceptor hands that accept off at once): the policy moves on as if
   * it was placed (round-robin's cursor, weighted's credit), but nothing is
   * counted in flight until {@link placed} says it was used.
   */
  pickAhead(): number | undefined {
    return this.pick()?.info.id;
  }

  /** A connection went to id, picked by {@link pickAhead}: in flight until {@link settled}. */
  placed(id: number): void {
    const e = this.find(id);
    if (e) e.inflight++;
  }

  /** id is in rotation and can take a connection now. */
  isOpen(id: number): boolean {
    const e = this.find(id);
    return e !== undefined && this.open(e);
  }

  /** Preferred placements that went elsewhere (worker saturated, replaced, or at its limit). */
  fallbacks = 0;

  private indexOf(e: Entry): number {
    return e.info.index ?? e.info.id;
  }

  private pickPreferred(w: number): Entry | undefined {
    const s = this.shards;
    const want = s.find((e) => this.indexOf(e) === w);
    if (want && this.open(want)) return want;
    this.fallbacks++;
    if (this.policy !== 'source-hash') return this.pick();
    // the next open worker index after w, wrapping: the same client keeps
    // landing on the same stand-in while its own worker is away
    let best: Entry | undefined;
    let bestD = Infinity;
    const n = s.reduce((m, e) => Math.max(m, this.indexOf(e) + 1), w + 1);
    for (const e of s) {
      if (!this.open(e)) continue;
      const d = (this.indexOf(e) - w + n) % n;
      if (d < bestD) {
        best = e;
        bestD = d;
      }
    }
    return best;
  }

  private find(id: number): Entry | undefined {
    return this.shards.find((e) => e.info.id === id);
  }

  private open(e: Entry): boolean {
    return !e.saturated && occupancy(e) < Math.min(e.info.capacity, e.learnedCap);
  }

  private pick(): Entry | undefined {
    const s = this.shards;
    if (s.length === 0) return undefined;
    switch (this.policy) {
      case 'round-robin': {
        for (let k = 0; k < s.length; k++) {
          const e = s[(this.cursor + k) % s.length];
          if (this.open(e)) {
            this.cursor = (this.cursor + k + 1) % s.length;
            return e;
          }
        }
        return undefined;
      }
      case 'least-connections': {
        // ties go to the next one in rotation, so equal loads spread evenly
        let best: Entry | undefined;
        let bestLoad = Infinity;
        let bestK = 0;
        for (let k = 0; k < s.length; k++) {
          const e = s[(this.cursor + k) % s.length];
          if (!this.open(e)) continue;
          const load = occupancy(e);
          if (load < bestLoad) {
            best = e;
            bestLoad = load;
            bestK = k;
          }
        }
        if (best) this.cursor = (this.cursor + bestK + 1) % s.length;
        return best;
      }
      // source-hash without an address to hash (returned connections, unknown family)
      case 'source-hash':
      case 'p2c': {
        const open = s.filter((e) => this.open(e));
        if (open.length === 0) return undefined;
        if (open.length === 1) return open[0];
        const a = Math.floor(this.random() * open.length);
        let b = Math.floor(this.random() * (open.length - 1));
        if (b >= a) b++;
        const la = occupancy(open[a]);
        const lb = occupancy(open[b]);
        return la <= lb ? open[a] : open[b];
      }
      case 'weighted': {
        // smooth weighted round robin: deterministic, follows weights exactly
        let total = 0;
        let best: Entry | undefined;
        for (const e of s) {
          if (!this.open(e)) continue;
          e.current += e.info.weight;
          total += e.info.weight;
          if (!best || e.current > best.current) best = e;
        }
        if (best) best.current -= total;
        return best;
      }
    }
  }
}
