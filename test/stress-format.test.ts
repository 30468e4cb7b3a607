/**
 * The stress CLI's human output: the live line on narrow terminals, and
 * the result table's wording of wrong answers (flags, not option names).
 */
import test from 'ava';
import { runStress, type StressProgress, type StressResult } from '@ringleader/runtime';
import { startBadServer, withPeer } from './peers.js';

interface Format {
  liveLine(p: StressProgress, r: { mode: string; connections: number }, width?: number): string;
  formatResult(r: StressResult): string;
}
const format = async () => (await import(new URL('../../packages/cli/dist/stress-format.js', import.meta.url).href)) as Format;

const progress: StressProgress = {
  mode: 'http',
  elapsedMs: 12_000,
  phase: 'measuring',
  up: 100,
  connecting: 0,
  msgsPerSec: 123_456,
  cyclesPerSec: 0,
  outMiBPerSec: 12.3,
  inMiBPerSec: 45.6,
  p50Us: 420,
  p99Us: 1890,
  errors: 3,
  verifyFailures: 2,
  verified: 1_000_000,
};

test('the live line fits the terminal by dropping whole fields, the least telling first', async (t) => {
  const { liveLine } = await format();
  const wide = liveLine(progress, { mode: 'http', connections: 100 }, 200);
  const fields = wide.split('  ');
  t.true(fields.length >= 6, wide);
  for (const width of [200, 100, 80, 60, 50, 40, 30]) {
    const line = liveLine(progress, { mode: 'http', connections: 100 }, width);
    t.true(line.length <= width - 1, `${width}: ${line}`);
    // every field shown is whole: cut at a field boundary, never mid-number
    for (const f of line.split('  ')) t.true(fields.includes(f), `${width}: "${f}" is not a whole field of "${wide}"`);
    // what matters most stays longest: the rate, then the mismatches and errors
    if (width >= 50) t.regex(line, /req\/s.*MISMATCHES 2/, `${width}`);
  }
  t.regex(liveLine(progress, { mode: 'http', connections: 100 }, 60), /errors 3 {2}MISMATCHES 2/);
  t.notRegex(liveLine(progress, { mode: 'http', connections: 100 }, 60), /MiB\/s/, 'the throughput in MiB/s goes first');
});

test('wrong answers in the table name flags (--timeout), as the failure lines do', async (t) => {
  const { formatResult } = await format();
  // a server that reads and never answers
  const r = await withPeer(
    startBadServer(() => {}),
    (port) => runStress({ targets: `http://127.0.0.1:${port}/`, threads: 1, connections: 1, duration: 1500, warmup: 0, drain: 100, timeout: 300 }),
  );
  t.false(r.ok);
  const table = formatResult(r);
  t.regex(table, /request 0: no response within the timeout \(--timeout\)/);
  // (the failure lines below are the CLI's to word: it passes them through cliText)
  t.notRegex(table.split('result:')[0], /option "timeout"/);
});

test('a latency table in ms keeps sub-millisecond values readable (0.020, not 0.02)', async (t) => {
  const { formatResult } = await format();
  const r = await withPeer(
    startBadServer((s, d) => s.write(d)),
    (port) => runStress({ targets: `127.0.0.1:${port}`, threads: 1, connections: 1, messages: 50 }),
  );
  t.true(r.ok, r.failures.join('; '));
  // a spread wide enough for the ms unit: 20 us at the low end, 150 ms at the top
  const wide = { ...r, latencyUs: { ...r.latencyUs!, min: 20, p50: 20, max: 150_000 } };
  const row = formatResult(wide)
    .split('\n')
    .find((l) => /^\s+round trip/.test(l))!;
  t.regex(formatResult(wide), /latency \(ms\)/);
  t.regex(row, /^\s+round trip\s+0\.020\s/, row);
});
