/**
 * HTTP/1.1 options of `ringleader stress`, as a wrk user types them: URL
 * targets (`http://HOST:PORT/path`, several spread over the connections),
 * `method`, repeated `headers` ('Name: value'), `body` or `bodyFile`, and
 * `expectStatus` (which statuses count as success; default 2xx, so a 500 is
 * an error reported as `HTTP 500`).
 *
 * Pure validation: the engine builds each request once per target with
 * these parts (engine/proto/template.h rl_http_request, which refuses the
 * same bad input) and parses responses (engine/proto/http.h).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { conflicting, invalidType, outOfRange } from './validate.js';

/** A URL target, split up. */
export interface UrlTarget {
  scheme: 'http' | 'redis';
  /** Host name or address (IPv6 without brackets). */
  host: string;
  port: number;
  /** The request target: path and query (`/` when the URL has none). */
  path: string;
  /** The Host field: the URL's host, with the port unless it is the scheme's default. */
  hostHeader: string;
}

const DEFAULT_PORT = { http: 80, redis: 6379 } as const;
const SCHEMES: Record<string, UrlTarget['scheme']> = { 'http:': 'http', 'redis:': 'redis' };

/** True for `scheme://...`; HOST:PORT targets are not URLs. */
export function isUrlTarget(s: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(s.trim());
}

/** `http://HOST[:PORT][/path][?query]` or `redis://HOST[:PORT]` -> parts; throws naming `name` */
export function parseUrlTarget(name: string, s: string): UrlTarget {
  let u: URL;
  try {
    u = new URL(s.trim());
  } catch {
    throw outOfRange(name, 'a URL such as http://HOST:PORT/path or redis://HOST:PORT', s);
  }
  const scheme = SCHEMES[u.protocol];
  if (!scheme) {
    const why = u.protocol === 'https:' || u.protocol === 'rediss:' ? 'TLS is not supported' : `unknown scheme "${u.protocol.slice(0, -1)}"`;
    throw outOfRange(name, `an http:// or redis:// URL (${why})`, s);
  }
  if (u.username || u.password) throw outOfRange(name, 'a URL without user or password', s);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  if (!host || (u.hostname.startsWith('[') && isIP(host) !== 6)) throw outOfRange(name, 'a URL with a host', s);
  const port = u.port === '' ? DEFAULT_PORT[scheme] : Number(u.port);
  if (port < 1) throw outOfRange(name, 'a URL with a port from 1 to 65535', s);
  if (scheme === 'redis' && ((u.pathname !== '' && u.pathname !== '/') || u.search)) {
    throw outOfRange(name, 'redis://HOST:PORT without a path (database selection is not supported)', s);
  }
  return { scheme, host, port, path: requestTarget(s.trim()), hostHeader: u.host };
}

/**
 * The request target as written in the URL, as wrk sends it: dot segments
 * (/a/../b) and percent-escapes (%2e) are the server's to interpret, so they
 * are not resolved here (the URL parser would send /b). Only what cannot go
 * on the wire as it is (blanks, controls, non-ASCII) is percent-encoded; the
 * fragment is never sent, as browsers and wrk do.
 */
