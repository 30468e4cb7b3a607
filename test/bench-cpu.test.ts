// The bench's server-CPU figures (issue 12) come from /proc through
// bench/lib/cpu.mjs: these check that a process group's CPU includes its
// child processes, that a thread's CPU is its own, and that a short
// `pnpm bench` run reports the CPU columns, the hand-off floor and the
// acceptor's CPU from real counters (not the full bench: that takes minutes).
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './helpers.js';

interface CpuLib {
  CLK_TCK: number;
  groupCpuSeconds(pgid: number): number;
  threadCpuSeconds(pid: number, tid: number): number | null;
  perOp(util: number | null, opsPerSec: number): { cpuUsPerOp: number | null; opsPerCpuS: number | null };
}

const cpu = (): Promise<CpuLib> => import(pathToFileURL(join(ROOT, 'bench', 'lib', 'cpu.mjs')).href) as Promise<CpuLib>;

/** Start `node -e code` in its own process group; resolves when it printed its first line. */
function startGroup(code: string): Promise<{ pid: number; line: string; stop: () => void }> {
  const p = spawn(process.execPath, ['-e', code], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    p.once('error', reject);
    p.stdout.once('data', (d: Buffer) =>
      resolve({
        pid: p.pid!,
        line: d.toString().trim(),
        stop: () => {
          try {
            process.kill(-p.pid!, 'SIGKILL');
          } catch {
            /* gone */
          }
        },
      }),
    );
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Own utime + stime of one process, in seconds. */
function ownCpu(pid: number, tck: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / tck;
}

/** Poll `f` every 100 ms until it is true (at most 20 s: a loaded machine gives a spinner little CPU). */
async function until(f: () => boolean): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (f()) return true;
    await sleep(100);
  }
  return false;
}

test.serial('groupCpuSeconds counts the CPU of every process in the group, children included', async (t) => {
  const { groupCpuSeconds, CLK_TCK } = await cpu();
  // an idle parent whose forked child spins: the parent's own stat stays near 0
  const g = await startGroup(
    "const c = require('child_process').spawn(process.execPath, ['-e', 'const t = Date.now(); while (Date.now() - t < 60000);'], { stdio: 'ignore' }); console.log(c.pid); setInterval(() => {}, 1000);",
  );
  try {
    const child = Number(g.line);
    // spun well past the parent's own start-up (0.1-0.2 s of Node on a busy machine)
    t.true(await until(() => ownCpu(child, CLK_TCK) >= 1), 'the child spins');
    const group = groupCpuSeconds(g.pid);
    const parent = ownCpu(g.pid, CLK_TCK);
    const spun = ownCpu(child, CLK_TCK);
    t.true(parent < spun / 2, `the parent itself is idle: ${parent} s vs the child's ${spun} s`);
    t.true(group >= parent + spun - 0.02, `the group's ${group} s hold the parent's ${parent} s and the child's ${spun} s`);
  } finally {
    g.stop();
  }
});

test.serial('threadCpuSeconds is one thread: a busy worker thread does not count for the idle main thread', async (t) => {
  const { threadCpuSeconds } = await cpu();
  const g = await startGroup(
    "const { Worker } = require('worker_threads'); new Worker('const t = Date.now(); while (Date.now() - t < 60000);', { eval: true }); console.log('up'); setInterval(() => {}, 1000);",
  );
  try {
    const busiest = () => Math.max(...readdirSync(`/proc/${g.pid}/task`).map((tid) => threadCpuSeconds(g.pid, Number(tid)) ?? 0));
    // spun well past the main thread's own start-up (0.1-0.2 s of Node on a busy machine)
    t.true(await until(() => busiest() >= 1), 'the worker thread spins');
    const busy = busiest();
    const main = threadCpuSeconds(g.pid, g.pid);
    t.not(main, null);
    t.true(main! < busy / 2, `the main thread used ${main} s, the worker ${busy} s`);
    t.is(threadCpuSeconds(g.pid, 1 << 30), null, 'a thread that does not exist');
  } finally {
    g.stop();
  }
});

