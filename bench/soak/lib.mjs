// What the soak checks share: the server under test (bench/soak/server.mjs)
// and its samples, `ringleader stress` runs, the C echo peer as a backend,
// a one-message echo probe, and the arithmetic of a verdict.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ended, launch, runJson, sleep, stopProc, timeout } from '../lib/proc.mjs';
import { CLI, cliArgs } from '../lib/script.mjs';

export { CLI };

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SERVER = join(ROOT, 'bench', 'soak', 'server.mjs');
const PEERS = join(ROOT, 'bench', 'peers');

/** This process's hard RLIMIT_NOFILE (what a child may raise its soft limit to without privilege). */
export function nofileHard() {
  const m = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

/** `prlimit --nofile=N:N -- cmd args` (raising the hard limit needs root or CAP_SYS_RESOURCE). */
function withNofile(nofile, cmd, args) {
  return nofile ? ['prlimit', [`--nofile=${nofile}:${nofile}`, '--', cmd, ...args]] : [cmd, args];
}

/** Run inside network namespace `ns` (see bench/lib/netns.mjs), when given. */
function inNetns(ns, cmd, args) {
  return ns ? ['ip', ['netns', 'exec', ns, cmd, ...args]] : [cmd, args];
}

/**
 * V8 flags for a server whose RSS is compared before and after (flags are
 * per process, so every thread gets them): a young generation of fixed
 * size (1 MiB semi-spaces) and no memory reducer. Otherwise V8 grows and
 * shrinks each thread's heap on its own schedule: an idle server's RSS
 * falls by ~10 MiB over its first ~40 s and moves by 4-6 MiB at other
 * times, more than 60,000 idle connections cost.
 */
export const STEADY_HEAP = ['--min-semi-space-size=1', '--max-semi-space-size=1', '--no-memory-reducer'];

/**
 * Start the server under test with createServer() options `opts` and keep
 * its samples. Resolves { port, samples, latest(), next(), waitFor(pred, ms), steady(), stop() }.
 */
export async function startServer(opts, { nofile, netns, intervalMs = 500, nodeFlags = [] } = {}) {
  const samples = [];
  let port;
  let listening;
  const ready = new Promise((r) => (listening = r));
  const waiters = new Set();
  const onLine = (line) => {
    let j;
    try {
      j = JSON.parse(line);
    } catch {
      return;
    }
    if (j.event === 'listening') listening(j.port);
    else if (j.event === 'sample') {
      samples.push(j);
      for (const w of waiters) w(j);
    }
  };
  const [c1, a1] = withNofile(nofile, process.execPath, ['--expose-gc', ...nodeFlags, SERVER, JSON.stringify(opts), '--interval', String(intervalMs)]);
  const [cmd, args] = inNetns(netns, c1, a1);
  const h = launch(cmd, args, { onLine, cwd: ROOT });
  try {
    port = await Promise.race([ready, timeout(30_000, 'soak server listening'), h.exited.then(() => Promise.reject(new Error(`soak server exited: ${h.stderr().trim()}`)))]);
  } catch (e) {
    await stopProc(h, 'SIGKILL');
    throw e;
  }
  /** The first sample taken after now that satisfies `pred`, or null after `ms`. */
  const waitFor = (pred, ms) =>
    new Promise((res) => {
      const t0 = Date.now();
      let done = false;
      const w = (s) => {
        if (done || s.t < t0 || !pred(s)) return;
        finish(s);
      };
      const finish = (s) => {
        done = true;
        waiters.delete(w);
        clearTimeout(tm);
        res(s);
      };
      const tm = setTimeout(() => finish(null), ms);
      waiters.add(w);
      h.exited.then(() => !done && finish(null));
    });
  return {
    port,
    samples,
    proc: h,
    alive: () => !ended(h),
    stderr: () => h.stderr(),
    latest: () => samples[samples.length - 1],
    next: (ms = 5000) => waitFor(() => true, ms),
    waitFor,
    /** Wait (at most `ms`, at least 10 s) until RSS has moved less than 1 MiB over the last 10 s. */
    settle: async (ms = 90_000) => {
      const until = Date.now() + ms;
      const t0 = Date.now();
      while (Date.now() < until) {
        await sleep(2000);
        const recent = samples.filter((s) => s.t >= Date.now() - 10_000);
        if (Date.now() - t0 < 10_000 || recent.length < 4) continue;
        const rss = recent.map((s) => s.rss);
        if (Math.max(...rss) - Math.min(...rss) < 2 ** 20) return true;
      }
      return false;
    },
    /**
     * `n` precise samples 1 s apart; the one with the median RSS, with
     * `spread` (max - min RSS of the n) as a measure of the noise.
     */
    steady: async (n = 5) => {
      const got = [];
      for (let i = 0; i < n; i++) {
        if (i) await sleep(1000);
        const p = waitFor((s) => s.gc, 5000);
        h.p.kill('SIGUSR2');
        const s = await p;
        if (s) got.push(s);
      }
      if (!got.length) return null;
      const byRss = [...got].sort((a, b) => a.rss - b.rss);
      return { ...byRss[Math.floor(byRss.length / 2)], spread: byRss[byRss.length - 1].rss - byRss[0].rss };
    },
    stop: () => stopProc(h, 'SIGINT'),
  };
}

/** Build (if needed) and start the C epoll echo peer; resolves { port, stop() }. */
export async function startEchoPeer({ netns } = {}) {
  const built = spawnSync('sh', [join(PEERS, 'build.sh')], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`building the C peers failed: ${built.stderr}`);
  let listening;
  const ready = new Promise((r) => (listening = r));
  const [cmd, args] = inNetns(netns, join(PEERS, 'bin', 'epoll-echo'), ['--port', '0', '--threads', '1']);
  const h = launch(cmd, args, {
    onLine: (l) => {
      const m = /^listening (\d+)/.exec(l);
      if (m) listening(Number(m[1]));
    },
  });
  try {
    const port = await Promise.race([ready, timeout(10_000, 'the C echo peer listening')]);
    return { port, stop: () => stopProc(h, 'SIGTERM') };
  } catch (e) {
    await stopProc(h, 'SIGKILL');
    throw e;
  }
}

/** Argument list of `ringleader stress` against 127.0.0.1:port, always --json. */
export function stressArgs(port, extra) {
  return cliArgs('stress', `127.0.0.1:${port}`, '--json', ...extra);
}

/**
 * Run `ringleader stress` to its end (killed after `limitMs`); resolves its
 * JSON result. `nofile` raises the client's RLIMIT_NOFILE (its ring tables
 * are capped by it).
 */
export async function stress(port, extra, limitMs, { nofile } = {}) {
  const [cmd, args] = withNofile(nofile, process.execPath, stressArgs(port, extra));
  const { json } = await runJson(cmd, args, limitMs, { cwd: ROOT });
  return json;
}

/**
 * Start `ringleader stress` and return at once: { done: Promise<json>, stop() }.
 * stop() sends SIGINT: stress stops early and still prints its result.
 */
export function stressBackground(port, extra, { nofile } = {}) {
  const [cmd, args] = withNofile(nofile, process.execPath, stressArgs(port, extra));
  let out = '';
  const h = launch(cmd, args, { cwd: ROOT, onLine: (l) => (out += `${l}\n`) });
  const done = h.exited.then(({ code, signal }) => {
    try {
      return JSON.parse(out.trim().split('\n').pop());
    } catch {
      throw new Error(`stress exited ${code ?? signal} without a result: ${h.stderr().trim().split('\n').slice(-2).join(' ')}`);
    }
  });
  done.catch(() => {}); // awaited by the caller; never an unhandled rejection meanwhile
  // closing tens of thousands of connections takes a while: 30 s before SIGTERM
  return { done, stop: () => stopProc(h, 'SIGINT', 30_000) };
}

/** The errors a stress result counts, as "ECONNRESET 2, EOF 1" (empty when none). */
export function stressErrors(j) {
  return Object.entries(j.errors?.byCode ?? {})
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

/**
 * One fresh connection to 127.0.0.1:port: send `bytes` random bytes, expect
 * them back. Resolves the round trip in ms; rejects on a mismatch, an error
 * or after `ms`.
 */
export function echoProbe(port, { bytes = 1024, ms = 5000 } = {}) {
  const payload = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) payload[i] = (i * 131 + 7) & 0xff;
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const chunks = [];
    let got = 0;
    const s = net.connect(port, '127.0.0.1', () => s.write(payload));
    const tm = setTimeout(() => {
      s.destroy();
      rej(new Error(`echo probe: ${got} of ${bytes} bytes back after ${ms} ms`));
    }, ms);
    s.on('data', (d) => {
      chunks.push(d);
      got += d.length;
      if (got < bytes) return;
      clearTimeout(tm);
      s.destroy();
      if (Buffer.concat(chunks).equals(payload)) res(performance.now() - t0);
      else rej(new Error('echo probe: the bytes that came back differ'));
    });
    s.on('error', (e) => {
      clearTimeout(tm);
      rej(new Error(`echo probe: ${e.code ?? e.message}`));
    });
  });
}

/** Least-squares line through (x, y): { slope, at(x) }. */
export function linearFit(xs, ys) {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  const slope = den ? num / den : 0;
  return { slope, at: (x) => my + slope * (x - mx) };
}

export const MiB = 2 ** 20;
export const fmtMiB = (b) => `${(b / MiB).toFixed(1)} MiB`;
export { sleep };
