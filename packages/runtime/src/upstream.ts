/**
 * Proxy upstreams: parsing `HOST:PORT`, resolving names, checking that the
 * proxy does not listen on one of its own upstreams, probing reachability.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { type HostPort, parseHostPort } from './address.js';
import { invalidType, outOfRange } from './validate.js';

/** An upstream as the user gives it. */
export type UpstreamSpec = HostPort;

/** A named group of upstreams; groups are tried in the order given (see ServerOptions.upstreamGroups). */
export interface UpstreamGroupSpec {
  name: string;
  upstreams: (string | UpstreamSpec)[];
}

/** An upstream with its group: `tier` is the group's place in the priority order (0 first). */
export interface GroupedUpstream extends UpstreamSpec {
  group: string;
  tier: number;
  /** the option key path it came from, for errors (`upstreamGroups[1].upstreams[0]`) */
  key: string;
}

/** An upstream after name resolution. */
export interface ResolvedUpstream extends GroupedUpstream {
  ip: string;
  family: 4 | 6;
}

/** The group `upstreams` forms on its own (or ahead of `upstreamGroups`). */
export const DEFAULT_GROUP = 'default';
const GROUP_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * `upstreams` and `upstreamGroups` -> one list in priority order, each
 * upstream tagged with its group. `upstreams` alone is one group named
 * "default"; given with `upstreamGroups` it is the first group.
 */
export function resolveUpstreamGroups(upstreams: unknown, groups: unknown, limits: { maxUpstreams: number; maxUpstreamGroups: number }): GroupedUpstream[] {
  const out: GroupedUpstream[] = [];
  const names = new Set<string>();
  const add = (key: string, list: unknown, group: string) => {
    if (!Array.isArray(list)) throw invalidType(key, 'an array of "HOST:PORT"', list);
    if (list.length === 0) throw outOfRange(key, 'at least one upstream', '0 upstreams');
    names.add(group);
    list.forEach((u, i) => out.push({ ...parseUpstream(`${key}[${i}]`, u), group, tier: names.size - 1, key: `${key}[${i}]` }));
  };
  if (upstreams !== undefined) add('upstreams', upstreams, DEFAULT_GROUP);
  if (groups !== undefined) {
    if (!Array.isArray(groups)) throw invalidType('upstreamGroups', 'an array of { name, upstreams }', groups);
    if (groups.length === 0) throw outOfRange('upstreamGroups', 'at least one group', '0 groups');
    groups.forEach((g, i) => {
      const key = `upstreamGroups[${i}]`;
      if (g === null || typeof g !== 'object' || Array.isArray(g)) throw invalidType(key, 'an object { name, upstreams }', g);
      for (const k of Object.keys(g)) if (k !== 'name' && k !== 'upstreams') throw outOfRange(`${key}.${k}`, 'absent (a group has a name and upstreams)', k);
      const { name } = g as { name?: unknown };
      if (typeof name !== 'string' || !GROUP_NAME.test(name)) throw invalidType(`${key}.name`, 'a name of letters, digits, "_", "." or "-"', name);
      if (names.has(name)) throw outOfRange(`${key}.name`, 'a name no other group has', name);
      add(`${key}.upstreams`, (g as { upstreams?: unknown }).upstreams, name);
    });
  }
  if (names.size > limits.maxUpstreamGroups) throw outOfRange('upstreamGroups', `at most ${limits.maxUpstreamGroups} groups`, `${names.size}`);
  if (out.length > limits.maxUpstreams) throw outOfRange('upstreams', `at most ${limits.maxUpstreams} upstreams in all`, `${out.length}`);
  return out;
}

/** "host:port", "[v6]:port" or { host, port } -> spec; throws naming the value. */
export function parseUpstream(name: string, v: unknown): UpstreamSpec {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as { host?: unknown; port?: unknown };
    if (typeof o.host !== 'string' || o.host === '') throw invalidType(`${name}.host`, 'a host name or address', o.host);
    if (typeof o.port !== 'number' || !Number.isInteger(o.port) || o.port < 1 || o.port > 65535) {
      throw outOfRange(`${name}.port`, 'an integer from 1 to 65535', o.port);
    }
    return { host: o.host, port: o.port };
  }
  if (typeof v !== 'string') throw invalidType(name, '"HOST:PORT" or { host, port }', v);
  return parseHostPort(name, v);
}

/** Resolve each upstream's name; an unresolvable one is a RangeError naming it. */
export async function resolveUpstreams(specs: GroupedUpstream[]): Promise<ResolvedUpstream[]> {
  return Promise.all(
    specs.map(async (s) => {
      try {
        const r = await lookup(s.host);
        return { ...s, ip: r.address, family: r.family as 4 | 6 };
      } catch (e) {
        const err = outOfRange(s.key, 'a resolvable host', `${s.host}:${s.port} (${(e as NodeJS.ErrnoException).code ?? 'lookup failed'})`);
        (err as RangeError & { cause?: unknown }).cause = e;
        throw err;
      }
    }),
  );
}

function isAny(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::';
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

/**
 * True when a proxy listening on listenIp:port would be its own upstream:
 * same address and port, or a wildcard listener and a local upstream address.
 */
export function isOwnAddress(listenIp: string, listenPort: number, up: ResolvedUpstream, localIps: Set<string>): boolean {
  if (listenPort === 0 || up.port !== listenPort) return false;
  if (up.ip === listenIp) return true;
  if (isAny(listenIp)) return isLoopback(up.ip) || localIps.has(up.ip) || isAny(up.ip);
  return false;
}

/** Whether a TCP connect to the upstream succeeds within timeoutMs. */
export function probeUpstream(up: ResolvedUpstream, timeoutMs: number): Promise<{ ok: boolean; code?: string }> {
  return new Promise((resolve) => {
    const s = net.connect({ host: up.ip, port: up.port });
    const t = setTimeout(() => {
      s.destroy();
      resolve({ ok: false, code: 'ETIMEDOUT' });
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      resolve({ ok: true });
      // leave politely: read whatever the upstream says (unread data would
      // turn our close into a reset) and send FIN; destroy only if it lingers
      s.resume();
      s.end();
      setTimeout(() => s.destroy(), 1000).unref();
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      resolve({ ok: false, code: e.code });
    });
  });
}
