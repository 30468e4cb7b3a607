/**
 * Option validation helpers: each failure names the option, with TypeError
 * for a wrong type and RangeError for a value out of range (as piscina does).
 */

/** Error thrown for a bad option; `code` is Node's ERR_INVALID_ARG_* code. */
function typeErr(name: string, want: string, got: unknown): TypeError {
  const e = new TypeError(`option "${name}" must be ${want}; got ${describe(got)}`) as TypeError & { code: string };
  e.code = 'ERR_INVALID_ARG_TYPE';
  return e;
}

function rangeErr(name: string, want: string, got: unknown): RangeError {
  const e = new RangeError(`option "${name}" must be ${want}; got ${describe(got)}`) as RangeError & { code: string };
  e.code = 'ERR_OUT_OF_RANGE';
  return e;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  if (v instanceof URL) return v.href;
  // a repeated flag's values: what was given, not "object"
  if (Array.isArray(v) && v.length <= 4 && v.every((x) => typeof x !== 'object' || x === null)) return `[${v.map(describe).join(', ')}]`;
  return Array.isArray(v) ? `an array of ${v.length}` : typeof v;
}

/** An integer in [min, max], or the default when undefined. */
export function int(name: string, v: unknown, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || Number.isNaN(v)) throw typeErr(name, 'a number', v);
  if (!Number.isInteger(v) || v < min || v > max) throw rangeErr(name, `an integer from ${min} to ${max}`, v);
  return v;
}

/** A finite number in [min, max] (fractions allowed), or the default when undefined. */
export function real(name: string, v: unknown, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || Number.isNaN(v)) throw typeErr(name, 'a number', v);
  if (!Number.isFinite(v) || v < min || v > max) throw rangeErr(name, `a number from ${min} to ${max}`, v);
  return v;
}

/** A non-negative duration in milliseconds (number) or undefined. */
export function ms(name: string, v: unknown, def: number, max = 24 * 3600 * 1000): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || Number.isNaN(v)) throw typeErr(name, 'a number of milliseconds', v);
  if (v < 0 || v > max || !Number.isFinite(v)) throw rangeErr(name, `between 0 and ${max} ms`, v);
  return v;
}

export function bool(name: string, v: unknown, def: boolean): boolean {
  if (v === undefined) return def;
  if (typeof v !== 'boolean') throw typeErr(name, 'a boolean', v);
  return v;
}

export function str(name: string, v: unknown, def: string): string {
  if (v === undefined) return def;
  if (typeof v !== 'string' || v.length === 0) throw typeErr(name, 'a non-empty string', v);
  return v;
}

export function oneOf<T extends string>(name: string, v: unknown, def: T, allowed: readonly T[]): T {
  if (v === undefined) return def;
  if (typeof v !== 'string') throw typeErr(name, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, v);
  if (!allowed.includes(v as T)) throw rangeErr(name, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, v);
  return v as T;
}

export function powerOfTwo(name: string, v: unknown, def: number, min: number, max: number): number {
  const n = int(name, v, def, min, max);
  if (n & (n - 1)) throw rangeErr(name, `a power of two from ${min} to ${max}`, v);
  return n;
}

/** An option that does not apply here: what it was given does not matter, so it is not repeated. */
export function leftOut(name: string, why: string): RangeError {
  const e = new RangeError(`option "${name}" must be left out ${why}`) as RangeError & { code: string };
  e.code = 'ERR_OUT_OF_RANGE';
  return e;
}

/** Two options that cannot be given together; the message names both. */
export function conflicting(a: string, b: string, why: string): RangeError {
  const e = new RangeError(`option "${a}" conflicts with option "${b}": ${why}`) as RangeError & { code: string };
  e.code = 'ERR_INVALID_ARG_VALUE';
  return e;
}

export { typeErr as invalidType, rangeErr as outOfRange };
