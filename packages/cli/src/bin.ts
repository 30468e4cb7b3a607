#!/usr/bin/env node
/** The `ringleader` executable. */
import { main } from './index.js';

// stdout closed by its reader (`ringleader doctor | head`, a log pipe that
// went away): output stops, the command goes on (a server keeps serving)
// instead of dying on an unhandled EPIPE
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') return;
  throw e;
});

await main();
