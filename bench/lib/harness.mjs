// What every suite of `pnpm bench` (bench/run.mjs, bench/suites/*.mjs)
// shares: the run's settings, CPU pinning, starting servers and loads, the
// server-CPU sampling around a load's measured window, and the results
// table that the report (bench/report.mjs) is written from.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { human } from '../svg.mjs';
import { loadWithCpu, perOp } from './cpu.mjs';
import { launch as launchProc, runJson as runJsonProc, sleep } from './proc.mjs';
import { CLI, cliArgs } from './script.mjs';

export { CLI, cliArgs };

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PEERS = join(ROOT, 'bench', 'peers');

/** The run's settings, filled in by bench/run.mjs before any suite runs. */
export const cfg = { quick: false, rounds: 1, warmup: 0, duration: 1, only: undefined, out: '' };
export const wanted = (s) => !cfg.only || cfg.only.includes(s);

// ------------------------------------------------------------------ machine

export const NCPU = os.availableParallelism();
export const HAVE_TASKSET = spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
export const PIN = HAVE_TASKSET && NCPU >= 2;
export const SERVER_CPU = '0';
export const LOAD_CPU = '1';
export const UPSTREAM_CPU = NCPU >= 3 ? '2' : '1';

export function pinned(cpu, cmd, args) {
  return PIN ? ['taskset', ['-c', cpu, cmd, ...args]] : [cmd, args];
}

