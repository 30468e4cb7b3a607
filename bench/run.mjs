#!/usr/bin/env node
// pnpm bench [--quick] [--rounds N] [--duration S] [--warmup S] [--only a,b] [--out DIR]
//
// Runs the benchmark suites side by side in one run: every server pinned to
// one CPU, the load pinned to another (taskset), several rounds with the
// servers in rotating order, medians and ratios. The load driver is
// `ringleader stress`; the independent C client bench/peers/loadgen drives the
// echo suite as well, and the report says whether the two agree within 10%.
//
// Suites
//   echo64    64 B ping-pong, 100 connections, msgs/s (issue 2 targets)
//   echo16k   16 KiB ping-pong, 32 connections, MiB/s
//   churn     connect + 64 B echo + close, 32 clients over 127.0.0.1-16,
//             connections/s, plus ringleader's hand-off latency (issue 3)
//   openloop  p50/p99 at a fixed 20k msgs/s (latency from the schedule)
//   proxy     ringleader proxy vs HAProxy vs nginx stream in front of the C
//             epoll echo peer (skipped with a note while `ringleader proxy`
//             does not exist)
//   js        the JS handler path (bench/js-handler.mjs): JS echo handler vs
//             Node net, examples/http-hello vs node:http under wrk
//   stress    ringleader stress as a protocol load generator
//             (bench/stress-protocols.mjs): vs wrk -t1 -c100 against nginx,
//             vs redis-benchmark -c 50 (PING, SET, -P 1 and 16) against
//             redis-server; req/s and client CPU per request
//
// Writes bench/results/<date>[-quick].md and one SVG chart per suite, and
// prints the tables. --quick (1 round, short runs) finishes in under two
// minutes on a 2-CPU machine.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch as launchProc, runMain, runJson as runJsonProc, stopProc, timeout, freePort, waitConnectable } from './lib/proc.mjs';
import { barChart, human } from './svg.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'packages', 'cli', 'dist', 'bin.js');
const PEERS = join(ROOT, 'bench', 'peers');

// ------------------------------------------------------------------ options

function parseArgs(argv) {
  const o = { quick: false, rounds: undefined, duration: undefined, warmup: undefined, only: undefined, out: join(ROOT, 'bench', 'results') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--rounds') o.rounds = posInt(a, val());
    else if (a === '--duration') o.duration = posNum(a, val());
    else if (a === '--warmup') o.warmup = posNum(a, val(), true);
    else if (a === '--only') o.only = val().split(',');
    else if (a === '--out') o.out = resolve(val());
    else if (a === '--help' || a === '-h') usage(null);
    else usage(`unknown option ${a}`);
  }
  return o;
}

function usage(err) {
  const text = `usage: pnpm bench [--quick] [--rounds N] [--duration SECONDS] [--warmup SECONDS] [--only ${SUITES.join(',')}] [--out DIR]\n`;
  if (err) {
    process.stderr.write(`bench: ${err}\n${text}`);
    process.exit(2);
  }
  process.stdout.write(text);
  process.exit(0);
}

function posInt(name, v) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) usage(`${name} must be a whole number >= 1`);
  return n;
}

function posNum(name, v, zero = false) {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || (!zero && n === 0)) usage(`${name} must be a number of seconds${zero ? '' : ' > 0'}`);
  return n;
}

const SUITES = ['echo64', 'echo16k', 'churn', 'openloop', 'proxy', 'js', 'stress'];
const opts = parseArgs(process.argv.slice(2));
if (opts.only) for (const s of opts.only) if (!SUITES.includes(s)) usage(`unknown suite ${s}`);
const cfg = {
  rounds: opts.rounds ?? (opts.quick ? 1 : 3),
  warmup: opts.warmup ?? (opts.quick ? 0.5 : 2),
  duration: opts.duration ?? (opts.quick ? 2 : 8),
};
const wanted = (s) => !opts.only || opts.only.includes(s);

// ------------------------------------------------------------------ machine

const NCPU = os.availableParallelism();
const HAVE_TASKSET = spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
const PIN = HAVE_TASKSET && NCPU >= 2;
const SERVER_CPU = '0';
const LOAD_CPU = '1';
const UPSTREAM_CPU = NCPU >= 3 ? '2' : '1';

function pinned(cpu, cmd, args) {
  return PIN ? ['taskset', ['-c', cpu, cmd, ...args]] : [cmd, args];
}

