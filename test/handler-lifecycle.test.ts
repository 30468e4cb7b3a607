import test from 'ava';
import { createServer, JS_ECHO_HANDLER } from '@ringleader/runtime';
import { echoOnce, fdCount, sleep, userThreadCount, waitFor } from './helpers.js';
import { collect, connect, readUntil } from './js-helpers.js';

test.serial('handler modules: 12 start/stop cycles with traffic leave fds and threads where they started', async (t) => {
  const warm = createServer({ workers: 2, port: 0, handler: JS_ECHO_HANDLER });
  await warm.listen();
  await warm.close({ timeout: 100 });
  await sleep(100);
  const fds0 = fdCount();
  const threads0 = userThreadCount();
  for (let i = 0; i < 12; i++) {
    const s = createServer({ workers: 2, port: 0, handler: JS_ECHO_HANDLER });
    const { port } = await s.listen();
    if (i % 3 === 0) {
      const r = await echoOnce(port, Buffer.alloc(100_000, i));
      t.is(r.received, r.sent);
    }
    // a connection still open at close is forced
    const open = await connect(port);
    const done = collect(open);
    await s.close({ timeout: 100 });
    t.false((await done).timedOut);
  }
  t.true(await waitFor(() => fdCount() <= fds0, 3000), `fds ${fds0} -> ${fdCount()}`);
  t.true(await waitFor(() => userThreadCount() <= threads0, 3000), `threads ${threads0} -> ${userThreadCount()}`);
});

test.serial('a worker running a handler that is terminated mid-traffic is replaced; the others keep serving', async (t) => {
  const server = createServer({ workers: 2, port: 0, handler: JS_ECHO_HANDLER, policy: 'round-robin' });
  const { port } = await server.listen();
  try {
    const socks = await Promise.all(Array.from({ length: 8 }, () => connect(port)));
    const dones = socks.map((s) => collect(s));
    await Promise.all(
      socks.map(async (s, i) => {
        const got = readUntil(s, (x) => x === `hello ${i}`);
        s.write(`hello ${i}`);
        await got;
      }),
    );
    t.true(await waitFor(() => server.stats().workers.every((w) => w.live === 4), 2000));
    await server.terminateWorker(0);
    // the terminated worker's connections end; worker 1's still echo
    t.true(await waitFor(() => server.stats().workers[0].state === 'ready' && server.stats().restarts === 1, 10000), 'worker 0 replaced');
    const alive = await Promise.all(
      socks.map(async (s, i) => {
        if (s.destroyed || s.readableEnded) return false;
        try {
          const got = readUntil(s, (x) => x === `again ${i}`, 2000);
          s.write(`again ${i}`);
          await got;
          return true;
        } catch {
          return false;
        }
      }),
    );
    t.is(alive.filter(Boolean).length, 4, 'the other worker kept its connections');
    for (const s of socks) s.destroy();
    await Promise.all(dones);
    for (let i = 0; i < 10; i++) {
      const r = await echoOnce(port, Buffer.from(`after ${i}`));
      t.is(r.received, r.sent);
    }
  } finally {
    await server.close({ timeout: 200 });
  }
});
