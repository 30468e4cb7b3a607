/**
 * The one error helper: every native failure becomes a Node-shaped error
 * (`code`, negative `errno`, `syscall`, optional `address`/`port`) with the
 * message `"<syscall> <code>: <strerror>"`, like Node's own system errors.
 */
import { constants } from 'node:os';
import { getSystemErrorMap, getSystemErrorName } from 'node:util';

/** A system error from the io_uring engine, shaped like Node's. */
export interface RingleaderSystemError extends Error {
  /** Symbolic code, e.g. `'ENFILE'`. */
  code: string;
  /** Negative errno, e.g. `-23`. */
  errno: number;
  /** The call that failed, e.g. `'io_uring_prep_msg_ring_fd_alloc'`. */
  syscall: string;
  /** Address involved, when there is one. */
  address?: string;
  /** Port involved, when there is one. */
  port?: number;
}

let cStrerror: ((errno: number) => string) | undefined;

/** Use the C library's strerror (set by the addon loader). */
export function useStrerror(fn: (errno: number) => string): void {
  cStrerror = fn;
}

/** Text of an errno as strerror(3) gives it, e.g. `'Too many open files in system'`. */
export function strerror(errno: number): string {
  if (cStrerror) return cStrerror(Math.abs(errno));
  const e = getSystemErrorMap().get(-Math.abs(errno));
  return e ? e[1] : `unknown error ${errno}`;
}

/** Symbolic name of an errno (positive or negative), e.g. `'ENFILE'`. */
export function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-Math.abs(errno));
  } catch {
    return `E${Math.abs(errno)}`;
  }
}

/** Build a Node-shaped error for `-errno` from `syscall`. */
export function errnoError(errno: number, syscall: string, extra?: { address?: string; port?: number; hint?: string }): RingleaderSystemError {
  const neg = -Math.abs(errno);
  const code = errnoName(neg);
  let message = `${syscall} ${code}: ${strerror(neg)}`;
  if (extra?.address !== undefined) message += ` ${extra.address}${extra.port !== undefined ? `:${extra.port}` : ''}`;
  if (extra?.hint) message += ` (${extra.hint})`;
  const err = new Error(message) as RingleaderSystemError;
  err.code = code;
  err.errno = neg;
  err.syscall = syscall;
  if (extra?.address !== undefined) err.address = extra.address;
  if (extra?.port !== undefined) err.port = extra.port;
  return err;
}

/** True for an error produced by {@link errnoError}. */
export function isSystemError(e: unknown): e is RingleaderSystemError {
  return e instanceof Error && typeof (e as RingleaderSystemError).errno === 'number' && typeof (e as RingleaderSystemError).syscall === 'string';
}

/**
 * io_uring cannot be used here: ring setup was refused (ENOSYS, EPERM) or a
 * required operation is missing. Points at `ringleader doctor`.
 */
export function ioUringUnavailable(cause: RingleaderSystemError | string): RingleaderSystemError {
  const base = typeof cause === 'string' ? errnoError(-constants.errno.ENOSYS, 'io_uring_setup') : cause;
  const why = typeof cause === 'string' ? cause : `${base.syscall} ${base.code}`;
  const err = new Error(`io_uring is not usable on this system (${why}); run \`ringleader doctor\` to see what to change`) as RingleaderSystemError;
  err.code = typeof cause === 'string' ? 'ERR_IO_URING_UNSUPPORTED' : base.code;
  err.errno = base.errno;
  err.syscall = base.syscall;
  (err as Error & { cause?: unknown }).cause = cause;
  return err;
}
