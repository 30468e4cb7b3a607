/** Shared test helpers: echo clients, fd/thread counts, the CLI. */
import { createHash, randomBytes } from 'node:crypto';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../packages/cli/dist/bin.js', import.meta.url));
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function sha(b: Buffer | Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export interface EchoResult {
  sent: string;
  received: string;
  bytes: number;
  cleanClose: boolean;
  error?: string;
}

/**
 * Send `payload` over one connection while reading the echo, half-close,
 * and wait for the server's FIN. Bounded by `timeoutMs`.
 */
export function echoOnce(port: number, payload: Buffer, timeoutMs = 20000, host = '127.0.0.1'): Promise<EchoResult> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host, noDelay: true });
    const chunks: Buffer[] = [];
    let got = 0;
    let ended = false;
    let error: string | undefined;
    const timer = setTimeout(() => {
      error = `timeout after ${timeoutMs} ms with ${got}/${payload.length} bytes`;
      sock.destroy();
    }, timeoutMs);
    sock.on('connect', () => {
      sock.write(payload);
    });
    sock.on('data', (d) => {
      chunks.push(d);
      got += d.length;
      if (got >= payload.length && !sock.writableEnded) sock.end();
    });
    sock.on('end', () => {
      ended = true;
    });
    sock.on('error', (e) => {
      error = e.message;
    });
    sock.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      resolve({ sent: sha(payload), received: sha(all), bytes: all.length, cleanClose: ended && !error, error });
    });
  });
}

/** Random payload of a random size in [min, max]. */
export function randomPayload(min: number, max: number): Buffer {
  return randomBytes(min + Math.floor(Math.random() * (max - min + 1)));
}

/** Open file descriptors of this process. */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Threads of this process (Node's, piscina's, io_uring's io-wq). */
export function threadCount(): number {
  return readdirSync('/proc/self/task').length;
}

/** Threads excluding the kernel's io_uring workers, which exit on their own schedule. */
export function userThreadCount(): number {
  let n = 0;
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const comm = readFileSync(`/proc/self/task/${t}/comm`, 'utf8');
      if (!comm.startsWith('iou-')) n++;
    } catch {
      /* exited */
    }
  }
  return n;
}

/** SIGKILL each pid that is set (0 = none), ignoring one that is already gone. */
export function killAll(...pids: number[]): void {
  for (const pid of pids) {
    if (!pid) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `cond` every 10 ms until true or `ms` elapse; returns its last value. */
export async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (cond()) return true;
    await sleep(10);
  }
  return cond();
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI to completion (bounded). */
export function runCli(args: string[], timeoutMs = 30000, env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return runProcess(process.execPath, [CLI, ...args], { timeoutMs, env: { ...process.env, ...env } });
}

/** Programs runProcess started and that still run: killed when this test process exits, so none outlives a test file that ended early (an ava timeout) */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** Run a program to completion (killed after `timeoutMs`), collecting its output. */
export function runProcess(cmd: string, args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(p);
    p.on('exit', () => running.delete(p));
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 30000);
    // a program that cannot start reports 'error' and may never 'close'
    p.on('error', (e) => {
      clearTimeout(t);
      resolve({ code: null, signal: null, stdout, stderr: `${stderr}spawn ${cmd}: ${e.message}\n` });
    });
    p.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Echo churn: `parallel` loops of connect, echo, close until stop(), bounded
 * by `maxMs` and by `maxCount` connections; each payload padded with `pad`
 * bytes. Counts the clean echoes and the failures.
 */
export function echoChurn(port: number, parallel: number, maxMs: number, { pad = 0, maxCount = 20_000 } = {}) {
  let ok = 0;
  let run = true;
  const failures: string[] = [];
  const until = Date.now() + maxMs;
  const loop = async () => {
    while (run && Date.now() < until && ok + failures.length < maxCount) {
      const r = await echoOnce(port, Buffer.from(`churn ${ok} ${'y'.repeat(pad)}`), 5000);
      if (r.cleanClose && r.received === r.sent) ok++;
      else failures.push(r.error ?? 'mismatch');
    }
  };
  const loops = Promise.all(Array.from({ length: parallel }, loop));
  return {
    failures,
    ok: () => ok,
    async stop() {
      run = false;
      await loops;
    },
  };
}

/** deterministic byte stream: the same (seed, offset) gives the same byte on both ends */
export class Stream {
  private x: number;
  constructor(seed: number) {
    this.x = seed >>> 0 || 1;
  }
  fill(buf: Buffer): Buffer {
    let x = this.x;
    for (let i = 0; i < buf.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      buf[i] = x & 0xff;
    }
    this.x = x;
    return buf;
  }
}

/**
 * Resume a paused socket and read it to its end, checking every byte against
 * Stream(seed); onChunk runs after each chunk (to sample a server's gauges).
 */
export async function readStream(c: net.Socket, seed: number, onChunk?: () => void): Promise<{ bytes: number; inOrder: boolean }> {
  const expect = new Stream(seed);
  let bytes = 0;
  let inOrder = true;
  c.on('data', (d: Buffer) => {
    if (inOrder && !expect.fill(Buffer.alloc(d.length)).equals(d)) inOrder = false;
    bytes += d.length;
    onChunk?.();
  });
  const ended = new Promise((r) => c.on('end', r));
  c.resume();
  await ended;
  return { bytes, inOrder };
}

/** a client that sends `bytes` and never reads */
export function slowReader(port: number, bytes: number): net.Socket {
  const c = net.connect({ port, host: '127.0.0.1' });
  c.pause();
  c.on('error', () => {});
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  let sent = 0;
  const pump = () => {
    while (sent < bytes && !c.destroyed) {
      sent += chunk.length;
      if (!c.write(chunk)) return c.once('drain', pump);
    }
  };
  c.on('connect', pump);
  return c;
}
