/**
 * The acceptor side of a server: accepted slots wait in a FIFO until the
 * scheduler names a worker, then are handed off (msg_ring); hand-off errors
 * decide whether a slot is retried, moved to another worker, or closed; and
 * when no worker can take more, accepting pauses so new connections wait in
 * the kernel's listen backlog.
 *
 * A slot the acceptor holds stays ours until a worker has it (hand-off OK)
 * or we close it on purpose (overflow 'reject', shutdown, a slot that can
 * never be handed off): it costs at most its own connection.
 */
import { abi, errnoError, errnoName, handoffClass, type NativeAcceptor } from '@ringleader/core-native';
import { AI, type CounterBlock, WI } from './counters.js';
import type { ResolvedOptions } from './options.js';
import type { Placement } from './placement.js';
import type { Scheduler } from './scheduler.js';
import type { PauseReason } from './server-types.js';
import type { Shard, ShardPool } from './shards.js';

/** Hand-off errors worth retrying a little later on the same worker choice. */
/** Hand-off errors that mean the worker's ring is gone. */
const EV = abi.acceptorEvents;
const AF = abi.acceptorFields;

/** Accepted slots waiting for a worker: a FIFO over a fixed ring buffer (one entry per acceptor table slot). */
export class SlotQueue {
  #buf: Int32Array;
  #head = 0;
  length = 0;

  constructor(capacity: number) {
    this.#buf = new Int32Array(capacity);
  }

  push(slot: number): void {
    this.#buf[(this.#head + this.length) % this.#buf.length] = slot;
    this.length++;
  }

  /** Put a slot back at the head (it keeps its turn). */
  unshift(slot: number): void {
    this.#head = (this.#head - 1 + this.#buf.length) % this.#buf.length;
    this.#buf[this.#head] = slot;
    this.length++;
  }

  /** The i-th slot from the head. */
  at(i: number): number {
    return this.#buf[(this.#head + i) % this.#buf.length];
  }

  /** Remove n slots from the head. */
  shift(n: number): void {
    this.#head = (this.#head + n) % this.#buf.length;
    this.length -= n;
  }
}

/** What the dispatcher needs from the server that owns it. */
export interface DispatchHost {
  readonly options: ResolvedOptions;
  readonly scheduler: Scheduler;
  readonly shards: ShardPool;
  /** the acceptor's counter block (the engine reads `paused` from it) */
  readonly acceptorCounters: CounterBlock;
  acceptor(): NativeAcceptor | undefined;
  /** closing or closed: pausing no longer applies */
  stopping(): boolean;
  /** source-hash or a placement function: a preferred worker per connection */
  readonly placement?: Placement;
  emit(event: string, ...args: unknown[]): boolean;
}

export class Dispatcher {
  readonly held: SlotQueue;
  #slotsBuf: Int32Array;
  #targetsBuf: Int32Array;
  #idsBuf: Int32Array;
  /** with placement: the preferred worker index of the connection in each slot, and the batch's copy */
  #pref?: Int32Array;
  #prefBuf?: Int32Array;
  #retryLater: number[] = [];
  #retryTimer?: NodeJS.Timeout;
  #recheck?: NodeJS.Timeout;
  #dispatchWarned = false;
  /** the target the acceptor holds as its pick for the next accept (see #pickAhead), -1: none */
  #ahead = -1;
  paused: PauseReason | null = null;
  pauses = 0;
  resumes = 0;
  /** accepted connections closed without reaching a worker */
  dropped = 0;

  constructor(readonly host: DispatchHost) {
    const t = host.options.acceptorTableSize;
    this.held = new SlotQueue(t);
    this.#slotsBuf = new Int32Array(t);
    this.#targetsBuf = new Int32Array(t);
    this.#idsBuf = new Int32Array(t);
    if (host.placement) {
      this.#pref = new Int32Array(t).fill(-1);
      this.#prefBuf = new Int32Array(t);
    }
  }

  /** Slots accepted and not yet handed off (waiting, or waiting to be retried). */
  get waiting(): number {
    return this.held.length + this.#retryLater.length;
  }

