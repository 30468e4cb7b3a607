/**
 * `ringleader stress TARGET[,TARGET...]`: the io_uring load generator.
 * Parses flags into runStress options (which validates them and names the
 * option on error), shows a live line on a terminal, prints a result table
 * or one JSON document, and exits 0 (ok), 1 (verification failed, a wrong
 * answer, too many errors, nothing completed) or 2 (bad options).
 *
 * Targets: HOST:PORT (echo modes, or --mode custom), http://HOST:PORT/path
 * (HTTP/1.1, flags as wrk and wrk2 take them), redis://HOST:PORT (RESP2,
 * flags as redis-benchmark takes them).
 */
import { type Command, Option } from 'commander';
import { runStress, STRESS_DEFAULTS as D, STRESS_MODES, type StressOptions, type StressResult } from '@ringleader/runtime';
import { readFileSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { csvText, hdrText, mergeResults, parseTests, threadsOrTests } from '@ringleader/runtime/internal';
import { arg, formatDuration, formatSize, parseCount, parseDuration, parseSize, parseSizeRange, parseStartTime, parseWholeCount } from './args.js';
import { onStopSignals, signalExitCode, type StopSignal } from './signals.js';
import { formatResult, liveLine } from './stress-format.js';
import { cliText, die, UsageError } from './util.js';

/** The flags are runStress's options by the same names, except these. */
type StressFlags = Omit<StressOptions, 'targets' | 'signal' | 'onProgress' | 'progressInterval' | 'deferTaskrun' | 'threads' | 'headers' | 'tests'> & {
  connections: number;
  json: boolean;
  /** -t: threads (wrk), or a test list (redis-benchmark) */
  t?: string;
  threads?: number;
  header?: string[];
  latency?: boolean;
  hdrOut?: string;
  csv?: boolean;
  mix?: boolean;
  /** --start-at: ms since the epoch */
  startAt?: number;
};

/**
 * Sleep until `at` (ms since the epoch) unless `signal` aborts first.
 * Returns how late the start is (ms, 0 when on time): a machine that
 * reaches the start time late loads for less of the common window.
 */
async function waitUntil(at: number, signal: AbortSignal): Promise<number> {
  // setTimeout holds at most 2^31-1 ms; --start-at is within 24 h, so one or two waits
  while (!signal.aborted && Date.now() < at) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.min(at - Date.now(), 2 ** 31 - 1));
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }
  return Math.max(0, Date.now() - at);
}

/**
 * Where --hdr-out writes one result: FILE itself, or, when several
 * redis-benchmark tests run one after another, FILE with the test's name
 * before its extension (lat.hgrm -> lat.set.hgrm), a file per test.
 */
function hdrPath(file: string, test: string | undefined, several: boolean): string {
  if (!several || !test) return file;
  const ext = extname(file);
  return `${file.slice(0, file.length - ext.length)}.${test}${ext}`;
}

/** an --hdr-out file that cannot be written fails before the load runs, not after (exit 2) */
function checkWritable(file: string): void {
  try {
    writeFileSync(file, '');
  } catch (e) {
    die(new RangeError(`--hdr-out: cannot write ${file} (${(e as NodeJS.ErrnoException).code ?? e})`));
  }
}

interface OutputFlags {
  json: boolean;
  csv?: boolean;
  latency?: boolean;
  hdrOut?: string;
}

/**
 * Print a result as asked: JSON (a line per result), CSV (the header line
 * once, before the first result) or the table; the HdrHistogram
 * distribution to a file. `several`: one of several results (tests run one
 * after another, or merged per test), `first`: the first of them.
 */
function output(result: StressResult, f: OutputFlags, { several = false, first = true } = {}): void {
  if (f.hdrOut) {
    const l = result.latencyUs;
    const h = result.latencyHistogram;
    const text = l && h ? hdrText(h, l.min * 1000, l.max * 1000, l.mean, l.stdev) : hdrText(null, 0, 0, 0, 0);
    const file = hdrPath(f.hdrOut, result.test, several);
    try {
      writeFileSync(file, text);
    } catch (e) {
      // the result is printed all the same: the load it took is not thrown away
      process.stderr.write(`ringleader: --hdr-out: cannot write ${file} (${(e as NodeJS.ErrnoException).code ?? e})\n`);
      process.exitCode = 1;
    }
  }
  if (several && !f.json && !f.csv) process.stdout.write(`== ${String(result.test ?? '').toUpperCase()} ==\n`);
  if (f.json) process.stdout.write(JSON.stringify(result) + '\n');
  else if (f.csv) process.stdout.write(first ? csvText(result) : csvText(result).split('\n').slice(1).join('\n'));
  else process.stdout.write(formatResult(result, { spectrum: f.latency === true }) + '\n');
  process.exitCode = Math.max(Number(process.exitCode ?? 0), result.exitCode);
}

