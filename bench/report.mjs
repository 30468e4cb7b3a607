// The report of `pnpm bench`: the machine, the targets table (met / NOT
// met), one table (and SVG chart) per measured section with the server CPU
// columns, the sections the standalone scripts reported; written as
// <out>/<date>[-quick].md plus the raw results as <date>[-quick].json.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { cfg, HAVE_TASKSET, plural, LOAD_CPU, med, NCPU, notes, PIN, results, SERVER_CPU, tryRun, UPSTREAM_CPU, wanted } from './lib/harness.mjs';
import { PROXIES } from './suites/proxy.mjs';
import { SERVERS } from './suites/echo.mjs';
import { barChart, human } from './svg.mjs';

function firstLine(s) {
  return s ? s.split('\n')[0].trim() : 'not installed';
}

export function machine() {
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

export function ratio(a, b) {
  return a !== null && a !== undefined && b !== null && b !== undefined && b > 0 ? a / b : null;
}

export function fmtRatio(r) {
  return r === null ? 'n/a' : `${r.toFixed(2)}x`;
}

/** A targets-table row: `value` against `want` (op '>=', '<=' or '<'). */
export function target(name, value, op, want, unit = 'x') {
  const has = value !== null && value !== undefined && Number.isFinite(value);
  const met = has && (op === '>=' ? value >= want : op === '<' ? value < want : value <= want);
  const shown = has ? (unit === 'x' ? `${value.toFixed(2)}x` : `${value.toFixed(1)} ${unit}`) : 'n/a';
  return { name, shown, want: `${op} ${want}${unit === 'x' ? 'x' : ` ${unit}`}`, status: has ? (met ? 'met' : 'NOT met') : 'not measured' };
}

function rounds(key, entry, field = 'value') {
  const rs = results[key]?.[entry] ?? [];
  return rs.map((r) => (r.error ? 'failed' : human(r[field]))).join(' / ') || '-';
}

/** "median [min-max]" of `field` over the rounds, '-' when none. */
function spread(key, entry, field, digits = 2) {
  const v = (results[key]?.[entry] ?? []).map((r) => r[field]).filter((x) => Number.isFinite(x));
  if (!v.length) return '-';
  const f = (x) => (x >= 1000 ? human(x) : x.toFixed(digits));
  const m = f(med(key, entry, field));
  return v.length > 1 ? `${m} [${f(Math.min(...v))}-${f(Math.max(...v))}]` : m;
}

export function table(head, rows) {
  const out = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const r of rows) out.push(`| ${r.join(' | ')} |`);
  return out.join('\n');
}

/**
 * The sections measured by run.mjs itself, in report order: result key,
 * the suite (--only name) that measures it, labels of its entries, the
 * metric, and the operation the server CPU is counted per.
 */
