// `pnpm soak` (bench/soak/run.mjs) is not part of the ava run: its checks take
// minutes. This runs one cheap check of it with --quick, so that the script
// cannot rot unnoticed: the proxy mixed-load check starts a proxy, two C echo
// backends and two stress clients, samples the accepted counter every second
// and must pass.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

const SOAK = join(ROOT, 'bench', 'soak', 'run.mjs');

interface SoakReport {
  quick: boolean;
  results: { name: string; pass: boolean; figure: string; details: string[] }[];
}

test('pnpm soak --quick mixed: runs the check and reports it passed, as JSON', (t) => {
  const r = spawnSync(process.execPath, [SOAK, '--quick', '--json', 'mixed'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  t.is(r.status, 0, `${r.stderr}\n${r.stdout}`);
  const report = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as SoakReport;
  t.true(report.quick);
  t.deepEqual(
    report.results.map((x) => [x.name, x.pass]),
    [['mixed', true]],
  );
  // the figure names what was measured: runs that kept accepting, and the fewest accepts in a second
  t.regex(report.results[0].figure, /^1\/1 runs kept accepting \(fewest accepts in any second: [1-9]\d*/);
  t.regex(r.stderr, /PASS mixed/);
});

test('pnpm soak: an unknown check is a usage error (exit 2) naming it', (t) => {
  const r = spawnSync(process.execPath, [SOAK, 'no-such-check'], { cwd: ROOT, encoding: 'utf8', timeout: 10_000 });
  t.is(r.status, 2);
  t.regex(r.stderr, /unknown check no-such-check/);
});
