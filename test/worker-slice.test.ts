/**
 * Worker threads ask the kernel for a shorter scheduling slice (option
 * workerSlice, EEVDF custom slices, Linux >= 6.12), so a worker woken by a
 * hand-off preempts what runs on its CPU. The kernel shows each thread's
 * slice in /proc/PID/task/TID/sched (se.slice, ns): these read it for the
 * threads of this process, where the servers run.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import test from 'ava';
import { createServer, runStress } from '@ringleader/runtime';
import { CLI, echoOnce, randomPayload, waitFor } from './helpers.js';

/** se.slice of every thread of this process, ns (empty where the kernel does not show it) */
function slices(): number[] {
  const out: number[] = [];
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const m = /^se\.slice\s*:\s*(\d+)/m.exec(readFileSync(`/proc/self/task/${tid}/sched`, 'utf8'));
      if (m) out.push(Number(m[1]));
    } catch {
      /* the thread ended */
    }
  }
  return out;
}

/** Linux >= 6.12 takes a SCHED_OTHER thread's sched_runtime as its slice (EEVDF custom slices) */
function kernelHonoursSlice(): boolean {
  const [major = 0, minor = 0] = release().split(/[.-]/).map(Number);
  return (major > 6 || (major === 6 && minor >= 12)) && slices().length > 0;
}
const honoured = kernelHonoursSlice();
// an odd value no other thread has by default
const US = 333;

// Where the kernel ignores the slice (older than 6.12), the call still
// succeeds: what is checked there is that the server serves, reloads and
// warns of nothing; the slices themselves are read where the kernel honours them.
test('each worker thread runs with the slice it asked for, and a reload with 0 gives the threads back the default', async (t) => {
  if (!honoured) t.log(`kernel ${release()} ignores the slice: checking that the server serves and reloads without a warning`);
  const warnings: Error[] = [];
  const server = createServer({ port: 0, workers: 2, workerSlice: US });
  server.on('warning', (w: Error) => warnings.push(w));
  const { port } = await server.listen();
  try {
    if (honoured) t.is(slices().filter((s) => s === US * 1000).length, 2, 'two worker threads at the slice asked for');
    const p = randomPayload(1, 256);
    const before = await echoOnce(port, p);
    t.is(before.received, before.sent);
    // the successors run on pool threads too (maybe the same ones): 0 sets them back
    await server.reload({ drainTimeout: 500, options: { port: 0, workers: 2, workerSlice: 0 } });
    if (honoured) t.is(slices().filter((s) => s === US * 1000).length, 0, 'no thread keeps the old slice');
    const after = await echoOnce(port, p);
    t.is(after.received, after.sent);
    t.deepEqual(
      warnings.map((w) => w.message),
      [],
    );
  } finally {
    await server.close({ timeout: 1000 });
  }
});

test("the load generator's ring threads ask for a 400 us slice too, and the run is verified", async (t) => {
  if (!honoured) t.log(`kernel ${release()} ignores the slice: checking the run only`);
  // workers at the kernel's default: a 400 us slice during the run is a load thread's
  const server = createServer({ port: 0, workers: 1, workerSlice: 0 });
  const { port } = await server.listen();
  try {
    const seen: number[] = [];
    const run = runStress({
      targets: `127.0.0.1:${port}`,
      connections: 4,
      threads: 2,
      duration: 1000,
      warmup: 0,
      progressInterval: 100,
      onProgress: () => seen.push(slices().filter((s) => s === 400_000).length),
    });
    const r = await run;
    t.true(r.ok, JSON.stringify(r.failures));
    if (honoured) t.is(Math.max(...seen), 2, `threads at 400 us while running: ${seen.join(' ')}`);
    t.is(slices().filter((s) => s === 400_000).length, 0, 'none once they have ended');
  } finally {
    await server.close({ timeout: 0 });
  }
});

test('workerSlice: out of the kernel range is refused, naming the option', (t) => {
  for (const v of [50, 100_001, -1, 1.5]) {
    const e = t.throws(() => createServer({ port: 0, workerSlice: v }));
    t.regex(e.message, /workerSlice/);
  }
});

test('a server run under another scheduling policy (chrt --batch) serves, and warns once that the slice was not set', async (t) => {
  // SCHED_BATCH threads are left alone: their policy is the user's choice
  const p = spawn('chrt', ['--batch', '0', process.execPath, CLI, 'echo', '--port', '0', '--workers', '2', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
  try {
    t.true(await waitFor(() => out.includes('"event":"listening"'), 15_000), out);
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; code?: string; port?: number; message?: string });
    const warned = lines.filter((l) => l.code === 'ERR_WORKER_SLICE');
    t.is(warned.length, 1, out);
    t.regex(warned[0]!.message!, /scheduling slice of 400 us not set/);
    const port = lines.find((l) => l.event === 'listening')!.port!;
    const payload = randomPayload(1, 256);
    const r = await echoOnce(port, payload);
    t.is(r.received, r.sent);
  } finally {
    p.kill('SIGINT');
  }
  t.is(await exited, 0);
});