export const SECTIONS = [
  {
    key: 'echo64',
    suite: 'echo64',
    labels: SERVERS,
    op: 'msg',
    title: 'echo, 64 B messages',
    metric: 'msgs/s',
    what: '100 connections, closed-loop ping-pong, every echo verified; server on one CPU, load (ringleader stress, 1 thread) on another',
  },
  {
    key: 'echo16k',
    suite: 'echo16k',
    labels: SERVERS,
    op: 'msg',
    title: 'echo, 16 KiB messages',
    metric: 'MiB/s',
    what: '32 connections, closed-loop ping-pong of 16 KiB messages, MiB/s echoed back; CPU per 16 KiB message',
  },
  {
    key: 'pingpong',
    suite: 'pingpong',
    labels: SERVERS,
    op: 'msg',
    title: 'light load: one connection ping-pong',
    metric: 'msgs/s',
    what: 'ONE connection, closed-loop ping-pong of 64 B: every message wakes the server',
  },
  {
    key: 'churn',
    suite: 'churn',
    labels: SERVERS,
    op: 'conn',
    title: 'accept churn',
    metric: 'conns/s',
    what: 'connect, 64 B echo, close; 32 concurrent clients spread over source addresses 127.0.0.1-127.0.0.16; server on one CPU',
  },
  {
    key: 'churn1',
    suite: 'churn',
    labels: SERVERS,
    op: 'conn',
    title: 'accept churn, one client',
    metric: 'conns/s',
    what: 'connect, 64 B echo, close; ONE client at a time (source addresses 127.0.0.1-127.0.0.16): the hand-off without other accepts queued ahead',
  },
  {
    key: 'churnacc',
    suite: 'churn',
    labels: SERVERS,
    op: 'conn',
    title: 'accept churn, one acceptor or two',
    metric: 'conns/s',
    what: 'connect, 64 B echo, close; 32 clients; ringleader with 2 workers behind one acceptor (the main thread) and behind two acceptor threads (option acceptors), everything on the one server CPU',
  },
  {
    key: 'openloop',
    suite: 'openloop',
    labels: SERVERS,
    op: 'msg',
    title: 'light load: open loop at 20k msgs/s',
    metric: 'us p99',
    what: "100 connections, 64 B, a fixed schedule of 20,000 msgs/s; latency from each message's scheduled time (lower is better); CPU per message at the achieved rate; two runs per server per round (one with --quick), so the rounds column lists every run",
    lowerBetter: true,
  },
  {
    key: 'proxy',
    suite: 'proxy',
    labels: PROXIES,
    op: 'msg',
    title: 'TCP proxy, 64 B',
    metric: 'msgs/s',
    what: '100 connections, 64 B ping-pong through the proxy (one worker/thread/process each), upstream = bench/peers epoll-echo on its own CPU',
  },
  {
    key: 'proxy16k',
    suite: 'proxy',
    labels: PROXIES,
    op: 'msg',
    title: 'TCP proxy, 16 KiB',
    metric: 'MiB/s',
    what: '32 connections, 16 KiB ping-pong through the proxy, same proxies, upstream and pinning as the 64 B case; CPU per 16 KiB message',
  },
  {
    key: 'proxybulk',
    suite: 'proxy',
    labels: PROXIES,
    op: 'MiB',
    title: 'TCP proxy, bulk',
    metric: 'MiB/s',
    what: '8 connections streaming both ways at once through the proxy (`ringleader stress --mode bulk`: 64 KiB writes, 256 KiB in flight per connection, every byte verified), same proxies, upstream and pinning; MiB/s echoed back, CPU per MiB of it',
  },
];

function sectionRows(s, entries) {
  const base = med(s.key, 'ringleader');
  const baseCpu = med(s.key, 'ringleader', 'perCpuS');
  return entries.map((e) => {
    const m = med(s.key, e);
    const r = e === 'ringleader' ? null : s.lowerBetter ? ratio(m, base) : ratio(base, m);
    const failed = (results[s.key]?.[e] ?? []).filter((x) => x.error).map((x) => x.error);
    const perCpu = med(s.key, e, 'perCpuS');
    return [
      s.labels[e].label,
      m === null ? (failed.length ? `failed: ${failed[0]}` : '-') : human(m),
      rounds(s.key, e),
      e === 'ringleader' ? '-' : fmtRatio(r),
      spread(s.key, e, 'cpuUtil'),
      spread(s.key, e, 'cpuUs'),
      perCpu === null ? '-' : human(perCpu),
      e === 'ringleader' ? '-' : fmtRatio(ratio(baseCpu, perCpu)),
      spread(s.key, e, 'loadBusy'),
    ];
  });
}

function sectionTable(s, ordered) {
  const head = [
    'server',
    `median ${s.metric}`,
    'rounds',
    s.lowerBetter ? 'its p99 / ringleader p99' : 'ringleader / it',
    'server CPU share [min-max]',
    `server CPU us/${s.op} [min-max]`,
    `${plural(s.op)} per server CPU-s`,
    'ringleader / it (per CPU-s)',
    'load CPU busy [min-max]',
  ];
  return table(head, sectionRows(s, ordered));
}

