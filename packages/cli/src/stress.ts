/**
 * `ringleader stress HOST:PORT[,HOST:PORT...]`: the io_uring load generator.
 * Parses flags into runStress options (which validates them and names the
 * option on error), shows a live line on a terminal, prints a result table
 * or one JSON document, and exits 0 (ok), 1 (verification failed, too many
 * errors, nothing completed) or 2 (bad options).
 */
import { type Command, Option } from 'commander';
import { describeMismatch, runStress, STRESS_DEFAULTS as D, STRESS_MODES, type LatencyStats, type StressOptions, type StressProgress, type StressResult } from '@ringleader/runtime';
import { arg, formatDuration, formatSize, parseCount, parseDuration, parseSize, parseSizeRange, parseWholeCount } from './args.js';
import { onStopSignals } from './signals.js';
import { bytes, cliText, die, num } from './util.js';

/** The flags are runStress's options by the same names, plus --json. */
type StressFlags = Omit<StressOptions, 'targets' | 'signal' | 'onProgress' | 'progressInterval' | 'deferTaskrun'> & { connections: number; json: boolean };

const us = (v: number) => (v >= 10000 ? `${(v / 1000).toFixed(1)}ms` : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const mib = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2));

function liveLine(p: StressProgress, r: { mode: string; connections: number }): string {
  const t = `${(p.elapsedMs / 1000).toFixed(0)}s`;
  let s = `[${t.padStart(4)} ${p.phase}] up ${num(p.up)}/${num(r.connections)}`;
  if (r.mode === 'churn') s += `  ${num(p.cyclesPerSec)} conns/s`;
  else if (r.mode !== 'idle') s += `  ${num(p.msgsPerSec)} msgs/s`;
  if (r.mode !== 'idle') s += `  ${mib(p.outMiBPerSec)}/${mib(p.inMiBPerSec)} MiB/s out/in  p50 ${us(p.p50Us)}us p99 ${us(p.p99Us)}us`;
  s += `  errors ${num(p.errors)}`;
  if (p.verifyFailures) s += `  MISMATCHES ${p.verifyFailures}`;
  return s;
}

function latRow(name: string, l: LatencyStats | null): string {
  if (!l) return `  ${name.padEnd(14)} -`;
  const cells = [l.p50, l.p90, l.p99, l.p999, l.max, l.mean].map((v) => us(v).padStart(9));
  return `  ${name.padEnd(14)}${cells.join('')}   ${num(l.count)} samples`;
}

