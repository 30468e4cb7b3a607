/**
 * SIGHUP for the long-running server commands: a zero-downtime reload
 * (server.reload(): workers replaced one at a time, each importing the
 * handler module afresh, the old ones draining for up to --drain). With
 * --config the file is read and validated again first, as at start-up, and
 * the new workers get its options; a file that fails keeps the running
 * workers and options. Reloads that arrive while one runs are queued by the
 * server. Each one reports a line: a JSON `reload` event with --json, else
 * a line on stderr.
 */
import type { ReloadSummary, Server } from '@ringleader/runtime';
import type { Reconfig } from './server-flags.js';
import { cliKey, cliMessage, flagText } from './util.js';

export interface ReloadReport {
  json: boolean;
  drainMs: number;
  /** where a JSON line goes (stdout with --json) */
  write(line: string): void;
  /** with --config: the file read again into options (throws naming the key) */
  reconfig?: () => Reconfig;
  /** a reload starts (systemd: RELOADING=1) */
  started(): void;
  /** it ended, applied or not (systemd: READY=1) */
  ended(s: ReloadSummary): void;
  /** the file's settings the CLI itself keeps (drain, log level), once the workers took the rest */
  applied(next: Reconfig): void;
  /** a warning object (JSON line or log) */
  warn(w: { code: string; key: string; message: string }): void;
}

/** Reload on every SIGHUP until the returned function is called. */
export function onReloadSignal(server: Server, o: ReloadReport): () => void {
  // the line's generation is the one serving after it: a reload that
  // failed before any worker was replaced reports the one that goes on
  let generation = 0;
  const failed = (e: unknown): ReloadSummary => ({ generation, replaced: 0, drained: 0, forced: 0, ms: 0, error: e instanceof Error ? e : new Error(String(e)) });
  // the options a restart would apply, named as the --config file names
  // them: the server's (bufferSize) and the CLI's own (json, interval)
  const done = (s: ReloadSummary, cli: string[] = []) => {
    const named = [...new Set([...cli, ...(s.restartRequired ?? [])].map(cliKey))];
    const line: ReloadSummary = { ...s, ...(s.error && !s.replaced ? { generation } : {}), ...(named.length ? { restartRequired: named } : {}) };
    generation = line.generation;
    report(o, line);
    o.ended(line);
  };
  const handler = () => {
    o.started();
    let next: Reconfig | undefined;
    try {
      next = o.reconfig?.();
    } catch (e) {
      // the file does not validate: nothing is touched
      done(failed(e));
      return;
    }
    const cli = next?.restartRequired ?? [];
    for (const key of cli) {
      o.warn({ code: 'ERR_RESTART_REQUIRED', key: cliKey(key), message: `${flagText(key)} cannot change on a reload (a restart or an upgrade applies it); it keeps its running value` });
    }
    server.reload({ drainTimeout: next?.drainMs ?? o.drainMs, options: next?.options }).then(
      (s) => {
        if (next) o.applied(next);
        done(s, cli);
      },
      // bad options (nothing was touched), or a reload racing a shutdown
      (e: Error) => done(failed(e), cli),
    );
  };
  process.on('SIGHUP', handler);
  return () => process.off('SIGHUP', handler);
}

/** why a reload failed: a handler module that did not load is named, with its error's kind, as at start-up */
function reason(e: Error): string {
  const module = (e as { handlerModule?: string }).handlerModule;
  return module ? `handler module ${module} failed to load: ${e.name}: ${e.message}` : cliMessage(e);
}

function report(o: ReloadReport, s: ReloadSummary): void {
  const error = s.error ? reason(s.error) : undefined;
  if (o.json) {
    const { error: _e, ...rest } = s;
    o.write(`${JSON.stringify({ t: new Date().toISOString(), event: 'reload', ...rest, ...(error ? { error } : {}) })}\n`);
    return;
  }
  const what = `reload ${s.generation}: ${s.replaced} worker(s) replaced, ${s.drained} connection(s) drained, ${s.forced} forced, ${s.ms} ms`;
  process.stderr.write(error ? `ringleader: SIGHUP: ${s.replaced ? `${what}; ` : ''}reload failed, the running workers go on: ${error}\n` : `ringleader: SIGHUP: ${what}\n`);
}
