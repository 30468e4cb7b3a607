#!/usr/bin/env node
// The cost of the JS handler path, against Node's own servers, same run:
//
//   echo: ringleader's JS echo handler vs Node `net` echo (and ringleader's
//         native echo for scale), 64 B ping-pong over 100 connections,
//         driven by bench/peers/bin/loadgen           target: JS >= 1.5x net
//   http: examples/http-hello vs a node:http hello server, wrk -c 100
//                                                      target: >= 2x node:http
//
// Every server runs pinned to CPU 0 (`taskset -c 0`; ringleader with one
// worker, so its acceptor and worker share that CPU) and the load generator
// to CPU 1. Rounds alternate the servers so drift hits them alike; medians
// and ratios are reported, and whether each target is met, with each
// server's CPU per message / request over the measured window (user +
// system time of its process group from /proc, bench/lib/cpu.mjs).
//
//   node bench/js-handler.mjs [--suite echo,http] [--rounds 3] [--duration 5]
//                             [--warmup 1] [--connections 100] [--size 64] [--json]
//
// Exit status: 0 when every run completed without errors (met or not: the
// targets are reported, not enforced), 1 when a run failed, 2 on bad options.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadWithCpu, perOp } from './lib/cpu.mjs';
import { children, killChildren, runCapture } from './lib/proc.mjs';
import { cliArgs, need, needBuiltCli, pinning, ROOT, scriptOptions } from './lib/script.mjs';

const LOADGEN = join(ROOT, 'bench/peers/bin/loadgen');

const o = scriptOptions('js-handler', 'node bench/js-handler.mjs [--suite echo,http] [--rounds 3] [--duration 5] [--warmup 1] [--connections 100] [--size 64] [--json]', ['echo', 'http'], {
  warmup: [1, 0],
  connections: [100, 1],
  size: [64, 1],
});
const log = (s) => (o.json ? process.stderr : process.stdout).write(s + '\n');
const { canPin, pinned } = pinning('js-handler', log);
needBuiltCli('js-handler');
// the servers run in their own process groups: end them with this script
process.on('exit', killChildren);
if (o.suites.includes('echo') && !existsSync(LOADGEN)) {
  const b = spawnSync('sh', [join(ROOT, 'bench/peers/build.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (b.status !== 0 || !existsSync(LOADGEN)) {
    process.stderr.write('js-handler: could not build bench/peers/bin/loadgen (sh bench/peers/build.sh)\n');
    process.exit(1);
  }
}
if (o.suites.includes('http')) need('js-handler', 'wrk', 'install it (Debian: apt-get install wrk, or sh scripts/setup.sh --test)');

/** Start a server pinned to CPU 0; resolves with its port and a stop(). */
function startServer(cmd, args) {
  return new Promise((resolve, reject) => {
    const [c, a] = pinned(0, cmd, args);
    // its own process group, whose CPU time is the server's (bench/lib/cpu.mjs)
    const p = spawn(c, a, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    children.add(p);
    p.on('close', () => children.delete(p));
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: no port after 15 s\n${err}`));
    }, 15000);
    const stop = () =>
      new Promise((r) => {
        if (p.exitCode !== null || p.signalCode !== null) return r();
        const k = setTimeout(() => p.kill('SIGKILL'), 5000);
        p.once('exit', () => {
          clearTimeout(k);
          r();
        });
        p.kill('SIGTERM');
      });
    p.stdout.on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out) ?? /"event":"listening"[^\n]*"port":(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        p.stdout.removeAllListeners('data');
        p.stdout.resume();
        resolve({ port: Number(m[1]), pgid: p.pid, stop });
      }
    });
    p.stderr.on('data', (d) => (err += d));
    p.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} ${args.join(' ')} exited (${code})\n${err}`));
    });
  });
}

function run(cmd, args, timeoutMs) {
  const [c, a] = pinned(1, cmd, args);
  return runCapture(c, a, timeoutMs, { cwd: ROOT });
}

async function echoLoad(port, pgid) {
  // loadgen starts at once: its measured time is [warmup, warmup + duration]
  const { r, util } = await loadWithCpu(
    pgid,
    () =>
      run(
        LOADGEN,
        ['--port', String(port), '--connections', String(o.connections), '--size', String(o.size), '--duration', String(o.duration), '--warmup', String(o.warmup), '--json'],
        (o.duration + o.warmup + 30) * 1000,
      ),
    o.warmup + 0.1,
    o.warmup + o.duration - 0.1,
  );
  let j;
  try {
    j = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    throw new Error(`loadgen failed (exit ${r.code}): ${r.stderr.trim()}`);
  }
  const errors = Object.values(j.errors ?? {}).reduce((a, b) => a + b, 0) + (j.verify_failures ?? 0);
  if (r.code !== 0 || errors) throw new Error(`loadgen reported errors: ${JSON.stringify(j.errors)} verify_failures ${j.verify_failures}`);
  return { value: j.msgs_per_s, p99us: j.latency_us?.p99, util };
}

