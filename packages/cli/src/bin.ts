#!/usr/bin/env node
/** The `ringleader` executable. */
import { setFlagsFromString } from 'node:v8';
import { main } from './index.js';

// V8's memory reducer runs a full mark-compact in every idle-looking
// isolate about 8 s after start: in a load or worker thread that waits in
// its ring and returns to JS only between waits, that is a 4-8 ms pause
// of the ring, and the main isolate's collection competes for the CPU
// too. Measured, 20k msgs/s open loop against the C epoll peer: p99
// 1.4-1.9 ms and max 13-15 ms with it, 186 us and 4 ms without (the C
// loadgen: 166-178 us). Threads created from here on start without it.
setFlagsFromString('--no-memory-reducer');

// stdout closed by its reader (`ringleader doctor | head`, a log pipe that
// went away): output stops, the command goes on (a server keeps serving)
// instead of dying on an unhandled EPIPE
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') return;
  throw e;
});

await main();
