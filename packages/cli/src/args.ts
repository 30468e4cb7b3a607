/**
 * Flag values as people type them: durations, sizes, counts, integers,
 * lists. Pure functions (unit-tested without a kernel); each failure is a
 * commander InvalidArgumentError, which commander prints after the flag's
 * name and turns into exit status 2.
 */
import { InvalidArgumentError } from 'commander';

/** Bounds of a value; `min`/`max` are inclusive, in the value's own unit. */
export interface Bounds {
  min?: number;
  max?: number;
}

const DAY_MS = 24 * 3_600_000;

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, k: 1024, kb: 1024, kib: 1024, m: 1 << 20, mb: 1 << 20, mib: 1 << 20, g: 1 << 30, gb: 1 << 30, gib: 1 << 30 };
const COUNT_UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6 };

/** 60000 -> "1m", 1500 -> "1500ms": the largest unit that writes a duration exactly. */
export function formatDuration(ms: number): string {
  for (const [unit, f] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= f && ms % f === 0) return `${ms / f}${unit}`;
  }
  return ms === 0 ? '0' : `${ms}ms`;
}

/** 16384 -> "16KiB": the largest unit that writes a size exactly. */
export function formatSize(bytes: number): string {
  for (const [unit, f] of [
    ['GiB', 1 << 30],
    ['MiB', 1 << 20],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= f && bytes % f === 0) return `${bytes / f}${unit}`;
  }
  return String(bytes);
}

function rangeText(b: Required<Bounds>, fmt: (n: number) => string): string {
  const unbounded = b.max >= Number.MAX_SAFE_INTEGER;
  if (unbounded) return b.min === 0 ? 'must not be negative' : `must be at least ${fmt(b.min)}`;
  return `must be from ${fmt(b.min)} to ${fmt(b.max)}`;
}

/**
 * A number followed by an optional unit from `units` -> number * factor,
 * within bounds. A leading minus sign is read (so "-5" is out of range, not
 * "not a number").
 */
function withUnit(v: string, units: Record<string, number>, defaultUnit: string, what: string, bounds: Required<Bounds>, fmt: (n: number) => string): number {
  const m = /^(-?)(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)$/i.exec(v.trim());
  const factor = m ? units[(m[3] || defaultUnit).toLowerCase()] : undefined;
  if (!m || factor === undefined) throw new InvalidArgumentError(`not ${what}`);
  const n = Math.round(Number(m[2]) * factor * 1e6) / 1e6;
  const value = m[1] ? -n : n;
  // "unbounded" stops at 2^53: a larger value is too large, not negative
  if (value > bounds.max && bounds.max >= Number.MAX_SAFE_INTEGER) throw new InvalidArgumentError(`must be at most ${fmt(bounds.max)}`);
  if (value < bounds.min || value > bounds.max) throw new InvalidArgumentError(rangeText(bounds, fmt));
  return value;
}

/**
 * "1500ms", "2s", "1m", "1h"; a bare number is seconds -> milliseconds
 * (whole). Default bounds: 0 to 24 hours.
 */
export function parseDuration(v: string, b: Bounds = {}): number {
  const bounds = { min: b.min ?? 0, max: b.max ?? DAY_MS };
  return Math.round(withUnit(v, DURATION_UNITS, 's', 'a duration (examples: 500ms, 2s, 1m)', bounds, formatDuration));
}

/** "64", "16k", "16KiB", "1M", "1.5GiB" -> bytes (powers of 1024, whole). Default bounds: 0 and up. */
export function parseSize(v: string, b: Bounds = {}): number {
  const bounds = { min: b.min ?? 0, max: b.max ?? Number.MAX_SAFE_INTEGER };
  // a fraction of a byte is a mistake, not something to round (1.5KiB, 1536 bytes, is fine)
  if (/^\s*\d*\.\d+\s*b?\s*$/i.test(v)) throw new InvalidArgumentError('a whole number of bytes (or a unit: 1.5KiB)');
  return Math.round(withUnit(v, SIZE_UNITS, 'b', 'a size (examples: 64, 16KiB, 1MiB)', bounds, formatSize));
}

