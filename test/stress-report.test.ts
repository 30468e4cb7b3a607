/**
 * What `ringleader stress` reports beyond the table: the percentile
 * spectrum and per-second distribution, the client's CPU per request, --hdr-out (HdrHistogram percentile
 * text), --csv, and `stress merge` of results from several load machines.
 * Driven in custom mode against a small Node server (one line in, one line
 * out), through the CLI as a user runs it.
 */
import test from 'ava';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StressResult } from '@ringleader/runtime';
import { hdrText, latencyStats } from '@ringleader/runtime/internal';
import { clientLayout, histLowerBounds } from '@ringleader/core-native';
import { runCli } from './helpers.js';
import { startBadServer, withPeer } from './peers.js';

const dir = mkdtempSync(join(tmpdir(), 'rl-report-'));

/** answers every "\n"-ended request with "ok\n" */
const lineServer = () =>
  startBadServer((s, d) => {
    const n = d.toString().split('\n').length - 1;
    if (n) s.write('ok\n'.repeat(n));
  });

const run = (port: number, ...extra: string[]) =>
  runCli(['stress', `127.0.0.1:${port}`, '--send', 'q\\n', '--expect', 'ok\\n', '-t', '1', '-c', '4', '-d', '2s', '--warmup', '200ms', ...extra], 60_000);

test.serial('--json carries the percentile spectrum, the per-second series and the histogram; --hdr-out and --csv agree with it', async (t) => {
  await withPeer(lineServer(), async (port) => {
    const hdr = join(dir, 'lat.hdr');
    const j = await run(port, '--json', '--hdr-out', hdr);
    t.is(j.code, 0, j.stderr);
    const r = JSON.parse(j.stdout) as StressResult;
    const l = r.latencyUs!;
    const spectrum = [l.min, l.p50, l.p75, l.p90, l.p99, l.p999, l.p9999, l.p99999, l.max];
    t.deepEqual(
      spectrum,
      [...spectrum].sort((a, b) => a - b),
      'percentiles never decrease',
    );
    t.true(l.stdev >= 0);
    // the load's own CPU, start-up excluded, per request
    t.true(r.clientCpu.userMs + r.clientCpu.systemMs > 0);
    t.true((r.clientCpu.usPerMessage ?? 0) > 0);
    // the engine counted each whole second of the 2 s window; they add up to at most the window's total
    t.is(r.timeSeries.length, 2);
    const inSeconds = r.timeSeries.reduce((a, s) => a + s.msgs, 0);
    t.true(inSeconds > 0 && inSeconds <= r.messages.measured, `${inSeconds} of ${r.messages.measured}`);
    const ps = r.throughput.perSecond!;
    t.true(ps.min <= ps.p50 && ps.p50 <= ps.max && ps.seconds === 2);
    t.is(
      r.latencyHistogram!.buckets.reduce((a, [, n]) => a + n, 0),
      l.count,
    );

    // HdrHistogram percentile text: ascending rows ending at 100% with the total count, and the footer
    const text = readFileSync(hdr, 'utf8').trimEnd().split('\n');
    t.regex(text[0], /^\s+Value\s+Percentile\s+TotalCount\s+1\/\(1-Percentile\)$/);
    const rows = text.filter((x) => /^\s+[\d.]+\s+[\d.]+\s+\d+/.test(x)).map((x) => x.trim().split(/\s+/).map(Number));
    t.true(rows.length > 10);
    for (let i = 1; i < rows.length; i++) t.true(rows[i][0] >= rows[i - 1][0] && rows[i][1] >= rows[i - 1][1] && rows[i][2] >= rows[i - 1][2]);
    t.deepEqual(rows.at(-1)!.slice(1, 3), [1, l.count]);
    t.regex(text.at(-2)!, new RegExp(`Total count\\s+=\\s+${l.count}\\]`));

    const c = await run(port, '--csv');
    t.is(c.code, 0, c.stderr);
    const [head, values] = c.stdout
      .trim()
      .split('\n')
      .map((x) => x.split(','));
    t.is(head.length, values.length);
    const col = (k: string) => values[head.indexOf(k)];
    t.is(col('mode'), 'custom');
    t.true(Number(col('requests_per_sec')) > 0);
    t.true(Number(col('lat_p99_999_us')) >= Number(col('lat_p50_us')));
  });
});

