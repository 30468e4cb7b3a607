/**
 * `ringleader stress --start-at`: several load machines (the Kubernetes Job
 * in deploy/kubernetes/stress-job.yaml) start one load together. Nothing
 * connects before the time; a machine that comes up after it starts at
 * once and says how late; a stop signal during the wait ends the run with
 * nothing sent.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { createServer } from '@ringleader/runtime';
import { CLI, runCli, sleep, waitFor } from './helpers.js';

interface Result {
  ok: boolean;
  warnings: string[];
  messages: { verified: number };
}

const lastJson = (out: string) => JSON.parse(out.trim().split('\n').pop()!) as Result;

/** an echo server for one test: fn gets its port and the server, to read its stats */
async function withServer(fn: (port: number, server: ReturnType<typeof createServer>) => Promise<void>): Promise<void> {
  const server = createServer({ port: 0, workers: 1 });
  const { port } = await server.listen();
  try {
    await fn(port, server);
  } finally {
    await server.close({ timeout: 1000 });
  }
}

test.serial('nothing connects before the start time; the run then loads as usual', async (t) => {
  await withServer(async (port, server) => {
    const at = new Date(Date.now() + 2500);
    const run = runCli(['stress', `127.0.0.1:${port}`, '-c', '4', '-d', '1s', '--warmup', '0', '--start-at', at.toISOString(), '--json'], 30000);
    await sleep(1500);
    t.is(server.stats().acceptor.accepted, 0, 'connected before --start-at');
    const r = await run;
    t.is(r.code, 0, r.stderr);
    const j = lastJson(r.stdout);
    t.true(j.ok);
    t.true(j.messages.verified > 0);
    t.deepEqual(j.warnings, []);
    t.true(server.stats().acceptor.accepted >= 4);
  });
});

test.serial('a start time already past: the run starts at once and its result says how late', async (t) => {
  await withServer(async (port) => {
    const at = Math.floor(Date.now() / 1000) - 5;
    const r = await runCli(['stress', `127.0.0.1:${port}`, '-c', '2', '-d', '1s', '--warmup', '0', '--start-at', String(at), '--json'], 30000);
    t.is(r.code, 0, r.stderr);
    const j = lastJson(r.stdout);
    t.true(j.ok);
    t.is(j.warnings.length, 1, JSON.stringify(j.warnings));
    t.regex(j.warnings[0]!, /^started \d+\.\d s after --start-at$/);
    const late = Number(/started (\S+) s/.exec(j.warnings[0]!)![1]);
    t.true(late >= 5 && late < 60, `late ${late} s`);
  });
});

test.serial('SIGINT while waiting for the start time: exit 130, nothing sent, no result', async (t) => {
  await withServer(async (port, server) => {
    const at = new Date(Date.now() + 60_000).toISOString();
    const p = spawn(process.execPath, [CLI, 'stress', `127.0.0.1:${port}`, '-d', '1s', '--start-at', at, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
    // it says so once it waits (its signal handlers are set by then)
    t.true(await waitFor(() => err.includes('waiting to start at'), 15_000), err);
    p.kill('SIGINT');
    t.is(await exited, 130, err);
    t.is(out, '');
    t.regex(err, /stopped before the start time: nothing ran/);
    t.is(server.stats().acceptor.accepted, 0);
  });
});
