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

/** An upstream after name resolution. */
export interface ResolvedUpstream extends UpstreamSpec {
  ip: string;
  family: 4 | 6;
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
export async function resolveUpstreams(specs: UpstreamSpec[]): Promise<ResolvedUpstream[]> {
  return Promise.all(
    specs.map(async (s, i) => {
      try {
        const r = await lookup(s.host);
        return { ...s, ip: r.address, family: r.family as 4 | 6 };
      } catch (e) {
        const err = outOfRange(`upstreams[${i}]`, 'a resolvable host', `${s.host}:${s.port} (${(e as NodeJS.ErrnoException).code ?? 'lookup failed'})`);
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