test('--hdr-out: the first row is the exact minimum, not the upper bound of its bucket', (t) => {
  const subBits = clientLayout.histSubBits;
  const b = histLowerBounds(subBits, clientLayout.histBuckets);
  const minNs = 1_234_567;
  const i = b.findIndex((x) => x > minNs) - 1;
  t.true(b[i + 1] - minNs > 5_000, 'the bucket is wider than the text shows');
  const rows = hdrText({ subBits, buckets: [[i, 3]] }, minNs, b[i + 1] - 1, 1234.6, 0)
    .split('\n')
    .filter((x) => /^\s+[\d.]+\s+[\d.]+\s+\d+/.test(x));
  t.is(rows[0].trim().split(/\s+/)[0], '1.235');
});

test('percentiles: the last rank is the exact maximum; one sample is its own min, max and every percentile', (t) => {
  const b = histLowerBounds(clientLayout.histSubBits, clientLayout.histBuckets);
  const i = b.findIndex((x) => x > 2_000_000) - 1;
  // 100 samples in one bucket, the largest 2.001 ms: p99.9 is that sample
  const h = new Float64Array(clientLayout.histBuckets);
  h[i] = 100;
  const s = latencyStats(h, 100 * 2_000_500, b[i] + 1, 2_001_000);
  t.is(s!.p999, 2001);
  t.is(s!.p99999, 2001);
  // one sample (a connect: no exact samples kept, its sum is its value)
  const one = new Float64Array(clientLayout.histBuckets);
  one[i] = 1;
  const c = latencyStats(one, 2_000_400, 0, 2_000_400);
  t.like(c, { count: 1, min: 2000.4, max: 2000.4, p50: 2000.4, p99999: 2000.4, stdev: 0 });
});

test.serial('--hdr-out of a run with no answer: the failed report, and an empty distribution', async (t) => {
  await withPeer(
    startBadServer(() => undefined),
    async (port) => {
      const hdr = join(dir, 'none.hgrm');
      const r = await run(port, '--hdr-out', hdr, '--timeout', '300ms');
      t.is(r.code, 1, r.stderr);
      t.regex(r.stdout, /result: FAILED/);
      t.regex(readFileSync(hdr, 'utf8'), /Total count\s+=\s+0\]/);
    },
  );
});

test.serial('a small sample reports its real latencies, not bucket midpoints', async (t) => {
  await withPeer(lineServer(), async (port) => {
    for (let i = 0; i < 3; i++) {
      const j = await runCli(['stress', `127.0.0.1:${port}`, '--send', 'q\\n', '--expect', 'ok\\n', '-t', '1', '-c', '1', '-n', '3', '--json']);
      t.is(j.code, 0, j.stderr);
      const l = (JSON.parse(j.stdout) as StressResult).latencyUs!;
      t.is(l.count, 3);
      // the three values themselves: min, the middle one (p50) and max add up to three times the exact mean
      t.true(Math.abs(l.min + l.p50 + l.max - 3 * l.mean) < 0.05, JSON.stringify(l));
      t.is(l.p99, l.max);
    }
  });
});

test.serial('--latency prints the spectrum in one unit, and the per-second row', async (t) => {
  await withPeer(lineServer(), async (port) => {
    const r = await run(port, '--latency');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /latency \((us|ms)\)\s+p50\s+p75\s+p90\s+p99\s+p99\.9\s+p99\.99\s+p99\.999\s+max\s+mean\s+stdev/);
    t.regex(r.stdout, /requests\/s\s+min\s+p2\.5\s+p50\s+p97\.5\s+max\n\s+each second(\s+[\d.]+k?){5}\s+2 s/);
    // one unit per column: no cell of the latency rows carries its own unit
    const rows = r.stdout.split('\n').filter((x) => /^\s+(response|connect)\s/.test(x));
    t.is(rows.length, 2);
    for (const row of rows) t.notRegex(row, /\d(ms|us)\b/);
  });
});

