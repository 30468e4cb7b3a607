/**
 * Several acceptors (option `acceptors`): the limit of one central acceptor
 * is its thread, about 9-13 us of CPU per connection on the machine we
 * measured (bench churn suite; the kernel's accept is most of it), so one
 * core accepts at most ~80-100k connections/s. Past that, a server runs N acceptors, each on a thread of
 * its own (acceptor-thread.ts) with its own SO_REUSEPORT listener on the
 * one port and its own share of the workers: the kernel spreads new
 * connections over the listeners by their 4-tuple's hash, and each
 * acceptor schedules its connections over its workers exactly as the one
 * acceptor does over all of them (nothing is shared between acceptors, so
 * nothing is locked). What the kernel's spread cannot do is balance load:
 * each acceptor balances only its own workers.
 *
 * This file is the main thread's side: start the acceptors, pass their
 * events on (worker indexes made global), and merge their stats, reloads
 * and close summaries into the one server's.
 */
import { receiveMessageOnPort, MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import type { AcceptorRequest, AcceptorThreadData } from './acceptor-thread.js';
import type { CounterBlock } from './counters.js';
import { fromWire } from './error-info.js';
import type { ResolvedOptions, ServerOptions } from './options.js';
import { type AcceptorPart, mergeAcceptorStats } from './server-stats.js';
import type { AddressInfo, CloseSummary, ReloadSummary, ServerStats } from './server-types.js';

/** How long a synchronous stats read waits for a busy acceptor thread. */
const RPC_TIMEOUT_MS = 2000;

/** Split `n` workers over `k` acceptors, the first ones taking the remainder. */
export function splitWorkers(n: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
}

/**
 * Acceptor g's options: the server's, with its share of the workers (and
 * of their weights and of maxConnections), SO_REUSEPORT, its own inherited
 * socket (option fds), and no admin endpoint (the main thread serves it).
 */
export function acceptorOptions(raw: ServerOptions, o: ResolvedOptions, g: number, bind?: { host: string; port: number }): ServerOptions {
  const counts = splitWorkers(o.workers, o.acceptors);
  const first = counts.slice(0, g).reduce((a, b) => a + b, 0);
  const out: ServerOptions = { ...raw, workers: counts[g], reusePort: true };
  delete out.acceptors;
  delete out.admin;
  // a URL object does not cross threads: its resolved file URL does
  if (typeof o.handler !== 'string') out.handler = o.handler.url;
  if (raw.weights) out.weights = o.weights.slice(first, first + counts[g]);
  if (Number.isFinite(o.maxConnections)) out.maxConnections = splitWorkers(o.maxConnections, o.acceptors)[g];
  if (o.fds) out.fds = [o.fds[g]];
  if (bind) Object.assign(out, bind);
  return out;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/** One acceptor thread, as the main thread sees it. */
class AcceptorThread {
  readonly worker: Worker;
  readonly firstWorker: number;
  /** where it was told to listen (all but the first: the first's address), kept for reloads */
  readonly bind?: { host: string; port: number };
  #rpc: MessagePort;
  #signal = new Int32Array(new SharedArrayBuffer(4));
  #seq = 0;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #exited: Promise<void>;
  #exitError?: Error;
  /** set when the thread has ended: why */
  #gone?: Error;
  /** told to close: its end is expected */
  stopping = false;

  constructor(
    readonly index: number,
    options: ServerOptions,
    firstWorker: number,
    bind: { host: string; port: number } | undefined,
    subscribed: string[],
    onEvent: (name: string, args: unknown[]) => void,
    onDeath: (e: Error) => void,
  ) {
    this.firstWorker = firstWorker;
    this.bind = bind;
    const { port1, port2 } = new MessageChannel();
    this.#rpc = port1;
    const data: AcceptorThreadData = { options, rpc: port2, signal: this.#signal.buffer as SharedArrayBuffer, subscribed };
    this.worker = new Worker(new URL('./acceptor-thread.js', import.meta.url), { workerData: data, transferList: [port2] });
    this.worker.on('message', (m: { t: 'event'; name: string; args: unknown[] } | { t: 'reply'; id: number; value?: unknown; error?: unknown }) => {
      if (m.t === 'event') onEvent(m.name, m.args.map(fromWire));
      else {
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        if (m.error !== undefined) p?.reject(fromWire(m.error) as Error);
        else p?.resolve(fromWire(m.value));
      }
    });
    this.#exited = new Promise((resolve) => {
      this.worker.on('error', (e) => {
        this.#exitError = e;
      });
      this.worker.on('exit', (code) => {
        const e = Object.assign(new Error(`acceptor ${index}'s thread ended (exit code ${code})${this.#exitError ? `: ${this.#exitError.message}` : ''}`), {
          code: 'ERR_ACCEPTOR_EXIT',
          cause: this.#exitError,
        });
        this.#gone = e;
        for (const p of this.#pending.values()) p.reject(e);
        this.#pending.clear();
        this.#rpc.close();
        resolve();
        if (!this.stopping) onDeath(e);
      });
    });
  }

  /** Run a command on the acceptor's server; resolves with its result. */
  call<T>(cmd: AcceptorRequest): Promise<T> {
    // ended: nobody would answer (one that ends later rejects what waits)
    if (this.#gone) return Promise.reject(this.#gone);
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...cmd, id });
    });
  }

  /**
   * Read something of the acceptor's server now, blocking this thread until
   * it answers (it answers from its own event loop: no lock is held).
   */
  callSync<T>(method: 'report' | 'listenerFds'): T {
    if (this.#gone) throw this.#gone;
    const seq = ++this.#seq;
    this.#rpc.postMessage({ seq, method });
    const deadline = Date.now() + RPC_TIMEOUT_MS;
    for (;;) {
      // a reply that came after an earlier call gave up is skipped
      const m = receiveMessageOnPort(this.#rpc)?.message as { seq: number; value?: T; error?: unknown } | undefined;
      if (m && m.seq === seq) {
        if (m.error !== undefined) throw fromWire(m.error);
        return m.value as T;
      }
      if (m) continue;
      const left = deadline - Date.now();
      if (left <= 0) throw Object.assign(new Error(`acceptor ${this.index} did not answer within ${RPC_TIMEOUT_MS} ms`), { code: 'ERR_ACCEPTOR_TIMEOUT' });
      Atomics.wait(this.#signal, 0, Atomics.load(this.#signal, 0), left);
    }
  }

  /** Wait for the thread to end (after close), then make sure it has. */
  async stop(): Promise<void> {
    const t = setTimeout(() => void this.worker.terminate(), 5000);
    await this.#exited;
    clearTimeout(t);
  }
}

/** What the acceptors need from the server that owns them. */
export interface GroupsHost {
  emit(event: string, ...args: unknown[]): boolean;
  listenerCount(event: string): number;
}

/** What an acceptor thread reports (server.ts acceptorReport). */
type Report = { stats: ServerStats; blocks: SharedArrayBuffer[]; notReady: string | null };

export class AcceptorGroups {
  #threads: AcceptorThread[] = [];
  /** each acceptor's last report, from its close */
  #final?: (AcceptorPart & { notReady: string | null })[];
  #counts: number[];

  constructor(
    readonly raw: ServerOptions,
    readonly options: ResolvedOptions,
    readonly host: GroupsHost,
  ) {
    this.#counts = splitWorkers(options.workers, options.acceptors);
  }

  #start(g: number, bind?: { host: string; port: number }): AcceptorThread {
    const first = this.#counts.slice(0, g).reduce((a, b) => a + b, 0);
    const subscribed = this.host.listenerCount('handler-error') > 0 ? ['handler-error'] : [];
    const t = new AcceptorThread(
      g,
      acceptorOptions(this.raw, this.options, g, bind),
      first,
      bind,
      subscribed,
      (name, args) => this.#onEvent(t, name, args),
      // its listener stays open with nobody accepting: connections the
      // kernel hashes to it would hang, so the server cannot go on as it is
      (e) => this.host.emit('error', e),
    );
    this.#threads.push(t);
    return t;
  }

  /** An acceptor's event, its worker index made the server's. */
  #onEvent(t: AcceptorThread, name: string, args: unknown[]): void {
    const a0 = args[0];
    if (a0 && typeof a0 === 'object' && !(a0 instanceof Error) && typeof (a0 as { worker?: unknown }).worker === 'number') {
      const w = (a0 as { worker: number }).worker;
      args[0] = { ...a0, worker: w < 0 ? w : w + t.firstWorker, acceptor: t.index };
    } else if (name === 'pause' || name === 'resume' || name === 'stall') {
      args[0] = { ...(a0 as object), acceptor: t.index };
    }
    this.host.emit(name, ...args);
  }

  /** Start every acceptor: the first binds (port 0 picks one), the rest join it on that port. */
  async listen(): Promise<AddressInfo[]> {
    const o = this.options;
    const n = o.acceptors;
    const out: AddressInfo[] = [];
    if (o.fds) {
      for (let g = 0; g < n; g++) this.#start(g);
      for (const a of await Promise.all(this.#threads.map((t) => t.call<AddressInfo>({ method: 'listen' })))) out.push(a);
      return out;
    }
    const first = await this.#start(0).call<AddressInfo>({ method: 'listen' });
    out.push(first);
    const bind = { host: first.address, port: first.port };
    for (let g = 1; g < n; g++) this.#start(g, bind);
    out.push(...(await Promise.all(this.#threads.slice(1).map((t) => t.call<AddressInfo>({ method: 'listen' })))));
    return out;
  }

  /** The acceptors' stats as one server's, and every worker's counter block. */
  stats(x: { listening: boolean; startedAt: number }): { stats: ServerStats; blocks: CounterBlock[]; notReady: string | null } {
    // closed: what each acceptor counted up to its end
    const parts = this.#final ?? this.#threads.map((t) => ({ ...t.callSync<Report>('report'), firstWorker: t.firstWorker }));
    const merged = mergeAcceptorStats(parts, { ...x, zcThreshold: this.options.zcThreshold });
    const notReady = parts.find((p) => p.notReady !== null)?.notReady ?? null;
    return { ...merged, notReady };
  }

  /** Every acceptor's listening sockets (from now on shared with whoever gets them: see Server.listenerFds). */
  listenerFds(): number[] {
    return this.#threads.flatMap((t) => t.callSync<number[]>('listenerFds'));
  }

  /** Pass 'handler-error' on only while the main thread listens for it. */
  subscribe(event: string, on: boolean): void {
    for (const t of this.#threads) void t.call({ method: 'subscribe', event, on }).catch(() => undefined);
  }

  terminateWorker(index: number): Promise<void> {
    const t = [...this.#threads].reverse().find((x) => x.firstWorker <= index);
    if (!t || !Number.isInteger(index) || index >= this.options.workers) return Promise.reject(Object.assign(new RangeError(`no worker ${index}`), { code: 'ERR_OUT_OF_RANGE' }));
    return t.call({ method: 'terminateWorker', index: index - t.firstWorker });
  }

  /**
   * A rolling reload, one acceptor after the other, so at most one worker
   * of the whole server is being replaced at a time (as with one acceptor).
   */
  async reload(drainTimeout: number, raw?: ServerOptions, next?: ResolvedOptions): Promise<ReloadSummary> {
    const t0 = Date.now();
    const sum: ReloadSummary = { generation: 0, replaced: 0, drained: 0, forced: 0, ms: 0 };
    const restart = new Set<string>();
    for (const [g, t] of this.#threads.entries()) {
      // bound where it was started: a reload that moves the listener is named by the first acceptor
      // split as the running acceptors are (a changed count is named, not applied)
      const options = raw && next ? acceptorOptions(raw, { ...next, acceptors: this.options.acceptors }, g, t.bind) : undefined;
      const r = await t.call<ReloadSummary>({ method: 'reload', drainTimeout, options });
      sum.generation = r.generation;
      sum.replaced += r.replaced;
      sum.drained += r.drained;
      sum.forced += r.forced;
      for (const k of r.restartRequired ?? []) restart.add(k);
      // a successor that failed leaves the rest as they were: stop here too
      if (r.error) {
        sum.error = r.error;
        break;
      }
    }
    sum.ms = Date.now() - t0;
    if (restart.size) sum.restartRequired = [...restart];
    return sum;
  }

  /** Close every acceptor at once; the summary adds theirs up. */
  async close(timeout: number): Promise<CloseSummary> {
    for (const t of this.#threads) t.stopping = true;
    const done = await Promise.all(this.#threads.map((t) => t.call<{ summary: CloseSummary; report: Report }>({ method: 'close', timeout }).catch(() => undefined)));
    const rs = done.map((d) => d?.summary ?? { drained: 0, forced: 0, dropped: 0, durationMs: 0 });
    this.#final = done.flatMap((d, i) => (d ? [{ ...d.report, firstWorker: this.#threads[i].firstWorker }] : []));
    return {
      drained: rs.reduce((a, r) => a + r.drained, 0),
      forced: rs.reduce((a, r) => a + r.forced, 0),
      dropped: rs.reduce((a, r) => a + r.dropped, 0),
      durationMs: Math.max(0, ...rs.map((r) => r.durationMs)),
    };
  }

  /** Close whatever still runs (a failed listen, a close that ended early) and end the threads. */
  async destroy(): Promise<void> {
    await Promise.all(
      this.#threads.map(async (t) => {
        t.stopping = true;
        // already closed: its ports are shut, and this gets no answer
        if (!this.#final) await t.call({ method: 'close', timeout: 0 }).catch(() => undefined);
        await t.stop();
      }),
    );
    this.#threads = [];
  }
}