/** "20000", "20k", "1.5M" -> number (powers of 1000, may be fractional). Default bounds: 0 and up. */
export function parseCount(v: string, b: Bounds = {}): number {
  const bounds = { min: b.min ?? 0, max: b.max ?? Number.MAX_SAFE_INTEGER };
  return withUnit(v, COUNT_UNITS, '', 'a number (examples: 500, 20k, 1.5M)', bounds, String);
}

/** A whole count ("100", "20k"), within bounds. */
export function parseWholeCount(v: string, b: Bounds = {}): number {
  const n = parseCount(v, b);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('not a whole number');
  return n;
}

/**
 * A wall-clock time for several machines to start at (stress --start-at):
 * Unix seconds ("1796400000", fractions allowed) or an ISO 8601 date and
 * time with its zone ("2026-12-02T18:30:00Z", "...+01:00"): a time without
 * a zone would be read in each machine's own. Within 24 hours of `now`; a
 * time already past is allowed (a machine that comes up late: the caller
 * starts at once and says so). -> milliseconds since the epoch.
 */
export function parseStartTime(v: string, now = Date.now()): number {
  const s = v.trim();
  let ms: number;
  const iso = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-](\d{2}):(\d{2}))$/i.exec(s);
  if (/^\d+(\.\d+)?$/.test(s)) ms = Math.round(Number(s) * 1000);
  else if (iso) {
    // Date.parse rolls 2026-02-30 over to March: check every field itself
    const [y, mo, d, h, mi, sec = '0', zh = '0', zm = '0'] = iso.slice(1).map((x) => x ?? '0');
    const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
    const fieldsOk = day.getUTCMonth() === Number(mo) - 1 && day.getUTCDate() === Number(d) && Number(h) < 24 && Number(mi) < 60 && Number(sec) < 60 && Number(zh) < 24 && Number(zm) < 60;
    if (!fieldsOk) throw new InvalidArgumentError('not a valid date and time');
    ms = Date.parse(s);
  } else throw new InvalidArgumentError('not a time: Unix seconds, or ISO 8601 with a zone (2026-12-02T18:30:00Z)');
  if (!Number.isFinite(ms)) throw new InvalidArgumentError('not a valid date and time');
  // a day off either way is a mistake (a wrong date or zone), not a late start
  if (Math.abs(ms - now) > DAY_MS) throw new InvalidArgumentError('must be within 24 hours of now');
  return ms;
}

/** A plain integer (no units), within bounds. */
export function parseInteger(v: string, b: Bounds = {}): number {
  const bounds = { min: b.min ?? Number.MIN_SAFE_INTEGER, max: b.max ?? Number.MAX_SAFE_INTEGER };
  if (!/^-?\d+$/.test(v.trim())) throw new InvalidArgumentError('not an integer');
  const n = Number(v);
  if (n < bounds.min || n > bounds.max) throw new InvalidArgumentError(rangeText(bounds, String));
  return n;
}

/** "64", "16KiB", "64-65536" -> bytes, or [min, max] for a range. */
export function parseSizeRange(v: string, b: Bounds = {}): number | [number, number] {
  const parts = v.split('-');
  if (parts.length > 2) throw new InvalidArgumentError('a size (64, 16KiB) or a range (64-64KiB)');
  const sizes = parts.map((p) => parseSize(p, b));
  return sizes.length === 1 ? sizes[0] : [sizes[0], sizes[1]];
}

/** "3,1,1" -> [3, 1, 1]: positive numbers. */
export function parseWeights(v: string): number[] {
  const parts = v.split(',').map((p) => p.trim());
  const out = parts.map((p) => Number(p));
  if (parts.some((p) => !/^\d+(\.\d+)?$/.test(p)) || out.some((n) => !(n > 0))) {
    throw new InvalidArgumentError('must be positive numbers separated by commas, one per worker (e.g. 3,1)');
  }
  return out;
}

/** JSON text -> value. */
export function parseJson(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch (e) {
    throw new InvalidArgumentError(`not JSON (${(e as Error).message})`);
  }
}

/** Bind a parser to bounds, for commander's argParser. */
export function arg<T>(parse: (v: string, b?: Bounds) => T, b?: Bounds): (v: string) => T {
  return (v: string) => parse(v, b);
}
