#!/usr/bin/env node
// Builds the addon from source against liburing (statically linked when
// liburing.a exists: see liburing.mjs).
//   node scripts/build-native.mjs [--force]
// In a checkout (prebuildify installed) the build is the prebuild that
// `pnpm pack` ships, prebuilds/<platform>-<arch>/ (Node-API: one binary for
// every Node version), with a copy in build/Release; one compile serves
// both, and prepack finds it up to date. In an installed package (no
// prebuild matched) it is a plain `node-gyp rebuild` into build/Release.
// Skipped when the output is newer than every source.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findLiburing } from './liburing.mjs';

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(pkgDir, 'package.json'));
const force = process.argv.includes('--force');

function fail(line) {
  process.stderr.write(`ringleader: ${line}\n`);
  process.exit(1);
}

function resolveOr(id) {
  try {
    return require.resolve(id);
  } catch {
    return undefined;
  }
}

if (process.platform !== 'linux') fail(`io_uring needs Linux; this is ${process.platform}.`);

const uring = findLiburing();
if (uring.error) fail(`${uring.error}: install liburing-dev (Debian/Ubuntu: apt-get install liburing-dev pkg-config; Fedora: dnf install liburing-devel).`);

const prebuildify = resolveOr('prebuildify/bin.js');
const release = join(pkgDir, 'build', 'Release', 'ringleader.node');
const prebuilds = join(pkgDir, 'prebuilds', `${process.platform}-${process.arch}`);
function outputs() {
  const pre = existsSync(prebuilds) ? readdirSync(prebuilds).map((f) => join(prebuilds, f)) : [];
  return [release, ...(prebuildify ? pre : [])].filter((f) => existsSync(f));
}

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}
const srcTime = Math.max(newest(join(pkgDir, 'src')), ...['binding.gyp', 'Makefile'].map((f) => statSync(join(pkgDir, f)).mtimeMs));
const outs = outputs();
if (!force && outs.length === (prebuildify ? 2 : 1) && outs.every((f) => statSync(f).mtimeMs >= srcTime)) {
  process.stdout.write(`ringleader: native addon is up to date (liburing ${uring.version}${uring.static ? ', static' : ''})\n`);
  process.exit(0);
}

// Headers: use the ones that ship with this Node when present (no download);
// node-gyp and prebuildify both read npm_config_nodedir.
const env = { ...process.env };
const prefix = resolve(process.execPath, '..', '..');
if (!env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix;

// --tag-libc: node-gyp-build then never picks this glibc build on musl.
// Outside a checkout node-gyp is npm's own (npm names it in npm_config_node_gyp).
const nodeGyp = resolveOr('node-gyp/bin/node-gyp.js') ?? env.npm_config_node_gyp;
if (!prebuildify && !nodeGyp) fail('building the native addon needs node-gyp: run the install with npm, or npm install node-gyp');
const args = prebuildify ? [prebuildify, '--napi', '--strip', '--tag-libc'] : [nodeGyp, 'rebuild', '--jobs=max'];
const r = spawnSync(process.execPath, args, { cwd: pkgDir, stdio: 'inherit', env });
if (r.status !== 0) fail(`building the native addon failed (exit ${r.status}); see the compiler output above.`);
if (prebuildify) {
  // prebuildify moves its build out of build/Release; a copy stays there
  mkdirSync(dirname(release), { recursive: true });
  copyFileSync(join(prebuilds, readdirSync(prebuilds)[0]), release);
}