function tryRun(cmd, args) {
  try {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
    return r.status === 0 ? `${r.stdout}${r.stderr}`.trim() : null;
  } catch {
    return null;
  }
}

function firstLine(s) {
  return s ? s.split('\n')[0].trim() : 'not installed';
}

function machine() {
  let osName = 'unknown';
  try {
    osName = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? osName;
  } catch {
    /* not Linux */
  }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cpus: NCPU,
    memGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    kernel: os.release(),
    os: osName,
    node: process.version,
    liburing: firstLine(tryRun('pkg-config', ['--modversion', 'liburing'])),
    cc: firstLine(tryRun('cc', ['--version'])),
    haproxy: firstLine(tryRun('haproxy', ['-v'])),
    nginx: firstLine(tryRun('nginx', ['-v'])),
    loadavg: os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(' '),
  };
}

// ------------------------------------------------------------------ processes

/** Start a child pinned to `cpu` (bench/lib/proc.mjs does the rest). */
function launch(cpu, cmd, args, o) {
  const [c, a] = pinned(cpu, cmd, args);
  return launchProc(c, a, { ...o, cwd: ROOT });
}

// ------------------------------------------------------------------ servers

const SERVERS = {
  ringleader: { label: 'ringleader (1 worker)', highlight: true },
  node: { label: 'Node net' },
  cluster: { label: 'Node cluster (2 workers)' },
  epoll: { label: 'C epoll peer' },
};

/** Start an echo server on SERVER_CPU; resolves { port, stop(), handoff() }. */
async function startServer(kind) {
  let port;
  let handoff = null;
  let listening;
  const ready = new Promise((r) => (listening = r));
  const onLine = (line) => {
    if (kind === 'ringleader') {
      try {
        const j = JSON.parse(line);
        if (j.event === 'listening') listening(j.port);
        else if (j.handoffUs) handoff = { ...j.handoffUs, at: Date.now() };
      } catch {
        /* not JSON */
      }
    } else {
      const m = /^listening (\d+)/.exec(line);
      if (m) listening(Number(m[1]));
    }
  };
  let cmd;
  let args;
  if (kind === 'ringleader') [cmd, args] = [process.execPath, [CLI, 'echo', '--port', '0', '--workers', '1', '--json', '--interval', '1s']];
  else if (kind === 'node') [cmd, args] = [process.execPath, [join(PEERS, 'node-echo.mjs'), '--port', '0']];
  else if (kind === 'cluster') [cmd, args] = [process.execPath, [join(PEERS, 'node-cluster-echo.mjs'), '--port', '0', '--workers', '2']];
  else if (kind === 'epoll') [cmd, args] = [join(PEERS, 'bin', 'epoll-echo'), ['--port', '0', '--threads', '1']];
  else throw new Error(`unknown server ${kind}`);
  const h = launch(SERVER_CPU, cmd, args, { onLine });
  try {
    port = await Promise.race([ready, timeout(15_000, `${kind} listening`), h.exited.then(() => Promise.reject(new Error(`${kind} exited: ${h.stderr().trim()}`)))]);
  } catch (e) {
    await stopProc(h, 'SIGKILL');
    throw e;
  }
  return {
    port,
    handoff: () => handoff,
    stop: () => stopProc(h, kind === 'cluster' ? 'SIGTERM' : 'SIGINT'),
  };
}

// ------------------------------------------------------------------ load

function runJson(cpu, cmd, args, limitMs) {
  const [c, a] = pinned(cpu, cmd, args);
  return runJsonProc(c, a, limitMs, { cwd: ROOT });
}

/** ringleader stress on LOAD_CPU with one thread; resolves its JSON result. */
async function stress(port, extra) {
  const args = [CLI, 'stress', `127.0.0.1:${port}`, '-t', '1', '--warmup', `${cfg.warmup}s`, '-d', `${cfg.duration}s`, '--json', ...extra];
  const { code, json } = await runJson(LOAD_CPU, process.execPath, args, (cfg.warmup + cfg.duration + 30) * 1000);
  if (code !== 0) throw new Error(`stress failed: ${(json.failures ?? []).join('; ') || `exit ${code}`}`);
  return json;
}