  /** The acceptor's batch of `n` event records (layout from abi: type, slot, a, b). */
  onEvents(n: number): void {
    const acc = this.host.acceptor()!;
    const ev = acc.events;
    for (let i = 0, o = 0; i < n; i++, o += abi.acceptorWords) {
      const type = ev[o + AF.type];
      const slot = ev[o + AF.slot];
      const a = ev[o + AF.a];
      const b = ev[o + AF.b];
      switch (type) {
        case EV.ACCEPT:
          if (this.#overLimit() && this.host.options.overflow === 'reject') acc.reject(slot);
          else {
            // decided once per connection (a returned one is placed afresh)
            if (this.#pref) this.#pref[slot] = this.host.placement!.prefer(a >>> 0);
            this.held.push(slot);
          }
          break;
        case EV.PLACED: {
          // handed off by the engine to the pick made ahead: in flight now
          if (this.#ahead === b) this.#ahead = -1;
          const s = this.host.shards.byTarget(b);
          if (s) {
            this.host.scheduler.placed(s.id);
            s.block.addGauge(WI.inflight, 1);
          }
          break;
        }
        case EV.HANDOFF_OK: {
          const s = this.host.shards.byTarget(a);
          if (s) {
            s.delivered++;
            this.#settled(s);
          }
          break;
        }
        case EV.HANDOFF_ERR:
          this.#onHandoffError(slot, a, b);
          break;
        case EV.ACCEPT_ERR:
          this.host.emit('accept-error', errnoError(a, 'accept'), { backoffMs: b });
          break;
        case EV.STALL:
          this.host.emit('stall', { held: this.held.length });
          break;
        case EV.REJECTED:
          this.host.emit('reject', { id: a >>> 0 });
          break;
        default:
          break;
      }
    }
    this.schedule();
  }

  #onHandoffError(slot: number, target: number, err: number): void {
    const { scheduler, shards } = this.host;
    const s = shards.byTarget(target);
    if (s) this.#settled(s);
    const cls = handoffClass(err);
    if (cls === 'full') {
      // the worker's table is full: the slot is still ours; try another now
      if (s) scheduler.saturate(s.id);
      this.held.unshift(slot);
    } else if (cls === 'dead') {
      if (s && s.state === 'ready') shards.failed(s, errnoError(err, 'io_uring_prep_msg_ring_fd_alloc'));
      this.held.unshift(slot);
    } else if (cls === 'overflow') {
      // delivered to the worker unannounced: never retried (that would
      // install the socket twice); the engine has shut it down and closes it
      this.dropped++;
      this.host.emit('warning', errnoError(err, 'io_uring_prep_msg_ring_fd_alloc'));
    } else if (cls === 'retry') {
      this.#retryLater.push(slot);
      this.#retryTimer ??= setTimeout(() => {
        this.#retryTimer = undefined;
        for (const sl of this.#retryLater.splice(0)) this.held.push(sl);
        this.schedule();
      }, 5);
    } else {
      // not a condition we can fix by retrying: close it rather than leak it
      this.dropped++;
      this.host.acceptor()?.drop(slot);
      this.host.emit('warning', errnoError(err, 'io_uring_prep_msg_ring_fd_alloc'));
    }
  }

  /** A hand-off to s is no longer in flight (done, failed, or never queued): the scheduler's count and the worker's gauge. */
  #settled(s: Shard): void {
    this.host.scheduler.settled(s.id);
    s.block.addGauge(WI.inflight, -1);
  }

