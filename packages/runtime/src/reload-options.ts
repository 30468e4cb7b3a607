/**
 * Which options a reload can change. A reload replaces the workers, so what
 * each new worker is started with can change: the handler module and its
 * options, the proxy's upstreams and how it treats them, per-connection
 * limits. What the listener, the acceptor, the scheduler and the buffer
 * memory were built with cannot: those take a restart (or a SIGUSR2
 * upgrade), and a reload that asks for them keeps the running value and
 * names the option.
 */
import { isDeepStrictEqual } from 'node:util';
import { type ResolvedOptions, UPSTREAM_HANDLING } from './options.js';

/** The options (ResolvedOptions keys) a reload applies to the workers it starts. */
export const RELOADABLE: ReadonlySet<keyof ResolvedOptions> = new Set<keyof ResolvedOptions>([
  'handler',
  'handlerOptions',
  'dev',
  'highWaterMark',
  'zcThreshold',
  'workerSlice',
  'upstreams',
  'upstreamPolicy',
  ...UPSTREAM_HANDLING,
]);

/** Deep equality over what structured clone carries (Map, Set, BigInt, Date...: JSON.stringify saw a changed Map as the same, and threw on a BigInt) */
function same(a: unknown, b: unknown): boolean {
  return a === b || isDeepStrictEqual(a, b);
}

/**
 * The options the reload's workers get: `next` for what can change, the
 * running value for the rest, whose names are returned. The handler can
 * change from one module to another, not between a module and a built-in
 * handler (the worker mode and the acceptor's address recording differ).
 */
export function reloadOptions(cur: ResolvedOptions, next: ResolvedOptions): { options: ResolvedOptions; restartRequired: (keyof ResolvedOptions)[] } {
  const out = { ...cur } as Record<keyof ResolvedOptions, unknown>;
  const restartRequired: (keyof ResolvedOptions)[] = [];
  const kind = (h: ResolvedOptions['handler']) => (typeof h === 'string' ? h : 'module');
  for (const k of Object.keys(next) as (keyof ResolvedOptions)[]) {
    if (same(cur[k], next[k])) continue;
    if (RELOADABLE.has(k) && (k !== 'handler' || kind(cur.handler) === kind(next.handler))) out[k] = next[k];
    else restartRequired.push(k);
  }
  // the weights follow the worker count unless given: one change, named once
  const named = restartRequired.includes('workers') ? restartRequired.filter((k) => k !== 'weights') : restartRequired;
  return { options: out as unknown as ResolvedOptions, restartRequired: named };
}
