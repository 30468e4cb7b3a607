/**
 * SIGINT/SIGTERM for the long-running commands: the first one asks the
 * command to stop gracefully (drain, or finish in-flight messages); a second
 * one exits at once with the shell's status for that signal, 128 + its
 * number (SIGINT 130, SIGTERM 143).
 */
import { constants } from 'node:os';

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
      process.stderr.write(`\nringleader: ${sig} again, exiting now\n`);
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