/** The human-readable result table. */
export function formatResult(r: StressResult): string {
  const out: string[] = [];
  const size = r.size.min === r.size.max ? bytes(r.size.min) : `${bytes(r.size.min)}-${bytes(r.size.max)}`;
  const load = r.rate ? `open loop ${num(r.rate)}/s` : 'closed loop';
  out.push(
    `ringleader stress: ${r.mode} -> ${r.targets.join(', ')}: ${r.threads} thread(s), ${r.connections} connection(s), ${size}` +
      `${r.mode === 'echo' ? `, pipeline ${r.pipeline}` : ''}${r.mode === 'echo' || r.mode === 'churn' ? `, ${load}` : ''}, seed ${r.seed}`,
  );
  out.push(
    `measured ${(r.durationMs / 1000).toFixed(2)} s` +
      (r.warmupMs ? ` after ${(r.warmupMs / 1000).toFixed(1)} s warmup` : '') +
      ` (${(r.elapsedMs / 1000).toFixed(1)} s in all)${r.interrupted ? ', interrupted' : ''}${r.partial ? ', partial (see below)' : ''}`,
  );
  out.push('');
  const tp = r.throughput;
  if (r.mode === 'churn') out.push(`  throughput    ${num(tp.cyclesPerSec)} connections/s (connect, ${size} echo, close)`);
  else if (r.mode === 'bulk') out.push(`  throughput    ${mib(tp.outMiBPerSec)} MiB/s out, ${mib(tp.inMiBPerSec)} MiB/s in (${num(tp.msgsPerSec)} msgs/s)`);
  else if (r.mode === 'echo') out.push(`  throughput    ${num(tp.msgsPerSec)} msgs/s, ${mib(tp.outMiBPerSec)} MiB/s out, ${mib(tp.inMiBPerSec)} MiB/s in`);
  if (r.mode === 'echo' || r.mode === 'churn') {
    out.push(`  latency (us)       p50      p90      p99    p99.9      max     mean`);
    out.push(latRow(r.mode === 'churn' ? 'cycle' : 'round trip', r.latencyUs));
  }
  out.push(latRow('connect', r.connectUs));
  const c = r.connected;
  out.push(
    `  connections   ${num(c.opened)} opened${r.mode === 'churn' ? ` (${num(c.cycles)} cycles)` : ''}, ${num(c.upAtEnd)} up at the end (peak ${num(c.peakUp)}), ` +
      `${num(c.failed)} failed to connect, ${num(c.dropped)} dropped`,
  );
  if (r.mode !== 'idle') {
    const m = r.messages;
    out.push(
      `  messages      ${num(m.verified)} verified, ${num(m.sent)} sent, ${num(m.measured)} in the window` +
        `${m.unfinished ? `, ${num(m.unfinished)} unfinished at the end` : ''}${m.late ? `, ${num(m.late)} sent late (> 1 ms)` : ''}`,
    );
  }
  const codes = Object.entries(r.errors.byCode).sort((a, b) => b[1] - a[1]);
  out.push(`  errors        ${codes.length ? codes.map(([k, n]) => `${k} ${num(n)}`).join(', ') : 'none'}`);
  if (r.mode !== 'idle') {
    if (r.verification.failures) {
      out.push(`  verification  FAILED ${r.verification.failures} time(s):`);
      for (const mm of r.verification.mismatches.slice(0, 5)) out.push(`                  ${describeMismatch(mm)}`);
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

export function registerStress(program: Command): void {
  program
    .command('stress')
    .description('drive io_uring load at TCP servers: verified echo, connection churn, bulk streams, idle capacity')
    .argument('<targets>', 'HOST:PORT to connect to, or a comma list (connections are spread over them)')
    .addOption(
      new Option('-m, --mode <mode>', 'echo: request/response; churn: connect, one message, close; bulk: stream both ways; idle: open and hold').choices(STRESS_MODES as string[]).default(D.mode),
    )
    .option('-t, --threads <n>', 'threads, one io_uring each (default: CPUs, at most one per connection)', arg(parseWholeCount, { min: 1, max: 1024 }))
    .option('-c, --connections <n>', 'connections (churn: concurrent cycles)', arg(parseWholeCount, { min: 1, max: 1_000_000 }), D.connections)
    .option('-d, --duration <duration>', `measured time after the warmup (default ${formatDuration(D.duration)}; none with --messages)`, arg(parseDuration))
    .option('-n, --messages <n>', 'stop after exactly N verified messages (churn: cycles)', arg(parseWholeCount, { min: 1 }))
    .option('--warmup <duration>', `time before measuring starts (default ${formatDuration(D.warmup)}; 0 with --messages)`, arg(parseDuration))
    .option('-s, --size <bytes>', `message size, or MIN-MAX for a size drawn per message (default ${D.size}, bulk ${formatSize(D.bulkSize)})`, arg(parseSizeRange))
    .option('-P, --pipeline <n>', `echo: messages in flight per connection (default ${D.pipeline})`, arg(parseWholeCount, { min: 1, max: 1024 }))
    .option('--rate <n>', 'open loop: messages (churn: connections) per second in total; latency counts from the scheduled time', arg(parseCount))
    .option('--connect-rate <n>', 'connection attempts per second in total', arg(parseCount))
    .option('--source <range>', 'source addresses to spread connections over, e.g. 127.0.0.1-127.0.0.16')
    .option('--max-errors <n>', 'errors tolerated before the run fails', arg(parseWholeCount), D.maxErrors)
    .option('--zc-threshold <bytes>', `sends of at least this size use send_zc; 0 = never (default ${formatSize(D.zcThreshold)})`, arg(parseSize))
    .option('--window <bytes>', `bulk: bytes in flight per connection (default ${formatSize(D.window)})`, arg(parseSize))
    .option('--seed <n>', 'payload seed (default: random, printed)', arg(parseWholeCount))
    .option('--drain <duration>', `at the end, how long in-flight messages may finish (default ${formatDuration(D.drain)})`, arg(parseDuration))
    .option('--retry-delay <duration>', `pause before a failed connection is retried (default ${formatDuration(D.retryDelay)}, churn ${formatDuration(D.churnRetryDelay)})`, arg(parseDuration))
    .option(
      '--connect-timeout <duration>',
      `a connect not done by then fails as ETIMEDOUT, then is retried (default ${formatDuration(D.connectTimeout)})`,
      arg(parseDuration, { min: 1, max: 600_000 }),
    )
    .addOption(new Option('--socket-mode <mode>', 'ring: direct sockets set up in the ring; fd: process fd moved into the ring').choices(['auto', 'ring', 'fd']).default(D.socketMode))
    .option('--json', 'print one JSON document on stdout instead of the table', false)
    .addHelpText(
      'after',
      `
Examples:
  ringleader stress 127.0.0.1:7000 -c 100 -d 10s
  ringleader stress 127.0.0.1:7000 --rate 20k -c 50 --json
  ringleader stress 127.0.0.1:7000 --mode churn -c 32 --source 127.0.0.1-127.0.0.16
  ringleader stress 127.0.0.1:7000 --mode bulk -c 8 --size 64KiB
  ringleader stress 127.0.0.1:7000 --mode idle -c 50000 --connect-rate 5000 --source 127.0.0.1-127.0.0.4

The first SIGINT/SIGTERM stops early and still prints the result; a second one exits at once.
Durations: 500ms, 10s, 1m (a bare number is seconds). Counts: 20000, 20k, 1.5M. Sizes: 64, 16KiB.

Exit status: 0 ok; 1 verification failed, errors exceeded --max-errors, or nothing completed;
2 bad options; 130/143 a second SIGINT/SIGTERM.`,
    )
    .action(async (targets: string, f: StressFlags) => {
      const ac = new AbortController();
      const stopListening = onStopSignals((sig) => {
        if (process.stderr.isTTY) process.stderr.write('\n');
        process.stderr.write(`ringleader: ${sig}: stopping, finishing in-flight messages (${sig} again to quit now)\n`);
        ac.abort();
      });
      const tty = process.stderr.isTTY === true;
      const { json, ...flags } = f;
      const opts: StressOptions = {
        ...flags,
        targets,
        signal: ac.signal,
        onProgress: tty ? (p) => process.stderr.write(`\r\x1b[K${liveLine(p, { mode: f.mode ?? D.mode, connections: f.connections })}`) : undefined,
      };
      let result: StressResult;
      try {
        result = await runStress(opts);
      } catch (e) {
        if (tty) process.stderr.write('\r\x1b[K');
        die(e);
      } finally {
        stopListening();
      }
      if (tty) process.stderr.write('\r\x1b[K');
      result.failures = result.failures.map(cliText);
      if (json) process.stdout.write(JSON.stringify(result) + '\n');
      else process.stdout.write(formatResult(result) + '\n');
      process.exitCode = result.exitCode;
    });
}
