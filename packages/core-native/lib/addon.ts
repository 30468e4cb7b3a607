/**
 * @ringleader/core-native/addon: find and load the native addon without
 * throwing, so a caller that can do without it (the CLI's --help, --version
 * and doctor) can say why it is missing and what to run. Importing this
 * module loads nothing; `loadAddon()` does, once.
 *
 * The addon is found by node-gyp-build: build/Release (a source build: a
 * checkout, or an install with no matching prebuild), then
 * prebuilds/<platform>-<arch>/ (shipped in the package: Node-API, so one
 * binary serves every Node version).
 */
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Binding } from './index.js';

export type AddonStatus =
  | { ok: true; addon: Binding; path: string }
  | {
      ok: false;
      /** one line: why there is no addon */
      reason: string;
      /** one line: what to run */
      fix: string;
      cause: unknown;
    };

const require = createRequire(import.meta.url);
const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const FIX =
  'build it from source with `npm rebuild @ringleader/core-native` (it needs liburing-dev, pkg-config, g++, make and python3: apt-get install liburing-dev pkg-config g++ make python3), or in a ringleader checkout run `pnpm install`';

let status: AddonStatus | undefined;

function firstLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split('\n')[0];
}

/** The addon, or why it cannot be loaded. */
export function loadAddon(): AddonStatus {
  if (status) return status;
  const gypBuild = require('node-gyp-build') as { path(dir: string): string };
  let path: string;
  try {
    path = gypBuild.path(pkgDir);
  } catch (e) {
    const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } };
    const libc = report.header?.glibcVersionRuntime ? 'glibc' : 'musl';
    status = { ok: false, reason: `the native addon is missing: no prebuild for ${platform()}-${arch()} (${libc}) and no source build`, fix: FIX, cause: e };
    return status;
  }
  try {
    status = { ok: true, addon: require(path) as Binding, path };
  } catch (e) {
    status = { ok: false, reason: `the native addon ${path} does not load: ${firstLine(e)}`, fix: FIX, cause: e };
  }
  return status;
}

/** An error for code that cannot run without the addon (the runtime, as it is imported). */
export class AddonMissingError extends Error {
  readonly code = 'ERR_RINGLEADER_NO_ADDON';
  constructor(s: Extract<AddonStatus, { ok: false }>) {
    super(`${s.reason}; ${s.fix}`, { cause: s.cause });
  }
}
