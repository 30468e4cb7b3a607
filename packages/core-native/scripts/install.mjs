#!/usr/bin/env node
// The package's install script. Nothing to do when an addon loads here (the
// shipped prebuild, found by node-gyp-build as the loader finds it). Else it
// builds from source (build-native.mjs), and when that cannot work it says in
// one line what is missing and the command that installs it, instead of a
// page of compiler output. (pnpm 10 and newer npm skip install scripts
// unless allowed: the prebuild needs none, and without it the CLI says what
// to run.)
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { fileURLToPath } from 'node:url';
import { findLiburing } from './liburing.mjs';

const require = createRequire(import.meta.url);
const pkgDir = fileURLToPath(new URL('..', import.meta.url));
try {
  require(require('node-gyp-build').path(pkgDir));
  process.exit(0);
} catch {
  /* no build matches, or it does not load here: build one */
}

function has(cmd, args = ['--version']) {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// [what is missing, its Debian/Ubuntu package]
const missing = [];
if (!has('pkg-config')) missing.push(['pkg-config', 'pkg-config']);
else {
  const l = findLiburing();
  if (l.error) missing.push([l.error.replace(/ was not found by pkg-config$/, ''), 'liburing-dev']);
}
if (!has('cc')) missing.push(['a C compiler', 'gcc']);
if (!has('c++')) missing.push(['a C++ compiler', 'g++']);
if (!has('make')) missing.push(['make', 'make']);
if (!has('python3')) missing.push(['python3 (for node-gyp)', 'python3']);
let addonApi = true;
try {
  require.resolve('node-addon-api');
} catch {
  addonApi = false;
}

if (missing.length === 0 && addonApi) {
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('build-native.mjs', import.meta.url))], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const what = [...missing.map((m) => m[0]), ...(addonApi ? [] : ['node-addon-api'])].join(', ');
const fix = [...(missing.length ? [`apt-get install ${[...new Set(missing.map((m) => m[1]))].join(' ')}`] : []), ...(addonApi ? [] : ['npm install node-addon-api']), 'install again'].join(', then ');
const libc = process.report?.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl';
process.stderr.write(`ringleader: no prebuilt addon for ${platform()}-${arch()} (${libc}) works here, and building it from source needs ${what}: ${fix}\n`);
process.exit(1);
