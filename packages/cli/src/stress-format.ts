/**
 * What `ringleader stress` prints: the live line (one terminal row) and the
 * result table, for the echo modes and the request modes (http, redis,
 * custom). A latency table has one unit for all its columns (us, or ms when
 * the largest value needs it), and the live line leaves out percentiles
 * until something completed, and fits the terminal.
 */
import { describeMismatch, type LatencyStats, type StressProgress, type StressResult } from '@ringleader/runtime';
import { bytes, cliText, num } from './util.js';

/** a mismatch line in this CLI's terms (--timeout, not option "timeout"); a reply's own text stays as the server sent it */
function mismatchLine(m: StressResult['verification']['mismatches'][number], mode: StressResult['mode']): string {
  const line = describeMismatch(m, mode);
  return m.kind === 'reply' ? line : cliText(line);
}

const REQUEST_MODES = ['http', 'redis', 'custom'];
const isRequest = (mode: string) => REQUEST_MODES.includes(mode);

/** a latency in microseconds, in a unit chosen by the caller */
const inUnit = (v: number, ms: boolean) => (ms ? (v / 1000).toFixed(v >= 100_000 ? 0 : v >= 1000 ? 2 : 3) : v >= 100 ? v.toFixed(0) : v.toFixed(1));
/** a single latency with its own unit (the live line) */
const lat = (v: number) => (v >= 10000 ? `${(v / 1000).toFixed(1)}ms` : `${v >= 100 ? v.toFixed(0) : v.toFixed(1)}us`);
const mib = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2));

/** One row of live numbers, cut to `width` columns. */
export function liveLine(p: StressProgress, r: { mode: string; connections: number }, width = 80): string {
  const mode = p.mode ?? r.mode;
  const t = `${(p.elapsedMs / 1000).toFixed(0)}s`;
  // fields in display order, each with its rank: on a narrow terminal the
  // lowest-ranked fields go first, whole, rather than the line being cut mid-number
  const fields: [string, number][] = [[`[${t.padStart(4)} ${p.phase}]`, 9]];
  fields.push([`up ${num(p.up)}/${num(r.connections)}`, 3]);
  if (mode === 'churn') fields.push([`${num(p.cyclesPerSec)} conns/s`, 8]);
  else if (isRequest(mode)) fields.push([`${num(p.msgsPerSec)} req/s`, 8]);
  else if (mode !== 'idle') fields.push([`${num(p.msgsPerSec)} msgs/s`, 8]);
  if (mode !== 'idle') {
    fields.push([`${mib(p.outMiBPerSec)}/${mib(p.inMiBPerSec)} MiB/s out/in`, 1]);
    // nothing completed in the interval (warmup, connecting): no percentiles to show
    if (p.p50Us > 0) fields.push([`p50 ${lat(p.p50Us)} p99 ${lat(p.p99Us)}`, 4]);
  }
  fields.push([`errors ${num(p.errors)}`, 6]);
  if (p.verifyFailures) fields.push([`MISMATCHES ${p.verifyFailures}`, 7]);
  const line = (fs: [string, number][]) => fs.map(([f]) => f).join('  ');
  let kept = fields;
  while (kept.length > 1 && line(kept).length > width - 1) {
    const low = Math.min(...kept.map(([, rank]) => rank));
    kept = kept.filter(([, rank]) => rank !== low);
  }
  const s = line(kept);
  return s.length > width - 1 ? s.slice(0, Math.max(10, width - 1)) : s;
}

const PCTS: [string, keyof LatencyStats][] = [
  ['p50', 'p50'],
  ['p90', 'p90'],
  ['p99', 'p99'],
  ['p99.9', 'p999'],
  ['max', 'max'],
  ['mean', 'mean'],
  ['stdev', 'stdev'],
];
/** --latency: the whole spectrum */
const SPECTRUM: [string, keyof LatencyStats][] = [
  ['p50', 'p50'],
  ['p75', 'p75'],
  ['p90', 'p90'],
  ['p99', 'p99'],
  ['p99.9', 'p999'],
  ['p99.99', 'p9999'],
  ['p99.999', 'p99999'],
  ['max', 'max'],
  ['mean', 'mean'],
  ['stdev', 'stdev'],
];

/** latency rows under one header, in one unit */
function latTable(rows: [string, LatencyStats | null][], PCTS: [string, keyof LatencyStats][]): string[] {
  const ms = rows.some(([, l]) => l && l.max >= 10000);
  const out = [`  latency (${ms ? 'ms' : 'us'})`.padEnd(16) + PCTS.map(([h]) => h.padStart(9)).join('')];
  for (const [name, l] of rows) {
    if (!l) {
      out.push(`  ${name.padEnd(14)}${'-'.padStart(9)}`);
      continue;
    }
    const cells = PCTS.map(([, k]) => inUnit(l[k], ms).padStart(9));
    out.push(`  ${name.padEnd(14)}${cells.join('')}   ${num(l.count)} samples`);
  }
  return out;
}