/**
 * `ringleader stress merge a.json b.json ...`: results of one load from
 * several machines, as one. A file holds a JSON line per result (other
 * lines, as in a pod's log, are skipped); with
 * redis-benchmark tests run one after another that is a line per test, and
 * each test merges with the same test of the other files.
 */
function merge(files: string[], f: StressFlags): void {
  if (!files.length) die(new RangeError('stress merge needs the JSON results to merge (ringleader stress merge a.json b.json ...)'));
  const perFile = files.map((file) => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      return die(new RangeError(`stress merge: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? e})`));
    }
    // a pod's log has other lines too (stderr's "waiting to start at ...",
    // an application's JSON log records): the results are the lines that
    // parse to what --json prints
    const results = text.split('\n').flatMap((l) => {
      if (!l.trimStart().startsWith('{')) return [];
      try {
        const r = JSON.parse(l) as Partial<StressResult> | null;
        return r && typeof r.mode === 'string' && typeof r.throughput === 'object' && typeof r.messages === 'object' ? [r as StressResult] : [];
      } catch {
        return [];
      }
    });
    if (!results.length) return die(new RangeError(`stress merge: ${file} holds no result of ringleader stress --json`));
    return results;
  });
  const tests = perFile[0].map((r) => r.test);
  perFile.forEach((rs, i) => {
    const these = rs.map((r) => r.test);
    if (these.length !== tests.length || these.some((t, k) => t !== tests[k])) {
      die(
        new RangeError(
          `stress merge: ${files[i]} holds results of ${these.map((t) => t ?? '(no test)').join(', ')}, ${files[0]} of ${tests.map((t) => t ?? '(no test)').join(', ')}: only the same tests merge`,
        ),
      );
    }
  });
  const merged = tests.map((_, k) => {
    try {
      return mergeResults(
        perFile.map((rs) => rs[k]),
        files,
      );
    } catch (e) {
      return die(e);
    }
  });
  if (f.hdrOut) for (const r of merged) checkWritable(hdrPath(f.hdrOut, r.test, merged.length > 1));
  merged.forEach((r, k) => output(r, f, { several: merged.length > 1, first: k === 0 }));
}

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

