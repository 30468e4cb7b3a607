/**
 * Server: the acceptor ring on this thread, a piscina pool of shards (one
 * worker ring per thread), and the scheduler between them. This file is
 * the lifecycle (listen, stats, close); the parts live beside it:
 * startup.ts (checks before any ring), shards.ts (worker supervision),
 * dispatch.ts (held slots, hand-off, pausing), server-stats.ts (stats).
 *
 * Connections are never lost to load: a slot the acceptor holds stays ours
 * until a worker has it (hand-off OK) or we close it on purpose (overflow
 * 'reject', shutdown). When no worker can take more, accepting pauses and new
 * connections wait in the kernel's listen backlog.
 */
import { availableParallelism } from 'node:os';
import { EventEmitter } from 'node:events';
import { errnoError, errnoName, isSystemError, type NativeAcceptor, native, type RingleaderSystemError } from '@ringleader/core-native';
import { AcceptorGroups } from './acceptor-groups.js';
import { AdminServer } from './admin.js';
import { AI, acceptorBlock, type CounterBlock, WI, WU } from './counters.js';
import { Dispatcher } from './dispatch.js';
import { type ResolvedOptions, resolveOptions, SERVER_DEFAULTS, type ServerOptions } from './options.js';
import { MetricsRegistry } from './metrics.js';
import { Placement } from './placement.js';
import { Scheduler } from './scheduler.js';
import { serverStats } from './server-stats.js';
import type { AddressInfo, CloseOptions, CloseSummary, ReloadSummary, ServerStats } from './server-types.js';
import { reloadOptions } from './reload-options.js';
import { ShardPool } from './shards.js';
import { adoptError, checkAdminClash, checkBufferMemory, checkKernel, prepareUpstreams, resolveListenHost, ringError } from './startup.js';
import type { ResolvedUpstream } from './upstream.js';

type State = 'new' | 'starting' | 'listening' | 'closing' | 'closed';

/** For an acceptor thread (acceptor-thread.ts) to read its server: not public API. */
const reports = new WeakMap<Server, () => { stats: ServerStats; blocks: SharedArrayBuffer[]; notReady: string | null }>();

/** A server's stats, its worker counter blocks' memory, and why /readyz would say 503 (null: ready). */
export function acceptorReport(s: Server): { stats: ServerStats; blocks: SharedArrayBuffer[]; notReady: string | null } {
  return reports.get(s)!();
}

/** A sharded io_uring TCP server. Create it with {@link createServer}. */
export class Server extends EventEmitter {
  #options: ResolvedOptions;
  #state: State = 'new';
  #acceptor?: NativeAcceptor;
  #acc = acceptorBlock();
  #scheduler: Scheduler;
  #shards: ShardPool;
  #dispatch: Dispatcher;
  #address: AddressInfo | null = null;
  /** every listening socket's address (option fds: several), the first is #address */
  #addresses: AddressInfo[] = [];
  /** listen()'s start while it runs, and close()'s drain once it began */
  #starting?: Promise<AddressInfo>;
  #closing?: Promise<CloseSummary>;
  #startedAt = 0;
  #upstreams: ResolvedUpstream[] = [];
  #maint?: NodeJS.Timeout;
  #zcWarned = new Set<number>();
  #admin?: AdminServer;
  #placement?: Placement;
  /** reloads in progress */
  #reloading = 0;
  /** proxy: the upstreams last seen down (for upstream-down / upstream-up) */
  #downSeen = new Set<string>();
  /** option acceptors > 1: the acceptors, each a server of its own on a thread (acceptor-groups.ts) */
  #groups?: AcceptorGroups;
  #acceptorTid = 0;

