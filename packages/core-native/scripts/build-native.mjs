#!/usr/bin/env node
// Builds the addon from source against liburing (statically linked when
// liburing.a exists: see liburing.mjs).
//   node scripts/build-native.mjs [--force] [--arch=arm64]
// In a checkout (prebuildify installed) the build is the prebuild that
// `pnpm pack` ships, prebuilds/<platform>-<arch>/ (Node-API: one binary for
// every Node version), with a copy in build/Release; one compile serves
// both, and prepack finds it up to date. In an installed package (no
// prebuild matched) it is a plain `node-gyp rebuild` into build/Release.
// Skipped when the output is newer than every source.
//
// --arch=arm64 cross-compiles the linux-arm64 prebuild on x64 with Debian's
// cross toolchain (apt-get install g++-aarch64-linux-gnu, and liburing-dev:arm64
// after dpkg --add-architecture arm64); the prebuild then ships with the next pack.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findLiburing } from './liburing.mjs';

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(pkgDir, 'package.json'));
const force = process.argv.includes('--force');
const arch = process.argv.find((a) => a.startsWith('--arch='))?.slice('--arch='.length) ?? process.arch;
// Debian's names of each cross target: compilers are <triplet>-gcc, libraries in /usr/lib/<triplet>
const TRIPLETS = { arm64: 'aarch64-linux-gnu', x64: 'x86_64-linux-gnu' };
const cross = arch !== process.arch;

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
const env = { ...process.env };
if (cross) {
  const t = TRIPLETS[arch];
  if (!t) fail(`no cross build for ${arch} (known: ${Object.keys(TRIPLETS).join(', ')})`);
  Object.assign(env, { CC: `${t}-gcc`, CXX: `${t}-g++`, LINK: `${t}-g++`, AR: `${t}-ar`, PKG_CONFIG_LIBDIR: `/usr/lib/${t}/pkgconfig:/usr/share/pkgconfig` });
  process.env.PKG_CONFIG_LIBDIR = env.PKG_CONFIG_LIBDIR;
}

const uring = findLiburing();
if (uring.error) fail(`${uring.error}: install liburing-dev${cross ? `:${arch}` : ''} (Debian/Ubuntu: apt-get install liburing-dev pkg-config; Fedora: dnf install liburing-devel).`);

const prebuildify = resolveOr('prebuildify/bin.js');
const release = join(pkgDir, 'build', 'Release', 'ringleader.node');
const prebuilds = join(pkgDir, 'prebuilds', `${process.platform}-${arch}`);
if (cross && !prebuildify) fail('a cross build needs a checkout (prebuildify)');
function outputs() {
  const pre = existsSync(prebuilds) ? readdirSync(prebuilds).map((f) => join(prebuilds, f)) : [];
  return [...(cross ? [] : [release]), ...(prebuildify ? pre : [])].filter((f) => existsSync(f));
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
// a pack ships every prebuild there is: one older than the sources would ship stale code
for (const dir of existsSync(join(pkgDir, 'prebuilds')) ? readdirSync(join(pkgDir, 'prebuilds')) : []) {
  const other = join(pkgDir, 'prebuilds', dir);
  if (other === prebuilds) continue;
  if (readdirSync(other).some((f) => statSync(join(other, f)).mtimeMs < srcTime)) {
    fail(`prebuilds/${dir} is older than the sources: rebuild it (node scripts/build-native.mjs --arch=${dir.split('-')[1]}) or delete it`);
  }
}
const outs = outputs();
if (!force && outs.length === (cross ? 1 : prebuildify ? 2 : 1) && outs.every((f) => statSync(f).mtimeMs >= srcTime)) {
  process.stdout.write(`ringleader: native addon is up to date (liburing ${uring.version}${uring.static ? ', static' : ''})\n`);
  process.exit(0);
}

// Headers: use the ones that ship with this Node when present (no download);
// node-gyp and prebuildify both read npm_config_nodedir.
const prefix = resolve(process.execPath, '..', '..');
if (!env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix;

// --tag-libc: node-gyp-build then never picks this glibc build on musl.
// Outside a checkout node-gyp is npm's own (npm names it in npm_config_node_gyp).
const nodeGyp = resolveOr('node-gyp/bin/node-gyp.js') ?? env.npm_config_node_gyp;
if (!prebuildify && !nodeGyp) fail('building the native addon needs node-gyp: run the install with npm, or npm install node-gyp');
const args = prebuildify ? [prebuildify, '--napi', '--strip', '--tag-libc', `--arch=${arch}`] : [nodeGyp, 'rebuild', '--jobs=max'];
if (cross) args.push(`--strip-bin=${TRIPLETS[arch]}-strip`);
const r = spawnSync(process.execPath, args, { cwd: pkgDir, stdio: 'inherit', env });
if (r.status !== 0) fail(`building the native addon failed (exit ${r.status}); see the compiler output above.`);
// prebuildify empties build/ and moves its build out: build/Release keeps a
// copy of this machine's (with its time, so it is no fresher than it is)
const host = join(pkgDir, 'prebuilds', `${process.platform}-${process.arch}`);
if (prebuildify && existsSync(host)) {
  mkdirSync(dirname(release), { recursive: true });
  cpSync(join(host, readdirSync(host)[0]), release, { preserveTimestamps: true });
}
