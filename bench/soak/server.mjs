#!/usr/bin/env node
// The server under test in `pnpm soak`: createServer() with the options
// given as one JSON argument, plus what only the process itself can see.
// Prints JSON lines on stdout:
//   {"event":"listening","port":P}
//   {"event":"sample", ...}   every --interval ms (default 500)
//   {"event":"sample","gc":true, ...}   on SIGUSR2, after a full GC of the
//                             main thread's heap (started with --expose-gc), so
//                             that two of them compare memory, not garbage
//   {"event":"closed", ...}   after SIGINT/SIGTERM drained it
// A sample has the process's RSS (bytes), open fds and threads, the fixed-file
// slots in use in every ring, and the server's counters, so a check can
// compare "before" and "after" without stopping anything.
//
// usage: node bench/soak/server.mjs '{"handler":"echo","workers":2,...}' [--interval MS]
//        "handler": "js-echo" stands for the JS echo handler module.
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, JS_ECHO_HANDLER } from '@ringleader/runtime';

const opts = JSON.parse(process.argv[2] ?? '{}');
const iv = process.argv.indexOf('--interval');
const intervalMs = iv > 0 ? Number(process.argv[iv + 1]) : 500;
if (opts.handler === 'js-echo') opts.handler = JS_ECHO_HANDLER;

const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

const rssBytes = () => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;

/**
 * Threads by kind: the kernel's io_uring workers (comm "iou-wrk-N") come and
 * go on the kernel's schedule (they exit after a few idle seconds), so they
 * are counted apart from the threads the process made itself.
 */
function threadCounts() {
  let threads = 0;
  let ioWorkers = 0;
  for (const t of readdirSync('/proc/self/task')) {
    let comm = '';
    try {
      comm = readFileSync(`/proc/self/task/${t}/comm`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    if (comm.startsWith('iou-')) ioWorkers++;
    else threads++;
  }
  return { threads, ioWorkers };
}

const server = createServer({ host: '127.0.0.1', port: 0, ...opts });
server.on('warning', (e) => process.stderr.write(`soak server: warning: ${e.message}\n`));
server.on('accept-error', (e) => process.stderr.write(`soak server: accept error: ${e.message}\n`));
server.on('worker-exit', (e) => process.stderr.write(`soak server: worker ${e.worker} exited: ${e.error?.message}\n`));

function sample(gc = false) {
  const st = server.stats();
  return {
    event: 'sample',
    gc,
    t: Date.now(),
    rss: rssBytes(),
    ...threadCounts(),
    fds: readdirSync('/proc/self/fd').length,
    live: st.total.live,
    accepted: st.total.accepted,
    closed: st.total.closed,
    connErrors: st.total.connErrors,
    handlerErrors: st.total.handlerErrors,
    recvs: st.total.recvs,
    workerSlots: st.workers.map((w) => w.tableUsed),
    workerTables: st.workers.map((w) => w.tableSize),
    workerLive: st.workers.map((w) => w.live),
    workerStates: st.workers.map((w) => w.state),
    inflight: st.workers.reduce((a, w) => a + w.inflight, 0),
    bufFree: st.workers.map((w) => w.bufFree),
    buffered: st.workers.reduce((a, w) => a + w.buffered, 0),
    acceptorSlots: st.acceptor.tableUsed,
    acceptorAccepted: st.acceptor.accepted,
    acceptErrors: st.acceptor.acceptErrors,
    held: st.held,
    paused: st.paused,
    restarts: st.restarts,
    proxy: st.upstreams ? st.workers.map((w) => w.proxy) : undefined,
  };
}

const addr = await server.listen();
out({ event: 'listening', port: addr.port, workers: server.options.workers });
const timer = setInterval(() => out(sample()), intervalMs);
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  out(sample(true));
});

let closing = false;
const stop = async () => {
  if (closing) process.exit(1);
  closing = true;
  clearInterval(timer);
  const summary = await server.close({ timeout: 2000 });
  out({ event: 'closed', ...summary });
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