  constructor(options: ServerOptions = {}) {
    super();
    this.#options = resolveOptions(options);
    const scheduler = new Scheduler(this.options.policy, Math.random, {
      onSaturated: (id, live) => this.emit('saturated', { worker: this.#shards.byId(id)?.index ?? -1, live }),
      onUnsaturated: (id, live) => this.emit('unsaturated', { worker: this.#shards.byId(id)?.index ?? -1, live }),
      // at once, before a removed worker's ring can be told to drain: no
      // accept may go to it any more (the next batch picks again)
      onRotation: () => this.#dispatch?.revokeAhead(),
    });
    this.#scheduler = scheduler;
    const emit = this.emit.bind(this);
    const acceptor = () => this.#acceptor;
    this.#shards = new ShardPool({
      // a reload with new options changes what the next workers start with
      options: () => this.#options,
      scheduler,
      acceptor,
      upstreams: () => this.#upstreams,
      running: () => (this.#state === 'starting' || this.#state === 'listening' ? this.#state : false),
      emit,
      listenerCount: (e) => this.listenerCount(e),
      onReady: () => this.#dispatch.schedule(),
    });
    const o = this.options;
    const placement =
      o.placement || o.policy === 'source-hash'
        ? new Placement(o.placement ?? 'source-hash', {
            workers: o.workers,
            peer: (id, out) => this.#acceptor?.peer(id, out) ?? -1,
            view: () =>
              this.#shards.shards.map((sh) => ({
                index: sh.index,
                live: sh.block.gauge(WI.live),
                inflight: scheduler.inflight(sh.id),
                saturated: scheduler.isSaturated(sh.id),
                ready: sh.state === 'ready',
              })),
            warn: (e) => this.emit('warning', e),
          })
        : undefined;
    this.#placement = placement;
    this.#dispatch = new Dispatcher({
      options: this.options,
      placement,
      scheduler,
      shards: this.#shards,
      acceptorCounters: this.#acc,
      acceptor,
      stopping: () => this.#state === 'closing' || this.#state === 'closed',
      emit,
    });
    reports.set(this, () => ({ stats: this.stats(), blocks: [...this.#shards.shards, ...this.#shards.draining].map((sh) => sh.block.sab), notReady: this.#notReady() }));
    if (o.acceptors > 1) {
      const groups = new AcceptorGroups(options, o, { emit, listenerCount: (e) => this.listenerCount(e) });
      this.#groups = groups;
      // handler errors cross from the acceptors only while someone here listens (otherwise they print there)
      const watch = (on: boolean) => (event: string | symbol) => {
        if (event !== 'handler-error') return;
        // newListener fires before the listener is added, removeListener after it is gone
        const n = this.listenerCount(event) + (on ? 1 : 0);
        if ((on && n === 1) || (!on && n === 0)) groups.subscribe(event, on);
      };
      this.on('newListener', watch(true));
      this.on('removeListener', watch(false));
    }
  }

  /** The options in force (after defaults; a reload may have changed some, see {@link reload}). */
  get options(): ResolvedOptions {
    return this.#options;
  }

  /** Where the server listens, once listening (with option `fds`, the first socket; see {@link addresses}); null once closed, as for net.Server. */
  address(): AddressInfo | null {
    return this.#state === 'closed' ? null : this.#address;
  }

  /** Every address the server listens on, once listening: one, or one per socket of option `fds`; none once closed. */
  addresses(): AddressInfo[] {
    return this.#state === 'closed' ? [] : [...this.#addresses];
  }

  get listening(): boolean {
    return this.#state === 'listening';
  }

  /**
   * The listening sockets' descriptors, in the order of {@link addresses},
   * to hand to another process (a process upgrade: the new process serves
   * them with option `fd` or `fds`). From then on closing this server only
   * closes its own descriptors: the sockets keep listening for the other
   * process.
   */
  listenerFds(): number[] {
    if (this.#state !== 'listening' || !(this.#acceptor || this.#groups)) throw Object.assign(new Error('server is not listening'), { code: 'ERR_SERVER_NOT_RUNNING' });
    return this.#groups ? this.#groups.listenerFds() : this.#acceptor!.share();
  }

  /** Stop the admin endpoint (a process upgrade hands its port to the new process). */
  async closeAdmin(): Promise<void> {
    await this.#admin?.close();
    this.#admin = undefined;
  }

  /**
   * Start the admin endpoint again after closeAdmin (a process upgrade that
   * failed gives its port back). Rejects as listen() does for a busy port.
   */
  async openAdmin(): Promise<void> {
    if (this.#admin || this.#state !== 'listening') return;
    await this.#startAdmin();
  }

  /** Where the admin endpoint listens (option `admin`), once listening. */
  adminAddress(): AddressInfo | null {
    return this.#admin?.address() ?? null;
  }

  /** Why /readyz answers 503, or null when the server is ready. */
  #notReady(): string | null {
    if (this.#state === 'closing') return 'draining';
    if (this.#state !== 'listening') return this.#state === 'closed' ? 'closed' : 'not listening yet';
    // during a reload shards[i] may be the successor still starting while the old worker serves
    if (this.#reloading > 0) return 'reloading';
    if (this.#groups) return this.#groups.stats({ listening: true, startedAt: this.#startedAt }).notReady;
    if (!this.#shards.shards.some((s) => s.state === 'ready')) return 'no worker ready';
    return null;
  }

  /** The admin endpoint starts first: a busy admin port fails before any ring is built. */
  async #startAdmin(): Promise<void> {
    const a = this.options.admin;
    if (!a) return;
    const metrics = new MetricsRegistry(() => {
      const { stats, blocks } = this.#statsAndBlocks();
      return { stats, blocks, ready: this.#notReady() === null, draining: this.#state === 'closing' };
    });
    const ip = await resolveListenHost(a.host, 'admin');
    const o = this.options;
    if (o.fds === undefined) checkAdminClash(a, ip, await resolveListenHost(o.host), o.port);
    this.#admin = new AdminServer({ metrics, stats: () => this.stats(), notReady: () => this.#notReady() });
    await this.#admin.listen(ip, a.port);
  }

  /**
   * Bind, start the workers, start accepting. Resolves when every worker
   * serves. Rejects with EADDRINUSE (and `.address`/`.port`), or with an
   * io_uring error that points to `ringleader doctor`.
   */
  async listen(): Promise<AddressInfo> {
    if (this.#state !== 'new') {
      // a Server listens once: its workers, rings and counters end with close()
      const closed = this.#state === 'closed' || this.#state === 'closing';
      const e = new Error(closed ? 'server is closed: a Server listens once; create another to listen again' : 'server is already listening') as Error & { code: string };
      e.code = closed ? 'ERR_SERVER_CLOSED' : 'ERR_SERVER_ALREADY_LISTEN';
      throw e;
    }
    this.#state = 'starting';
    // close() meanwhile waits for this to settle, then closes what it started
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<AddressInfo> {
    const o = this.options;
    try {
      checkKernel();
      await this.#startAdmin();
      const memWarning = checkBufferMemory(o);
      if (memWarning) this.emit('warning', Object.assign(new Error(memWarning), { code: 'ERR_MEMLOCK' }));
      // a low open-files limit silently cut capacity: say so at start, not only in doctor
      if (o.tablesCutTo !== null) {
        const cap = `${o.workers} x ${o.workerTableSize}`;
        this.emit(
          'warning',
          Object.assign(
            new Error(
              `the open-files limit (${o.tablesCutTo}, ulimit -n) cuts each worker's connection table to ${o.workerTableSize} slots (${cap} connections in all, against ${o.workers} x ${SERVER_DEFAULTS.workerTableSize} by default): raise it (ulimit -n, LimitNOFILE=) or set workerTableSize`,
            ),
            { code: 'ERR_TABLE_LIMIT' },
          ),
        );
      }
      this.#acceptorTid = native.threadTid();
      if (this.#groups) {
        this.#addresses = await this.#groups.listen();
        return this.#listening();
      }
      // inherited sockets (option fd, fds) say where they listen; otherwise bind host:port
      const bindIp = o.fds === undefined ? await resolveListenHost(o.host) : '';
      // the proxy's upstreams are checked against where it listens: before binding, or once the inherited sockets say
      if (o.handler === 'proxy' && o.fds === undefined) await this.#prepareUpstreams([{ address: bindIp, port: o.port }]);
      try {
        this.#acceptor = new native.Acceptor(
          {
            tableSize: o.acceptorTableSize,
            multishot: o.multishotAccept,
            // a multishot pass can take the whole backlog at once (see options)
            multishotMargin: o.backlog + 1024,
            deferTaskrun: o.deferTaskrun,
            maxArmed: 64,
            // a handler module sees conn.remoteAddress, placement reads it: record peer addresses
            wantAddress: typeof o.handler !== 'string' || this.#placement !== undefined,
          },
          this.#acc.i32,
          this.#acc.u64,
          (n) => this.#dispatch.onEvents(n),
        );
      } catch (e) {
        throw ringError(e);
      }
      let listeners: { address: string; port: number }[];
      if (o.fds !== undefined) {
        try {
          listeners = this.#acceptor.adopt(o.fds);
        } catch (e) {
          throw adoptError(o.fds, e);
        }
      } else {
        try {
          listeners = [{ address: bindIp, port: this.#acceptor.listen(bindIp, o.port, o.backlog, (o.reusePort ? 1 : 0) | (o.ipv6Only ? 2 : 0)) }];
        } catch (e) {
          if (isSystemError(e)) throw errnoError(e.errno, e.syscall === 'bind' || e.syscall === 'listen' ? 'listen' : e.syscall, { address: bindIp, port: o.port });
          throw e;
        }
      }
      if (o.handler === 'proxy' && o.fds !== undefined) await this.#prepareUpstreams(listeners);
      this.#addresses = listeners.map(({ address, port }) => ({ address, family: address.includes(':') ? 'IPv6' : 'IPv4', port }));
      this.#address = this.#addresses[0];
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          // what started, and the likely cause when there are many workers for the CPUs
          const ready = this.#shards.shards.filter((s) => s?.state === 'ready').length;
          const cpus = availableParallelism();
          const many =
            o.workers > 4 * cpus ? `; ${o.workers} workers on ${cpus} CPUs each start a thread with their own rings and buffers: try fewer (option "workers"), or a longer option "startTimeout"` : '';
          reject(Object.assign(new Error(`workers did not start within ${o.startTimeout} ms (${ready} of ${o.workers} ready)${many}`), { code: 'ERR_WORKER_START_TIMEOUT' }));
        }, o.startTimeout);
      });
      try {
        await Promise.race([this.#shards.startAll(), timeout]);
      } finally {
        clearTimeout(timer);
      }
      this.#maint = setInterval(() => this.#maintain(), 1000);
      this.#maint.unref();
      return this.#listening();
    } catch (e) {
      await this.#teardown();
      this.#state = 'closed';
      throw e;
    }
  }

  #listening(): AddressInfo {
    this.#address = this.#addresses[0];
    this.#startedAt = Date.now();
    this.#state = 'listening';
    this.emit('listening', this.#address);
    return this.#address;
  }

  async #prepareUpstreams(listeners: readonly { address: string; port: number }[]): Promise<void> {
    const { upstreams, warnings } = await prepareUpstreams(this.options, listeners);
    this.#upstreams = upstreams;
    for (const w of warnings) this.emit('warning', w);
  }

  /** Once a second: things the workers cannot say themselves. */
  #maintain(): void {
    if (this.options.handler === 'proxy') this.#watchUpstreams();
    // a listener shared with another process (upgrade, --fd) can lose an accept wakeup to it
    this.#acceptor?.kick();
    for (const s of this.#shards.shards) {
      if (s?.state !== 'ready' || this.#zcWarned.has(s.index)) continue;
      if (s.block.total(WU.zc_fallbacks) > 0) {
        this.#zcWarned.add(s.index);
        const err = s.block.gauge(WI.zc_error);
        this.emit('warning', Object.assign(new Error(`worker ${s.index}: send_zc unavailable (${err ? errnoName(err) : 'error'}); using plain send`), { code: 'ERR_ZEROCOPY_FALLBACK' }));
      }
    }
  }

  /**
   * 'upstream-down' when an upstream goes down in any worker (it backs off
   * from it), 'upstream-up' when no worker holds it down any more; polled
   * once a second from the shared upstream counters.
   */
  #watchUpstreams(): void {
    for (const u of this.stats().upstreams ?? []) {
      const key = `${u.group} ${u.address}`;
      const was = this.#downSeen.has(key);
      if (u.down && !was) {
        this.#downSeen.add(key);
        this.emit('upstream-down', { upstream: u.address, group: u.group, backoffMs: u.backoffMs });
      } else if (!u.down && was) {
        this.#downSeen.delete(key);
        this.emit('upstream-up', { upstream: u.address, group: u.group });
      }
    }
  }

  /**
   * Terminate worker `index` abruptly, as a crash would (for chaos testing):
   * its connections end, it is replaced, the server keeps serving.
   */
  terminateWorker(index: number): Promise<void> {
    return this.#groups ? this.#groups.terminateWorker(index) : this.#shards.terminate(index);
  }

  /**
   * Zero-downtime reload: start the workers' successors one at a time. Each
   * new worker imports the handler module afresh (a new version of the code;
   * modules it imports stay cached in a reused thread) and takes new
   * connections; the one it replaces takes no more at once and has
   * `drainTimeout` ms (default 5000) for its connections to end, then the
   * rest are closed. The replaced workers drain together, so new options
   * (a proxy's upstreams) reach every new connection once the successors
   * serve. A successor that
   * fails to load or init leaves the old worker serving; the summary carries
   * the error. Emits 'reload' with the summary.
   *
   * `options`: the server's options anew (as createServer takes them), for
   * the new workers. They are validated first, and a proxy's upstreams
   * resolved, before any worker is touched: a bad one rejects and nothing
   * changes. Only some can change on a reload (reload-options.ts: the
   * handler module and its options, the proxy's upstreams, groups, policy,
   * timeouts and limits); one of the others that differs keeps its running
   * value, with a 'warning' (code ERR_RESTART_REQUIRED, `key`) and its name
   * in the summary's `restartRequired`.
   */
  async reload(opts: { drainTimeout?: number; options?: ServerOptions } = {}): Promise<ReloadSummary> {
    const drain = opts.drainTimeout ?? SERVER_DEFAULTS.closeTimeout;
    if (typeof drain !== 'number' || !(drain >= 0)) throw new RangeError(`option "drainTimeout" must be a number of milliseconds >= 0; got ${String(drain)}`);
    const notRunning = () => Object.assign(new Error(`server is ${this.#state === 'new' ? 'not listening yet' : this.#state}: nothing to reload`), { code: 'ERR_SERVER_NOT_RUNNING' });
    if (this.#state !== 'listening') throw notRunning();
    // /readyz answers 503 while workers are being replaced
    this.#reloading++;
    let summary: ReloadSummary;
    try {
      const apply = opts.options === undefined ? undefined : await this.#nextOptions(opts.options);
      // resolving upstreams took time: a close may have begun
      if (this.#state !== 'listening') throw notRunning();
      if (this.#groups) {
        // each acceptor checks and applies its share; this thread keeps the server's view of them
        summary = await this.#groups.reload(drain, opts.options, apply ? resolveOptions(opts.options!) : undefined);
        apply?.();
        const named = new Set([...(apply?.restartRequired ?? []), ...(summary.restartRequired ?? [])]);
        if (named.size) summary.restartRequired = [...named];
        else delete summary.restartRequired;
      } else {
        summary = await this.#shards.reload(drain, apply);
        if (apply?.restartRequired.length) summary.restartRequired = apply.restartRequired;
      }
    } finally {
      this.#reloading--;
    }
    this.emit('reload', summary);
    return summary;
  }

  /** Validate a reload's options (throws naming the option) and return what applies them. */
  async #nextOptions(o: ServerOptions): Promise<(() => void) & { restartRequired: string[] }> {
    const { options, restartRequired } = reloadOptions(this.#options, resolveOptions(o));
    let upstreams = this.#upstreams;
    if (options.handler === 'proxy' && options.upstreams !== this.#options.upstreams) {
      const r = await prepareUpstreams(options, this.#addresses);
      upstreams = r.upstreams;
      for (const w of r.warnings) this.emit('warning', w);
    }
    for (const key of restartRequired) {
      const e = new Error(`option "${key}" cannot change on a reload (a restart or an upgrade applies it); it keeps its running value`);
      this.emit('warning', Object.assign(e, { code: 'ERR_RESTART_REQUIRED', key }));
    }
    const apply = () => {
      this.#options = options;
      this.#upstreams = upstreams;
    };
    return Object.assign(apply, { restartRequired });
  }

  /** Counters of every worker, the acceptor, and their sums. */
  stats(): ServerStats {
    return this.#statsAndBlocks().stats;
  }

  /** The stats, and the worker counter blocks they were read from (the metrics' histograms). */
  #statsAndBlocks(): { stats: ServerStats; blocks: CounterBlock[] } {
    if (this.#groups) {
      if (this.#state === 'listening' || this.#state === 'closing') return this.#groups.stats({ listening: this.listening, startedAt: this.#startedAt });
      return { stats: this.#groupsIdle(), blocks: [] };
    }
    const d = this.#dispatch;
    const stats = serverStats({
      listening: this.listening,
      address: this.#address,
      addresses: this.#addresses,
      startedAt: this.#startedAt,
      shards: this.#shards.shards,
      draining: this.#shards.draining,
      restarts: this.#shards.restarts,
      retired: this.#shards.retired,
      scheduler: this.#scheduler,
      acceptor: this.#acc,
      acceptorTid: this.#acceptorTid,
      upstreams: this.options.handler === 'proxy' ? this.#upstreams : undefined,
      zcThreshold: this.options.zcThreshold,
      held: d.waiting,
      paused: d.paused,
      pauses: d.pauses,
      resumes: d.resumes,
      dropped: d.dropped,
      placement: this.#placement?.stats(this.#scheduler.fallbacks),
    });
    return { stats, blocks: this.#shards.shards.map((s) => s.block) };
  }

  /** Several acceptors, none running (not listening yet, or closed): nothing to read but the shape. */
  #groupsIdle(): ServerStats {
    const { stats } = this.#groups!.stats({ listening: false, startedAt: 0 });
    return stats;
  }

  /**
   * Stop accepting, let open connections finish for up to `timeout` ms, then
   * close the rest. Resolves with how many drained and how many were forced.
   */
  async close(opts: CloseOptions = {}): Promise<CloseSummary> {
    const timeout = opts.timeout ?? SERVER_DEFAULTS.closeTimeout;
    if (typeof timeout !== 'number' || !(timeout >= 0)) throw new RangeError(`option "timeout" must be a number of milliseconds >= 0; got ${String(timeout)}`);
    // a second close while the first drains settles with it (a SIGTERM
    // handler and an application's shutdown both awaiting it)
    if (this.#state === 'closing' && this.#closing) return this.#closing;
    // closing while listen() starts: let it settle first (its workers are
    // being built), then close whatever it started
    if (this.#state === 'starting') await this.#starting?.catch(() => {});
    if (this.#state === 'closing' && this.#closing) return this.#closing;
    if (this.#state === 'closed') return { drained: 0, forced: 0, dropped: 0, durationMs: 0 };
    if (this.#state !== 'listening') {
      await this.#teardown();
      this.#state = 'closed';
      return { drained: 0, forced: 0, dropped: 0, durationMs: 0 };
    }
    this.#state = 'closing';
    this.#closing = this.#drainAndClose(timeout);
    return this.#closing;
  }

  async #drainAndClose(timeout: number): Promise<CloseSummary> {
    const t0 = Date.now();
    if (this.#groups) {
      const summary = await this.#groups.close(timeout);
      await this.#teardown();
      this.#state = 'closed';
      this.emit('close', summary);
      return summary;
    }
    this.#acceptor!.stop();
    // the serving workers and those a reload is draining: their connections
    // end (or are forced) within this close too, and count in its summary.
    // A drained worker retires meanwhile (its totals move to `retired`,
    // as it leaves the list, in one step): read the lists each time.
    const all = () => [...this.#shards.shards, ...this.#shards.draining];
    const r = this.#shards.retired;
    const sumOf = (i: number) => all().reduce((n, s) => n + s.block.total(i), 0);
    const closedStart = sumOf(WU.closed) + r.closed;
    // keep handing held slots to workers while draining; wait for live == 0
    const deadline = t0 + timeout;
    while (Date.now() < deadline) {
      this.#dispatch.schedule();
      const live = all().reduce((n, s) => n + (s.state === 'ready' || s.state === 'draining' ? s.block.gauge(WI.live) : 0), 0);
      const inflight = this.#shards.shards.reduce((n, s) => n + this.#scheduler.inflight(s.id), 0);
      // and no accept still in flight: one that completes after the
      // stop (the cancel is not instant) is served like the others, not
      // closed unanswered with the acceptor
      const accepting = this.#acc.gauge(AI.accepting);
      if (live === 0 && inflight === 0 && this.#dispatch.waiting === 0 && accepting === 0) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    // slots that never reached a worker are closed (counted)
    const dropped = this.#dispatch.dropAll();
    const forcedBefore = sumOf(WU.forced) + r.forced;
    await this.#shards.close(Math.max(100, Math.min(2000, timeout)));
    const forced = sumOf(WU.forced) + r.forced - forcedBefore;
    const closedEnd = sumOf(WU.closed) + r.closed;
    const drained = Math.max(0, closedEnd - closedStart - forced);
    await this.#teardown();
    this.#state = 'closed';
    const summary = { drained, forced, dropped, durationMs: Date.now() - t0 };
    this.emit('close', summary);
    return summary;
  }

  async #teardown(): Promise<void> {
    if (this.#maint) clearInterval(this.#maint);
    this.#maint = undefined;
    this.#dispatch.stop();
    await this.#groups?.destroy();
    await this.#shards.destroy();
    this.#acceptor?.close();
    this.#acceptor = undefined;
    await this.#admin?.close();
  }
}

/** Create a sharded server; nothing runs until {@link Server.listen}. */
export function createServer(options: ServerOptions = {}): Server {
  return new Server(options);
}

export type { RingleaderSystemError };
