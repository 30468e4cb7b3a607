#!/usr/bin/env node
// pnpm bench [--quick] [--rounds N] [--duration S] [--warmup S] [--only a,b] [--out DIR]
//
// Runs the benchmark suites side by side in one run: every server pinned to
// one CPU, the load pinned to another (taskset), several rounds with the
// servers in rotating order, medians and ratios, and for every server the
// CPU it used per operation (bench/lib/cpu.mjs). The load driver is
// `ringleader stress`; the independent C client bench/peers/loadgen drives
// the echo suite as well, and the report says whether the two agree within
// 10%. bench/README.md describes every suite, column and target.
//
// Suites
//   echo64    64 B ping-pong, 100 connections (issue 2 and 12 targets)
//   echo16k   16 KiB ping-pong, 32 connections, MiB/s
//   pingpong  64 B ping-pong over one connection (issue 12 light load)
//   churn     connect + 64 B echo + close, 32 clients over 127.0.0.1-16,
//             connections/s, plus ringleader's hand-off latency (issue 3)
//   openloop  p50/p99 at a fixed 20k msgs/s (latency from the schedule)
//   memory    RSS per idle connection, 60,000 held (bench/soak's idle check)
//   proxy     ringleader proxy vs HAProxy vs nginx stream in front of the C
//             epoll echo peer (skipped with a note while `ringleader proxy`
//             does not exist)
//   placement what a JS placement function costs per accept
//             (bench/placement.mjs): churn against p2c, source-hash, () => 0
//             and a function reading conn.workers
//   js        the JS handler path (bench/js-handler.mjs): JS echo handler vs
//             Node net, examples/http-hello vs node:http under wrk
//   stress    ringleader stress as a protocol load generator
//             (bench/stress-protocols.mjs): vs wrk -t1 -c100 against nginx,
//             vs redis-benchmark -c 50 (PING, SET, -P 1 and 16) against
//             redis-server; req/s and client CPU per request
//
// Writes bench/results/<date>[-quick].md (+ .json with every round's
// figures) and one SVG chart per section, and prints the tables. --quick (1
// round, short runs) takes two to three minutes on a 2-CPU machine.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { runMain } from './lib/proc.mjs';
import { cfg, CLI, med, notes, PEERS, PIN, HAVE_TASKSET, ROOT, say, wanted } from './lib/harness.mjs';
import { machine, ratio, target, writeReport } from './report.mjs';
import { ECHO_SERVERS, SERVERS, suiteChurn, suiteEcho16k, suiteEcho64, suiteOpenLoop, suitePingPong } from './suites/echo.mjs';
import { MEMORY_GOAL_BYTES, suiteMemory } from './suites/memory.mjs';
import { suiteProxy } from './suites/proxy.mjs';

// ------------------------------------------------------------------ options

const SUITES = ['echo64', 'echo16k', 'pingpong', 'churn', 'openloop', 'proxy', 'memory', 'placement', 'js', 'stress'];

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

const opts = parseArgs(process.argv.slice(2));
if (opts.only) for (const s of opts.only) if (!SUITES.includes(s)) usage(`unknown suite ${s}`);
Object.assign(cfg, {
  quick: opts.quick,
  only: opts.only,
  out: opts.out,
  rounds: opts.rounds ?? (opts.quick ? 1 : 3),
  warmup: opts.warmup ?? (opts.quick ? 0.5 : 2),
  duration: opts.duration ?? (opts.quick ? 2 : 8),
});

// ------------------------------------------------------------------ scripts

