/**
 * runStress: the io_uring load generator behind `ringleader stress`.
 *
 * Policy and orchestration live here; the work happens in client rings
 * (engine/client.c), one per worker thread, each owning its share of the
 * connections. Each thread writes counters, a latency histogram and an
 * error table into its own SharedArrayBuffer; this side reads them for the
 * live display and merges them (sums, histogram buckets) at the end.
 *
 * Time: every ring is started with the same CLOCK_MONOTONIC instants
 * (start, end of warmup, end), so the schedule of an open-loop run is
 * fixed before the first message: message j of connection k is due at
 * start + (j * N + k) / rate, and its latency counts from that instant
 * even if it could only be sent later (no coordinated omission).
 */
import { fillForLrange, needsLrangeFill } from './stress-redis-fill.js';
import { lookup } from 'node:dns/promises';
import { createServer as createNetServer, isIP } from 'node:net';
import { abi, clientLayout as L, clientProbe, errnoError, ioUringUnavailable, monotonicNs, type NativeClientOptions } from '@ringleader/core-native';
import { formatHostPort, type HostPort } from './address.js';
import { CI, CU, sumGauges, sumTotals } from './counters.js';
import { type ResolvedStressOptions, resolveStressOptions, type StressOptions } from './stress-options.js';
import { describeErrors, errorTable, latencyBuckets, progressPercentiles, type StressProgress, type StressResult, summarize } from './stress-result.js';
import { requestSpec } from './stress-request.js';
import { type StressThread, startThread, terminateAll, type ThreadOutcome } from './stress-spawn.js';
import { outOfRange } from './validate.js';

interface Target {
  ip: string;
  port: number;
  label: string;
}

/** Resolve host names (numeric addresses pass through). */
async function resolveTargets(ts: HostPort[], labels?: string[]): Promise<Target[]> {
  const cache = new Map<string, string>();
  const out: Target[] = [];
  for (const t of ts) {
    let ip = isIP(t.host) ? t.host : cache.get(t.host);
    if (!ip) {
      try {
        ip = (await lookup(t.host)).address;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? 'ENOTFOUND';
        throw outOfRange('targets', `a host that resolves (getaddrinfo ${code} for "${t.host}")`, formatHostPort(t.host, t.port));
      }
      cache.set(t.host, ip);
    }
    out.push({ ip, port: t.port, label: labels?.[out.length] ?? formatHostPort(t.host, t.port) });
  }
  return out;
}

/** What the kernel lets the client rings do, checked before any thread starts. */
/**
 * Every --source address must be one of this machine's: one that is not
 * fails every bind (EADDRNOTAVAIL), so it is refused here, naming it, before
 * any ring is built. (In ring socket mode such binds also left their
 * connection slots unsettled: the run hung 12 s and came back partial.)
 */
async function checkSources(sources: readonly string[]): Promise<void> {
  // a long range is sampled (its ends and evenly between): a bind each takes tens of us
  const all = [...new Set(sources)];
  const step = Math.max(1, Math.floor(all.length / 256));
  const some = all.filter((_, i) => i % step === 0 || i === all.length - 1);
  for (const ip of some) {
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      const s = createNetServer();
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e));
      s.listen({ host: ip, port: 0, exclusive: true }, () => s.close(() => resolve(null)));
    });
    if (err) throw outOfRange('source', `addresses of this machine (binding ${ip} fails with ${err.code ?? err.message})`, ip);
  }
}

