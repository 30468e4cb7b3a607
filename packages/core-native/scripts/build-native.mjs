#!/usr/bin/env node
// Builds the addon against the system liburing. Fails with one line naming
// the package to install when liburing is missing, instead of a compiler wall.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(pkgDir, 'package.json'));
const MIN = [2, 3];

function fail(line) {
  process.stderr.write(`ringleader: ${line}\n`);
  process.exit(1);
}

if (process.platform !== 'linux') fail(`io_uring needs Linux; this is ${process.platform}.`);

let version;
try {
  version = execFileSync('pkg-config', ['--modversion', 'liburing'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch {
  fail('liburing >= 2.3 was not found by pkg-config: install liburing-dev (Debian/Ubuntu: apt install liburing-dev pkg-config; Fedora: dnf install liburing-devel).');
}
const [maj, min] = version.split('.').map(Number);
if (maj < MIN[0] || (maj === MIN[0] && min < MIN[1])) {
  fail(`liburing ${version} is too old (need >= ${MIN.join('.')}): install a newer liburing-dev.`);
}

// Rebuild only when a source is newer than the addon.
const out = join(pkgDir, 'build', 'Release', 'ringleader.node');
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}
const force = process.argv.includes('--force');
if (!force && existsSync(out)) {
  const srcTime = Math.max(newest(join(pkgDir, 'src')), statSync(join(pkgDir, 'binding.gyp')).mtimeMs);
  if (statSync(out).mtimeMs >= srcTime) {
    process.stdout.write(`ringleader: native addon is up to date (liburing ${version})\n`);
    process.exit(0);
  }
}

// Headers: use the ones that ship with this Node when present (no download).
const args = [require.resolve('node-gyp/bin/node-gyp.js'), 'rebuild', `--jobs=max`];
const prefix = resolve(process.execPath, '..', '..');
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
const r = spawnSync(process.execPath, args, { cwd: pkgDir, stdio: 'inherit' });
if (r.status !== 0) fail(`building the native addon failed (exit ${r.status}); see the compiler output above.`);
