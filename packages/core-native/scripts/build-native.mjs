#!/usr/bin/env node
// Builds the addon from source against liburing (statically linked when
// liburing.a exists: see liburing.mjs). Fails with one line naming the
// package to install when liburing is missing, instead of a compiler wall.
//   node scripts/build-native.mjs [--force]             build/Release/ringleader.node
//   node scripts/build-native.mjs --prebuild [--force]  prebuilds/<platform>-<arch>/ (prebuildify,
//                                                       Node-API: one binary for every Node version)
// Either is skipped when its output is newer than every source.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findLiburing } from './liburing.mjs';

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(pkgDir, 'package.json'));
const prebuild = process.argv.includes('--prebuild');
const force = process.argv.includes('--force');

function fail(line) {
  process.stderr.write(`ringleader: ${line}\n`);
  process.exit(1);
}

if (process.platform !== 'linux') fail(`io_uring needs Linux; this is ${process.platform}.`);

const uring = findLiburing();
if (uring.error) fail(`${uring.error}: install liburing-dev (Debian/Ubuntu: apt-get install liburing-dev pkg-config; Fedora: dnf install liburing-devel).`);

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}
const release = join(pkgDir, 'build', 'Release', 'ringleader.node');
function outputs() {
  if (!prebuild) return [release];
  const dir = join(pkgDir, 'prebuilds', `${process.platform}-${process.arch}`);
  return existsSync(dir) ? readdirSync(dir).map((f) => join(dir, f)) : [];
}
const srcTime = Math.max(newest(join(pkgDir, 'src')), statSync(join(pkgDir, 'binding.gyp')).mtimeMs, statSync(join(pkgDir, 'Makefile')).mtimeMs);
const outs = outputs().filter((f) => f.endsWith('.node') && existsSync(f));
if (!force && outs.length > 0 && outs.every((f) => statSync(f).mtimeMs >= srcTime)) {
  process.stdout.write(`ringleader: native addon is up to date (liburing ${uring.version}${uring.static ? ', static' : ''})\n`);
  process.exit(0);
}

// Headers: use the ones that ship with this Node when present (no download);
// node-gyp and prebuildify both read npm_config_nodedir.
const env = { ...process.env };
const prefix = resolve(process.execPath, '..', '..');
if (!env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix;

let args;
if (prebuild) {
  // --tag-libc: node-gyp-build then never picks this glibc build on musl
  args = [require.resolve('prebuildify/bin.js'), '--napi', '--strip', '--tag-libc'];
} else {
  args = [require.resolve('node-gyp/bin/node-gyp.js'), 'rebuild', '--jobs=max'];
}
const r = spawnSync(process.execPath, args, { cwd: pkgDir, stdio: 'inherit', env });
if (r.status !== 0) fail(`building the native addon failed (exit ${r.status}); see the compiler output above.`);
// prebuildify moves its build out of build/Release; put a copy back, so a
// checkout keeps using (and finding up to date) the addon it just built
if (prebuild) {
  mkdirSync(dirname(release), { recursive: true });
  copyFileSync(outputs()[0], release);
}