function kernelPlan(o: ResolvedStressOptions, targets: Target[], warnings: string[]): { probe: ReturnType<typeof clientProbe>; sockMode: 'ring' | 'fd'; zcThreshold: number } {
  const probe = clientProbe();
  if (probe.setupError < 0) throw ioUringUnavailable(errnoError(probe.setupError, 'io_uring_setup'));
  if (!probe.socket || !probe.connect || !probe.bufRing) {
    throw ioUringUnavailable('the kernel lacks IORING_OP_SOCKET/CONNECT or provided buffer rings (Linux >= 6.0 needed)');
  }
  const family = (ip: string) => (isIP(ip) === 6 ? 6 : 4);
  if (o.sources.length) {
    const fams = new Set(targets.map((t) => family(t.ip)));
    if (fams.size > 1) throw outOfRange('source', 'used with targets of one address family', o.sources[0]);
    const tf = [...fams][0];
    const bad = o.sources.find((s) => family(s) !== tf);
    if (bad) throw outOfRange('source', `addresses of the targets' family (IPv${tf})`, bad);
  }
  // Bind-before-connect with no process fd: IORING_OP_BIND on the direct
  // socket keeps the whole set-up in the ring, linked in front of the
  // connect and batched with everything else, with no syscalls on the
  // completion path and no process fd even for a moment. Without it
  // (Linux < 6.11), or without setsockopt through uring_cmd (Linux < 6.7,
  // needed for TCP_NODELAY on a direct socket), sockets are made as process
  // fds, configured with plain syscalls, and moved into the ring's table
  // (IORING_OP_FILES_UPDATE) before they connect. Measured on loopback churn
  // (32 clients over 16 source addresses, 20k cycles): both set-ups cost
  // ~60-80 us of client CPU per cycle, most of it the TCP handshake; the
  // difference was below the run-to-run noise, so the choice rests on the
  // ring path doing the same work without touching the fd table.
  let sockMode: 'ring' | 'fd';
  const ringOk = probe.sockCmd && (!o.sources.length || probe.bind);
  if (o.socketMode === 'ring') {
    if (o.sources.length && !probe.bind) throw outOfRange('socketMode', '"fd" or "auto" with a source address on this kernel (no IORING_OP_BIND, Linux >= 6.11)', 'ring');
    if (!probe.sockCmd) warnings.push('this kernel cannot set TCP_NODELAY on direct sockets (socket uring_cmd, Linux >= 6.7): small messages may be delayed by Nagle');
    sockMode = 'ring';
  } else if (o.socketMode === 'fd') {
    sockMode = 'fd';
  } else {
    sockMode = ringOk ? 'ring' : 'fd';
    if (!ringOk) warnings.push(`sockets are configured as process fds before they enter the ring (${!probe.sockCmd ? 'no socket uring_cmd' : 'no IORING_OP_BIND'} on this kernel)`);
  }
  if (sockMode === 'fd' && !probe.filesUpdate) throw ioUringUnavailable('the kernel lacks IORING_OP_FILES_UPDATE');
  let zcThreshold = o.zcThreshold;
  if (zcThreshold && !probe.sendZc) {
    warnings.push('the kernel has no send_zc: every send is a plain send');
    zcThreshold = 0;
  }
  return { probe, sockMode, zcThreshold };
}

/** Closing a connection (cancel its recv, close its slot): 60 us measured
 * per connection for 48k idle ones on 4 rings over 2 busy cores; allowed 4x. */
const CLOSE_MS_PER_CONN = 0.25;

/**
 * How long the rings may take from their start until every connection is
 * closed: warmup and measured time (a connect ramp still under way then is
 * cut short: attempts in flight are cancelled, or in churn mode complete or
 * time out within the drain), the drain, closing every connection, and a
 * margin for a machine under load. For tests, RINGLEADER_TEST_STRESS_LIMIT_MS
 * replaces it, to reach the partial-result path on a real run.
 */
function threadTimeLimit(o: ResolvedStressOptions): number {
  const forced = Number(process.env.RINGLEADER_TEST_STRESS_LIMIT_MS);
  if (forced > 0) return forced;
  return Math.ceil(o.warmup + o.duration + o.drain + o.connections * CLOSE_MS_PER_CONN + 10_000);
}

function spreadInt(total: number, weights: number[]): number[] {
  const sum = weights.reduce((a, w) => a + w, 0);
  const out = weights.map((w) => Math.floor((total * w) / sum));
  let rest = total - out.reduce((a, n) => a + n, 0);
  for (let i = 0; rest > 0; i = (i + 1) % out.length, rest--) out[i]++;
  return out;
}

/**
 * Drive load at one or more TCP servers with io_uring client rings and
 * report throughput, latency percentiles, errors by code, and verification.
 * Rejects (TypeError/RangeError naming the option) on bad options, and with
 * a Node-shaped error when io_uring or a ring cannot be set up; a server
 * that refuses, drops or corrupts is reported in the result, not thrown.
 */
