/**
 * `ringleader demo`: the main job in one command. Starts a sharded echo
 * server, drives it with verified ping-pong load, prints what happened.
 */
import { availableParallelism } from 'node:os';
import { type Command, Option } from 'commander';
import { createServer, describeMismatch, runStress } from '@ringleader/runtime';
import { formatHostPort } from '@ringleader/runtime/internal';
import { arg, parseDuration, parseInteger, parseSize } from './args.js';
import { bytes, num } from './util.js';

export interface DemoOptions {
  workers: number;
  connections: number;
  durationMs: number;
  size: number;
  json: boolean;
}

export async function runDemo(o: DemoOptions): Promise<number> {
  const log = (s: string) => {
    if (!o.json) process.stdout.write(s + '\n');
  };
  const server = createServer({ workers: o.workers, port: 0 });
  const addr = await server.listen();
  log(`ringleader demo: echo server on ${addr.address}:${addr.port} with ${o.workers} worker rings (${availableParallelism()} CPUs)`);
  log(`driving it with ${o.connections} connections, ${o.size}-byte ping-pong, for ${o.durationMs / 1000}s; every echo is verified`);
  const tty = process.stdout.isTTY && !o.json;
  // the load is ringleader's own load generator: client rings on their own
  // threads, closed-loop ping-pong, every echoed byte verified
  const r = await runStress({
    targets: formatHostPort(addr.address, addr.port),
    connections: o.connections,
    threads: Math.max(1, Math.floor(availableParallelism() / 2)),
    duration: o.durationMs,
    warmup: 0,
    size: o.size,
    progressInterval: 1000,
    onProgress: tty ? (p) => process.stdout.write(`\r\x1b[K  ${num(p.msgsPerSec)} msgs/s  live ${server.stats().total.live}`) : undefined,
  });
  if (tty) process.stdout.write('\r\x1b[K');
  const st = server.stats();
  const summary = await server.close({ timeout: 2000 });
  const secs = r.durationMs / 1000;
  const lat = r.latencyUs;
  const errors = r.errors.total;
  const result = {
    workers: o.workers,
    connections: o.connections,
    size: o.size,
    seconds: secs,
    messages: r.messages.verified,
    msgsPerSec: Math.round(r.throughput.msgsPerSec),
    bytesPerSec: Math.round((r.throughput.outMiBPerSec + r.throughput.inMiBPerSec) * 1048576),
    latencyUs: { p50: lat?.p50 ?? 0, p99: lat?.p99 ?? 0, max: lat?.max ?? 0 },
    verifyFailures: r.verification.failures,
    errors,
    perWorker: st.workers.map((w) => ({ worker: w.index, accepted: w.accepted, recvs: w.recvs, bytesIn: w.bytesIn })),
    handoffUs: { p50: st.handoff.p50Us, p99: st.handoff.p99Us },
    close: summary,
  };
  if (o.json) {
    process.stdout.write(JSON.stringify(result) + '\n');
  } else {
    log(`result: ${num(result.msgsPerSec)} msgs/s, ${bytes(result.bytesPerSec)}/s, latency p50 ${result.latencyUs.p50.toFixed(0)} us, p99 ${result.latencyUs.p99.toFixed(0)} us`);
    log(`verified: ${num(result.messages)} echoes, ${result.verifyFailures} mismatches, ${errors} connection errors`);
    for (const m of r.verification.mismatches.slice(0, 3)) log(`  mismatch: ${describeMismatch(m)}`);
    for (const w of result.perWorker) log(`  worker ${w.worker}: ${w.accepted} connections, ${num(w.recvs)} messages, ${bytes(w.bytesIn)}`);
    log(`hand-off latency (accept -> worker ring; all connections opened at once): p50 ${st.handoff.p50Us.toFixed(1)} us, p99 ${st.handoff.p99Us.toFixed(1)} us`);
    log(`closed: ${summary.drained} drained, ${summary.forced} forced`);
  }
  return result.verifyFailures || errors || !result.messages ? 1 : 0;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('start a sharded echo server, drive it with verified load, print the result')
    .option('-w, --workers <n>', 'worker threads', arg(parseInteger, { min: 1, max: 1024 }), Math.max(2, availableParallelism()))
    .option('-c, --connections <n>', 'client connections', arg(parseInteger, { min: 1, max: 100_000 }), 100)
    .addOption(new Option('-d, --duration <duration>', 'how long to drive load').argParser(arg(parseDuration, { min: 1 })).default(5000, '5s'))
    .addOption(new Option('-s, --size <bytes>', 'message size').argParser(arg(parseSize, { min: 1, max: 1 << 24 })).default(64))
    .option('--json', 'one JSON result on stdout', false)
    .addHelpText(
      'after',
      `
Examples:
  ringleader demo
  ringleader demo -d 10s -w 4 -c 1000 -s 1KiB
  ringleader demo --json

Durations: 500ms, 5s, 1m (a bare number is seconds). Sizes: 64, 16KiB, 1MiB.
Exit status: 0 every echo verified; 1 a mismatch, a connection error or nothing echoed,
or a runtime failure (io_uring unusable); 2 bad options.`,
    )
    .action(async (f: { workers: number; connections: number; duration: number; size: number; json: boolean }) => {
      process.exitCode = await runDemo({ workers: f.workers, connections: f.connections, durationMs: f.duration, size: f.size, json: f.json });
    });
}