async function httpLoad(port, pgid) {
  const url = `http://127.0.0.1:${port}/`;
  if (o.warmup) await run('wrk', ['-t1', `-c${o.connections}`, `-d${o.warmup}s`, url], (o.warmup + 30) * 1000);
  const { r, util } = await loadWithCpu(pgid, () => run('wrk', ['-t1', `-c${o.connections}`, `-d${o.duration}s`, '--latency', url], (o.duration + 30) * 1000), 0.1, o.duration - 0.1);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  if (r.code !== 0 || !rps) throw new Error(`wrk failed (exit ${r.code}): ${r.stderr.trim() || r.stdout}`);
  if (/Non-2xx or 3xx responses|Socket errors/.test(r.stdout)) throw new Error(`wrk reported errors:\n${r.stdout}`);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(r.stdout);
  const p99us = p99 ? Number(p99[1]) * { us: 1, ms: 1000, s: 1e6 }[p99[2]] : undefined;
  return { value: Number(rps[1]), p99us, util };
}

const rl = (extra) => cliArgs(...extra, '--workers', '1', '--port', '0', '--json', '--interval', '1h');
const SUITES = {
  echo: {
    unit: 'msgs/s',
    op: 'msg',
    load: echoLoad,
    servers: [
      { name: 'node-net', cmd: process.execPath, args: [join(ROOT, 'bench/peers/node-echo.mjs'), '--port', '0'] },
      { name: 'ringleader-js', cmd: process.execPath, args: rl(['echo', '--js']) },
      { name: 'ringleader-native', cmd: process.execPath, args: rl(['echo']) },
    ],
    target: { name: 'ringleader-js', base: 'node-net', ratio: 1.5 },
  },
  http: {
    unit: 'req/s',
    op: 'req',
    load: httpLoad,
    servers: [
      { name: 'node-http', cmd: process.execPath, args: [join(ROOT, 'examples/http-hello/node-http.js'), '0'] },
      { name: 'ringleader-http-hello', cmd: process.execPath, args: rl(['serve', join(ROOT, 'examples/http-hello/handler.js')]) },
    ],
    target: { name: 'ringleader-http-hello', base: 'node-http', ratio: 2 },
  },
};

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const report = { pinned: canPin, rounds: o.rounds, duration: o.duration, connections: o.connections, size: o.size, suites: {} };
let failed = false;
for (const name of o.suites) {
  const suite = SUITES[name];
  const samples = Object.fromEntries(suite.servers.map((s) => [s.name, []]));
  const p99 = Object.fromEntries(suite.servers.map((s) => [s.name, []]));
  const cpuUs = Object.fromEntries(suite.servers.map((s) => [s.name, []]));
  for (let round = 0; round < o.rounds; round++) {
    for (const s of suite.servers) {
      let srv;
      try {
        srv = await startServer(s.cmd, s.args);
        const r = await suite.load(srv.port, srv.pgid);
        samples[s.name].push(r.value);
        const us = perOp(r.util, r.value).cpuUsPerOp;
        if (us !== null) cpuUs[s.name].push(us);
        if (r.p99us !== undefined) p99[s.name].push(r.p99us);
        log(`${name} round ${round + 1}/${o.rounds} ${s.name}: ${Math.round(r.value)} ${suite.unit}, server CPU ${us?.toFixed(2) ?? 'n/a'} us per ${suite.op}`);
      } catch (e) {
        failed = true;
        log(`${name} round ${round + 1}/${o.rounds} ${s.name}: FAILED: ${e.message}`);
      } finally {
        await srv?.stop();
      }
    }
  }
  const med = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.length ? median(v) : null]));
  const t = suite.target;
  const ratio = med[t.name] && med[t.base] ? med[t.name] / med[t.base] : null;
  report.suites[name] = {
    unit: suite.unit,
    median: med,
    p99us: Object.fromEntries(Object.entries(p99).map(([k, v]) => [k, v.length ? median(v) : null])),
    samples,
    op: suite.op,
    // server CPU (its process group, /proc/PID/stat) per message or request over the measured window
    cpuUs: Object.fromEntries(Object.entries(cpuUs).map(([k, v]) => [k, v.length ? median(v) : null])),
    cpuUsSamples: cpuUs,
    target: { ...t, measured: ratio, met: ratio !== null && ratio >= t.ratio },
  };
  log(`\n${name} (${suite.unit}, median of ${o.rounds}):`);
  for (const [k, v] of Object.entries(med)) log(`  ${k.padEnd(24)} ${v === null ? 'failed' : Math.round(v).toString().padStart(10)}`);
  log(`  ${t.name} / ${t.base} = ${ratio === null ? 'n/a' : ratio.toFixed(2)}x (target >= ${t.ratio}x: ${ratio !== null && ratio >= t.ratio ? 'met' : 'NOT met'})\n`);
}
if (o.json) process.stdout.write(JSON.stringify(report) + '\n');
process.exit(failed ? 1 : 0);