test('perOp: a CPU share at a rate is CPU us per operation and operations per CPU-second', async (t) => {
  const { perOp } = await cpu();
  t.deepEqual(perOp(0.5, 100_000), { cpuUsPerOp: 5, opsPerCpuS: 200_000 });
  t.deepEqual(perOp(null, 100_000), { cpuUsPerOp: null, opsPerCpuS: null });
  t.deepEqual(perOp(0.5, 0), { cpuUsPerOp: null, opsPerCpuS: null });
});

test('pnpm bench: an unknown suite is a usage error (exit 2) naming it', (t) => {
  const r = spawnSync(process.execPath, [join(ROOT, 'bench', 'run.mjs'), '--only', 'pingpong,nosuch'], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
  t.is(r.status, 2);
  t.regex(r.stderr, /unknown suite nosuch/);
});

interface BenchRound {
  value: number | null;
  error?: string;
  cpuUtil?: number;
  cpuUs?: number;
  perCpuS?: number;
  handoffP50?: number;
  acceptorUs?: number;
  p50?: number;
  p99?: number;
}

test.serial('pnpm bench --only pingpong,churn: server CPU per operation, the wake floor and the acceptor CPU, in the JSON and the report', async (t) => {
  const out = mkdtempSync(join(os.tmpdir(), 'rl-bench-test-'));
  try {
    const r = spawnSync(process.execPath, [join(ROOT, 'bench', 'run.mjs'), '--quick', '--only', 'pingpong,churn', '--warmup', '0.3', '--duration', '1', '--out', out], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 240_000,
    });
    t.is(r.status, 0, `${r.stderr}\n${r.stdout.slice(-2000)}`);
    const json = readdirSync(out).find((f) => f.endsWith('.json'));
    t.truthy(json, 'the JSON report is written');
    const rep = JSON.parse(readFileSync(join(out, json!), 'utf8')) as { results: Record<string, Record<string, BenchRound[]>> };
    const one = (key: string, entry: string) => {
      const x = rep.results[key]?.[entry]?.[0];
      t.truthy(x, `${key} ${entry} measured`);
      t.is(x?.error, undefined, `${key} ${entry}: ${x?.error}`);
      return x!;
    };
    for (const [key, entry] of [
      ['pingpong', 'ringleader'],
      ['pingpong', 'epoll'],
      ['churn', 'ringleader'],
      ['churn', 'epoll'],
      ['churn1', 'ringleader'],
    ]) {
      const x = one(key, entry);
      t.true(x.value! > 0);
      t.true(x.cpuUtil! > 0 && x.cpuUtil! < 1.5, `${key} ${entry}: server CPU share ${x.cpuUtil}`);
      t.true(Math.abs(x.cpuUs! * x.perCpuS! - 1e6) < 1, "us per op and ops per CPU-s are each other's inverse");
    }
    const churn = one('churn', 'ringleader');
    t.true(churn.acceptorUs! > 0, 'the acceptor thread used CPU');
    t.true(churn.handoffP50! > 0, 'hand-off latency reported');
    const floor = one('wakefloor', 'floor');
    t.true(floor.p50! > 0 && floor.p99! >= floor.p50!);
    const fdFloor = one('wakefloor', 'fd');
    t.true(fdFloor.p50! > 0 && fdFloor.p99! >= fdFloor.p50!);
    const md = readFileSync(join(out, readdirSync(out).find((f) => f.endsWith('.md'))!), 'utf8');
    t.regex(md, /server CPU us\/msg/);
    t.regex(md, /wake floor \(same CPU\)/);
    t.regex(md, /wake floor passing a descriptor/);
    t.regex(md, /Acceptor ceiling/);
    t.regex(md, /acceptor thread CPU per accepted connection/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