/** A suite run by its own script (bench/js-handler.mjs, bench/stress-protocols.mjs, bench/placement.mjs) with the same rounds and times; its JSON report. */
async function suiteScript(name, script, withWarmup, maxDuration = Infinity) {
  if (!existsSync(join(ROOT, 'bench', script))) return null;
  say(`${name}: bench/${script}`);
  const args = [join(ROOT, 'bench', script), '--json', '--rounds', String(cfg.rounds), '--duration', String(Math.max(1, Math.round(Math.min(cfg.duration, maxDuration))))];
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

// ------------------------------------------------------------------ targets

function targets(scripts) {
  const t = [];
  const perCpu = (key, a, b) => ratio(med(key, a, 'perCpuS'), med(key, b, 'perCpuS'));
  if (wanted('echo64')) {
    t.push(target('issue 2 echo: ringleader / Node net (64 B msgs/s)', ratio(med('echo64', 'ringleader'), med('echo64', 'node')), '>=', 1.3));
    t.push(target('issue 2 echo: ringleader / C epoll peer (64 B msgs/s)', ratio(med('echo64', 'ringleader'), med('echo64', 'epoll')), '>=', 0.8));
    t.push(target('issue 12 server CPU, full load: ringleader / C epoll msgs per server CPU-s (echo 64 B, 100 conns)', perCpu('echo64', 'ringleader', 'epoll'), '>=', 1.2));
  }
  if (wanted('pingpong')) t.push(target('issue 12 server CPU, light load: ringleader / C epoll msgs per server CPU-s (1 connection ping-pong)', perCpu('pingpong', 'ringleader', 'epoll'), '>=', 1.2));
  if (wanted('openloop')) {
    t.push(target('issue 12 server CPU, light load: ringleader / C epoll msgs per server CPU-s (open loop 20k msgs/s)', perCpu('openloop', 'ringleader', 'epoll'), '>=', 1.2));
    t.push(target('issue 12 open loop 20k msgs/s: ringleader p99 / C epoll p99', ratio(med('openloop', 'ringleader'), med('openloop', 'epoll')), '<=', 1.2));
  }
  if (wanted('echo16k')) {
    t.push(target('issue 12 echo 16 KiB: ringleader / C epoll msgs per server CPU-s', perCpu('echo16k', 'ringleader', 'epoll'), '>=', 1.2));
    t.push(target('issue 12 echo 16 KiB: ringleader / C epoll (MiB/s)', ratio(med('echo16k', 'ringleader'), med('echo16k', 'epoll')), '>=', 1.0));
  }
  if (wanted('churn')) {
    t.push(target('issue 3 accept: ringleader / Node cluster 2 workers (conns/s)', ratio(med('churn', 'ringleader'), med('churn', 'cluster')), '>=', 2));
    t.push(target('issue 3 accept: ringleader / C epoll peer (conns/s)', ratio(med('churn', 'ringleader'), med('churn', 'epoll')), '>=', 0.9));
    t.push(target('issue 3 accept: hand-off latency p50 (32 clients)', med('churn', 'ringleader', 'handoffP50'), '<=', 10, 'us'));
    t.push(target('issue 12 hand-off, 1 churning client: p50', med('churn1', 'ringleader', 'handoffP50'), '<=', 10, 'us'));
    t.push(target('issue 12 hand-off, 1 churning client: p99 / wake floor p99 (same run)', ratio(med('churn1', 'ringleader', 'handoffP99'), med('wakefloor', 'floor', 'p99')), '<=', 1.5));
    t.push(target('issue 12 acceptor thread CPU per accepted connection (32 clients)', med('churn', 'ringleader', 'acceptorUs'), '<=', 2, 'us'));
    t.push(target('issue 12 hand-off, 32 churning clients: p99', med('churn', 'ringleader', 'handoffP99'), '<', 200, 'us'));
  }
  if (wanted('proxy')) {
    for (const [key, what] of [
      ['proxy', '64 B (msgs/s)'],
      ['proxy16k', '16 KiB (MiB/s)'],
      ['proxybulk', 'bulk (MiB/s)'],
    ])
      t.push(target(`issue 12 proxy ${what}: ringleader / HAProxy nbthread 1`, ratio(med(key, 'ringleader'), med(key, 'haproxy')), '>=', 1.2));
  }
  if (wanted('memory'))
    t.push(target(`issue 12 memory: user-space RSS per idle connection (${med('memory', 'ringleader', 'conns') ?? '-'} held)`, med('memory', 'ringleader'), '<=', MEMORY_GOAL_BYTES, 'B'));
  for (const [name, label] of [
    ['echo', 'JS echo handler / Node net (64 B msgs/s)'],
    ['http', 'examples/http-hello / node:http (wrk req/s)'],
  ]) {
    const x = scripts.js?.suites?.[name]?.target;
    if (x) t.push(target(`issue 6 ${label}`, x.measured, '>=', x.ratio));
  }
  for (const c of scripts.stress?.cases ?? []) t.push(target(`issue 11 stress ${c.suite} ${c.name}: ringleader / ${c.base} (req/s)`, c.ratio, '>=', c.target));
  return t;
}

/** Per echo server: whether ringleader stress and bench/peers/loadgen measured it within 10% of each other. */
function driverAgreement(t) {
  const agreement = [];
  if (!wanted('echo64')) return agreement;
  for (const e of ECHO_SERVERS) {
    const s = med('echo64', e);
    const l = med('drivers', e);
    const r = ratio(s, l);
    agreement.push({ label: SERVERS[e].label, stress: s, loadgen: l, ratio: r, agree: r === null ? 'n/a' : Math.abs(r - 1) <= 0.1 ? 'yes' : 'no' });
  }
  const all = agreement.filter((a) => a.ratio !== null);
  t.push({
    name: 'load drivers agree within 10% (stress vs loadgen, echo 64 B)',
    shown: `${all.filter((a) => a.agree === 'yes').length} of ${all.length} servers`,
    want: 'all',
    status: all.length && all.every((a) => a.agree === 'yes') ? 'met' : all.length ? 'NOT met' : 'not measured',
  });
  return agreement;
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
  say(`ringleader bench${cfg.quick ? ' --quick' : ''}: ${cfg.rounds} round(s), ${cfg.warmup}s warmup + ${cfg.duration}s per load; ${m.cpus} CPUs, kernel ${m.kernel}, load average ${m.loadavg}`);
  if (!PIN) say(`  note: running unpinned (${HAVE_TASKSET ? 'fewer than 2 CPUs' : 'taskset not found'})`);
  const t0 = Date.now();
  const perRound = [
    ['echo64', suiteEcho64],
    ['echo16k', suiteEcho16k],
    ['pingpong', suitePingPong],
    ['churn', suiteChurn],
    ['openloop', suiteOpenLoop],
    ['proxy', suiteProxy],
    ['memory', suiteMemory],
  ];
  for (let round = 0; round < cfg.rounds; round++) {
    say(`round ${round + 1}/${cfg.rounds}`);
    for (const [name, fn] of perRound) if (wanted(name)) await fn(round);
  }
  const scripts = {
    js: wanted('js') ? await suiteScript('js', 'js-handler.mjs', true) : null,
    stress: wanted('stress') ? await suiteScript('stress', 'stress-protocols.mjs', false) : null,
    // 4 s loads: 4 modes x rounds would otherwise add ~2 minutes to a full run
    placement: wanted('placement') ? await suiteScript('placement', 'placement.mjs', false, 4) : null,
  };
  const elapsedS = (Date.now() - t0) / 1000;
  const t = targets(scripts);
  const agreement = driverAgreement(t);
  const rep = writeReport(m, startedAt, elapsedS, t, agreement, scripts);
  say('');
  say(rep.text);
  say('');
  say(`bench: wrote ${relative(ROOT, rep.mdPath)} (+ .json)${rep.svgs.length ? ` and ${rep.svgs.length} chart(s)` : ''} in ${elapsedS.toFixed(0)} s`);
}

runMain('bench', main);
