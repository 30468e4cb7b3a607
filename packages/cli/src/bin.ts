#!/usr/bin/env node
/**
 * The CLI's entry. The `ringleader` command (bin/ringleader) starts it as
 * `node --no-memory-reducer dist/bin.js`: see that launcher for why.
 */
import { setFlagsFromString } from 'node:v8';
import { holdEarlySignals } from './signals.js';
import { useJsonErrors } from './util.js';

// the server commands hold SIGHUP and SIGUSR2 from here until they can act
// on them (signals.ts); the rest of the CLI loads after this line
const command = process.argv.slice(2).find((a) => !a.startsWith('-'));
if (command === 'serve' || command === 'echo' || command === 'proxy') {
  holdEarlySignals();
  // a server's --json: every line on stderr is JSON, a bad flag's too
  if (process.argv.includes('--json')) useJsonErrors();
}
const { main } = await import('./index.js');

// Started as `node bin.js` instead, the main isolate keeps the reducer
// (`doctor` says so), but threads created from here on start without it: in
// a load or worker thread that waits in its ring and returns to JS only
// between waits, its full collection is a 4-8 ms pause of the ring.
// Measured, 20k msgs/s open loop against the C epoll peer: load generator
// p99 1.4-1.9 ms and max 13-15 ms with it, 186 us and 4 ms without (the C
// loadgen: 166-178 us).
setFlagsFromString('--no-memory-reducer');

// stdout closed by its reader (`ringleader doctor | head`, a log pipe that
// went away): output stops, the command goes on (a server keeps serving)
// instead of dying on an unhandled EPIPE
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') return;
  throw e;
});

await main();
