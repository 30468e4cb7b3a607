/**
 * The native C tests (test/native): compiled against the engine sources and
 * the system liburing, each run as a process. Exit 0 passes; 77 means the
 * kernel lacks io_uring, which fails here because every other suite needs it.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

const SRC = join(ROOT, 'test', 'native');
const ENGINE = join(ROOT, 'packages', 'core-native', 'src', 'engine');
const OUT = join(ROOT, 'build', 'native');
const libs = execFileSync('pkg-config', ['--cflags', '--libs', 'liburing'], { encoding: 'utf8' }).trim().split(/\s+/).filter(Boolean);
const cFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.c'))
    .map((f) => join(dir, f));
// the engine's top-level sources and its protocol parsers (engine/proto)
const engineSources = [...cFiles(ENGINE), ...cFiles(join(ENGINE, 'proto'))];

for (const file of readdirSync(SRC).filter((f) => f.endsWith('.c'))) {
  test(`native: ${file}`, (t) => {
    mkdirSync(OUT, { recursive: true });
    const bin = join(OUT, file.replace(/\.c$/, ''));
    const cc = spawnSync('cc', ['-std=gnu11', '-O2', '-g', '-Wall', '-Wno-psabi', '-o', bin, join(SRC, file), ...engineSources, ...libs, '-lpthread'], { encoding: 'utf8' });
    t.is(cc.status, 0, `compile failed:\n${cc.stderr}`);
    const run = spawnSync(bin, [], { encoding: 'utf8', timeout: 120_000 });
    t.is(run.status, 0, `${file} exited ${run.status} (77 = io_uring unavailable)\n${run.stdout}\n${run.stderr}`);
  });
}
