/**
 * Echo as a handler module: the same service as the native `echo` handler,
 * through the JS path (events into JS, writes back out), so the cost of that
 * path can be measured against the native one. Backpressure as Node's
 * `pipe` does it: pause receiving while the write queue is over the
 * high-water mark, resume on drain.
 */
import { defineHandler } from '../handler.js';

export default defineHandler({
  onData(conn, data) {
    // the view is written back during its own callback: the engine sends the
    // receive buffer itself, no copy
    if (!conn.write(data)) conn.pause();
  },
  onDrain(conn) {
    conn.resume();
  },
});
