#!/usr/bin/env node
// Run by the install script (node-gyp-build) only when no prebuilt addon
// loads here, before it builds from source: when the build cannot work,
// say in one line what is missing and the command that installs it, instead
// of letting node-gyp fail with a page of compiler output.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { findLiburing } from './liburing.mjs';

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
  createRequire(import.meta.url).resolve('node-addon-api');
} catch {
  addonApi = false;
}

if (missing.length === 0 && addonApi) process.exit(0);
const what = [...missing.map((m) => m[0]), ...(addonApi ? [] : ['node-addon-api'])].join(', ');
const fix = [...(missing.length ? [`apt-get install ${[...new Set(missing.map((m) => m[1]))].join(' ')}`] : []), ...(addonApi ? [] : ['npm install node-addon-api']), 'install again'].join(', then ');
const libc = process.report?.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl';
process.stderr.write(`ringleader: no prebuilt addon for ${platform()}-${arch()} (${libc}) works here, and building it from source needs ${what}: ${fix}\n`);
process.exit(1);