function requestTarget(url: string): string {
  const afterScheme = url.indexOf('//') + 2;
  const rest = url.slice(afterScheme);
  const authEnd = rest.search(/[/?#]/);
  let target = authEnd < 0 ? '' : rest.slice(authEnd);
  const hash = target.indexOf('#');
  if (hash >= 0) target = target.slice(0, hash);
  if (target === '' || target[0] === '?') target = `/${target}`;
  return target.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c));
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// a field value: blanks, visible characters, obs-text; no other control characters
const FIELD_VALUE = /^[\t\x20-\x7e\u0080-\uffff]*$/;
// fields the engine writes itself, from the body it sends
const FRAMING_FIELDS = ['content-length', 'transfer-encoding'];

/** `Name: value` -> [name, value] (blanks around the value dropped) */
export function parseHeader(name: string, s: unknown): [string, string] {
  if (typeof s !== 'string') throw invalidType(name, 'a string "Name: value"', s);
  const i = s.indexOf(':');
  const field = i > 0 ? s.slice(0, i) : '';
  const value = s.slice(i + 1).replace(/^[ \t]+|[ \t]+$/g, '');
  if (!TOKEN.test(field)) throw outOfRange(name, '"Name: value" with a name of letters, digits and !#$%&\'*+-.^_`|~', s);
  if (!FIELD_VALUE.test(value)) throw outOfRange(name, '"Name: value" without control characters in the value', s);
  if (FRAMING_FIELDS.includes(field.toLowerCase())) {
    throw outOfRange(name, 'a header other than Content-Length and Transfer-Encoding (the body option sets them)', s);
  }
  return [field, value];
}

/** A request method: a token such as GET, POST, HEAD. */
export function parseMethod(name: string, s: unknown): string {
  if (typeof s !== 'string') throw invalidType(name, 'a method such as "GET"', s);
  if (!TOKEN.test(s)) throw outOfRange(name, 'a method such as "GET" (a token)', s);
  return s;
}

/** Inclusive ranges of status codes. */
export type StatusRanges = [number, number][];

/**
 * `2xx`, `200`, `200-299`, or a comma list of those -> ranges. Default
 * (undefined): 2xx.
 */
export function parseExpectStatus(name: string, v: unknown): StatusRanges {
  if (v === undefined) return [[200, 299]];
  if (typeof v !== 'string') throw invalidType(name, 'a list such as "2xx,301"', v);
  const want = 'status codes 100-599, classes such as 2xx, or ranges such as 200-204, in a comma list';
  const out: StatusRanges = [];
  for (const raw of v.split(',')) {
    const p = raw.trim().toLowerCase();
    let m: RegExpExecArray | null;
    let r: [number, number];
    if ((m = /^([1-5])xx$/.exec(p))) r = [Number(m[1]) * 100, Number(m[1]) * 100 + 99];
    else if ((m = /^(\d{3})$/.exec(p))) r = [Number(m[1]), Number(m[1])];
    else if ((m = /^(\d{3})-(\d{3})$/.exec(p))) r = [Number(m[1]), Number(m[2])];
    else throw outOfRange(name, want, v);
    if (r[0] < 100 || r[1] > 599 || r[0] > r[1]) throw outOfRange(name, want, v);
    out.push(r);
  }
  return out;
}

/** Does `status` count as success? */
export function statusExpected(ranges: StatusRanges, status: number): boolean {
  return ranges.some(([lo, hi]) => status >= lo && status <= hi);
}

export interface HttpOptions {
  /** Default GET. HEAD responses are parsed without a body. */
  method?: string;
  /** `Name: value` fields, sent in order after Host. */
  headers?: string | string[];
  /** Request body (UTF-8), sent with Content-Length. */
  body?: string;
  /** Request body from a file. */
  bodyFile?: string;
  /** Statuses that count as success: `2xx` (default), `200,301`, `200-399`. */
  expectStatus?: string;
}

export interface ResolvedHttp {
  method: string;
  /** The method is HEAD: responses have no body. */
  head: boolean;
  headers: [string, string][];
  body: Buffer | null;
  expectStatus: StatusRanges;
}

/** Validate the HTTP options (the targets are checked by the caller). */
export function resolveHttp(o: HttpOptions): ResolvedHttp {
  const method = o.method === undefined ? 'GET' : parseMethod('method', o.method);
  const list = o.headers === undefined ? [] : Array.isArray(o.headers) ? o.headers : [o.headers];
  const headers = list.map((h, i) => parseHeader(`headers[${i}]`, h));
  // one Host (it replaces the target's): two make a request servers must refuse (RFC 9112 3.2)
  const hosts = headers.flatMap(([n], i) => (n.toLowerCase() === 'host' ? [i] : []));
  if (hosts.length > 1) throw outOfRange(`headers[${hosts[1]}]`, "a header other than a second Host (a request has one; the first replaces the URL's)", list[hosts[1]]);
  if (o.body !== undefined && o.bodyFile !== undefined) throw conflicting('body', 'bodyFile', 'a request has one body');
  let body: Buffer | null = null;
  if (o.body !== undefined) {
    if (typeof o.body !== 'string') throw invalidType('body', 'a string', o.body);
    body = Buffer.from(o.body, 'utf8');
  } else if (o.bodyFile !== undefined) {
    if (typeof o.bodyFile !== 'string' || !o.bodyFile) throw invalidType('bodyFile', 'a file path', o.bodyFile);
    try {
      body = readFileSync(o.bodyFile);
    } catch (e) {
      throw outOfRange('bodyFile', `a readable file (${(e as NodeJS.ErrnoException).code ?? 'error'})`, o.bodyFile);
    }
  }
  return { method, head: method === 'HEAD', headers, body, expectStatus: parseExpectStatus('expectStatus', o.expectStatus) };
}
