/**
 * The server commands' log on stderr, through pino: JSON records with
 * `--json` (for a log collector, beside the JSON lines on stdout), one
 * `ringleader: message` line per record otherwise. `--log-level` filters
 * both. Logs are for people and collectors; what a program acts on is in
 * the JSON lines on stdout (live.ts).
 */
import { pino, type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A pino record written as one human line (and its error's stack, if any). */
const humanStderr = {
  write(record: string): void {
    const r = JSON.parse(record) as { level: number; msg?: string; err?: { stack?: string } };
    const prefix = r.level >= 50 ? 'error: ' : r.level >= 40 ? 'warning: ' : '';
    const stack = r.err?.stack ? `: ${r.err.stack}` : '';
    process.stderr.write(`ringleader: ${prefix}${r.msg ?? ''}${stack}\n`);
  },
};

export function createLog(json: boolean, level: LogLevel = 'info'): Logger {
  if (json) return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: true }));
  return pino({ level, base: undefined, timestamp: false }, humanStderr);
}
