/**
 * Running a server from the command line: where it listens, a live
 * one-line display (TTY) or JSON lines (--json: nothing else on stdout),
 * drain on the first SIGINT/SIGTERM, forced exit on the second, a summary
 * at the end. Logs go to stderr (log.ts).
 */
import { sdNotify, type Server, type ServerStats } from '@ringleader/runtime';
import type { Logger } from 'pino';
import { formatHostPort } from '@ringleader/runtime/internal';
import { onReloadSignal } from './reload.js';
import type { Reconfig } from './server-flags.js';
import { onStopSignals, releaseEarlySignals } from './signals.js';
import { onUpgradeSignal, reportUpgradeReady } from './upgrade.js';
import { bytes, cliKey, cliMessage, num } from './util.js';

export interface LiveOptions {
  json: boolean;
  intervalMs: number;
  drainMs: number;
  /** what the header calls this server, e.g. "echo" */
  label: string;
  log: Logger;
  /** with --config: read it again for a SIGHUP reload */
  reconfig?: () => Reconfig;
}

function line(prev: ServerStats, cur: ServerStats, dt: number, events: string[]): string {
  const s = dt / 1000;
  const acc = (cur.total.accepted - prev.total.accepted) / s;
  const msgs = (cur.total.recvs - prev.total.recvs) / s;
  const bin = (cur.total.bytesIn - prev.total.bytesIn) / s;
  const bout = (cur.total.bytesOut - prev.total.bytesOut) / s;
  const per = cur.workers.map((w) => `${w.live}${w.saturated ? '*' : ''}${w.state !== 'ready' ? `(${w.state})` : ''}`).join(' ');
  let out = `conns ${num(cur.total.live)}  accepts/s ${num(acc)}  msgs/s ${num(msgs)}  ` + `in ${bytes(bin)}/s  out ${bytes(bout)}/s  workers [${per}]`;
  if (cur.upstreams) {
    const up = cur.upstreams.filter((u) => !u.down).length;
    out += `  upstreams ${up}/${cur.upstreams.length} up`;
  }
  if (cur.total.handlerErrors) out += `  handler errors ${num(cur.total.handlerErrors)}`;
  if (cur.held) out += `  held ${cur.held}`;
  if (cur.paused) out += `  PAUSED(${cur.pauseReason})`;
  if (events.length) out += `  ${events.join(', ')}`;
  return out;
}

/** A stats line: rates over the interval, and cumulative totals a pager can alert on. */
function statsRecord(prev: ServerStats, cur: ServerStats, dt: number) {
  const s = dt / 1000;
  const rate = (k: 'accepted' | 'recvs' | 'bytesIn' | 'bytesOut') => Math.round((cur.total[k] - prev.total[k]) / s);
  return {
    live: cur.total.live,
    acceptsPerSec: rate('accepted'),
    msgsPerSec: rate('recvs'),
    bytesInPerSec: rate('bytesIn'),
    bytesOutPerSec: rate('bytesOut'),
    accepted: cur.total.accepted,
    closed: cur.total.closed,
    bytesIn: cur.total.bytesIn,
    bytesOut: cur.total.bytesOut,
    rejected: cur.rejected,
    dropped: cur.dropped,
    restarts: cur.restarts,
    handlerErrors: cur.total.handlerErrors,
    held: cur.held,
    paused: cur.paused,
    pauseReason: cur.pauseReason,
    pauses: cur.pauses,
    resumes: cur.resumes,
    handoffUs: { count: cur.handoff.count, p50: cur.handoff.p50Us, p99: cur.handoff.p99Us, mean: cur.handoff.meanUs },
    zeroCopy: cur.zeroCopy,
    upstreams: cur.upstreams,
    workers: cur.workers.map((w) => ({
      index: w.index,
      state: w.state,
      live: w.live,
      saturated: w.saturated,
      accepted: w.accepted,
      lagMs: w.lagMs,
    })),
  };
}

/**
 * One JSON line on stdout: every line has `t` (ISO time) and `event`; the
 * schema is in the README ("JSON lines").
 */
