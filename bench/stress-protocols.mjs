#!/usr/bin/env node
// `ringleader stress` as a load generator for real protocols, against the
// tools people use today, same run, same target (issue 11):
//
//   http:  ringleader stress http://... -t1 -c100  vs  wrk -t1 -c100, against nginx
//                                                   target: >= 1.2x wrk's req/s
//   redis: ringleader stress redis://... -c50      vs  redis-benchmark -c 50,
//          PING and SET, not pipelined and -P 16, against redis-server
//                                                   target: >= 1.2x redis-benchmark
//
// The target server runs pinned to CPU 0 (`taskset -c 0`), the load
// generator to CPU 1. Besides requests per second, each run reports the load
// generator's CPU per request: its user + system time (from the shell's
// `times`, so every thread and the whole life of the process count,
// ringleader's Node start-up included) over the requests it completed. Rounds
// alternate the generators; medians, the spread (min-max) and ratios are
// reported. For ringleader, the CPU of its Node start-up (~0.2 s, which
// would dominate a short run) is also left out: its own report
// (clientCpu, process.cpuUsage() from the start of the load to the last
// close) is used; wrk's and redis-benchmark's start-up is a few ms.
//
//   node bench/stress-protocols.mjs [--suite http,redis] [--rounds 3] [--duration 5] [--json]
//
// Exit status: 0 when every run completed without errors (met or not: the
// targets are reported, not enforced), 1 when a run failed, 2 on bad options.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { busyShare, cpuJiffies } from './lib/cpu.mjs';
import { children, freePort, runCapture, waitConnectable } from './lib/proc.mjs';
import { cliArgs, need, needBuiltCli, pinning, ROOT, scriptOptions } from './lib/script.mjs';

const o = scriptOptions('stress-protocols', 'node bench/stress-protocols.mjs [--suite http,redis] [--rounds 3] [--duration 5] [--json]', ['http', 'redis']);
const log = (s) => (o.json ? process.stderr : process.stdout).write(s + '\n');
const { canPin, pinned } = pinning('stress-protocols', log);
needBuiltCli('stress-protocols');
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
if (o.suites.includes('http')) {
  need('stress-protocols', 'wrk', 'install it (apt-get install wrk, or sh scripts/setup.sh --test)');
  if (!NGINX) need('stress-protocols', 'nginx', 'install nginx-light (sh scripts/setup.sh --test)');
}
if (o.suites.includes('redis')) {
  need('stress-protocols', 'redis-server', 'install redis-server (sh scripts/setup.sh --test)');
  need('stress-protocols', 'redis-benchmark', 'install redis-tools (sh scripts/setup.sh --test)');
}

process.on('exit', () => {
  for (const p of children) p.kill('SIGKILL');
});

