#!/usr/bin/env -S node --no-memory-reducer
/**
 * The `ringleader` executable. Its first line starts Node without V8's
 * memory reducer: about 8 s after start (and after each later full
 * collection) the reducer runs mark-compacts in an isolate that looks idle,
 * as a server's main thread does, and their marking on V8's helper threads
 * delays a worker sharing the CPU. Measured, 20k msgs/s open loop, 100
 * connections, the C loadgen, 5 rounds: p99 340 us and p999 2.3 ms with
 * it, 219 us and 1.2 ms without (the C epoll server: 203 us, 1.3 ms).
 * bench/ reads the flag from this line to run the CLI as the command runs.
 */
import { setFlagsFromString } from 'node:v8';
import { main } from './index.js';

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