function emit(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ t: new Date().toISOString(), event, ...fields })}\n`);
}

/** A warning as an object with a code (JSON lines) and its text (the live line, the log); `key`: the option it is about. */
function warning(e: Error & { code?: string; key?: string }, fallback: string): { code: string; key?: string; message: string } {
  return { code: e.code ?? fallback, ...(e.key ? { key: cliKey(e.key) } : {}), message: cliMessage(e) };
}

/**
 * Server events as JSON lines (--json) or as notes for the live line; the
 * notes are returned to be drained once per interval. Events before the
 * `listening` line (a socket-activated server's queued connections pause
 * and resume accepting while its workers start) follow it: `listening` is
 * the first line a consumer sees, after any startup warning.
 */
function watch(server: Server, o: LiveOptions): { notes: string[]; listening: () => void } {
  const notes: string[] = [];
  let early: (() => void)[] | null = [];
  const on = <E>(event: string, json: (e: E) => Record<string, unknown>, text: (e: E) => string) => {
    server.on(event, (e: E) => {
      if (!o.json) notes.push(text(e));
      else if (early) early.push(() => emit(event, json(e)));
      else emit(event, json(e));
    });
  };
  on(
    'pause',
    (e: { reason: string; held: number }) => ({ reason: e.reason, held: e.held }),
    (e: { reason: string }) => `pause:${e.reason}`,
  );
  on(
    'resume',
    (e: { held: number }) => ({ held: e.held }),
    () => 'resume',
  );
  on(
    'worker-exit',
    (e: { worker: number; error: Error }) => ({ worker: e.worker, error: e.error.message }),
    (e: { worker: number; error: Error }) => `worker ${e.worker} exited: ${e.error.message}`,
  );
  on(
    'upstream-down',
    (e: { upstream: string; backoffMs: number }) => e,
    (e: { upstream: string }) => `upstream ${e.upstream} down`,
  );
  on(
    'upstream-up',
    (e: { upstream: string }) => e,
    (e: { upstream: string }) => `upstream ${e.upstream} up`,
  );
  const warn = (fallback: string) => (e: Error) => {
    const w = warning(e, fallback);
    if (o.json) emit('warning', w);
    else if (server.listening) notes.push(`warning: ${w.message}`);
    else o.log.warn(w.message);
  };
  server.on('warning', warn('ERR_WARNING'));
  server.on('accept-error', warn('ERR_ACCEPT'));
  const listening = () => {
    const held = early ?? [];
    early = null;
    for (const f of held) f();
  };
  return { notes, listening };
}

/**
 * sd_notify to systemd (Type=notify) when NOTIFY_SOCKET is set: READY=1 once
 * serving, STATUS= every interval, STOPPING=1 when draining. A failure is
 * logged once; serving goes on.
 */
function notifier(log: Logger): (state: string) => void {
  let failed = false;
  return (state) => {
    try {
      sdNotify(state);
    } catch (e) {
      if (!failed) log.warn({ err: e }, `sd_notify to NOTIFY_SOCKET failed: ${(e as Error).message}`);
      failed = true;
    }
  };
}

function statusText(st: ServerStats): string {
  return `STATUS=${st.total.live} connections, ${st.total.accepted} accepted, ${st.workers.filter((w) => w.state === 'ready').length}/${st.workers.length} workers ready${st.paused ? `, paused (${st.pauseReason})` : ''}`;
}

/** Serve until a signal; resolves with the process exit code. */
export async function runLive(server: Server, o: LiveOptions): Promise<number> {
  const { notes, listening } = watch(server, o);
  const addr = await server.listen();
  const out = process.stdout;
  const tty = out.isTTY && !o.json;
  const so = server.options;
  // placement across workers, and for a proxy the upstream choice: each under its own name
  const upstreamPolicy = so.handler === 'proxy' ? so.upstreamPolicy : undefined;
  const policies = `placement ${so.policy}${upstreamPolicy ? `, upstream policy ${upstreamPolicy}` : ''}`;
  // every socket it serves (several when socket activation passed several)
  // several acceptors listen on one address each with SO_REUSEPORT: said once, with their count
  const addresses = [...new Set(server.addresses().map((a) => formatHostPort(a.address, a.port)))];
  const acceptors = so.acceptors > 1 ? `, ${so.acceptors} acceptors` : '';
  const header = `ringleader ${o.label} listening on ${addresses.join(', ')} (${so.workers} worker${so.workers === 1 ? '' : 's'}${acceptors}, ${policies})`;

  const notify = notifier(o.log);
  let prev = server.stats();
  let prevT = Date.now();
  const timer = setInterval(() => {
    const cur = server.stats();
    const now = Date.now();
    notify(statusText(cur));
    const ev = notes.splice(0);
    if (o.json) emit('stats', statsRecord(prev, cur, now - prevT));
    else if (tty) out.write(`\r\x1b[K${line(prev, cur, now - prevT, ev)}`);
    else if (ev.length) out.write(ev.join('\n') + '\n');
    prev = cur;
    prevT = now;
  }, o.intervalMs);

  const stopReloads = onReloadSignal(server, {
    json: o.json,
    drainMs: o.drainMs,
    write: (l) => out.write(l),
    reconfig: o.reconfig,
    // systemd's reload protocol: RELOADING=1 when it starts, READY=1 when done (or failed: the old workers serve)
    started: () => notify('RELOADING=1\nSTATUS=reloading: replacing workers'),
    ended: (s) => notify(`READY=1\n${statusText(server.stats())}${s.error ? `; reload failed: ${cliMessage(s.error)}` : ''}`),
    applied: (next) => {
      o.drainMs = next.drainMs;
      o.log.level = next.logLevel;
    },
    // as the server's own warnings: a JSON line, or a note on the live line
    warn: (w) => (o.json ? emit('warning', w) : notes.push(`warning: ${w.message}`)),
  });
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) return;
      stopping = true;
      clearInterval(timer);
      stopReloads();
      stopUpgrades();
      const live = server.stats().total.live;
      // close() first: it takes the drain's starting counts at once, so a
      // connection that ends as soon as its client reads the line below
      // counts as drained (the line used to go out first, and a descheduled
      // main thread could take the counts after that connection had closed)
      const closing = server.close({ timeout: o.drainMs });
      notify(`STOPPING=1\nSTATUS=draining ${live} connection(s)`);
      if (tty) out.write('\n');
      o.log.info({ signal: sig, live, drainMs: o.drainMs }, `${sig}: draining ${live} connection(s) for up to ${o.drainMs} ms (send ${sig === 'SIGUSR2' ? 'SIGTERM twice' : `${sig} again`} to force)`);
      closing
        .then((summary) => {
          const st = server.stats();
          if (o.json) {
            emit('closed', { signal: sig, ...summary, total: st.total, restarts: st.restarts, pauses: st.pauses, rejected: st.rejected });
          } else {
            out.write(
              `closed: ${summary.drained} drained, ${summary.forced} forced, ${summary.dropped} dropped in ${summary.durationMs} ms; ` +
                `served ${num(st.total.accepted)} connections, ${num(st.total.recvs)} messages, ` +
                `${bytes(st.total.bytesIn)} in / ${bytes(st.total.bytesOut)} out\n`,
            );
          }
          resolve(0);
        })
        .catch((e: Error) => {
          o.log.error({ err: e }, `close failed: ${e.message}`);
          resolve(1);
        });
    };
    onStopSignals(stop);
    const stopUpgrades = onUpgradeSignal(server, {
      log: o.log,
      notify,
      stop,
      event: (name, fields) => (o.json ? emit(name, fields) : notes.push(`${name} ${JSON.stringify(fields)}`)),
    });
    releaseEarlySignals();
    // announce only once a signal is handled: whoever waits for this line may signal at once
    notify(`READY=1\nMAINPID=${process.pid}\n${statusText(server.stats())}`);
    const admin = server.adminAddress();
    if (o.json) {
      emit('listening', {
        pid: process.pid,
        address: addr.address,
        port: addr.port,
        addresses,
        workers: so.workers,
        acceptors: so.acceptors,
        // the acceptor threads' kernel ids, for taskset/chrt -p and /proc/PID/task/TID
        acceptorTids: server.stats().acceptors.map((x) => x.tid),
        placement: so.policy,
        upstreamPolicy,
        admin: admin ? formatHostPort(admin.address, admin.port) : undefined,
      });
      listening();
    } else {
      out.write(header + '\n');
      if (admin) out.write(`admin on http://${formatHostPort(admin.address, admin.port)}/ (metrics, healthz, readyz, stats)\n`);
    }
    reportUpgradeReady();
  });
}
