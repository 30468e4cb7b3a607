/**
 * SIGINT/SIGTERM for the long-running commands: the first one asks the
 * command to stop gracefully (drain, or finish in-flight messages); a second
 * one exits at once with the shell's status for that signal, 128 + its
 * number (SIGINT 130, SIGTERM 143).
 */
import { constants } from 'node:os';
import { stderrLine } from './util.js';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
export type StopSignal = (typeof SIGNALS)[number];

/** Exit status of a process ended by `sig`, as a shell reports it. */
export function signalExitCode(sig: StopSignal): number {
  return 128 + constants.signals[sig];
}

/** Call `onFirst` on the first SIGINT/SIGTERM; exit on the second. Returns a function that stops listening. */
export function onStopSignals(onFirst: (sig: StopSignal) => void): () => void {
  let seen = false;
  const handler = (sig: StopSignal) => {
    if (seen) {
      if (process.stderr.isTTY) process.stderr.write('\n');
      stderrLine(40, `${sig} again, exiting now`);
      process.exit(signalExitCode(sig));
    }
    seen = true;
    onFirst(sig);
  };
  for (const s of SIGNALS) process.on(s, handler);
  return () => {
    for (const s of SIGNALS) process.off(s, handler);
  };
}

/**
 * SIGHUP and SIGUSR2 end a Node process that has no handler for them, and a
 * server's handlers (reload, upgrade) exist only once it is up, a few hundred
 * milliseconds after start: a config tool's SIGHUP to a service that was just
 * restarting killed it without a word. The server commands hold them from
 * their first moment; runLive releases them once its own handlers are in, and
 * a signal held meanwhile is raised again then (a reload, an upgrade).
 */
const EARLY = ['SIGHUP', 'SIGUSR2'] as const;
let held: Set<string> | null = null;
const holdOne = (sig: string) => {
  if (held && !held.has(sig)) stderrLine(40, `${sig} during start-up: held until the server is up`);
  held?.add(sig);
};

export function holdEarlySignals(): void {
  if (held) return;
  held = new Set();
  for (const s of EARLY) process.on(s, holdOne);
}

/** Call once the command's own handlers are installed: a held signal is raised again for them. */
export function releaseEarlySignals(): void {
  if (!held) return;
  const pending = held;
  held = null;
  for (const s of EARLY) process.off(s, holdOne);
  for (const s of pending) process.kill(process.pid, s);
}
