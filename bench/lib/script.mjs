// What every standalone bench script (js-handler.mjs, stress-protocols.mjs)
// starts with: its options (bad ones exit 2 naming the flag), pinning to a
// CPU with taskset when there are two, and the tools it needs (exit 1
// naming what to install).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'packages/cli/dist/bin.js');

/** The `ringleader` command: a shell launcher that runs node with its flags on dist/bin.js. */
export const LAUNCHER = join(ROOT, 'packages/cli/bin/ringleader');

/**
 * `process.execPath` arguments that run the CLI as the installed
 * `ringleader` command does: with the Node flags of the launcher's exec
 * line (`exec node --no-memory-reducer .../dist/bin.js "$@"`), then `args`.
 */
export function cliArgs(...args) {
  const line = readFileSync(LAUNCHER, 'utf8')
    .split('\n')
    .find((l) => /^exec node\b/.test(l));
  if (!line) throw new Error(`${LAUNCHER}: no "exec node" line to take the Node flags from`);
  const flags = line.split(/\s+/).filter((w) => /^--[\w-]+$/.test(w));
  return [...flags, CLI, ...args];
}

/**
 * Parse `--suite LIST --rounds N --duration N --json` plus `extra` integer
 * options ({ name: [default, min] }); `suites` are the allowed suite names.
 * `--help` prints `usage`. Returns { suites, rounds, duration, json, ...extra }.
 */
export function scriptOptions(name, usage, suites, extra = {}) {
  try {
    const ints = { rounds: ['3', 1], duration: ['5', 1], ...extra };
    const { values } = parseArgs({
      options: {
        suite: { type: 'string', default: suites.join(',') },
        ...Object.fromEntries(Object.entries(ints).map(([k, [d]]) => [k, { type: 'string', default: String(d) }])),
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    });
    if (values.help) {
      process.stdout.write(`usage: ${usage}\n`);
      process.exit(0);
    }
    const out = { suites: values.suite.split(',').map((s) => s.trim()), json: values.json };
    for (const s of out.suites) if (!suites.includes(s)) throw new Error(`--suite: unknown suite "${s}" (${suites.join(', ')})`);
    for (const [k, [, min]] of Object.entries(ints)) {
      const n = Number(values[k]);
      if (!Number.isInteger(n) || n < min) throw new Error(`--${k} must be an integer >= ${min}; got ${values[k]}`);
      out[k] = n;
    }
    return out;
  } catch (e) {
    process.stderr.write(`${name}: ${e.message}\n`);
    process.exit(2);
  }
}

/**
 * Whether processes can be pinned (taskset and two CPUs; a warning if not),
 * and pinned(cpu, cmd, args) -> [cmd, args] that runs on that CPU when so.
 */
export function pinning(name, log) {
  const canPin = availableParallelism() >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  if (!canPin) log(`${name}: warning: cannot pin (needs taskset and 2 CPUs); running unpinned`);
  return { canPin, pinned: (cpu, cmd, args) => (canPin ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args]) };
}

/** Exit 1 unless `cmd` is on PATH, saying how to get it. */
export function need(name, cmd, hint) {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) {
    process.stderr.write(`${name}: ${cmd} not found; ${hint}\n`);
    process.exit(1);
  }
}

/** Exit 1 unless the CLI is built. */
export function needBuiltCli(name) {
  if (!existsSync(CLI)) {
    process.stderr.write(`${name}: the CLI is not built; run \`pnpm build\`\n`);
    process.exit(1);
  }
}