  #overLimit(): boolean {
    const max = this.host.options.maxConnections;
    return Number.isFinite(max) && this.host.scheduler.load() + this.waiting >= max;
  }

  /** Hand every held slot to a worker that can take it; pause when none can. */
  schedule(): void {
    const acc = this.host.acceptor();
    if (!acc) return;
    const { scheduler, shards } = this.host;
    scheduler.refresh();
    const max = this.host.options.maxConnections;
    // each pass either hands off every slot it was given or stops at one
    // that failed: a slot that can never be handed off is dropped, so it
    // costs only its own connection and never stalls the queue behind it
    for (let pass = 0; pass < 4; pass++) {
      let want = this.held.length;
      if (Number.isFinite(max)) want = Math.min(want, Math.max(0, max - scheduler.load()));
      if (want <= 0) break;
      const pref = this.#pref;
      if (pref) for (let i = 0; i < want; i++) this.#prefBuf![i] = pref[this.held.at(i)];
      const got = scheduler.assign(want, this.#idsBuf, this.#prefBuf);
      if (!got) break;
      for (let i = 0; i < got; i++) {
        const s = shards.byId(this.#idsBuf[i])!;
        this.#slotsBuf[i] = this.held.at(i);
        this.#targetsBuf[i] = s.target;
        s.block.addGauge(WI.inflight, 1);
      }
      const queued = acc.dispatch(this.#slotsBuf, this.#targetsBuf, got);
      this.held.shift(queued);
      // anything assigned but not queued goes back (still at the head)
      for (let i = queued; i < got; i++) this.#settled(shards.byId(this.#idsBuf[i])!);
      if (queued === got) break;
      if (!this.#onDispatchError(this.#slotsBuf[queued], this.#targetsBuf[queued])) break;
    }
    this.#updatePause();
    this.#pickAhead();
  }

  /**
   * Make the scheduler's choice for the next connection before it is
   * accepted, so the acceptor hands that accept off in the same
   * io_uring_enter round instead of after this JS has run, which at light
   * load was most of a hand-off. Only where a new accept would go straight
   * to a worker anyway: no slot waiting ahead of it (FIFO), no per-connection
   * placement (source-hash, a placement function), room under
   * maxConnections, not paused or stopping. A pick still open is kept:
   * picking again would move round-robin on without placing anything.
   */
  #pickAhead(): void {
    const acc = this.host.acceptor();
    if (!acc) return;
    const { scheduler, shards } = this.host;
    const want = !this.#pref && this.waiting === 0 && !this.paused && !this.host.stopping() && !this.#overLimit();
    if (this.#ahead >= 0) {
      const s = shards.byTarget(this.#ahead);
      if (want && s && scheduler.isOpen(s.id)) return;
      this.revokeAhead();
    }
    if (!want) return;
    const id = scheduler.pickAhead();
    const s = id === undefined ? undefined : shards.byId(id);
    // -EBADFD: its ring is being removed; the next batch picks again
    if (s && acc.setNext(s.target) >= -1) this.#ahead = s.target;
  }

  /** Take back the pick made ahead (its worker left rotation, or accepts must wait). */
  revokeAhead(): void {
    if (this.#ahead < 0) return;
    this.#ahead = -1;
    this.host.acceptor()?.setNext(-1);
  }

  /**
   * A hand-off could not even be queued (the failing slot is at the head of
   * the held queue). Returns true when the queue can go on at once.
   */
  #onDispatchError(slot: number, err: number): boolean {
    const code = errnoName(err);
    if (code === 'EBUSY' || code === 'EAGAIN' || code === 'EBADFD') {
      // a full submission queue, or a worker removed since it was picked:
      // the slot is still ours; the next pass (or the 2 ms recheck) retries
      if (!this.#dispatchWarned) {
        this.#dispatchWarned = true;
        this.host.emit('warning', errnoError(err, 'io_uring_prep_msg_ring_fd_alloc'));
      }
      return code === 'EBADFD';
    }
    // the engine does not hold this slot (or refuses it for good): it can
    // never be handed off; drop it from the queue and count it
    this.held.shift(1);
    this.dropped++;
    // close it if the engine still owns it (-EINVAL when it does not)
    this.host.acceptor()?.drop(slot);
    this.host.emit('warning', Object.assign(errnoError(err, 'io_uring_prep_msg_ring_fd_alloc'), { slot }));
    return true;
  }

  #updatePause(): void {
    const acc = this.host.acceptor();
    if (!acc || this.host.stopping()) return;
    let reason: PauseReason | null = null;
    if (this.#overLimit() && this.host.options.overflow === 'pause') reason = 'max-connections';
    else if (this.held.length > 0 && !this.host.scheduler.hasCapacity()) reason = 'capacity';
    if (reason && !this.paused) {
      this.paused = reason;
      this.pauses++;
      acc.pause();
      this.host.acceptorCounters.setGauge(AI.paused, 1);
      this.host.emit('pause', { reason, held: this.held.length });
    } else if (!reason && this.paused) {
      this.paused = null;
      this.resumes++;
      acc.resume();
      this.host.emit('resume', { held: this.held.length });
    } else if (reason) {
      this.paused = reason;
    }
    // worker counts fall without acceptor events: poll while waiting on them
    const waiting = this.paused !== null || this.held.length > 0;
    if (waiting && !this.#recheck) {
      this.#recheck = setInterval(() => this.schedule(), 2);
    } else if (!waiting && this.#recheck) {
      clearInterval(this.#recheck);
      this.#recheck = undefined;
    }
  }

  /** Close every slot that never reached a worker (shutdown); returns how many. */
  dropAll(): number {
    this.revokeAhead();
    const acc = this.host.acceptor();
    let n = 0;
    for (const sl of this.#retryLater.splice(0)) {
      acc?.drop(sl);
      n++;
    }
    while (this.held.length > 0) {
      acc?.drop(this.held.at(0));
      this.held.shift(1);
      n++;
    }
    this.dropped += n;
    return n;
  }

  /** Stop the timers (the server is going away). */
  stop(): void {
    this.revokeAhead();
    if (this.#recheck) clearInterval(this.#recheck);
    this.#recheck = undefined;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }
}