function describeLoad(r: StressResult): string {
  const size = r.size.min === r.size.max ? bytes(r.size.min) : `${bytes(r.size.min)}-${bytes(r.size.max)}`;
  // a rate under 10/s keeps its fraction (-R 0.5 is not "1/s")
  const load = r.rate ? `open loop ${r.rate < 10 ? String(r.rate) : num(r.rate)}/s` : 'closed loop';
  const parts = [`${r.threads} thread(s)`, `${r.connections} connection(s)`];
  if (isRequest(r.mode)) parts.push(`pipeline ${r.pipeline}`, load);
  else {
    parts.push(size);
    if (r.mode === 'echo') parts.push(`pipeline ${r.pipeline}`);
    if (r.mode === 'echo' || r.mode === 'churn') parts.push(load);
    parts.push(`seed ${r.seed}`);
  }
  return `ringleader stress: ${r.mode} -> ${r.targets.join(', ')}: ${parts.join(', ')}`;
}

/** the request modes' lines: what came back */
function responseLines(r: StressResult): string[] {
  const x = r.responses;
  if (!x) return [];
  const out: string[] = [];
  let line = `  responses     ${num(x.total)}`;
  if (r.mode === 'http') {
    const classes = Object.entries(x.classes).map(([c, n]) => `${c} ${num(n)}`);
    if (classes.length) line += ` (${classes.join(', ')})`;
  }
  if (x.serverCloses) line += `, ${num(x.serverCloses)} connection(s) ended by the server or by its response (Connection: close, HTTP/1.0) and dialled again`;
  out.push(line);
  const wrong: string[] = [];
  if (x.unexpectedStatus) wrong.push(`${num(x.unexpectedStatus)} unexpected status`);
  if (x.errorReplies) wrong.push(`${num(x.errorReplies)} error replies`);
  if (x.unexpectedReplies) wrong.push(`${num(x.unexpectedReplies)} unexpected replies`);
  if (x.extraAnswers) wrong.push(`${num(x.extraAnswers)} answers to no request`);
  const pe = Object.entries(x.protocolErrors).map(([k, n]) => `${k} ${num(n)}`);
  if (pe.length) wrong.push(`protocol errors: ${pe.join(', ')}`);
  if (x.timeouts) wrong.push(`${num(x.timeouts)} timed out`);
  out.push(`  answers       ${wrong.length ? `WRONG: ${wrong.join('; ')}` : x.total ? 'ok: every response received was as expected' : 'none received'}`);
  const first = r.verification.mismatches.slice(0, 5);
  for (const mm of first) out.push(`                  ${mismatchLine(mm, r.mode)}`);
  return out;
}

/** autocannon's per-second row: how steady the load was */
function perSecondRow(r: StressResult): string | null {
  const p = r.throughput.perSecond;
  if (!p || r.mode === 'idle' || r.mode === 'bulk') return null;
  const unit = r.mode === 'churn' ? 'cycles' : isRequest(r.mode) ? 'requests' : 'msgs';
  const cells = [p.min, p.p2_5, p.p50, p.p97_5, p.max].map((v) => num(v).padStart(9));
  return [`  ${unit}/s`.padEnd(16) + ['min', 'p2.5', 'p50', 'p97.5', 'max'].map((h) => h.padStart(9)).join(''), `  ${'each second'.padEnd(14)}${cells.join('')}   ${p.seconds} s`].join('\n');
}

