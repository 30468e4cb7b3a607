// Server CPU time from /proc, for the bench's "server CPU per operation"
// columns (issue 12): user + system time of every process in a process
// group (bench/lib/proc.mjs starts each server in its own group, so a Node
// cluster's workers and nginx's worker are counted with their parent), and
// of one thread (/proc/PID/task/TID/stat, for the acceptor's thread).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Clock ticks per second of the utime/stime fields (getconf CLK_TCK; 100 nearly everywhere). */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * Fields of a /proc stat line after the command name (which may hold spaces
 * and parentheses): [state, ppid, pgrp, ...]; null when it is gone.
 */
function statFields(path) {
  let s;
  try {
    s = readFileSync(path, 'utf8');
  } catch {
    return null; // exited meanwhile
  }
  return s.slice(s.lastIndexOf(')') + 2).split(' ');
}

// utime and stime are fields 14 and 15 of stat(5), 12th and 13th after the name
const cpuOf = (f) => (Number(f[11]) + Number(f[12])) / CLK_TCK;

/** CPU seconds (user + system, all threads) used so far by every live process of group `pgid`. */
export function groupCpuSeconds(pgid) {
  let sum = 0;
  for (const d of readdirSync('/proc')) {
    if (d.charCodeAt(0) < 48 || d.charCodeAt(0) > 57) continue;
    const f = statFields(`/proc/${d}/stat`);
    if (f && Number(f[2]) === pgid) sum += cpuOf(f);
  }
  return sum;
}

/** CPU seconds used so far by thread `tid` of process `pid` (null when it is gone). */
export function threadCpuSeconds(pid, tid) {
  const f = statFields(`/proc/${pid}/task/${tid}/stat`);
  return f ? cpuOf(f) : null;
}

/**
 * Jiffies of CPU `cpu` from /proc/stat: { busy, total } (busy = all but idle,
 * iowait and steal: interrupts and softirqs count, time the hypervisor gave
 * to other guests does not), or null.
 */
export function cpuJiffies(cpu) {
  let s;
  try {
    s = readFileSync('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  const line = s.split('\n').find((l) => l.startsWith(`cpu${cpu} `));
  if (!line) return null;
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - v[3] - v[4] - v[7], total };
}

/** Busy share of a CPU between two cpuJiffies() samples (1 = never idle), or null. */
export function busyShare(a, b) {
  if (!a || !b || b.total <= a.total) return null;
  return (b.busy - a.busy) / (b.total - a.total);
}

/**
 * Two samples of `read()` (CPU seconds) with their wall times: the share of
 * one CPU used between them (1 = one core busy), or null.
 */
export function utilisation(a, b) {
  if (a?.cpu == null || b?.cpu == null || b.t <= a.t) return null;
  return (b.cpu - a.cpu) / ((b.t - a.t) / 1000);
}

/** What a CPU share means per operation at `opsPerSec`: { cpuUsPerOp, opsPerCpuS }. */
export function perOp(util, opsPerSec) {
  if (util === null || !(opsPerSec > 0)) return { cpuUsPerOp: null, opsPerCpuS: null };
  return { cpuUsPerOp: (util / opsPerSec) * 1e6, opsPerCpuS: util > 0 ? opsPerSec / util : null };
}

/**
 * Run `load()` (a promise) and read the CPU time of process group `pgid`,
 * and of its threads `threads` ({ name: tid }), `fromS` and `toS` seconds
 * after the load began: when `begun()` resolves (a wall-clock time in ms;
 * by default when load() was called). The window must lie inside the
 * load's measured time. With `loadCpu`, also how busy that whole CPU was
 * (the load generator's, with whatever else runs there: a busy share near
 * 1 says the load side, not the server, set the pace). Resolves { r: what
 * load() resolved, util, threadUtil: { name: util }, loadBusy }; util is
 * null when the load never began.
 */
export async function loadWithCpu(pgid, load, fromS, toS, { threads = {}, begun, loadCpu } = {}) {
  const called = Date.now();
  const done = load();
  done.catch(() => {}); // awaited below
  const sample = () => ({
    t: Date.now(),
    cpu: groupCpuSeconds(pgid),
    threads: Object.fromEntries(Object.entries(threads).map(([k, tid]) => [k, threadCpuSeconds(pgid, tid)])),
    loadCpu: loadCpu == null ? null : cpuJiffies(loadCpu),
  });
  const t0 = begun ? await begun() : called;
  if (t0 === null) return { r: await done, util: null, threadUtil: {}, loadBusy: null };
  await sleep(Math.max(0, t0 + fromS * 1000 - Date.now()));
  const a = sample();
  await sleep(Math.max(0, t0 + toS * 1000 - Date.now()));
  const b = sample();
  const r = await done;
  const threadUtil = Object.fromEntries(Object.keys(threads).map((k) => [k, utilisation({ t: a.t, cpu: a.threads[k] }, { t: b.t, cpu: b.threads[k] })]));
  return { r, util: utilisation(a, b), threadUtil, loadBusy: busyShare(a.loadCpu, b.loadCpu) };
}
