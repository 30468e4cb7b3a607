/**
 * The native C tests (test/native), built by their Makefile against the
 * engine's static library (libringleader.a) and the system liburing, each
 * run as a process. Exit 0 passes; 77 means the kernel lacks io_uring, which
 * fails here because every other suite needs it. `make -C test/native` runs
 * the same programs without ava.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

const SRC = join(ROOT, 'test', 'native');
const OUT = join(ROOT, 'build', 'native');

let built: { status: number | null; output: string } | undefined;

test.before(() => {
  const make = spawnSync('make', ['-C', SRC, 'all', `OUT=${OUT}`], { encoding: 'utf8', timeout: 300_000 });
  built = { status: make.status, output: `${make.stdout}\n${make.stderr}` };
});

for (const file of readdirSync(SRC).filter((f) => f.endsWith('.c'))) {
  test(`native: ${file}`, (t) => {
    t.is(built?.status, 0, `make -C test/native all failed:\n${built?.output}`);
    const run = spawnSync(join(OUT, file.replace(/\.c$/, '')), [], { encoding: 'utf8', timeout: 120_000 });
    t.is(run.status, 0, `${file} exited ${run.status} (77 = io_uring unavailable)\n${run.stdout}\n${run.stderr}`);
  });
}
