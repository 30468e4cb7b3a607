#!/usr/bin/env node
// The one place that finds liburing for a build of the addon:
//   node scripts/liburing.mjs include   include directories (binding.gyp)
//   node scripts/liburing.mjs libs      what to link (binding.gyp)
//   node scripts/liburing.mjs version   e.g. 2.3
// The addon links the static archive (liburing.a from liburing-dev) when
// there is one, so a prebuilt addon needs no liburing on the user's machine;
// without it (distributions that ship no .a) it links the shared library.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The oldest liburing the engine builds against (src/compat fills in newer helpers). */
export const MIN_VERSION = [2, 3];

function pkgConfig(...args) {
  return execFileSync('pkg-config', [...args, 'liburing'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}

/**
 * liburing as pkg-config describes it, or `{ error }`: one line saying what
 * is missing.
 */
export function findLiburing() {
  let version;
  try {
    version = pkgConfig('--modversion');
  } catch {
    return { error: 'liburing >= 2.3 was not found by pkg-config' };
  }
  const [maj, min] = version.split('.').map(Number);
  if (maj < MIN_VERSION[0] || (maj === MIN_VERSION[0] && min < MIN_VERSION[1])) {
    return { error: `liburing ${version} is too old (need >= ${MIN_VERSION.join('.')})` };
  }
  const include = pkgConfig('--cflags-only-I')
    .split(/\s+/)
    .filter(Boolean)
    .map((f) => f.replace(/^-I/, ''));
  const archive = join(pkgConfig('--variable=libdir'), 'liburing.a');
  const libs = existsSync(archive) ? [archive] : pkgConfig('--libs').split(/\s+/).filter(Boolean);
  return { version, include, libs, static: existsSync(archive) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const what = process.argv[2];
  const l = findLiburing();
  if (l.error) {
    process.stderr.write(`ringleader: ${l.error}: apt-get install liburing-dev pkg-config (Fedora: dnf install liburing-devel)\n`);
    process.exit(1);
  }
  if (what === 'include') process.stdout.write(`${l.include.join(' ')}\n`);
  else if (what === 'libs') process.stdout.write(`${l.libs.join(' ')}\n`);
  else if (what === 'version') process.stdout.write(`${l.version}\n`);
  else {
    process.stderr.write('usage: node scripts/liburing.mjs include|libs|version\n');
    process.exit(2);
  }
}