function chart(s, ordered, file, day) {
  const base = med(s.key, 'ringleader');
  const bars = ordered.map((e) => {
    const v = med(s.key, e);
    const r = e === 'ringleader' ? null : s.lowerBetter ? ratio(v, base) : ratio(base, v);
    return { label: s.labels[e].label, value: v, highlight: s.labels[e].highlight, note: v === null ? 'failed' : r === null ? '' : `(ringleader ${fmtRatio(r)})` };
  });
  writeFileSync(
    join(cfg.out, file),
    barChart({
      title: `${s.title}: ${s.metric}`,
      subtitle: `${cfg.quick ? 'quick run, ' : ''}median of ${cfg.rounds} round(s), ${day}${s.lowerBetter ? ', lower is better' : ''}`,
      unit: s.metric,
      bars,
    }),
  );
}

/** Extra lines under a section (hand-off latency, the wake floor, ...), by result key. */
const EXTRAS = {
  openloop: (ordered, labels) => [
    table(
      ['server', 'median p50 us', 'median achieved msgs/s'],
      ordered.map((e) => [labels[e].label, human(med('openloop', e, 'p50')), human(med('openloop', e, 'achieved'))]),
    ),
  ],
  churn: () => [handoffTable(), acceptorTable()],
  churnacc: () => [acceptorsTable()],
};

/** ringleader's hand-off latency under 32 and 1 churning clients beside the wake floor measured in the same run. */
function handoffTable() {
  const row = (label, key, entry, p50, p99) => [label, spread(key, entry, p50, 1), spread(key, entry, p99, 1)];
  return [
    "Hand-off latency (accept CQE to the worker ring, from `ringleader echo --json`, cumulative over each server's run) and the io_uring cross-thread wake floor (`bench/peers/wake-floor`: IORING_OP_MSG_RING to a thread blocked in io_uring_wait_cqe, both threads on the server CPU; with `--fd`, a descriptor passed as the acceptor passes a connection), median [min-max] over rounds:",
    '',
    table(
      ['what', 'p50 us', 'p99 us'],
      [
        row('ringleader hand-off, 32 churning clients', 'churn', 'ringleader', 'handoffP50', 'handoffP99'),
        row('ringleader hand-off, 1 churning client', 'churn1', 'ringleader', 'handoffP50', 'handoffP99'),
        row('wake floor (same CPU)', 'wakefloor', 'floor', 'p50', 'p99'),
        row('wake floor passing a descriptor (msg_ring fd into a DEFER_TASKRUN ring, same CPU)', 'wakefloor', 'fd', 'p50', 'p99'),
      ],
    ),
  ].join('\n');
}

/** CPU of ringleader's acceptor thread per accepted connection, and what one acceptor core would sustain. */
function acceptorTable() {
  const row = (label, key, entry = 'ringleader') => {
    const acc = med(key, entry, 'acceptorUs');
    const all = med(key, entry, 'cpuUs');
    // the rest of the server's CPU per connection is the worker's (and the kernel's work on its behalf)
    const worker = acc !== null && all !== null ? Math.max(0, all - acc) : null;
    return [
      label,
      spread(key, entry, 'acceptorUtil'),
      spread(key, entry, 'acceptorUs'),
      human(med(key, entry, 'acceptsPerCore')),
      worker === null ? '-' : worker.toFixed(2),
      worker === null || !acc ? '-' : (worker / acc).toFixed(2),
    ];
  };
  return [
    "Acceptor ceiling: CPU of ringleader's acceptor thread (the main thread, /proc/PID/task/PID/stat) over the measured window / connections accepted; accepts/s one acceptor core would sustain = 1e6 / us per connection. The main thread also places connections and prints the per-second stats, so this is an upper bound on the acceptor's own cost. Worker CPU per connection = the server's CPU per connection (table above) - the acceptor thread's; worker cores one acceptor core keeps busy = that / the acceptor's. On paper, a machine with more worker cores than that needs more acceptors for this workload (connect, one 64 B echo, close): N processes with `--reuse-port` (one acceptor ring each, the kernel spreading connections among them) sustain N times the accepts/s per acceptor core; a workload that does more per connection is fed by one acceptor for proportionally more cores. The floor under this cost on the same machine: the C peer with a central acceptor thread (`epoll-echo --acceptor-thread`: one thread blocked in accept4(2) writing each fd into the worker's pipe, two syscalls per connection, no event loop and no JS), same load, its acceptor thread's CPU read the same way.",
    '',
    table(
      ['server, load', 'acceptor thread CPU share [min-max]', 'us per accepted conn [min-max]', 'accepts/s per acceptor core', 'worker CPU us per conn', 'worker cores one acceptor core feeds'],
      [row('ringleader, 32 churning clients', 'churn'), row('ringleader, 1 churning client', 'churn1'), row('C epoll peer, central acceptor thread, 32 churning clients', 'churn', 'epoll-acc')],
    ),
  ].join('\n');
}