export function tryRun(cmd, args) {
  try {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
    return r.status === 0 ? `${r.stdout}${r.stderr}`.trim() : null;
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------ processes

/** Start a child pinned to `cpu` (bench/lib/proc.mjs does the rest); its process group id is h.p.pid. */
export function launch(cpu, cmd, args, o) {
  const [c, a] = pinned(cpu, cmd, args);
  return launchProc(c, a, { ...o, cwd: ROOT });
}

export function runJson(cpu, cmd, args, limitMs) {
  const [c, a] = pinned(cpu, cmd, args);
  return runJsonProc(c, a, limitMs, { cwd: ROOT });
}

/** ringleader stress on LOAD_CPU with one thread; resolves its JSON result. */
export async function stress(port, extra) {
  const args = cliArgs('stress', `127.0.0.1:${port}`, '-t', '1', '--warmup', `${cfg.warmup}s`, '-d', `${cfg.duration}s`, '--json', ...extra);
  const { code, json } = await runJson(LOAD_CPU, process.execPath, args, (cfg.warmup + cfg.duration + 30) * 1000);
  if (code !== 0) throw new Error(`stress failed: ${(json.failures ?? []).join('; ') || `exit ${code}`}`);
  return json;
}

/** bench/peers/loadgen on LOAD_CPU; resolves its JSON result. */
export async function loadgen(port, extra) {
  const args = ['--host', '127.0.0.1', '--port', String(port), '--threads', '1', '--warmup', String(cfg.warmup), '--duration', String(cfg.duration), '--json', ...extra];
  const { code, json } = await runJson(LOAD_CPU, join(PEERS, 'bin', 'loadgen'), args, (cfg.warmup + cfg.duration + 30) * 1000);
  if (code !== 0) throw new Error(`loadgen exited ${code}`);
  return json;
}

// ------------------------------------------------------------------ server CPU

const HAVE_SS = spawnSync('ss', ['-V'], { stdio: 'ignore' }).status === 0;

/** TCP sockets toward 127.0.0.1:port in any state (`ss`, filtered in the kernel: cheap however many sockets there are), or null. */
function socketsTo(port) {
  const r = spawnSync('ss', ['-Htan', 'dport', '=', `:${port}`], { encoding: 'utf8', timeout: 5000 });
  return r.status === 0 ? r.stdout.split('\n').filter(Boolean).length : null;
}

/**
 * When (ms, wall clock) there were first more sockets toward port than
 * `base` (a readiness probe's socket lingers in TIME_WAIT, so it is counted
 * in the base), polling every 50 ms for at most `ms`; null if never.
 */
async function connectedSince(port, base, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if ((socketsTo(port) ?? 0) > base) return Date.now();
    await sleep(50);
  }
  return null;
}

/**
 * Run `stress(port, extra)` against a server whose process group is `pgid`
 * and read the group's CPU time (every process: a cluster's workers, nginx's
 * worker) at the start and end of the load's measured window; with
 * `threads` ({ name: tid }), those threads' CPU time too. The stress client
 * takes from a few hundred ms to seconds to start on a busy machine, so the
 * window is timed from its first connection to the server (a new socket
 * toward the port, seen with `ss`; it starts its warmup then): from 0.25 s
 * after the warmup ends to 0.2 s before the measured time does (that covers
 * the 50 ms polling and the time `ss` takes). Without `ss`, from a fixed
 * 0.6 s after the warmup should have ended (at most 30% of the duration). Resolves { j, util, threadUtil }:
 * util is the server's CPU share (1 = one core busy) over the window.
 */
export async function stressWithCpu(pgid, port, extra, { threads = {} } = {}) {
  const base = HAVE_SS ? socketsTo(port) : null;
  const [from, to] = base !== null ? [cfg.warmup + 0.25, cfg.warmup + cfg.duration - 0.2] : [cfg.warmup + Math.min(0.6, cfg.duration * 0.3), cfg.warmup + cfg.duration];
  const begun = base !== null ? () => connectedSince(port, base, (cfg.warmup + cfg.duration) * 1000 + 20_000) : undefined;
  const { r: j, util, threadUtil, loadBusy } = await loadWithCpu(pgid, () => stress(port, extra), from, Math.max(from + 0.2, to), { threads, begun, loadCpu: PIN ? LOAD_CPU : null });
  // results read it from j (msgsResult, mibResult, the churn suite)
  if (j) j.loadBusy = loadBusy;
  return { j, util, threadUtil };
}

/** 'msg' -> 'msgs'; 'MiB' stays. */
export const plural = (op) => (op === 'MiB' ? op : `${op}s`);

/**
 * The CPU fields of a result at `opsPerSec` operations per second with the
 * server at CPU share `util`: cpuUtil, cpuUs (server CPU us per operation),
 * perCpuS (operations per server CPU-second), and a text for the log line.
 */
export function cpuFields(util, opsPerSec, op = 'msg') {
  const { cpuUsPerOp, opsPerCpuS } = perOp(util, opsPerSec);
  const text = util === null ? 'server CPU n/a' : `server CPU ${(util * 100).toFixed(0)}%, ${cpuUsPerOp?.toFixed(2) ?? 'n/a'} us/${op}, ${human(opsPerCpuS)} ${plural(op)}/CPU-s`;
  return { cpuUtil: util, cpuUs: cpuUsPerOp, perCpuS: opsPerCpuS, cpuText: text };
}

/** A ping-pong result in msgs/s: latency and server CPU per message (echo and proxy suites). */
export function msgsResult(j, util) {
  const rate = j.throughput.msgsPerSec;
  const lat = j.latencyUs ?? {};
  return { value: rate, unit: 'msgs/s', p50: lat.p50, p99: lat.p99, extra: `p50 ${human(lat.p50)} us p99 ${human(lat.p99)} us`, loadBusy: j.loadBusy, ...cpuFields(util, rate) };
}

/** A large-message ping-pong result in MiB/s, with msgs/s and server CPU per message. */
export function mibResult(j, util) {
  const rate = j.throughput.msgsPerSec;
  return { value: j.throughput.inMiBPerSec, unit: 'MiB/s', msgsPerSec: rate, extra: `${human(rate)} msgs/s`, loadBusy: j.loadBusy, ...cpuFields(util, rate) };
}

// ------------------------------------------------------------------ results

/** results[key][entry] = [{ value, ...extra } | { value: null, error }] per round */
export const results = {};
/** notes[key]: a sentence for the report's section */
export const notes = {};

export function record(key, entry, r) {
  ((results[key] ??= {})[entry] ??= []).push(r);
}

export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export function med(key, entry, field = 'value') {
  return median((results[key]?.[entry] ?? []).map((r) => r[field]));
}

export function say(s) {
  process.stdout.write(`${s}\n`);
}

/** Run one measurement, record its result (or its failure) and log it. */
export async function measure(key, entry, fn) {
  const t0 = Date.now();
  try {
    const r = await fn();
    record(key, entry, r);
    const extra = [r.extra, r.cpuText].filter(Boolean).join(', ');
    say(`  ${key.padEnd(9)} ${entry.padEnd(22)} ${human(r.value).padStart(8)} ${r.unit ?? ''}${extra ? `  ${extra}` : ''}  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    record(key, entry, { value: null, error: e.message });
    say(`  ${key.padEnd(9)} ${entry.padEnd(22)} FAILED: ${e.message}`);
  }
}

/** `list` starting at element `round` (mod its length): each round starts the servers in another order. */
export function rotate(list, round) {
  const k = round % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}
