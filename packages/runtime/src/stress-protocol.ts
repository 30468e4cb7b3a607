/**
 * Which protocol a `ringleader stress` run speaks, and its options checked
 * as a whole: the request modes of issue 11 next to the echo modes.
 *
 *   http    an http:// target, or `mode: 'http'`, or an HTTP option
 *           (method, headers, body, bodyFile, expectStatus)
 *   redis   a redis:// target, or `mode: 'redis'`, or command / tests
 *   custom  `send` (with its framing options), or `mode: 'custom'`
 *
 * With none of these the run is one of the echo modes (echo, churn, bulk,
 * idle) and {@link resolveProtocol} returns null. An option of another mode,
 * a mode that contradicts the targets, or targets of two schemes are errors
 * naming both sides; bad values are TypeError/RangeError naming the option
 * (`ringleader stress` exits 2 on them).
 */
import { parseHostPort } from './address.js';
import { resolveCustom, type CustomOptions, type ResolvedCustom } from './stress-custom.js';
import { isUrlTarget, parseUrlTarget, resolveHttp, type HttpOptions, type ResolvedHttp } from './stress-http.js';
import { resolveRedis, type RedisOptions, type ResolvedRedis } from './stress-redis.js';
import { conflicting, invalidType, leftOut, outOfRange } from './validate.js';

export type ProtocolMode = 'http' | 'redis' | 'custom';
export const PROTOCOL_MODES: readonly ProtocolMode[] = ['http', 'redis', 'custom'];

/** The options each request mode owns. */
const MODE_OPTIONS: Record<ProtocolMode, readonly string[]> = {
  http: ['method', 'headers', 'body', 'bodyFile', 'expectStatus'],
  redis: ['command', 'tests', 'keyspace', 'dataSize'],
  custom: ['send', 'expectBytes', 'expectDelimiter', 'lengthPrefix', 'lengthIncludesPrefix', 'maxFrame', 'expect'],
};

export interface ProtocolOptions extends HttpOptions, RedisOptions, CustomOptions {
  /** As for runStress: `HOST:PORT`, a URL, a comma list, or an array of those. */
  targets: string | string[];
  /** The run's mode: a request mode here, or an echo mode (then no request option may be given). */
  mode?: string;
}

/** One place to connect to; for HTTP, also what to ask for. */
export interface ProtocolTarget {
  host: string;
  port: number;
  /** http: the request target (`/` for a HOST:PORT target) */
  path: string;
  /** http: the Host field */
  hostHeader: string;
  /** as given, for reports */
  label: string;
}

interface Common {
  targets: ProtocolTarget[];
}

export type ResolvedProtocol = (Common & { mode: 'http'; http: ResolvedHttp }) | (Common & { mode: 'redis'; redis: ResolvedRedis }) | (Common & { mode: 'custom'; custom: ResolvedCustom });

function splitTargets(v: unknown): string[] {
  if (v === undefined) throw invalidType('targets', 'a string such as "127.0.0.1:7000" or "http://127.0.0.1:8080/"', v);
  const list = (Array.isArray(v) ? v : [v]).flatMap((t: unknown) => {
    if (typeof t !== 'string') throw invalidType('targets', 'a string such as "127.0.0.1:7000" or "http://127.0.0.1:8080/"', t);
    return t.split(',').map((s) => s.trim());
  });
  if (!list.length || list.length > 1024) throw outOfRange('targets', 'from 1 to 1024 targets', v);
  return list;
}

/** the request mode the targets, `mode` and the options ask for, or null for an echo mode */
function pickMode(o: ProtocolOptions, list: string[]): ProtocolMode | null {
  // the scheme of URL targets
  let byUrl: ProtocolMode | null = null;
  for (const t of list) {
    if (!isUrlTarget(t)) continue;
    const s = parseUrlTarget('targets', t).scheme;
    if (byUrl && byUrl !== s) throw outOfRange('targets', 'URLs of one scheme (a run speaks one protocol)', list.join(','));
    byUrl = s;
  }
  // the options given, by the mode that owns them
  let byOption: { mode: ProtocolMode; option: string } | null = null;
  for (const mode of PROTOCOL_MODES) {
    for (const k of MODE_OPTIONS[mode]) {
      if ((o as unknown as Record<string, unknown>)[k] === undefined) continue;
      if (byOption && byOption.mode !== mode) {
        throw conflicting(byOption.option, k, `they belong to ${byOption.mode} and ${mode} mode`);
      }
      byOption ??= { mode, option: k };
    }
  }
  const explicit = o.mode;
  if (explicit !== undefined && typeof explicit !== 'string') throw invalidType('mode', 'a string', explicit);
  const asked = explicit !== undefined && (PROTOCOL_MODES as readonly string[]).includes(explicit) ? (explicit as ProtocolMode) : null;
  if (explicit !== undefined && !asked) {
    // an echo mode: no URL and no request option
    if (byUrl) throw conflicting('mode', 'targets', `${explicit} mode takes HOST:PORT targets, not ${byUrl}:// URLs`);
    if (byOption) throw conflicting('mode', byOption.option, `it applies to ${byOption.mode} mode, not ${explicit}`);
    return null;
  }
  if (asked && byUrl && asked !== byUrl) throw conflicting('mode', 'targets', `${asked} mode with ${byUrl}:// targets`);
  const mode = asked ?? byUrl ?? byOption?.mode ?? null;
  if (mode && byOption && byOption.mode !== mode) {
    throw leftOut(byOption.option, `in ${mode} mode (it applies to ${byOption.mode})`);
  }
  if (mode === 'custom' && byUrl) throw outOfRange('targets', 'HOST:PORT targets in custom mode', list.join(','));
  return mode;
}

function toTarget(t: string): ProtocolTarget {
  if (isUrlTarget(t)) {
    const u = parseUrlTarget('targets', t);
    return { host: u.host, port: u.port, path: u.path, hostHeader: u.hostHeader, label: t };
  }
  const { host, port } = parseHostPort('targets', t);
  const hostHeader = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return { host, port, path: '/', hostHeader, label: t };
}

/**
 * The request mode of a run and its options, validated; null when the run
 * is an echo mode (and no request option was given).
 */
export function resolveProtocol(o: ProtocolOptions): ResolvedProtocol | null {
  if (o === null || typeof o !== 'object') throw invalidType('options', 'an object', o);
  const list = splitTargets(o.targets);
  const mode = pickMode(o, list);
  if (!mode) return null;
  const targets = list.map(toTarget);
  switch (mode) {
    case 'http':
      return { mode, targets, http: resolveHttp(o) };
    case 'redis':
      return { mode, targets, redis: resolveRedis(o) };
    case 'custom':
      return { mode, targets, custom: resolveCustom(o) };
  }
}
