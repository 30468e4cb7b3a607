import test from 'ava';
import net from 'node:net';
import { createServer } from '@ringleader/runtime';
import { echoOnce, fdCount, sleep, userThreadCount, waitFor } from './helpers.js';

test.serial('no slot leaks: 2,000 connect/close cycles leave every table all-free', async (t) => {
  const server = createServer({ workers: 2, port: 0, workerTableSize: 64, acceptorTableSize: 64 });
  const { port } = await server.listen();
  try {
    const CYCLES = 2000;
    const CONC = 32;
    let done = 0;
    let failures = 0;
    await Promise.all(
      Array.from({ length: CONC }, async (_, k) => {
        for (let i = k; i < CYCLES; i += CONC) {
          // alternate: clean echo-and-close, and close before sending anything
          if (i % 2) {
            const r = await echoOnce(port, Buffer.from(`cycle ${i}`), 10000);
            if (r.received !== r.sent) failures++;
          } else {
            await new Promise<void>((resolve) => {
              const s = net.connect(port, '127.0.0.1', () => s.destroy());
              s.on('error', () => {});
              s.on('close', () => resolve());
            });
          }
          done++;
        }
      }),
    );
    t.is(done, CYCLES);
    t.is(failures, 0);
    t.true(await waitFor(() => server.stats().total.closed === CYCLES, 10000), `closed ${server.stats().total.closed}`);
    const st = server.stats();
    t.is(st.acceptor.tableUsed, 0, 'acceptor slots all free');
    t.is(st.held, 0);
    for (const w of st.workers) {
      t.is(w.tableUsed, 0, `worker ${w.index} slots all free`);
      t.is(w.live, 0);
      t.is(w.bufFree, server.options.bufferCount, `worker ${w.index} buffers all back`);
    }
    t.is(st.total.accepted, CYCLES);
  } finally {
    await server.close({ timeout: 1000 });
  }
});

test.serial('teardown: 20 start/stop cycles leave fds and threads where they started', async (t) => {
  // one warm-up cycle loads the addon and piscina
  const warm = createServer({ workers: 2, port: 0 });
  await warm.listen();
  await warm.close({ timeout: 100 });
  await sleep(100);
  const fds0 = fdCount();
  const threads0 = userThreadCount();
  for (let i = 0; i < 20; i++) {
    const s = createServer({ workers: 2, port: 0 });
    const { port } = await s.listen();
    if (i % 4 === 0) {
      const r = await echoOnce(port, Buffer.from('teardown'));
      t.is(r.received, r.sent);
    }
    await s.close({ timeout: 200 });
  }
  t.true(await waitFor(() => fdCount() <= fds0, 3000), `fds ${fds0} -> ${fdCount()}`);
  t.true(await waitFor(() => userThreadCount() <= threads0, 3000), `threads ${threads0} -> ${userThreadCount()}`);
});

test('close drains: a connection that finishes within the timeout counts as drained', async (t) => {
  const server = createServer({ workers: 1, port: 0 });
  const { port } = await server.listen();
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((r) => sock.on('connect', r));
  t.true(await waitFor(() => server.stats().total.live === 1, 2000));
  const closing = server.close({ timeout: 3000 });
  await sleep(100);
  sock.end();
  const summary = await closing;
  t.is(summary.drained, 1);
  t.is(summary.forced, 0);
});

test('close forces what outlives the timeout, and says so', async (t) => {
  const server = createServer({ workers: 2, port: 0 });
  const { port } = await server.listen();
  const socks = await Promise.all(
    Array.from(
      { length: 6 },
      () =>
        new Promise<net.Socket>((r) => {
          const s = net.connect(port, '127.0.0.1', () => r(s));
          s.on('error', () => {});
        }),
    ),
  );
  t.true(await waitFor(() => server.stats().total.live === 6, 2000));
  let ended = 0;
  const errors: (string | undefined)[] = [];
  const ends = socks.map(
    (s) =>
      new Promise<void>((r) => {
        s.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code));
        s.on('close', () => {
          ended++;
          r();
        });
      }),
  );
  const summary = await server.close({ timeout: 200 });
  t.is(summary.forced, 6);
  t.is(summary.drained, 0);
  await Promise.race([Promise.all(ends), new Promise((r) => setTimeout(r, 3000))]);
  t.is(ended, 6, 'every forced connection reached its client as a close');
  // cut short: a reset, so no client takes the close for a complete response
  t.deepEqual(errors, Array(6).fill('ECONNRESET'));
});
