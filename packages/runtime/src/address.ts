/**
 * Addresses as people type them: the one `HOST:PORT` parser (stress targets,
 * proxy upstreams, `--listen`), source-address ranges, and the reverse
 * formatting. Pure functions; errors are RangeErrors naming the option.
 */
import { isIP } from 'node:net';
import { abi } from '@ringleader/core-native';
import { invalidType, outOfRange } from './validate.js';

/** A host name or numeric address, and a port. */
export interface HostPort {
  host: string;
  port: number;
}

/** What a `HOST:PORT` may leave out. */
export interface HostPortRules {
  /** `:PORT` (no host) means every address, returned as `0.0.0.0` (listeners). */
  anyHost?: boolean;
  /** Port 0 is allowed (listeners: the kernel picks one). */
  portZero?: boolean;
}

// a host name or IPv4 address: letters, digits, dots, dashes, underscores
const HOST_NAME = /^[A-Za-z0-9._-]+$/;

/**
 * `"HOST:PORT"` or `"[IPV6]:PORT"` -> parts. Surrounding blanks are ignored;
 * a bare IPv6 address must be bracketed (its colons would be ambiguous).
 */
export function parseHostPort(name: string, text: unknown, rules: HostPortRules = {}): HostPort {
  if (typeof text !== 'string') throw invalidType(name, 'a string "HOST:PORT"', text);
  const shape = 'HOST:PORT (IPv6 as [ADDR]:PORT)';
  const t = text.trim();
  let host: string;
  let portText: string;
  const v6 = /^\[([^\]]*)\]:([^:]*)$/.exec(t);
  if (v6) {
    host = v6[1];
    portText = v6[2];
    if (isIP(host) !== 6) throw outOfRange(name, shape, text);
  } else {
    const i = t.indexOf(':');
    if (i < 0 || t.indexOf(':', i + 1) >= 0) throw outOfRange(name, shape, text);
    host = t.slice(0, i);
    portText = t.slice(i + 1);
    if (host === '' && rules.anyHost) host = '0.0.0.0';
    else if (!HOST_NAME.test(host)) throw outOfRange(name, 'HOST:PORT with a host name or address', text);
  }
  if (!/^\d+$/.test(portText)) throw outOfRange(name, 'HOST:PORT with a numeric port', text);
  const port = Number(portText);
  const min = rules.portZero ? 0 : 1;
  if (port < min || port > 65535) throw outOfRange(name, `HOST:PORT with a port from ${min} to 65535${min === 0 ? ' (0 picks one)' : ''}`, text);
  return { host, port };
}

/** The reverse of {@link parseHostPort}: brackets around an IPv6 address. */
export function formatHostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function ipv4ToInt(s: string): number {
  return s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** "A-B" (IPv4, inclusive), "A", or comma lists of those -> addresses */
export function parseSources(name: string, v: string | string[]): string[] {
  const parts = (Array.isArray(v) ? v : [v]).flatMap((p) => {
    if (typeof p !== 'string') throw invalidType(name, 'a string such as "127.0.0.1-127.0.0.16"', p);
    return p.split(',');
  });
  const out: string[] = [];
  for (const raw of parts) {
    const p = raw.trim();
    const dash = p.indexOf('-');
    if (dash > 0) {
      const a = p.slice(0, dash).trim();
      const b = p.slice(dash + 1).trim();
      if (isIP(a) !== 4 || isIP(b) !== 4) throw outOfRange(name, 'an IPv4 range A-B, an address, or a list of them', v);
      const lo = ipv4ToInt(a);
      const hi = ipv4ToInt(b);
      if (hi < lo) throw outOfRange(name, 'a range A-B with A <= B', v);
      if (hi - lo >= 65536) throw outOfRange(name, 'a range of at most 65536 addresses', v);
      for (let n = lo; n <= hi; n++) out.push(intToIpv4(n));
    } else if (isIP(p)) {
      out.push(p);
    } else {
      throw outOfRange(name, 'an IPv4 range A-B, an address, or a list of them', v);
    }
  }
  if (!out.length) throw outOfRange(name, 'at least one address', v);
  return out;
}

const { IPv4: AF_INET, IPv6: AF_INET6 } = abi.addressFamilies;

/**
 * A peer address as the engine records it (family, then 16 address bytes
 * in memory order as four little-endian int32 words from `o`) -> text, as
 * Node's net prints it; undefined for an unknown family.
 */
export function peerAddress(family: number, w: ArrayLike<number>, o: number): string | undefined {
  if (family === AF_INET) {
    const v = w[o] >>> 0;
    return `${v & 0xff}.${(v >>> 8) & 0xff}.${(v >>> 16) & 0xff}.${v >>> 24}`;
  }
  if (family === AF_INET6) return ipv6(w, o);
  return undefined;
}

function ipv6(w: ArrayLike<number>, o: number): string {
  const g: number[] = [];
  for (let k = 0; k < 4; k++) {
    const v = w[o + k] >>> 0;
    // the words hold address bytes in memory order (little-endian int32)
    const b0 = v & 0xff,
      b1 = (v >>> 8) & 0xff,
      b2 = (v >>> 16) & 0xff,
      b3 = v >>> 24;
    g.push((b0 << 8) | b1, (b2 << 8) | b3);
  }
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${g[6] >> 8}.${g[6] & 0xff}.${g[7] >> 8}.${g[7] & 0xff}`;
  }
  // longest run of two or more zero groups becomes "::"
  let best = -1,
    bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}
