/**
 * SIGHUP for the long-running server commands: a zero-downtime reload
 * (server.reload(): workers replaced one at a time, each importing the
 * handler module afresh, the old ones draining for up to --drain). Reloads
 * that arrive while one runs are queued by the server. Each one reports a
 * line: a JSON `reload` event with --json, else a line on stderr.
 */
import type { ReloadSummary, Server } from '@ringleader/runtime';

export interface ReloadReport {
  json: boolean;
  drainMs: number;
  /** where a JSON line goes (stdout with --json) */
  write(line: string): void;
}

/** Reload on every SIGHUP until the returned function is called. */
export function onReloadSignal(server: Server, o: ReloadReport): () => void {
  const handler = () => {
    server.reload({ drainTimeout: o.drainMs }).then(
      (s) => report(o, s),
      // a reload racing a shutdown: the server is closing, nothing to do
      (e: Error) => report(o, { generation: 0, replaced: 0, drained: 0, forced: 0, ms: 0, error: e }),
    );
  };
  process.on('SIGHUP', handler);
  return () => process.off('SIGHUP', handler);
}

function report(o: ReloadReport, s: ReloadSummary): void {
  if (o.json) {
    const { error, ...rest } = s;
    o.write(`${JSON.stringify({ t: new Date().toISOString(), event: 'reload', ...rest, ...(error ? { error: error.message } : {}) })}\n`);
    return;
  }
  const what = `reload ${s.generation}: ${s.replaced} worker(s) replaced, ${s.drained} connection(s) drained, ${s.forced} forced, ${s.ms} ms`;
  process.stderr.write(s.error ? `ringleader: SIGHUP: ${s.replaced ? `${what}; ` : ''}reload failed, the running workers go on: ${s.error.message}\n` : `ringleader: SIGHUP: ${what}\n`);
}