/**
 * Option acceptors: an acceptor's CPU per connection with one acceptor and
 * with two, and what N acceptor cores would sustain on paper from it.
 */
function acceptorsTable() {
  const one = med('churnacc', 'rl-acc1', 'acceptorUs');
  const two = med('churnacc', 'rl-acc2', 'acceptorUs');
  if (one === null || two === null) return '';
  const worst = Math.max(one, two);
  const perCore = 1e6 / worst;
  const rows = [1, 2, 4, 8, 16].map((n) => [String(n), human(n * perCore), (n * perCore * 1e-6 * med('churn', 'ringleader', 'cpuUs') || 0).toFixed(1)]);
  return [
    `Acceptor CPU per connection (every acceptor thread's CPU over the window / connections): one acceptor ${spread('churnacc', 'rl-acc1', 'acceptorUs')} us, two acceptor threads ${spread('churnacc', 'rl-acc2', 'acceptorUs')} us (ratio ${fmtRatio(two / one)}); the main thread with two acceptors elsewhere ${spread('churnacc', 'rl-acc2', 'mainUs')} us per connection. The acceptors share nothing (each its own listener, ring, scheduler and workers), so N acceptor cores accept N times what one does; on paper, from the larger of the two costs (${worst.toFixed(2)} us) and this run's whole-server CPU per connection of the 1-worker server in the churn table (acceptor + worker + kernel):`,
    '',
    table(['acceptors (one core each)', 'accepts/s on paper', 'cores of server CPU that load takes (all work, connect-echo-close)'], rows),
  ].join('\n');
}

function agreementTable(agreement) {
  return [
    '### Load drivers: ringleader stress vs bench/peers/loadgen',
    '',
    'Both drive the same server process in turn (100 connections, 64 B, 1 thread on the load CPU).',
    '',
    table(
      ['server', 'stress msgs/s', 'loadgen msgs/s', 'stress / loadgen', 'within 10%'],
      agreement.map((a) => [a.label, human(a.stress), human(a.loadgen), fmtRatio(a.ratio), a.agree]),
    ),
    '',
  ];
}

function placementSection(p) {
  if (!p?.modes) return notes.placement ? ['## Placement cost per accept', '', `Note: ${notes.placement}`, ''] : [];
  const f = (x, d = 2) => (x === null || x === undefined ? '-' : x.toFixed(d));
  const rows = Object.entries(p.modes).map(([m, s]) => [
    m,
    human(s.connsPerSec),
    s.samples.map((x) => human(x.connsPerSec)).join(' / '),
    f(s.vsP2c),
    f(s.cpuUs),
    f(s.cpuUsOverP2c),
    m === 'source-hash' ? 'native, not timed' : f(s.callUs),
  ]);
  return [
    '## Placement cost per accept',
    '',
    `\`bench/placement.mjs\`: accept churn (32 clients, 127.0.0.1-16) against a one-worker server placing every connection with p2c (the default), source-hash, \`placement: () => 0\` and a function reading \`conn.workers\`; one worker, so only the placement differs. Server CPU per connection as in the other suites; the difference from p2c is what the placement costs the server per accept; the call time is the server's own mean per placement call. Medians of ${p.rounds} round(s).`,
    '',
    table(['placement', 'conns/s', 'rounds', 'vs p2c', 'server CPU us/conn', 'CPU us/conn over p2c', 'mean us per call'], rows),
    '',
  ];
}

