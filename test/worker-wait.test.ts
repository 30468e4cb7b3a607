/**
 * workerWait 'ring': built-in handlers' worker threads wait for completions
 * in io_uring_enter (WorkerRing.serve) instead of their event loop, and run
 * their JS between serve() calls; the acceptor's doorbell (Acceptor.wake)
 * ends a serve() early so a command from the main thread is read at once.
 */
import test from 'ava';
import { createServer } from '@ringleader/runtime';
import { layout, native } from '@ringleader/core-native';
import { Worker } from 'node:worker_threads';
import { echoOnce, randomPayload, waitFor } from './helpers.js';
import { fixture } from './js-helpers.js';

for (const workerWait of ['ring', 'loop'] as const) {
  test(`workerWait ${workerWait}: 120 connections echoed byte-exact, and a clean close`, async (t) => {
    const server = createServer({ workers: 2, port: 0, workerWait });
    const { port } = await server.listen();
    try {
      const payloads = Array.from({ length: 120 }, () => randomPayload(1, 128 * 1024));
      const results = await Promise.all(payloads.map((p) => echoOnce(port, p)));
      t.deepEqual(
        results.filter((r) => r.sent !== r.received || !r.cleanClose),
        [],
      );
      t.true(await waitFor(() => server.stats().total.closed === 120, 5000), 'every connection closed on the server');
      t.is(
        server.stats().total.bytesIn,
        payloads.reduce((a, p) => a + p.length, 0),
      );
    } finally {
      const { forced } = await server.close({ timeout: 1000 });
      t.is(forced, 0);
    }
  });
}

test("the doorbell ends a worker ring's serve() early", async (t) => {
  const ai = new Int32Array(layout.acceptorI32.length);
  const au = new BigUint64Array(layout.acceptorU64.length);
  const acceptor = new native.Acceptor({ tableSize: 8, wantAddress: false, maxArmed: 4, multishot: false, multishotMargin: 4, deferTaskrun: true }, ai, au, () => {});
  const MAX_MS = 20_000;
  const w = new Worker(fixture('serve-wait.mjs'), { workerData: { maxMs: MAX_MS } });
  try {
    const { ringFd } = await new Promise<{ ringFd: number }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    const target = acceptor.addTarget(ringFd);
    const done = new Promise<{ ms: number }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    w.postMessage('serve');
    // serve() is entered; the doorbell must end it long before MAX_MS
    await new Promise((r) => setTimeout(r, 300));
    t.is(acceptor.wake(target), 0);
    const { ms } = await done;
    t.true(ms < MAX_MS / 2, `serve() returned after ${Math.round(ms)} ms, not at the doorbell`);
  } finally {
    await w.terminate();
    acceptor.close();
  }
});

test('workerWait is validated: a handler module needs its event loop', (t) => {
  t.throws(() => createServer({ workerWait: 'spin' as never }), { instanceOf: RangeError, message: /workerWait/ });
  t.throws(() => createServer({ handler: fixture('lifecycle.mjs'), workerWait: 'ring' }), { instanceOf: RangeError, message: /workerWait/ });
  t.notThrows(() => createServer({ handler: fixture('lifecycle.mjs') }));
});