test.serial('stress merge adds the histograms, counts and rates of several runs', async (t) => {
  await withPeer(lineServer(), async (port) => {
    const files: string[] = [];
    const results: StressResult[] = [];
    for (const name of ['a', 'b']) {
      const r = await run(port, '--json');
      t.is(r.code, 0, r.stderr);
      files.push(join(dir, `${name}.json`));
      writeFileSync(files.at(-1)!, r.stdout);
      results.push(JSON.parse(r.stdout));
    }
    const m = await runCli(['stress', 'merge', ...files, '--json']);
    t.is(m.code, 0, m.stderr);
    const r = JSON.parse(m.stdout) as StressResult;
    t.is(r.mergedFrom, 2);
    t.is(r.connections, 8);
    t.is(r.messages.verified, results[0].messages.verified + results[1].messages.verified);
    t.is(r.latencyUs!.count, results[0].latencyUs!.count + results[1].latencyUs!.count);
    t.is(Math.round(r.throughput.requestsPerSec!), Math.round(results[0].throughput.requestsPerSec! + results[1].throughput.requestsPerSec!));
    t.is(r.latencyUs!.max, Math.max(results[0].latencyUs!.max, results[1].latencyUs!.max));
    t.is(r.timeSeries[0].msgs, results[0].timeSeries[0].msgs + results[1].timeSeries[0].msgs);
    // the two ran one after the other: their windows did not overlap, and the merge says so
    for (const x of results) t.true(Math.abs(Date.parse(x.windowStart) - Date.now()) < 60_000, x.windowStart);
    t.is(r.windowStart, results[0].windowStart);
    t.true(
      r.warnings.some((w) => /^the measured windows began up to \d+\.\d s apart/.test(w)),
      JSON.stringify(r.warnings),
    );
    const table = await runCli(['stress', 'merge', ...files]);
    t.regex(table.stdout, /merged\s+2 results/);

    // open loops add up to the load the machines offered together; a closed loop merged with an open one is warned of
    const open = (rate: number) => JSON.stringify({ ...results[0], rate });
    writeFileSync(join(dir, 'o1.json'), open(1000));
    writeFileSync(join(dir, 'o2.json'), open(1000));
    const oo = JSON.parse((await runCli(['stress', 'merge', join(dir, 'o1.json'), join(dir, 'o2.json'), '--json'])).stdout) as StressResult;
    t.is(oo.rate, 2000);
    t.false(oo.warnings.some((w) => /different loads/.test(w)));
    const mixed = JSON.parse((await runCli(['stress', 'merge', files[0], join(dir, 'o1.json'), '--json'])).stdout) as StressResult;
    t.true(
      mixed.warnings.some((w) => /^the merged results ran different loads \(closed loop, open loop 1000\/s\)/.test(w)),
      JSON.stringify(mixed.warnings),
    );

    // one file merged with nothing is itself (not read again from its histogram)
    const one = JSON.parse((await runCli(['stress', 'merge', files[0], '--json'])).stdout) as StressResult;
    t.deepEqual({ ...one, mergedFrom: undefined }, { ...results[0], mergedFrom: undefined });
    // the same file twice, and runs of different lengths, are warned of
    const twice = JSON.parse((await runCli(['stress', 'merge', files[0], files[0], '--json'])).stdout) as StressResult;
    t.true(
      twice.warnings.some((w) => /a\.json is the same run as .*a\.json \(same seed and start\): it is counted twice/.test(w)),
      JSON.stringify(twice.warnings),
    );
    writeFileSync(join(dir, 'long.json'), JSON.stringify({ ...results[1], durationMs: results[1].durationMs * 2 }));
    const lengths = JSON.parse((await runCli(['stress', 'merge', files[0], join(dir, 'long.json'), '--json'])).stdout) as StressResult;
    t.true(
      lengths.warnings.some((w) => /^the merged runs measured for different times/.test(w)),
      JSON.stringify(lengths.warnings),
    );

    // bad input: exit 2 naming the file
    writeFileSync(join(dir, 'bad.json'), 'not json');
    const bad = await runCli(['stress', 'merge', files[0], join(dir, 'bad.json')]);
    t.is(bad.code, 2);
    t.regex(bad.stderr, /bad\.json holds no result of ringleader stress --json/);
    // a pod's log: other lines, JSON log records and a broken line around the result are skipped
    writeFileSync(join(dir, 'pod.log'), `ringleader: waiting to start at 2026-12-03T10:00:00.000Z\n{"level":"info","msg":"starting"}\n{"broken\n${readFileSync(files[1], 'utf8').trim()}\n`);
    const pod = await runCli(['stress', 'merge', files[0], join(dir, 'pod.log'), '--json']);
    t.is(pod.code, 0, pod.stderr);
    t.is((JSON.parse(pod.stdout) as StressResult).mergedFrom, 2);
    const none = await runCli(['stress', 'merge', join(dir, 'missing.json')]);
    t.is(none.code, 2);
    t.regex(none.stderr, /cannot read .*missing\.json \(ENOENT\)/);
  });
});