function memorySection() {
  const r = (results.memory?.ringleader ?? [])[0];
  const md = ['## Memory per idle connection', ''];
  if (!r || r.error) return [...md, `Not measured: ${r?.error ?? notes.memory ?? 'no result'}.`, ''];
  const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  md.push(
    `ringleader echo (4 workers, RLIMIT_NOFILE 20,000, ${r.table}-slot worker tables) holding ${r.conns} idle connections from \`ringleader stress --mode idle\` (sources 127.0.0.1-4); the same code as \`pnpm soak idle\`. User-space RSS after a GC, median of 5 samples; kernel socket memory is not in RSS. Per connection = (RSS holding them - RSS of the same server with 16-slot tables) / connections, so the tables are counted.`,
    '',
    table(
      ['what', 'value'],
      [
        ['RSS, 16-slot tables, idle', mib(r.rssSmall)],
        [`RSS, ${r.table}-slot tables, idle`, `${mib(r.rssBase)} (${r.perSlot.toFixed(0)} B per slot)`],
        [`RSS, ${r.conns} connections held`, `${mib(r.rssHeld)} (${r.added.toFixed(0)} B per connection on top)`],
        ['RSS per idle connection, tables included', `${r.value.toFixed(0)} B (noise +-${r.noise.toFixed(0)} B)`],
        ['echo on a new connection meanwhile', r.echoMs === null ? 'FAILED' : `${r.echoMs.toFixed(1)} ms`],
      ],
    ),
    '',
  );
  return md;
}

function scriptSections(js, stress, placement) {
  const md = [];
  if (js?.suites) {
    md.push('## JS handler path', '');
    md.push(
      '`bench/js-handler.mjs`: every server pinned to one CPU (ringleader with one worker), load on the other; echo driven by bench/peers/loadgen (100 connections, 64 B), HTTP by wrk -c 100.',
      '',
    );
    for (const suite of Object.values(js.suites)) {
      const op = suite.op ?? 'op';
      const rows = Object.entries(suite.median).map(([k, v]) => {
        const us = suite.cpuUs?.[k] ?? null;
        const all = suite.cpuUsSamples?.[k] ?? [];
        return [
          k,
          v === null ? 'failed' : human(v),
          (suite.samples[k] ?? []).map((x) => human(x)).join(' / '),
          us === null ? '-' : `${us.toFixed(2)}${all.length > 1 ? ` [${Math.min(...all).toFixed(2)}-${Math.max(...all).toFixed(2)}]` : ''}`,
          us ? human(1e6 / us) : '-',
        ];
      });
      md.push(table(['server', `median ${suite.unit}`, 'rounds', `server CPU us/${op} [min-max]`, `${op}s per server CPU-s`], rows), '');
    }
  } else if (notes.js) md.push('## JS handler path', '', `Note: ${notes.js}`, '');
  if (stress?.cases) {
    md.push('## ringleader stress as a protocol load generator', '');
    md.push(
      `\`bench/stress-protocols.mjs\`: the server (nginx, redis-server) pinned to one CPU, the load generator to the other; load average ${stress.loadavg.join(' ')} at the start. Medians of ${stress.rounds} round(s), min-max in brackets; client CPU is user + system time over every request of the run; server CPU busy is the whole server CPU's busy share (interrupts and softirqs included) from 1 s into the run to 0.5 s before its end (HTTP only: redis-benchmark runs a request count).`,
      '',
    );
    const mm = (x, f) => (x ? `${f(x.median)} [${f(x.min)}-${f(x.max)}]` : 'failed');
    const rows = stress.cases.flatMap((c) =>
      Object.entries(c.generators).map(([g, v]) => [
        `${c.suite} ${c.name}`,
        g,
        mm(v.rps, human),
        mm(v.cpuUsPerReq, (x) => x.toFixed(2)),
        v.serverBusy ? mm(v.serverBusy, (x) => x.toFixed(2)) : '-',
        g === 'ringleader' ? fmtRatio(c.ratio) : '-',
      ]),
    );
    md.push(table(['case', 'generator', 'req/s', 'client CPU us/req', 'server CPU busy [min-max]', 'ringleader / other'], rows), '');
  } else if (notes.stress) md.push(`## ringleader stress as a protocol load generator\n\nNote: ${notes.stress}\n`);
  md.push(...placementSection(placement));
  return md;
}

