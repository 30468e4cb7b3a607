/**
 * `ringleader demo`: the main job in one command. Starts a sharded echo
 * server, drives it with verified ping-pong load, prints what happened.
 */
import net from 'node:net';
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { createServer } from '@ringleader/runtime';
import { bytes, durationArg, intArg, num, parseSize } from './util.js';

export interface DemoOptions {
  workers: number;
  connections: number;
  durationMs: number;
  size: number;
  json: boolean;
}

interface LoadResult {
  messages: number;
  bytes: number;
  verifyFailures: number;
  errors: number;
  latencyUs: { p50: number; p99: number; max: number };
  elapsedMs: number;
}

/** Closed-loop ping-pong: each connection sends `size` bytes, checks the echo, repeats. */
async function pingPong(port: number, o: DemoOptions, progress: (done: number) => void): Promise<LoadResult> {
  const lat: number[] = [];
  let messages = 0;
  let verifyFailures = 0;
  let errors = 0;
  const t0 = Date.now();
  const until = t0 + o.durationMs;
  const tick = setInterval(() => progress(messages), 1000);
  await Promise.all(
    Array.from(
      { length: o.connections },
      (_, ci) =>
        new Promise<void>((resolve) => {
          const sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
          const msg = Buffer.alloc(o.size);
          let seq = 0;
          let got = 0;
          let sentAt = 0;
          const fill = () => {
            for (let i = 0; i < o.size; i++) msg[i] = (ci * 131 + seq * 31 + i) & 0xff;
          };
          const send = () => {
            if (Date.now() >= until) {
              sock.end();
              return;
            }
            fill();
            got = 0;
            sentAt = performance.now();
            sock.write(msg);
          };
          sock.on('connect', send);
          sock.on('data', (d: Buffer) => {
            for (let i = 0; i < d.length; i++) {
              if (d[i] !== msg[got + i]) {
                verifyFailures++;
                break;
              }
            }
            got += d.length;
            if (got >= o.size) {
              lat.push((performance.now() - sentAt) * 1000);
              messages++;
              seq++;
              send();
            }
          });
          sock.on('error', () => {
            errors++;
          });
          sock.on('close', () => resolve());
        }),
    ),
  );
  clearInterval(tick);
  lat.sort((a, b) => a - b);
  const q = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : 0);
  return {
    messages,
    bytes: messages * o.size * 2,
    verifyFailures,
    errors,
    latencyUs: { p50: q(0.5), p99: q(0.99), max: lat.length ? lat[lat.length - 1] : 0 },
    elapsedMs: Date.now() - t0,
  };
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
  let last = 0;
  const r = await pingPong(addr.port, o, (done) => {
    if (tty) process.stdout.write(`\r\x1b[K  ${num(done - last)} msgs/s  live ${server.stats().total.live}`);
    last = done;
  });
  if (tty) process.stdout.write('\r\x1b[K');
  const st = server.stats();
  const summary = await server.close({ timeout: 2000 });
  const secs = r.elapsedMs / 1000;
  const result = {
    workers: o.workers,
    connections: o.connections,
    size: o.size,
    seconds: secs,
    messages: r.messages,
    msgsPerSec: Math.round(r.messages / secs),
    bytesPerSec: Math.round(r.bytes / secs),
    latencyUs: r.latencyUs,
    verifyFailures: r.verifyFailures,
    errors: r.errors,
    perWorker: st.workers.map((w) => ({ worker: w.index, accepted: w.accepted, recvs: w.recvs, bytesIn: w.bytesIn })),
    handoffUs: { p50: st.handoff.p50Us, p99: st.handoff.p99Us },
    close: summary,
  };
  if (o.json) {
    process.stdout.write(JSON.stringify(result) + '\n');
  } else {
    log(`result: ${num(result.msgsPerSec)} msgs/s, ${bytes(result.bytesPerSec)}/s, latency p50 ${r.latencyUs.p50.toFixed(0)} us, p99 ${r.latencyUs.p99.toFixed(0)} us`);
    log(`verified: ${num(r.messages)} echoes, ${r.verifyFailures} mismatches, ${r.errors} connection errors`);
    for (const w of result.perWorker) log(`  worker ${w.worker}: ${w.accepted} connections, ${num(w.recvs)} messages, ${bytes(w.bytesIn)}`);
    log(`hand-off latency (accept -> worker ring): p50 ${st.handoff.p50Us.toFixed(1)} us, p99 ${st.handoff.p99Us.toFixed(1)} us`);
    log(`closed: ${summary.drained} drained, ${summary.forced} forced`);
  }
  return r.verifyFailures || r.errors || !r.messages ? 1 : 0;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('start a sharded echo server, drive it with verified load, print the result')
    .option('-w, --workers <n>', 'worker threads', intArg(1, 1024), Math.max(2, availableParallelism()))
    .option('-c, --connections <n>', 'client connections', intArg(1, 100000), 100)
    .option('-d, --duration <duration>', 'how long to drive load', durationArg, 5000)
    .option(
      '-s, --size <bytes>',
      'message size',
      (v: string) => {
        const n = parseSize(v);
        if (n < 1 || n > 1 << 24) throw new Error('--size must be from 1 B to 16 MiB');
        return n;
      },
      64,
    )
    .option('--json', 'one JSON result on stdout', false)
    .action(async (f: { workers: number; connections: number; duration: number; size: number; json: boolean }) => {
      process.exitCode = await runDemo({ workers: f.workers, connections: f.connections, durationMs: f.duration, size: f.size, json: f.json });
    });
}