/** The human-readable result table; `spectrum` shows every percentile to p99.999. */
export function formatResult(r: StressResult, o: { spectrum?: boolean } = {}): string {
  const out: string[] = [];
  const request = isRequest(r.mode);
  out.push(describeLoad(r));
  const tail = `${r.interrupted ? ', interrupted' : ''}${r.partial ? ', partial (see below)' : ''}`;
  // a run that ended before its warmup did measured nothing: say so, rather than "0.00 s after 2.0 s warmup"
  if (r.durationMs === 0 && r.warmupMs > 0 && r.elapsedMs < r.warmupMs) {
    out.push(`nothing measured: the run ended after ${(r.elapsedMs / 1000).toFixed(1)} s, within its ${(r.warmupMs / 1000).toFixed(1)} s warmup${tail}`);
  } else {
    out.push(`measured ${(r.durationMs / 1000).toFixed(2)} s` + (r.warmupMs ? ` after ${(r.warmupMs / 1000).toFixed(1)} s warmup` : '') + ` (${(r.elapsedMs / 1000).toFixed(1)} s in all)${tail}`);
  }
  out.push('');
  const tp = r.throughput;
  if (r.mergedFrom) out.push(`  merged        ${r.mergedFrom} results (histograms, counts and rates added)`);
  if (r.mode === 'churn') out.push(`  throughput    ${num(tp.cyclesPerSec)} connections/s (connect, ${bytes(r.size.min)} echo, close)`);
  else if (r.mode === 'bulk') out.push(`  throughput    ${mib(tp.outMiBPerSec)} MiB/s out, ${mib(tp.inMiBPerSec)} MiB/s in (${num(tp.msgsPerSec)} msgs/s)`);
  else if (r.mode === 'echo') out.push(`  throughput    ${num(tp.msgsPerSec)} msgs/s, ${mib(tp.outMiBPerSec)} MiB/s out, ${mib(tp.inMiBPerSec)} MiB/s in`);
  else if (request) out.push(`  throughput    ${num(tp.requestsPerSec ?? tp.msgsPerSec)} requests/s, ${mib(tp.outMiBPerSec)} MiB/s out, ${mib(tp.inMiBPerSec)} MiB/s in`);
  const rows: [string, LatencyStats | null][] = [];
  if (r.mode === 'echo' || r.mode === 'churn' || request) rows.push([r.mode === 'churn' ? 'cycle' : request ? 'response' : 'round trip', r.latencyUs]);
  rows.push(['connect', r.connectUs]);
  out.push(...latTable(rows, o.spectrum ? SPECTRUM : PCTS));
  const ps = perSecondRow(r);
  if (ps) out.push(ps);
  const c = r.connected;
  out.push(
    `  connections   ${num(c.opened)} opened${r.mode === 'churn' ? ` (${num(c.cycles)} cycles)` : ''}, ${num(c.upAtEnd)} up when the load stopped (peak ${num(c.peakUp)}), ` +
      `${num(c.failed)} failed to connect, ${num(c.dropped)} dropped`,
  );
  if (r.mode !== 'idle') {
    const m = r.messages;
    const what = request ? 'answered' : 'verified';
    out.push(
      `  ${request ? 'requests ' : 'messages '}     ${num(m.verified)} ${what}, ${num(m.sent)} sent${r.responses?.reissued ? ` (${num(r.responses.reissued)} of them again: their connection ended with them unanswered)` : ''}, ${num(m.measured)} in the window` +
        `${m.abandoned ? `, ${num(m.abandoned)} lost with their connection` : ''}${m.unfinished ? `, ${num(m.unfinished)} unfinished at the end` : ''}${m.late ? `, ${num(m.late)} sent late (> 1 ms)` : ''}${m.unsent ? `, ${num(m.unsent)} due and never sent` : ''}`,
    );
  }
  const cpu = r.clientCpu;
  if (cpu)
    out.push(
      `  client CPU    ${num(cpu.userMs)} ms user, ${num(cpu.systemMs)} ms system${cpu.usPerMessage !== null ? `, ${cpu.usPerMessage.toFixed(2)} us per ${request ? 'request' : r.mode === 'churn' ? 'cycle' : 'message'}` : ''}`,
    );
  const codes = Object.entries(r.errors.byCode).sort((a, b) => b[1] - a[1]);
  out.push(`  errors        ${codes.length ? codes.map(([k, n]) => `${k} ${num(n)}`).join(', ') : 'none'}`);
  if (request) {
    out.push(...responseLines(r));
  } else if (r.mode !== 'idle') {
    if (r.verification.failures) {
      out.push(`  verification  FAILED ${r.verification.failures} time(s):`);
      for (const mm of r.verification.mismatches.slice(0, 5)) out.push(`                  ${mismatchLine(mm, r.mode)}`);
    } else if (r.messages.verified) {
      out.push(`  verification  ok: every echoed byte matched`);
    } else {
      out.push(`  verification  nothing was echoed`);
    }
  }
  if (r.zeroCopy.sends || r.zeroCopy.fallbacks) {
    const z = r.zeroCopy;
    out.push(
      `  zero-copy     ${num(z.sends)} send_zc (>= ${bytes(z.threshold)}), ${num(z.copied)} copied by the kernel${z.fallbacks ? `, fell back to send (${z.fallbackCode}, ${num(z.retried)} resent)` : ''}`,
    );
  }
  for (const w of r.warnings) out.push(`  note          ${w}`);
  out.push('');
  out.push(r.ok ? 'result: OK' : `result: FAILED\n${r.failures.map((f) => `  - ${f}`).join('\n')}`);
  return out.join('\n');
}