export function registerStress(program: Command): void {
  program
    .command('stress')
    .description('drive io_uring load at TCP servers: verified echo, churn, bulk, idle; HTTP/1.1, Redis and custom request/response')
    .argument('<targets...>', 'HOST:PORT, http://HOST:PORT/path or redis://HOST:PORT, several or a comma list (connections are spread over them); or `merge FILE...`')
    .addOption(
      new Option(
        '-m, --mode <mode>',
        `echo (default): request/response; churn: connect, one message, close; bulk: stream both ways; idle: open and hold; http, redis (implied by the URL), custom (implied by --send)`,
      ).choices(STRESS_MODES as string[]),
    )
    .option('-t <n|tests>', 'threads as wrk takes them (-t4), or a test list as redis-benchmark takes it (-t ping,set,get)')
    .option('--threads <n>', 'threads, one io_uring each (default: CPUs, at most one per connection)', arg(parseWholeCount, { min: 1, max: 1024 }))
    .option('-c, --connections <n>', 'connections (churn: concurrent cycles)', arg(parseWholeCount, { min: 1, max: 1_000_000 }), D.connections)
    .option('-d, --duration <duration>', `measured time after the warmup (default ${formatDuration(D.duration)}; none with --messages)`, arg(parseDuration))
    .option('-n, --messages <n>', 'stop after exactly N verified messages (churn: cycles)', arg(parseWholeCount, { min: 1 }))
    .option('--warmup <duration>', `time before measuring starts (default ${formatDuration(D.warmup)}; 0 with --messages)`, arg(parseDuration))
    .option('-s, --size <bytes>', `message size, or MIN-MAX for a size drawn per message (default ${D.size}, bulk ${formatSize(D.bulkSize)})`, arg(parseSizeRange))
    .option('-P, --pipeline <n>', `echo and request modes: messages (requests) in flight per connection (default ${D.pipeline})`, arg(parseWholeCount, { min: 1, max: 1024 }))
    .option('-R, --rate <n>', 'open loop: messages (requests; churn: connections) per second in total; latency counts from the scheduled time', arg(parseCount))
    .option('--connect-rate <n>', 'connection attempts per second in total', arg(parseCount))
    .option('--source <range>', 'source addresses to spread connections over, e.g. 127.0.0.1-127.0.0.16')
    .option('--max-errors <n>', 'errors tolerated before the run fails; with --messages and no --duration the run also stops there', arg(parseWholeCount), D.maxErrors)
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
    .option('--timeout <duration>', `request modes: a request unanswered this long is an error (default ${formatDuration(D.timeout)}; 0 = never)`, arg(parseDuration))
    .option('--method <method>', 'http: request method (default GET)')
    .option('-H, --header <header>', "http: a request header 'Name: value' (repeat for more)", collect)
    .option('--body <text>', 'http: request body')
    .option('--body-file <file>', 'http: request body from a file')
    .option('--expect-status <list>', 'http: statuses that count as success, e.g. 2xx,301 or 200-399 (default 2xx)')
    .option('--command <command>', "redis: a command template such as 'SET key:__rand__ __data__' (repeat for a mix)", collect)
    .option('--mix', 'redis: run the -t tests mixed on every connection, not one after another (each with its own report, as redis-benchmark does)')
    .option('--keyspace <n>', 'redis: __rand__ keys are drawn from [0, N) (default 1)', arg(parseWholeCount, { min: 1 }))
    .option('--data-size <bytes>', 'redis: __data__ is this many bytes (default 3)', arg(parseSize))
    .option(
      '--send <bytes>',
      'custom: the request: text with \\r \\n \\t \\0 \\\\ \\xHH escapes, hex:..., or @FILE; {seq} (counts per connection, on across reconnects) and {conn} are replaced in all three',
    )
    .option('--expect-bytes <n>', 'custom: every response is N bytes', arg(parseSize, { min: 1 }))
    .option('--expect-delimiter <bytes>', 'custom: a response ends with these bytes (text with escapes, hex:... or @FILE)')
    .option('--length-prefix <kind>', 'custom: a response starts with its length: u8, u16be, u16le, u32be, u32le')
    .option('--length-includes-prefix', 'custom: the length prefix counts itself')
    .option('--max-frame <bytes>', 'custom: the longest delimited or length-prefixed response (default 16MiB)', arg(parseSize, { min: 1 }))
    .option('--expect <bytes>', 'custom: every response must be exactly these bytes (text with escapes, hex:... or @FILE)')
    .option('--start-at <time>', 'start at this wall-clock time (Unix seconds, or ISO 8601 with a zone): several load machines start together', (v: string) => parseStartTime(v))
    .option('--latency', 'the whole latency spectrum: p75, p99.99 and p99.999 as well (mean, stdev, p50, p90, p99, p99.9 and max are always printed)')
    .option('--json', 'print one JSON document on stdout instead of the table', false)
    .option('--csv', 'print the figures as CSV (a header line and a value line) instead of the table')
    .option('--hdr-out <file>', 'write the latency distribution to FILE as HdrHistogram percentile text (as wrk2 -U; HdrHistogram plotter input)')
    .addHelpText(
      'after',
      `
Examples:
  ringleader stress 127.0.0.1:7000 -c 100 -d 10s
  ringleader stress 127.0.0.1:7000 --rate 20k -c 50 --json
  ringleader stress 127.0.0.1:7000 --mode churn -c 32 --source 127.0.0.1-127.0.0.16
  ringleader stress 127.0.0.1:7000 --mode bulk -c 8 --size 64KiB
  ringleader stress 127.0.0.1:7000 --mode idle -c 50000 --connect-rate 5000 --source 127.0.0.1-127.0.0.4
  ringleader stress http://127.0.0.1:8080/ -t1 -c100 -d 10s --latency
  ringleader stress http://127.0.0.1:8080/api -R 20k -H 'Accept: application/json' --method POST --body '{}'
  ringleader stress redis://127.0.0.1:6379 -c 50 -P 16 -t ping,set,get --keyspace 100000
  ringleader stress redis://127.0.0.1:6379 --command 'SET key:__rand__ __data__' --data-size 64
  ringleader stress HOST:7000 --start-at 2026-12-02T18:30:00Z --json > a.json   (on each load machine, together)
  ringleader stress merge a.json b.json       (results of one load run from several machines, --json each)
  ringleader stress 127.0.0.1:9000 --send 'GET {seq}\\r\\n' --expect-delimiter '\\r\\n'

The first SIGINT/SIGTERM stops early and still prints the result; a second one exits at once.
Durations: 500ms, 10s, 1m (a bare number is seconds). Counts: 20000, 20k, 1.5M. Sizes: 64, 16KiB.

Request modes: a wrong answer (a status outside --expect-status, a Redis error reply, a response
that breaks the protocol or differs from --expect) counts as an error and names its connection
and request; -t is threads when it is a number, redis-benchmark's test list otherwise.

Exit status: 0 ok; 1 verification failed, errors exceeded --max-errors, or nothing completed;
2 bad options; 130/143 a second SIGINT/SIGTERM.`,
    )
    .action(async (targetList: string[], f: StressFlags) => {
      if (f.json && f.csv) die(new UsageError('--json and --csv both choose what is printed; give one'));
      if (targetList[0] === 'merge') return merge(targetList.slice(1), f);
      if (f.mix && (f.t === undefined || 'threads' in threadsOrTests(f.t))) die(new UsageError('--mix runs the -t tests together: give it with a test list (-t ping,set,get)'));
      const targets = targetList.join(',');
      const ac = new AbortController();
      let stoppedBy: StopSignal | undefined;
      const stopListening = onStopSignals((sig) => {
        stoppedBy = sig;
        if (process.stderr.isTTY) process.stderr.write('\n');
        process.stderr.write(`ringleader: ${sig}: stopping, finishing in-flight messages (${sig} again to quit now)\n`);
        ac.abort();
      });
      const tty = process.stderr.isTTY === true;
      const { json, t, header, latency: _latency, hdrOut: _hdr, csv: _csv, mix: _mix, startAt, ...flags } = f;
      const opts: StressOptions = {
        ...flags,
        targets,
        signal: ac.signal,
        onProgress: tty ? (p) => process.stderr.write(`\r\x1b[K${liveLine(p, { mode: f.mode ?? D.mode, connections: f.connections }, process.stderr.columns || 80)}`) : undefined,
      };
      if (header) opts.headers = header;
      if (t !== undefined) {
        const tt = threadsOrTests(t);
        if ('tests' in tt) opts.tests = tt.tests;
        else if (f.threads !== undefined && f.threads !== tt.threads) die(new RangeError('-t and --threads both give the thread count; give one'));
        else opts.threads = tt.threads;
      }
      // redis-benchmark runs its tests one after another, each with its own report; --mix runs them together
      let runs: StressOptions[] = [opts];
      if (opts.tests !== undefined && !f.mix) {
        let names: string[];
        try {
          names = parseTests('tests', opts.tests).map((c) => c.name);
        } catch (e) {
          stopListening();
          die(e);
        }
        if (names.length > 1) runs = names.map((tests) => ({ ...opts, tests }));
      }
      const several = runs.length > 1;
      if (f.hdrOut) for (const run of runs) checkWritable(hdrPath(f.hdrOut, run.tests === undefined ? undefined : String(run.tests), several));
      let lateMs = 0;
      if (startAt !== undefined) {
        // on stderr: a log (kubectl logs) shows when each machine began to wait
        process.stderr.write(`ringleader: waiting to start at ${new Date(startAt).toISOString()}\n`);
        lateMs = await waitUntil(startAt, ac.signal);
        if (stoppedBy) {
          stopListening();
          process.stderr.write('ringleader: stopped before the start time: nothing ran\n');
          process.exit(signalExitCode(stoppedBy));
        }
      }
      for (const run of runs) {
        if (ac.signal.aborted) break;
        let result: StressResult;
        try {
          result = await runStress(run);
        } catch (e) {
          if (tty) process.stderr.write('\r\x1b[K');
          stopListening();
          die(e);
        }
        if (tty) process.stderr.write('\r\x1b[K');
        result.failures = result.failures.map(cliText);
        // a second late: the other machines' loads began without this one (the
        // first of redis-benchmark-style runs; the ones after it follow it)
        if (lateMs > 1000 && run === runs[0]) result.warnings.push(`started ${(lateMs / 1000).toFixed(1)} s after --start-at`);
        output(result, f, { several, first: run === runs[0] });
      }
      stopListening();
    });
}