/** Write the report; returns { mdPath, svgs, text }. */
export function writeReport(m, startedAt, elapsedS, targets, agreement, scripts) {
  mkdirSync(cfg.out, { recursive: true });
  const day = startedAt.toISOString().slice(0, 10);
  const stamp = `${day}${cfg.quick ? '-quick' : ''}`;
  const md = [];
  md.push(`# ringleader benchmark, ${startedAt.toISOString().replace('T', ' ').slice(0, 16)} UTC${cfg.quick ? ' (quick)' : ''}`, '');
  md.push(`Run: ${cfg.rounds} round(s), each load ${cfg.warmup} s warmup + ${cfg.duration} s measured; medians over rounds. Took ${elapsedS.toFixed(0)} s.`);
  md.push(
    PIN
      ? `Pinning: every server on CPU ${SERVER_CPU}, the load on CPU ${LOAD_CPU} (taskset)${wanted('proxy') ? `, the proxy suite's upstream on CPU ${UPSTREAM_CPU}` : ''}.`
      : `Pinning: none (${HAVE_TASKSET ? `only ${NCPU} CPU` : 'taskset not found'}); numbers are less comparable.`,
  );
  md.push(
    "Server CPU: user + system time of every process in the server's process group (all threads; a cluster's workers, nginx's worker), read from /proc/PID/stat at the start and end of the load's measured window; \"server CPU share\" 1.00 = one core busy. Per operation = share / operations per second.",
    '',
  );
  md.push('## Machine', '');
  const machineRows = [
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
  ];
  md.push(table(['what', 'value'], machineRows), '');
  md.push('## Targets', '');
  md.push(
    table(
      ['target', 'measured', 'wanted', 'status'],
      targets.map((t) => [t.name, t.shown, t.want, t.status]),
    ),
    '',
  );
  const svgs = [];
  for (const s of SECTIONS) {
    if (!wanted(s.suite)) continue;
    const entries = Object.keys(results[s.key] ?? {}).filter((e) => s.labels[e]);
    md.push(`## ${s.title} (${s.metric})`, '', `${s.what}.`, '');
    if (notes[s.key]) md.push(`Note: ${notes[s.key]}`, '');
    if (entries.length) {
      const ordered = Object.keys(s.labels).filter((e) => entries.includes(e));
      md.push(sectionTable(s, ordered), '');
      for (const line of EXTRAS[s.key]?.(ordered, s.labels) ?? []) md.push(line, '');
      const file = `${stamp}-${s.key}.svg`;
      chart(s, ordered, file, day);
      svgs.push(file);
      md.push(`![${s.title}](${file})`, '');
    }
    if (s.key === 'echo64' && agreement.length) md.push(...agreementTable(agreement));
  }
  if (wanted('memory')) md.push(...memorySection());
  md.push(...scriptSections(scripts.js, scripts.stress, scripts.placement));
  md.push('## Caveats', '');
  md.push('- Loopback only: client and server share the kernel and memory bandwidth; zero-copy sends are always copied on loopback.');
  md.push('- The load average above says how busy the machine was when the run began; other work on the machine moves these numbers.');
  md.push('- Ratios are of medians; the rounds (and [min-max]) show the spread between rounds; with one round (`--quick`) there is no spread to judge noise by.');
  md.push('- CPU time is counted in clock ticks (1/100 s): over a 2 s quick window a figure moves by a few percent from that alone.');
  md.push('');
  const mdPath = join(cfg.out, `${stamp}.md`);
  writeFileSync(mdPath, md.join('\n'));
  const medians = Object.fromEntries(
    Object.entries(results).map(([k, es]) => [k, Object.fromEntries(Object.keys(es).map((e) => [e, { value: med(k, e), cpuUs: med(k, e, 'cpuUs'), perCpuS: med(k, e, 'perCpuS') }]))]),
  );
  writeFileSync(join(cfg.out, `${stamp}.json`), `${JSON.stringify({ startedAt, cfg, machine: m, targets, medians, results, scripts }, null, 1)}\n`);
  return { mdPath, svgs, text: md.join('\n') };
}