/** a target server pinned to CPU 0 */
async function startServer(kind) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `rl-bench-${kind}-`));
  let cmd;
  let args;
  if (kind === 'nginx') {
    mkdirSync(join(dir, 'tmp'));
    const t = (k) => `${k} ${dir}/tmp;`;
    writeFileSync(
      join(dir, 'nginx.conf'),
      `daemon off; master_process off; worker_processes 1; pid ${dir}/pid; error_log ${dir}/error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; ${['client_body_temp_path', 'proxy_temp_path', 'fastcgi_temp_path', 'uwsgi_temp_path', 'scgi_temp_path'].map(t).join(' ')}
  server { listen 127.0.0.1:${port}; location / { return 200 "hello\\n"; } } }
`,
    );
    [cmd, args] = [NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')]];
  } else {
    [cmd, args] = ['redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]];
  }
  const [c, a] = pinned(0, cmd, args);
  const p = spawn(c, a, { stdio: 'ignore' });
  children.add(p);
  await waitConnectable(port, 10_000, { p, stderr: () => '' });
  return {
    port,
    pid: p.pid,
    stop: async () => {
      p.kill('SIGTERM');
      await new Promise((r) => (p.exitCode !== null ? r() : p.once('exit', r)));
      children.delete(p);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** run a load generator pinned to CPU 1; its CPU time (all threads, whole life) from the shell's `times` */
async function runLoad(cmd, args, timeoutMs) {
  const [c, a] = pinned(1, cmd, args);
  const r = await runCapture('sh', ['-c', '"$@"; s=$?; times >&2; exit $s', 'sh', c, ...a], timeoutMs, { cwd: ROOT });
  // `times`: the shell's own user/system, then its children's
  const lines = r.stderr.trim().split('\n');
  const secs = (s) => {
    const m = /^(\d+)m([\d.]+)s$/.exec(s);
    return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
  };
  const [u, s] = (lines.pop() ?? '').trim().split(/\s+/).map(secs);
  return { code: r.code, stdout: r.stdout, stderr: lines.join('\n'), cpuS: u + s };
}

/** ringleader stress --json: req/s in the window, CPU over every request of the run */
async function ringleader(target, extra, limitS) {
  const r = await runLoad(process.execPath, cliArgs('stress', target, '--json', ...extra), (limitS + 60) * 1000);
  let j;
  try {
    j = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    throw new Error(`ringleader stress printed no JSON (exit ${r.code}): ${(r.stderr.trim() || r.stdout.trim() || 'no output').slice(0, 400)}`);
  }
  if (!j.ok) throw new Error(`ringleader stress: ${j.failures.join('; ')}`);
  return { rps: j.throughput.requestsPerSec, cpuUsPerReq: j.clientCpu.usPerMessage, cpuWithStartUs: (r.cpuS * 1e6) / j.messages.verified, p99us: j.latencyUs?.p99 };
}

async function wrk(url) {
  const r = await runLoad('wrk', ['-t1', '-c100', `-d${o.duration}s`, '--latency', url], (o.duration + 60) * 1000);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  const total = /(\d+) requests in/.exec(r.stdout);
  if (r.code !== 0 || !rps || !total) throw new Error(`wrk failed (exit ${r.code}): ${r.stderr.trim() || r.stdout}`);
  if (/Non-2xx or 3xx responses|Socket errors/.test(r.stdout)) throw new Error(`wrk reported errors:\n${r.stdout}`);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(r.stdout);
  return { rps: Number(rps[1]), cpuUsPerReq: (r.cpuS * 1e6) / Number(total[1]), p99us: p99 ? Number(p99[1]) * { us: 1, ms: 1000, s: 1e6 }[p99[2]] : undefined };
}

async function redisBenchmark(port, test, pipeline, n) {
  const r = await runLoad('redis-benchmark', ['-p', String(port), '-c', '50', '-n', String(n), '-P', String(pipeline), '-t', test, '--csv'], 10 * 60_000);
  const line = r.stdout
    .trim()
    .split('\n')
    .find((l) => /^"(PING_MBULK|PING_BULK|SET)"/.test(l));
  const rps = line ? Number(line.split(',')[1].replace(/"/g, '')) : NaN;
  if (r.code !== 0 || !(rps > 0)) throw new Error(`redis-benchmark failed (exit ${r.code}): ${r.stderr.trim() || r.stdout}`);
  return { rps, cpuUsPerReq: (r.cpuS * 1e6) / n };
}

/** Busy share of the server's CPU (0) from 1 s into a timed load to 0.5 s before its end (both generators load by then), or null. */
async function serverCpuBusy(durationS) {
  if (!canPin || durationS < 2) return null;
  await sleep(1000);
  const a = cpuJiffies(0);
  await sleep((durationS - 1.5) * 1000);
  return busyShare(a, cpuJiffies(0));
}

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** every comparison: [suite, case, server, generators] */
function cases() {
  const out = [];
  if (o.suites.includes('http')) {
    out.push({
      suite: 'http',
      name: 'GET / (nginx return 200)',
      server: 'nginx',
      gens: {
        wrk: (port) => wrk(`http://127.0.0.1:${port}/`),
        ringleader: (port) => ringleader(`http://127.0.0.1:${port}/`, ['-t', '1', '-c', '100', '-d', `${o.duration}s`, '--warmup', '0'], o.duration),
      },
    });
  }
  if (o.suites.includes('redis')) {
    for (const [test, bench] of [
      ['ping_mbulk', 'ping_mbulk'],
      ['set', 'set'],
    ]) {
      for (const pipeline of [1, 16]) {
        // redis-benchmark runs a request count: size it to about the duration at a plausible rate
        const n = (pipeline > 1 ? 300_000 : 30_000) * o.duration;
        out.push({
          suite: 'redis',
          name: `${test.toUpperCase()} -P ${pipeline}`,
          server: 'redis',
          gens: {
            'redis-benchmark': (port) => redisBenchmark(port, bench, pipeline, n),
            ringleader: (port) => ringleader(`redis://127.0.0.1:${port}`, ['-t', test, '-c', '50', '-P', String(pipeline), '-n', String(n), '--threads', '1'], o.duration * 10),
          },
        });
      }
    }
  }
  return out;
}

const report = { pinned: canPin, loadavg: loadavg().map((x) => Number(x.toFixed(2))), rounds: o.rounds, duration: o.duration, cases: [] };
let failed = false;
for (const c of cases()) {
  const samples = Object.fromEntries(Object.keys(c.gens).map((g) => [g, []]));
  for (let round = 0; round < o.rounds; round++) {
    const order = Object.keys(c.gens);
    if (round % 2) order.reverse();
    for (const g of order) {
      const srv = await startServer(c.server);
      try {
        // how busy the server's CPU was: near 1 means the server set the
        // pace for both generators, and their ratio cannot exceed what it
        // has left (timed runs only; redis-benchmark runs a request count)
        const busy = c.suite === 'http' ? serverCpuBusy(o.duration) : Promise.resolve(null);
        const r = await c.gens[g](srv.port);
        r.serverBusy = await busy;
        samples[g].push(r);
        const sb = r.serverBusy === null ? '' : `, server CPU ${(r.serverBusy * 100).toFixed(0)}% busy`;
        log(`${c.suite} ${c.name} round ${round + 1}/${o.rounds} ${g}: ${Math.round(r.rps)} req/s, ${r.cpuUsPerReq.toFixed(2)} us CPU/req${sb}`);
      } catch (e) {
        failed = true;
        log(`${c.suite} ${c.name} round ${round + 1}/${o.rounds} ${g}: FAILED: ${e.message}`);
      } finally {
        await srv.stop();
      }
    }
  }
  const stat = (g, k) => {
    const v = samples[g].map((s) => s[k]).filter((x) => Number.isFinite(x));
    return v.length ? { median: median(v), min: Math.min(...v), max: Math.max(...v) } : null;
  };
  const gens = Object.fromEntries(Object.keys(c.gens).map((g) => [g, { rps: stat(g, 'rps'), cpuUsPerReq: stat(g, 'cpuUsPerReq'), serverBusy: stat(g, 'serverBusy') }]));
  const base = Object.keys(c.gens).find((g) => g !== 'ringleader');
  const ratio = gens.ringleader.rps && gens[base].rps ? gens.ringleader.rps.median / gens[base].rps.median : null;
  report.cases.push({ suite: c.suite, name: c.name, base, generators: gens, ratio, target: 1.2, met: ratio !== null && ratio >= 1.2 });
  log(`  ${c.suite} ${c.name}: ringleader / ${base} = ${ratio === null ? 'n/a' : ratio.toFixed(2)}x (target >= 1.2x: ${ratio !== null && ratio >= 1.2 ? 'met' : 'NOT met'})`);
}
if (o.json) process.stdout.write(JSON.stringify(report) + '\n');
process.exit(failed ? 1 : 0);