export async function runStress(options: StressOptions): Promise<StressResult> {
  const o = resolveStressOptions(options);
  const signal = options.signal;
  const onProgress = options.onProgress;
  const targets = await resolveTargets(
    o.targets,
    o.protocol?.targets.map((t) => t.label),
  );
  const request = o.protocol ? requestSpec(o.protocol) : undefined;
  const warnings: string[] = [];
  const { probe, sockMode, zcThreshold } = kernelPlan(o, targets, warnings);
  await checkSources(o.sources);
  // as redis-benchmark does: LRANGE of an empty list would measure nothing
  if (o.protocol?.mode === 'redis' && needsLrangeFill(o.protocol.redis)) warnings.push(...(await fillForLrange(o.protocol.redis, targets)));

  // shape of the work
  const nThreads = o.messages ? Math.min(o.threads, o.messages) : o.threads;
  const perThread = spreadInt(o.connections, new Array(nThreads).fill(1));
  const quotas = o.messages ? spreadInt(o.messages, perThread) : perThread.map(() => 0);
  // (request modes: the engine makes a chunk hold at least its longest request)
  const chunk = o.mode === 'bulk' ? 65536 : request ? 16384 : Math.max(256, Math.min(256 * 1024, o.sizeMax * o.pipeline));
  const bigRecv = o.mode === 'bulk' || o.sizeMax >= 32768;
  const bufSize = bigRecv ? 65536 : 16384;
  const bufCount = bigRecv ? 512 : 1024;

  const threads: StressThread[] = [];
  let idBase = 0;
  const t0 = Date.now();
  for (let i = 0; i < nThreads; i++) {
    const ring: NativeClientOptions = {
      mode: abi.clientModes[o.mode],
      connections: perThread[i],
      idBase,
      targets: targets.map((t) => ({ ip: t.ip, port: t.port })),
      sources: o.sources,
      sockMode: abi.clientSockModes[sockMode],
      sockCmd: probe.sockCmd,
      sizeMin: o.sizeMin,
      sizeMax: o.sizeMax,
      pipeline: o.pipeline,
      window: o.window,
      chunk,
      zcThreshold,
      rate: o.rate ? (o.rate * perThread[i]) / o.connections : 0,
      connectRate: o.connectRate ? (o.connectRate * perThread[i]) / o.connections : 0,
      seed: BigInt(o.seed),
      quota: quotas[i],
      retryMs: o.retryDelay,
      drainMs: o.drain,
      connectTimeoutMs: o.connectTimeout,
      bufCount,
      bufSize,
      deferTaskrun: o.deferTaskrun,
      waitInRing: o.threadWait === 'ring',
      timeoutMs: o.timeout,
      request,
    };
    idBase += perThread[i];
    threads.push(startThread(i, ring));
  }

  // every ring exists before the clock starts
  let startTimer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.all(threads.map((t) => t.ready)),
      new Promise<never>((_, rej) => {
        startTimer = setTimeout(() => rej(Object.assign(new Error('stress threads did not start within 15 s'), { code: 'ERR_STRESS_START_TIMEOUT' })), 15_000);
      }),
    ]);
  } catch (e) {
    await terminateAll(threads);
    throw e;
  } finally {
    clearTimeout(startTimer);
  }

  const tStart = monotonicNs() + 5_000_000n;
  const tMeasure = tStart + BigInt(Math.round(o.warmup * 1e6));
  const tEnd = o.duration ? tMeasure + BigInt(Math.round(o.duration * 1e6)) : 0n;
  // the same instant on the wall clock, which other load machines share (merge)
  const windowStartMs = Date.now() + Number(tMeasure - monotonicNs()) / 1e6;
  // the load's own CPU (every thread of this process), from the start to the last close
  const cpu0 = process.cpuUsage();
  for (const t of threads) t.post({ type: 'start', tStart, tMeasure, tEnd });
  const startedAt = Date.now();
  const blocks = threads.map((t) => t.block);
  const u = (name: string) => sumTotals(blocks, CU[name]);

  let interrupted = false;
  let aborted: string | null = null;
  let errorStop = false;
  let stopped = false;
  const stopAll = () => {
    if (stopped) return;
    stopped = true;
    for (const t of threads) t.post({ type: 'stop' });
  };
  const onAbort = () => {
    interrupted = true;
    stopAll();
  };
  if (signal) {
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  }

  // watch: progress, and give up early when nothing can connect at all
  let prev: { t: number; msgs: number; cycles: number; out: number; in: number; hist: Float64Array } = { t: Date.now(), msgs: 0, cycles: 0, out: 0, in: 0, hist: new Float64Array(L.histBuckets) };
  let lastProgress = Date.now();
  const watch = setInterval(() => {
    if (!stopped && u('connects') === 0 && u('connect_attempts') >= o.connections && u('connect_errors') >= o.connections) {
      aborted = `no connection could be made to ${targets.map((t) => t.label).join(', ')} (${describeErrors(errorTable(blocks)) || 'connect failed'})`;
      stopAll();
    }
    // a request mode whose server never answers: every connection timed out without one response
    if (!stopped && o.protocol && u('msgs_all') === 0 && u('timeouts') >= o.connections) {
      aborted = `no response from ${targets.map((t) => t.label).join(', ')} within the timeout (${o.timeout} ms, option "timeout") on any of ${o.connections} connection(s)`;
      stopAll();
    }
    // --messages without --duration has no end but the count: a server
    // that keeps failing would be retried forever, and the run has failed
    // already once the errors pass --max-errors
    if (!stopped && o.messages && !o.duration && u('errors') > o.maxErrors) {
      errorStop = true; // worded at the end, from the final counts: more complete while the rings stop
      stopAll();
    }
    const now = Date.now();
    if (onProgress && now - lastProgress >= o.progressInterval) {
      lastProgress = now;
      const dt = (now - prev.t) / 1000;
      const msgs = u('msgs_all');
      const cycles = u('cycles_all');
      const out = u('bytes_out_all');
      const inn = u('bytes_in_all');
      const hist = latencyBuckets(blocks);
      const up = sumGauges(blocks, CI.up);
      const mono = Number(monotonicNs() - tStart) / 1e6;
      const state = Math.max(...blocks.map((b) => b.gauge(CI.state)));
      const phase: StressProgress['phase'] = state >= 2 ? 'draining' : mono < o.warmup ? (up < o.connections && o.mode !== 'churn' ? 'connecting' : 'warmup') : 'measuring';
      onProgress({
        mode: o.mode,
        elapsedMs: now - startedAt,
        phase,
        up,
        connecting: sumGauges(blocks, CI.connecting),
        msgsPerSec: (msgs - prev.msgs) / dt,
        cyclesPerSec: (cycles - prev.cycles) / dt,
        outMiBPerSec: (out - prev.out) / dt / 1048576,
        inMiBPerSec: (inn - prev.in) / dt / 1048576,
        // of the messages completed in the last interval
        ...progressPercentiles(hist.map((v, i) => v - prev.hist[i])),
        errors: u('errors'),
        verifyFailures: u('verify_failures'),
        verified: msgs,
      });
      prev = { t: now, msgs, cycles, out, in: inn, hist };
    }
  }, 50);

  // wait for every ring to close its connections; a ring still busy past
  // its time limit leaves a partial result, printed with a note, never none
  const finished: (ThreadOutcome | null)[] = threads.map(() => null);
  const allDone = Promise.all(threads.map((t, i) => t.done.then((oc) => (finished[i] = oc))));
  allDone.catch(() => undefined); // a thread torn down after the limit rejects it: nobody waits then
  let guard: NodeJS.Timeout | undefined;
  let unfinished: { reason: string; up: number; atNs: number } | null = null;
  try {
    const waits: Promise<unknown>[] = [allDone];
    if (o.duration) {
      const budget = threadTimeLimit(o);
      waits.push(
        new Promise<void>((res) => {
          guard = setTimeout(() => {
            const left = finished.filter((oc) => !oc).length;
            // a ring that stopped counts what was up when it stopped
            const up = blocks.reduce((n, b) => n + (b.gauge(CI.state) >= 2 ? b.gauge(CI.up_at_stop) : b.gauge(CI.up)), 0);
            const reason = `stress threads did not finish within ${budget} ms (${left} of ${threads.length} still busy): the result is partial`;
            unfinished = { reason, up, atNs: Number(monotonicNs()) };
            res();
          }, budget);
        }),
      );
    }
    await Promise.race(waits);
  } catch (e) {
    clearInterval(watch);
    await terminateAll(threads);
    throw e;
  } finally {
    clearTimeout(guard);
    signal?.removeEventListener('abort', onAbort);
  }
  clearInterval(watch);
  const cpu = process.cpuUsage(cpu0);
  const elapsedMs = Date.now() - t0;
  if (!unfinished) {
    await Promise.race([Promise.all(threads.map((t) => t.exited)), new Promise((r) => setTimeout(r, 2000).unref())]);
  }
  await terminateAll(threads);
  const outcomes = finished.filter((oc): oc is ThreadOutcome => oc !== null);
  if (errorStop && !aborted) {
    const done = o.mode === 'churn' ? `${u('cycles_all')} of ${o.messages} cycles` : `${u('msgs_all')} of ${o.messages} ${o.protocol ? 'requests' : 'messages'}`;
    aborted = `stopped early: ${u('errors')} error(s), more than the ${o.maxErrors} allowed (option "maxErrors"), with ${done} done (with "messages" and no "duration", errors end the run rather than retries)`;
  }
  return summarize(o, blocks, { targets, threads: nThreads, socketMode: sockMode, zcThreshold, tMeasure, tEnd, windowStartMs, elapsedMs, interrupted, aborted, warnings, outcomes, unfinished, cpu });
}
