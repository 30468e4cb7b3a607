/**
 * Running a server from the command line: where it listens, a live
 * one-line display (TTY) or JSON lines (--json), drain on the first
 * SIGINT/SIGTERM, forced exit on the second, a summary at the end.
 */
import type { Server, ServerStats } from '@ringleader/runtime';
import { formatHostPort } from '@ringleader/runtime/internal';
import { onReloadSignal } from './reload.js';
import { onStopSignals, type StopSignal } from './signals.js';
import { bytes, cliMessage, num } from './util.js';

export interface LiveOptions {
  json: boolean;
  intervalMs: number;
  drainMs: number;
  /** what the header calls this server, e.g. "echo" */
  label: string;
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

function record(prev: ServerStats, cur: ServerStats, dt: number, events: string[]) {
  const s = dt / 1000;
  return {
    t: new Date().toISOString(),
    live: cur.total.live,
    acceptsPerSec: Math.round((cur.total.accepted - prev.total.accepted) / s),
    msgsPerSec: Math.round((cur.total.recvs - prev.total.recvs) / s),
    bytesInPerSec: Math.round((cur.total.bytesIn - prev.total.bytesIn) / s),
    bytesOutPerSec: Math.round((cur.total.bytesOut - prev.total.bytesOut) / s),
    held: cur.held,
    paused: cur.paused,
    pauseReason: cur.pauseReason,
    pauses: cur.pauses,
    resumes: cur.resumes,
    handlerErrors: cur.total.handlerErrors,
    events,
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

/** Serve until a signal; resolves with the process exit code. */
export async function runLive(server: Server, o: LiveOptions): Promise<number> {
  const events: string[] = [];
  server.on('pause', (e: { reason: string }) => events.push(`pause:${e.reason}`));
  server.on('resume', () => events.push('resume'));
  server.on('worker-exit', (e: { worker: number; error: Error }) => events.push(`worker ${e.worker} exited: ${e.error.message}`));
  server.on('accept-error', (e: Error) => events.push(e.message));
  server.on('warning', (e: Error) => {
    if (server.listening) events.push(`warning: ${cliMessage(e)}`);
    else process.stderr.write(`ringleader: warning: ${cliMessage(e)}\n`);
  });
  const addr = await server.listen();
  const out = process.stdout;
  const tty = out.isTTY && !o.json;
  const so = server.options;
  // placement across workers, and for a proxy the upstream choice: each under its own name
  const upstreamPolicy = so.handler === 'proxy' ? so.upstreamPolicy : undefined;
  const policies = `placement ${so.policy}${upstreamPolicy ? `, upstream policy ${upstreamPolicy}` : ''}`;
  const header = `ringleader ${o.label} listening on ${formatHostPort(addr.address, addr.port)} (${so.workers} workers, ${policies})`;

  let prev = server.stats();
  let prevT = Date.now();
  const timer = setInterval(() => {
    const cur = server.stats();
    const now = Date.now();
    const ev = events.splice(0);
    if (o.json) out.write(JSON.stringify(record(prev, cur, now - prevT, ev)) + '\n');
    else if (tty) out.write(`\r\x1b[K${line(prev, cur, now - prevT, ev)}`);
    else if (ev.length) out.write(ev.join('\n') + '\n');
    prev = cur;
    prevT = now;
  }, o.intervalMs);

  const stopReloads = onReloadSignal(server, { json: o.json, drainMs: o.drainMs, write: (l) => out.write(l) });
  return new Promise<number>((resolve) => {
    onStopSignals((sig: StopSignal) => {
      clearInterval(timer);
      stopReloads();
      const live = server.stats().total.live;
      if (tty) out.write('\n');
      if (!o.json) process.stderr.write(`ringleader: ${sig}: draining ${live} connection(s) for up to ${o.drainMs} ms (send ${sig} again to force)\n`);
      server
        .close({ timeout: o.drainMs })
        .then((summary) => {
          const st = server.stats();
          if (o.json) {
            out.write(JSON.stringify({ event: 'closed', signal: sig, ...summary, total: st.total, restarts: st.restarts, pauses: st.pauses, rejected: st.rejected }) + '\n');
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
          process.stderr.write(`ringleader: close failed: ${e.message}\n`);
          resolve(1);
        });
    });
    // announce only once a signal is handled: whoever waits for this line may signal at once
    if (o.json) out.write(JSON.stringify({ event: 'listening', address: addr.address, port: addr.port, workers: so.workers, placement: so.policy, upstreamPolicy }) + '\n');
    else out.write(header + '\n');
  });
}