/** bench/peers/loadgen on LOAD_CPU; resolves its JSON result. */
async function loadgen(port, extra) {
  const args = ['--host', '127.0.0.1', '--port', String(port), '--threads', '1', '--warmup', String(cfg.warmup), '--duration', String(cfg.duration), '--json', ...extra];
  const { code, json } = await runJson(LOAD_CPU, join(PEERS, 'bin', 'loadgen'), args, (cfg.warmup + cfg.duration + 30) * 1000);
  if (code !== 0) throw new Error(`loadgen exited ${code}`);
  return json;
}

// ------------------------------------------------------------------ results

/** results[suite][entry] = [{ value, ...extra } | { error }] per round */
const results = {};
const notes = {};

function record(suite, entry, r) {
  ((results[suite] ??= {})[entry] ??= []).push(r);
}

function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function med(suite, entry, key = 'value') {
  return median((results[suite]?.[entry] ?? []).map((r) => r[key]));
}

function say(s) {
  process.stdout.write(`${s}\n`);
}

async function measure(suite, entry, fn) {
  const t0 = Date.now();
  try {
    const r = await fn();
    record(suite, entry, r);
    say(`  ${suite.padEnd(9)} ${entry.padEnd(22)} ${human(r.value).padStart(8)} ${r.unit ?? ''}${r.extra ? `  ${r.extra}` : ''}  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    record(suite, entry, { value: null, error: e.message });
    say(`  ${suite.padEnd(9)} ${entry.padEnd(22)} FAILED: ${e.message}`);
  }
}

/** one server, one or more loads against it */
async function withServer(kind, fn) {
  const srv = await startServer(kind);
  try {
    return await fn(srv);
  } finally {
    await srv.stop();
  }
}

// ------------------------------------------------------------------ suites

function rotate(list, round) {
  const k = round % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

const ECHO_SERVERS = ['ringleader', 'node', 'cluster', 'epoll'];

async function suiteEcho64(round) {
  for (const kind of rotate(ECHO_SERVERS, round)) {
    let srv;
    try {
      srv = await startServer(kind);
    } catch (e) {
      record('echo64', kind, { value: null, error: e.message });
      record('drivers', kind, { value: null, error: e.message });
      say(`  echo64    ${kind.padEnd(22)} FAILED to start: ${e.message}`);
      continue;
    }
    try {
      await measure('echo64', kind, async () => {
        const j = await stress(srv.port, ['-c', '100', '-s', '64']);
        return { value: j.throughput.msgsPerSec, unit: 'msgs/s', p50: j.latencyUs?.p50, p99: j.latencyUs?.p99, extra: `p50 ${human(j.latencyUs?.p50)} us p99 ${human(j.latencyUs?.p99)} us` };
      });
      // the independent C client, same server process, same shape of load
      await measure('drivers', kind, async () => {
        const j = await loadgen(srv.port, ['--connections', '100', '--size', '64']);
        if (j.verify_failures) throw new Error(`loadgen: ${j.verify_failures} verification failures`);
        return { value: j.msgs_per_s, unit: 'msgs/s (loadgen)' };
      });
    } finally {
      await srv.stop();
    }
  }
}

async function suiteEcho16k(round) {
  for (const kind of rotate(ECHO_SERVERS, round)) {
    await measure('echo16k', kind, () =>
      withServer(kind, async (srv) => {
        const j = await stress(srv.port, ['-c', '32', '-s', '16KiB']);
        return { value: j.throughput.inMiBPerSec, unit: 'MiB/s', extra: `${human(j.throughput.msgsPerSec)} msgs/s` };
      }),
    );
  }
}

async function suiteChurn(round) {
  for (const kind of rotate(ECHO_SERVERS, round)) {
    await measure('churn', kind, () =>
      withServer(kind, async (srv) => {
        const j = await stress(srv.port, ['--mode', 'churn', '-c', '32', '--source', '127.0.0.1-127.0.0.16']);
        const r = { value: j.throughput.cyclesPerSec, unit: 'conns/s', extra: `cycle p99 ${human(j.latencyUs?.p99)} us` };
        if (kind === 'ringleader') {
          // the server prints cumulative hand-off stats every second: take
          // the first line written after the load stopped
          const t = Date.now();
          while (Date.now() - t < 3000 && !(srv.handoff()?.at > t)) await new Promise((res) => setTimeout(res, 50));
          const h = srv.handoff();
          if (h?.count) {
            Object.assign(r, { handoffP50: h.p50, handoffP99: h.p99, handoffCount: h.count });
            r.extra += `, hand-off p50 ${human(h.p50)} us p99 ${human(h.p99)} us`;
          }
        }
        return r;
      }),
    );
  }
}

async function suiteOpenLoop(round) {
  for (const kind of rotate(ECHO_SERVERS, round)) {
    await measure('openloop', kind, () =>
      withServer(kind, async (srv) => {
        const j = await stress(srv.port, ['-c', '100', '-s', '64', '--rate', '20000']);
        return {
          value: j.latencyUs?.p99 ?? null,
          unit: 'us p99',
          p50: j.latencyUs?.p50,
          achieved: j.throughput.msgsPerSec,
          extra: `p50 ${human(j.latencyUs?.p50)} us, ${human(j.throughput.msgsPerSec)} msgs/s achieved, ${j.messages.late} late`,
        };
      }),
    );
  }
}

// ---- proxy suite

// `ringleader proxy --help` must succeed and describe the proxy command:
// commander answers an unknown command's --help with the program's own help
// (exit 0), so the exit status alone does not tell
function proxyAvailable() {
  const r = spawnSync(process.execPath, [CLI, 'proxy', '--help'], { encoding: 'utf8', timeout: 20_000 });
  if (r.status === 0 && /Usage: ringleader proxy/.test(r.stdout)) return null;
  const why = r.status === 0 ? "printed the general help, not the proxy command's" : `exited ${r.status ?? r.signal}`;
  return `\`ringleader proxy --help\` ${why}: the proxy command is not in this build yet`;
}

function nginxStreamModule() {
  for (const p of ['/usr/lib/nginx/modules/ngx_stream_module.so', '/usr/share/nginx/modules/ngx_stream_module.so']) if (existsSync(p)) return p;
  return null;
}

async function startProxy(kind, port, upstream, dir) {
  let cmd;
  let args;
  if (kind === 'ringleader') {
    [cmd, args] = [process.execPath, [CLI, 'proxy', '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${upstream}`, '--workers', '1']];
  } else if (kind === 'haproxy') {
    const conf = join(dir, 'haproxy.cfg');
    writeFileSync(
      conf,
      [
        'global',
        '  maxconn 8000',
        '  nbthread 1',
        'defaults',
        '  mode tcp',
        '  timeout connect 5s',
        '  timeout client 60s',
        '  timeout server 60s',
        'frontend fe',
        `  bind 127.0.0.1:${port}`,
        '  default_backend be',
        'backend be',
        `  server up 127.0.0.1:${upstream}`,
        '',
      ].join('\n'),
    );
    [cmd, args] = ['haproxy', ['-db', '-f', conf]];
  } else if (kind === 'nginx') {
    const mod = nginxStreamModule();
    const conf = join(dir, 'nginx.conf');
    writeFileSync(
      conf,
      [
        mod ? `load_module ${mod};` : '',
        'daemon off;',
        'worker_processes 1;',
        `pid ${join(dir, 'nginx.pid')};`,
        'error_log stderr warn;',
        'events { worker_connections 65536; }',
        'stream {',
        `  server { listen 127.0.0.1:${port}; proxy_pass 127.0.0.1:${upstream}; }`,
        '}',
        '',
      ].join('\n'),
    );
    [cmd, args] = ['nginx', ['-p', dir, '-e', 'stderr', '-c', conf]];
  } else {
    throw new Error(`unknown proxy ${kind}`);
  }
  const h = launch(SERVER_CPU, cmd, args);
  try {
    await waitConnectable(port, 15_000, h);
  } catch (e) {
    await stopProc(h, 'SIGKILL');
    throw new Error(`${kind}: ${e.message}`);
  }
  return { stop: () => stopProc(h, kind === 'ringleader' ? 'SIGINT' : 'SIGTERM') };
}

const PROXIES = { ringleader: { label: 'ringleader proxy', highlight: true }, haproxy: { label: 'HAProxy (mode tcp)' }, nginx: { label: 'nginx stream' } };

async function suiteProxy(round) {
  const missing = proxyAvailable();
  // RL_BENCH_FORCE_PROXY=1 runs the peers anyway (to check their set-up);
  // the ringleader entry is then recorded as failed
  if (missing && process.env.RL_BENCH_FORCE_PROXY === '1') notes.proxy = missing;
  else if (missing) {
    notes.proxy = `skipped: ${missing}. Once \`ringleader proxy --listen HOST:PORT --upstream HOST:PORT --workers N\` exists, this suite runs it, HAProxy and nginx stream in front of the C epoll echo peer.`;
    if (round === 0) say(`  proxy     ${notes.proxy}`);
    return;
  }
  const kinds = ['ringleader'];
  const absent = [];
  if (tryRun('haproxy', ['-v'])) kinds.push('haproxy');
  else absent.push('haproxy (apt: haproxy)');
  if (tryRun('nginx', ['-v']) !== null) kinds.push('nginx');
  else absent.push('nginx (apt: nginx-light + libnginx-mod-stream)');
  if (absent.length) notes.proxy = `not installed, not measured: ${absent.join(', ')}`;
  let upPort = 0;
  const up = launch(UPSTREAM_CPU, join(PEERS, 'bin', 'epoll-echo'), ['--port', '0', '--threads', '1'], {
    onLine: (l) => {
      const m = /^listening (\d+)/.exec(l);
      if (m) upPort = Number(m[1]);
    },
  });
  const dir = mkdtempSync(join(os.tmpdir(), 'rl-bench-'));
  try {
    const t = Date.now();
    while (!upPort && Date.now() - t < 10_000) await new Promise((r) => setTimeout(r, 20));
    if (!upPort) throw new Error('the upstream echo peer did not start');
    for (const kind of rotate(kinds, round)) {
      await measure('proxy', kind, async () => {
        const port = await freePort();
        const px = await startProxy(kind, port, upPort, dir);
        try {
          const j = await stress(port, ['-c', '100', '-s', '64']);
          return { value: j.throughput.msgsPerSec, unit: 'msgs/s', p99: j.latencyUs?.p99, extra: `p50 ${human(j.latencyUs?.p50)} us p99 ${human(j.latencyUs?.p99)} us` };
        } finally {
          await px.stop();
        }
      });
    }
  } finally {
    await stopProc(up, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ report

function ratio(a, b) {
  return a !== null && b !== null && b > 0 ? a / b : null;
}

function fmtRatio(r) {
  return r === null ? 'n/a' : `${r.toFixed(2)}x`;
}

function target(name, value, op, want, unit = 'x') {
  const has = value !== null && value !== undefined && Number.isFinite(value);
  const met = has && (op === '>=' ? value >= want : value <= want);
  const shown = has ? (unit === 'x' ? `${value.toFixed(2)}x` : `${value.toFixed(1)} ${unit}`) : 'n/a';
  return { name, shown, want: `${op} ${want}${unit === 'x' ? 'x' : ` ${unit}`}`, status: has ? (met ? 'met' : 'NOT met') : 'not measured' };
}

function rounds(suite, entry, key = 'value') {
  const rs = results[suite]?.[entry] ?? [];
  return rs.map((r) => (r.error ? 'failed' : human(r[key]))).join(' / ') || '-';
}

function table(head, rows) {
  const out = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const r of rows) out.push(`| ${r.join(' | ')} |`);
  return out.join('\n');
}

const SUITE_INFO = {
  echo64: { title: 'echo, 64 B messages', metric: 'msgs/s', what: '100 connections, closed-loop ping-pong, every echo verified; server on one CPU, load (ringleader stress, 1 thread) on another' },
  echo16k: { title: 'echo, 16 KiB messages', metric: 'MiB/s', what: '32 connections, closed-loop ping-pong of 16 KiB messages, MiB/s echoed back' },
  churn: { title: 'accept churn', metric: 'conns/s', what: 'connect, 64 B echo, close; 32 concurrent clients spread over source addresses 127.0.0.1-127.0.0.16; server on one CPU' },
  openloop: {
    title: 'open loop at 20k msgs/s',
    metric: 'us p99',
    what: "100 connections, 64 B, a fixed schedule of 20,000 msgs/s; latency from each message's scheduled time (lower is better)",
    lowerBetter: true,
  },
  proxy: {
    title: 'TCP proxy in front of the C epoll echo peer',
    metric: 'msgs/s',
    what: '100 connections, 64 B ping-pong through the proxy (one worker/thread/process each), upstream = bench/peers epoll-echo',
  },
};

function suiteRows(suite, entries, labels) {
  const base = med(suite, 'ringleader');
  const lower = SUITE_INFO[suite].lowerBetter;
  return entries.map((e) => {
    const m = med(suite, e);
    const r = e === 'ringleader' ? null : lower ? ratio(m, base) : ratio(base, m);
    const failed = (results[suite]?.[e] ?? []).filter((x) => x.error).map((x) => x.error);
    return [labels[e].label, m === null ? (failed.length ? `failed: ${failed[0]}` : '-') : human(m), rounds(suite, e), e === 'ringleader' ? '-' : fmtRatio(r)];
  });
}

/** A suite run by its own script (bench/js-handler.mjs, bench/stress-protocols.mjs) with the same rounds and times; its JSON report. */
async function suiteScript(name, script, withWarmup) {
  if (!existsSync(join(ROOT, 'bench', script))) return null;
  say(`${name}: bench/${script}`);
  const args = [join(ROOT, 'bench', script), '--json', '--rounds', String(cfg.rounds), '--duration', String(Math.max(1, Math.round(cfg.duration)))];
  if (withWarmup) args.push('--warmup', String(Math.max(1, Math.round(cfg.warmup))));
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 30 * 60_000, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = (r.stdout ?? '').trim().split('\n').pop();
  try {
    return JSON.parse(line);
  } catch {
    notes[name] = `bench/${script} did not report (exit ${r.status})`;
    return { error: notes[name] };
  }
}

function writeReport(m, startedAt, elapsedS, targets, agreement, js, stress) {
  mkdirSync(opts.out, { recursive: true });
  const day = startedAt.toISOString().slice(0, 10);
  const stamp = `${day}${opts.quick ? '-quick' : ''}`;
  const md = [];
  md.push(`# ringleader benchmark, ${startedAt.toISOString().replace('T', ' ').slice(0, 16)} UTC${opts.quick ? ' (quick)' : ''}`);
  md.push('');
  md.push(`Run: ${cfg.rounds} round(s), each load ${cfg.warmup} s warmup + ${cfg.duration} s measured; medians over rounds. Took ${elapsedS.toFixed(0)} s.`);
  md.push(
    PIN
      ? `Pinning: every server on CPU ${SERVER_CPU}, the load on CPU ${LOAD_CPU} (taskset)${wanted('proxy') ? `, the proxy suite's upstream on CPU ${UPSTREAM_CPU}` : ''}.`
      : `Pinning: none (${HAVE_TASKSET ? `only ${NCPU} CPU` : 'taskset not found'}); numbers are less comparable.`,
  );
  md.push('');
  md.push('## Machine');
  md.push('');
  md.push(
    table(
      ['what', 'value'],
      [
        ['CPU', `${m.cpu} (${m.cpus} available)`],
        ['memory', `${m.memGiB} GiB`],
        ['kernel', m.kernel],
        ['OS', m.os],
        ['node', m.node],
        ['liburing', m.liburing],
        ['C compiler', m.cc],
        ['HAProxy', m.haproxy],
        ['nginx', m.nginx],
        ['load average at start', m.loadavg],
      ],
    ),
  );
  md.push('');
  md.push('## Targets');
  md.push('');
  md.push(
    table(
      ['target', 'measured', 'wanted', 'status'],
      targets.map((t) => [t.name, t.shown, t.want, t.status]),
    ),
  );
  md.push('');
  const svgs = [];
  for (const suite of ['echo64', 'echo16k', 'churn', 'openloop', 'proxy']) {
    if (!wanted(suite)) continue;
    const info = SUITE_INFO[suite];
    const labels = suite === 'proxy' ? PROXIES : SERVERS;
    const entries = Object.keys(results[suite] ?? {}).filter((e) => labels[e]);
    md.push(`## ${info.title} (${info.metric})`);
    md.push('');
    md.push(info.what + '.');
    md.push('');
    if (notes[suite]) {
      md.push(`Note: ${notes[suite]}`);
      md.push('');
    }
    if (entries.length) {
      const ordered = Object.keys(labels).filter((e) => entries.includes(e));
      md.push(table(['server', `median ${info.metric}`, 'rounds', info.lowerBetter ? 'its p99 / ringleader p99' : 'ringleader / it'], suiteRows(suite, ordered, labels)));
      md.push('');
      if (suite === 'openloop') {
        md.push(
          table(
            ['server', 'median p50 us', 'median achieved msgs/s'],
            ordered.map((e) => [labels[e].label, human(med(suite, e, 'p50')), human(med(suite, e, 'achieved'))]),
          ),
        );
        md.push('');
      }
      if (suite === 'churn' && med('churn', 'ringleader', 'handoffP50') !== null) {
        md.push(
          `ringleader hand-off latency (accept CQE to worker ring, from \`ringleader echo --json\`): p50 ${human(med('churn', 'ringleader', 'handoffP50'))} us, p99 ${human(med('churn', 'ringleader', 'handoffP99'))} us (medians over rounds).`,
        );
        md.push('');
      }
      const file = `${stamp}-${suite}.svg`;
      const bars = ordered.map((e) => {
        const v = med(suite, e);
        const r = e === 'ringleader' ? null : info.lowerBetter ? ratio(v, med(suite, 'ringleader')) : ratio(med(suite, 'ringleader'), v);
        return { label: labels[e].label, value: v, highlight: labels[e].highlight, note: v === null ? 'failed' : r === null ? '' : `(ringleader ${fmtRatio(r)})` };
      });
      writeFileSync(
        join(opts.out, file),
        barChart({
          title: `${info.title}: ${info.metric}`,
          subtitle: `${opts.quick ? 'quick run, ' : ''}median of ${cfg.rounds} round(s), ${day}${info.lowerBetter ? ', lower is better' : ''}`,
          unit: info.metric,
          bars,
        }),
      );
      svgs.push(file);
      md.push(`![${info.title}](${file})`);
      md.push('');
    }
    if (suite === 'echo64' && agreement.length) {
      md.push('### Load drivers: ringleader stress vs bench/peers/loadgen');
      md.push('');
      md.push('Both drive the same server process in turn (100 connections, 64 B, 1 thread on the load CPU).');
      md.push('');
      md.push(
        table(
          ['server', 'stress msgs/s', 'loadgen msgs/s', 'stress / loadgen', 'within 10%'],
          agreement.map((a) => [a.label, human(a.stress), human(a.loadgen), fmtRatio(a.ratio), a.agree]),
        ),
      );
      md.push('');
    }
  }
  if (js?.suites) {
    md.push('## JS handler path');
    md.push('');
    md.push('`bench/js-handler.mjs`: every server pinned to one CPU (ringleader with one worker), load on the other; echo driven by bench/peers/loadgen (100 connections, 64 B), HTTP by wrk -c 100.');
    md.push('');
    for (const suite of Object.values(js.suites)) {
      md.push(
        table(
          ['server', `median ${suite.unit}`, 'rounds'],
          Object.entries(suite.median).map(([k, v]) => [k, v === null ? 'failed' : human(v), (suite.samples[k] ?? []).map((x) => human(x)).join(' / ')]),
        ),
      );
      md.push('');
    }
  } else if (notes.js) {
    md.push('## JS handler path');
    md.push('');
    md.push(`Note: ${notes.js}`);
    md.push('');
  }
  if (stress?.cases) {
    md.push('## ringleader stress as a protocol load generator');
    md.push('');
    md.push(
      `\`bench/stress-protocols.mjs\`: the server (nginx, redis-server) pinned to one CPU, the load generator to the other; load average ${stress.loadavg.join(' ')} at the start. Medians of ${stress.rounds} round(s), min-max in brackets; client CPU is user + system time over every request of the run.`,
    );
    md.push('');
    const mm = (x, f) => (x ? `${f(x.median)} [${f(x.min)}-${f(x.max)}]` : 'failed');
    const rows = stress.cases.flatMap((c) =>
      Object.entries(c.generators).map(([g, v]) => [`${c.suite} ${c.name}`, g, mm(v.rps, human), mm(v.cpuUsPerReq, (x) => x.toFixed(2)), g === 'ringleader' ? fmtRatio(c.ratio) : '-']),
    );
    md.push(table(['case', 'generator', 'req/s', 'client CPU us/req', 'ringleader / other'], rows));
    md.push('');
  } else if (notes.stress) {
    md.push(`## ringleader stress as a protocol load generator\n\nNote: ${notes.stress}\n`);
  }
  md.push('## Caveats');
  md.push('');
  md.push('- Loopback only: client and server share the kernel and memory bandwidth; zero-copy sends are always copied on loopback.');
  md.push('- The load average above says how busy the machine was when the run began; other work on the machine moves these numbers.');
  md.push('- Ratios are of medians; with one round (`--quick`) there is no spread to judge noise by.');
  md.push('');
  const mdPath = join(opts.out, `${stamp}.md`);
  writeFileSync(mdPath, md.join('\n'));
  return { mdPath, svgs, text: md.join('\n') };
}

// ------------------------------------------------------------------ main

async function main() {
  if (!existsSync(CLI)) {
    process.stderr.write('bench: packages/cli/dist/bin.js is missing: run `pnpm build` (or `pnpm bench`, which sets up first)\n');
    process.exit(1);
  }
  const built = spawnSync('sh', [join(PEERS, 'build.sh')], { encoding: 'utf8' });
  if (built.status !== 0) {
    process.stderr.write(`bench: building the C peers failed:\n${built.stderr}\n`);
    process.exit(1);
  }
  const m = machine();
  const startedAt = new Date();
  say(`ringleader bench${opts.quick ? ' --quick' : ''}: ${cfg.rounds} round(s), ${cfg.warmup}s warmup + ${cfg.duration}s per load; ${m.cpus} CPUs, kernel ${m.kernel}, load average ${m.loadavg}`);
  if (!PIN) say(`  note: running unpinned (${HAVE_TASKSET ? 'fewer than 2 CPUs' : 'taskset not found'})`);
  const t0 = Date.now();
  for (let round = 0; round < cfg.rounds; round++) {
    say(`round ${round + 1}/${cfg.rounds}`);
    if (wanted('echo64')) await suiteEcho64(round);
    if (wanted('echo16k')) await suiteEcho16k(round);
    if (wanted('churn')) await suiteChurn(round);
    if (wanted('openloop')) await suiteOpenLoop(round);
    if (wanted('proxy')) await suiteProxy(round);
  }
  const js = wanted('js') ? await suiteScript('js', 'js-handler.mjs', true) : null;
  const stress = wanted('stress') ? await suiteScript('stress', 'stress-protocols.mjs', false) : null;
  const elapsedS = (Date.now() - t0) / 1000;

  const targets = [];
  if (wanted('echo64')) {
    targets.push(target('issue 2 echo: ringleader / Node net (64 B msgs/s)', ratio(med('echo64', 'ringleader'), med('echo64', 'node')), '>=', 1.3));
    targets.push(target('issue 2 echo: ringleader / C epoll peer (64 B msgs/s)', ratio(med('echo64', 'ringleader'), med('echo64', 'epoll')), '>=', 0.8));
  }
  if (wanted('churn')) {
    targets.push(target('issue 3 accept: ringleader / Node cluster 2 workers (conns/s)', ratio(med('churn', 'ringleader'), med('churn', 'cluster')), '>=', 2));
    targets.push(target('issue 3 accept: ringleader / C epoll peer (conns/s)', ratio(med('churn', 'ringleader'), med('churn', 'epoll')), '>=', 0.9));
    targets.push(target('issue 3 accept: hand-off latency p50', med('churn', 'ringleader', 'handoffP50'), '<=', 10, 'us'));
  }
  const agreement = [];
  if (wanted('echo64')) {
    for (const e of ECHO_SERVERS) {
      const s = med('echo64', e);
      const l = med('drivers', e);
      const r = ratio(s, l);
      agreement.push({ label: SERVERS[e].label, stress: s, loadgen: l, ratio: r, agree: r === null ? 'n/a' : Math.abs(r - 1) <= 0.1 ? 'yes' : 'no' });
    }
    const all = agreement.filter((a) => a.ratio !== null);
    targets.push({
      name: 'load drivers agree within 10% (stress vs loadgen, echo 64 B)',
      shown: `${all.filter((a) => a.agree === 'yes').length} of ${all.length} servers`,
      want: 'all',
      status: all.length && all.every((a) => a.agree === 'yes') ? 'met' : all.length ? 'NOT met' : 'not measured',
    });
  }
  if (js?.suites) {
    for (const [name, label] of [
      ['echo', 'JS echo handler / Node net (64 B msgs/s)'],
      ['http', 'examples/http-hello / node:http (wrk req/s)'],
    ]) {
      const t = js.suites[name]?.target;
      if (t) targets.push(target(`issue 6 ${label}`, t.measured, '>=', t.ratio));
    }
  }
  for (const c of stress?.cases ?? []) targets.push(target(`issue 11 stress ${c.suite} ${c.name}: ringleader / ${c.base} (req/s)`, c.ratio, '>=', c.target));
  const rep = writeReport(m, startedAt, elapsedS, targets, agreement, js, stress);
  say('');
  say(rep.text);
  say('');
  say(`bench: wrote ${relative(ROOT, rep.mdPath)}${rep.svgs.length ? ` and ${rep.svgs.length} chart(s)` : ''} in ${elapsedS.toFixed(0)} s`);
}

runMain('bench', main);
