/**
 * Errors across threads. A structured clone keeps an Error's name, message
 * and stack but drops what callers test: `code`, and a system error's
 * `errno`, `syscall`, `address` and `port`. These carry them.
 */

/** Serializable form of an error, for crossing threads. */
export interface ErrorInfo {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  /** the error's other own fields of primitive type (errno, syscall, address, port, ...) */
  fields?: Record<string, string | number | boolean>;
}

export function errorInfo(e: unknown): ErrorInfo {
  if (e instanceof Error) {
    const code = (e as Error & { code?: unknown }).code;
    const info: ErrorInfo = { name: e.name, message: e.message, stack: e.stack, code: typeof code === 'string' ? code : undefined };
    for (const [k, v] of Object.entries(e)) {
      if (k === 'code' || (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')) continue;
      (info.fields ??= {})[k] = v;
    }
    return info;
  }
  return { name: 'Error', message: String(e) };
}

export function fromErrorInfo(i: ErrorInfo): Error {
  const Ctor = ({ TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError } as Record<string, ErrorConstructor>)[i.name] ?? Error;
  const e = new Ctor(i.message);
  if (Ctor === Error && i.name !== 'Error') e.name = i.name;
  if (i.stack) e.stack = i.stack;
  if (i.code !== undefined) (e as Error & { code?: string }).code = i.code;
  if (i.fields) Object.assign(e, i.fields);
  return e;
}

/**
 * A value for postMessage with the Errors in it (itself, or a field of a
 * plain object such as an event's `{ worker, error }`) as ErrorInfo.
 */
export function toWire(v: unknown): unknown {
  if (v instanceof Error) return { $error: errorInfo(v) };
  if (v === null || typeof v !== 'object' || Array.isArray(v) || Object.getPrototypeOf(v) !== Object.prototype) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = x instanceof Error ? { $error: errorInfo(x) } : x;
  return out;
}

/** The value {@link toWire} was given, its Errors rebuilt. */
export function fromWire(v: unknown): unknown {
  const err = (x: unknown) => (x !== null && typeof x === 'object' && '$error' in x ? fromErrorInfo((x as { $error: ErrorInfo }).$error) : undefined);
  const top = err(v);
  if (top) return top;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = err(x) ?? x;
  return out;
}
