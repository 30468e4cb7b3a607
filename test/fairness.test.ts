/**
 * Fairness of the receive-buffer pool: connections that cannot make
 * progress (clients that send but never read) must not hold the worker's
 * receive buffers that everyone else needs, in either built-in handler.
 */
import test, { type ExecutionContext } from 'ava';
import net from 'node:net';
import { abi, probe } from '@ringleader/core-native';
import { createServer, type Server } from '@ringleader/runtime';
import { echoOnce, sleep, slowReader } from './helpers.js';

/** an echo backend that honours backpressure (it stops reading while its writes wait) */
async function echoBackend() {
  const socks = new Set<net.Socket>();
  const server = net.createServer((s) => {
    socks.add(s);
    s.on('error', () => {});
    s.on('close', () => socks.delete(s));
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const close = () => {
    for (const s of socks) s.destroy();
    return new Promise((r) => server.close(r));
  };
  return { port: (server.address() as net.AddressInfo).port, close };
}

/**
 * Stall `slowCount` slow readers on `server`, check that each direction
 * holds at most maxBuffersHeld buffers (`directions` per connection), then
 * that 50 new clients are all served.
 */
async function stallThenServe(t: ExecutionContext, server: Server, port: number, slowCount: number, directions: number, expectCopies: boolean) {
  const slow: net.Socket[] = [];
  try {
    // up to 256 MiB each, written as the socket drains: far more than the
    // kernel's socket buffers and the server's queues can take, so every
    // one of them ends up stalled
    for (let i = 0; i < slowCount; i++) slow.push(slowReader(port, 256 << 20));
    // until no byte moves any more: every socket buffer on the way is full
    // and every slow reader is stalled (bounded: 60 s)
    const moved = () => server.stats().workers.reduce((a, w) => a + w.bytesIn, 0);
    const t0 = Date.now();
    let last = -1;
    while (Date.now() - t0 < 60_000) {
      await sleep(1000);
      const now = moved();
      if (now === last) break;
      last = now;
    }
    const st = server.stats();
    const live = st.workers.map((w) => w.live);
    const free = st.workers.map((w) => w.bufFree);
    const count = server.options.bufferCount;
    t.log(`stalled after ${Date.now() - t0} ms, ${(last / 1048576).toFixed(0)} MiB received: live per worker ${live.join('/')}, free buffers ${free.join('/')} of ${count} each`);
    t.is(
      live.reduce((a, b) => a + b, 0),
      slowCount,
      'every slow reader is still connected',
    );
    // each direction holds at most maxBuffersHeld buffers, or up to
    // abi.limits.gatherBuffers while over three quarters of the pool were
    // free: stalled directions pin at most a quarter of the pool beyond
    // maxBuffersHeld each
    const held = directions * server.options.maxBuffersHeld;
    const burst = directions * Math.max(server.options.maxBuffersHeld, abi.limits.gatherBuffers);
    for (let i = 0; i < live.length; i++) {
      const most = Math.min(live[i] * burst, count / 4 + live[i] * held);
      t.true(count - free[i] <= most, `worker ${i}: ${count - free[i]} buffers held by ${live[i]} connections (at most ${most})`);
    }
    // where receives are multishot (capped by bytes), what arrived while a
    // direction was at its buffer cap was copied out of the pool: in the
    // proxy that is what kept the bound above (its receives race the pause
    // of the other side); echo's own cap usually leaves nothing to copy, so
    // there copies may or may not happen. One buffer at a time never copies.
    const copies = st.workers.reduce((a, w) => a + w.bufferCopies, 0);
    t.log(`buffers copied out at the cap: ${copies} (multishot with a byte cap: ${probe().recvCap})`);
    if (!probe().recvCap) t.is(copies, 0);
    else if (expectCopies) t.true(copies > 0, 'receives that raced a pause were copied out');
    const payload = Buffer.alloc(1024, 0x61);
    const t1 = Date.now();
    const r = await Promise.all(Array.from({ length: 50 }, () => echoOnce(port, payload, 5000)));
    const served = r.filter((x) => x.cleanClose && x.bytes === payload.length).length;
    t.log(
      `new clients served: ${served}/50 in ${Date.now() - t1} ms; free buffers ${server
        .stats()
        .workers.map((w) => w.bufFree)
        .join('/')}`,
    );
    t.is(served, 50, JSON.stringify(r.find((x) => !x.cleanClose)));
  } finally {
    for (const c of slow) c.destroy();
  }
}

test.serial('proxy: 64 slow readers (send, never read) leave buffers for 50 new clients, who are all served', async (t) => {
  t.timeout(120_000);
  const backend = await echoBackend();
  const proxy = createServer({ handler: 'proxy', workers: 2, port: 0, upstreams: [`127.0.0.1:${backend.port}`] });
  const { port } = await proxy.listen();
  try {
    await stallThenServe(t, proxy, port, 64, 2, true);
  } finally {
    await proxy.close({ timeout: 1000 });
    await backend.close();
  }
});

test.serial('echo: 64 slow readers on one worker leave buffers for 50 new clients, who are all served', async (t) => {
  t.timeout(120_000);
  // 64 x the high-water mark (16 buffers each) would be 1,024 buffers, twice this pool
  const echo = createServer({ handler: 'echo', workers: 1, port: 0, bufferCount: 512 });
  const { port } = await echo.listen();
  try {
    await stallThenServe(t, echo, port, 64, 1, false);
  } finally {
    await echo.close({ timeout: 1000 });
  }
});
