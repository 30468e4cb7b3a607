/**
 * Proxy fairness: connections that cannot make progress must not hold the
 * worker's receive buffers that everyone else needs (issue 13, defect 2).
 */
import test from 'ava';
import net from 'node:net';
import { probe } from '@ringleader/core-native';
import { createServer } from '@ringleader/runtime';
import { echoOnce, sleep } from './helpers.js';

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

/** a client that sends `bytes` and never reads */
function slowReader(port: number, bytes: number): net.Socket {
  const c = net.connect({ port, host: '127.0.0.1' });
  c.pause();
  c.on('error', () => {});
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  let sent = 0;
  const pump = () => {
    while (sent < bytes && !c.destroyed) {
      sent += chunk.length;
      if (!c.write(chunk)) return c.once('drain', pump);
    }
  };
  c.on('connect', pump);
  return c;
}

test.serial('64 slow readers (send, never read) leave buffers for 50 new clients, who are all served', async (t) => {
  t.timeout(120_000);
  const backend = await echoBackend();
  const proxy = createServer({ handler: 'proxy', workers: 2, port: 0, upstreams: [`127.0.0.1:${backend.port}`] });
  const { port } = await proxy.listen();
  const slow: net.Socket[] = [];
  try {
    // up to 256 MiB each, written as the socket drains: far more than the
    // kernel's socket buffers and the proxy's queues can take, so every one
    // of them ends up stalled both ways
    for (let i = 0; i < 64; i++) slow.push(slowReader(port, 256 << 20));
    // until no byte moves any more: every socket buffer on the way is full
    // and every slow reader is stalled both ways (bounded: 60 s)
    const moved = () => proxy.stats().workers.reduce((a, w) => a + w.proxy!.c2uBytes + w.proxy!.u2cBytes, 0);
    const t0 = Date.now();
    let last = -1;
    while (Date.now() - t0 < 60_000) {
      await sleep(1000);
      const now = moved();
      if (now === last) break;
      last = now;
    }
    const st = proxy.stats();
    const live = st.workers.map((w) => w.live);
    const free = st.workers.map((w) => w.bufFree);
    const count = proxy.options.bufferCount;
    t.log(`stalled after ${Date.now() - t0} ms, ${(last / 1048576).toFixed(0)} MiB relayed: live per worker ${live.join('/')}, ` + `free buffers ${free.join('/')} of ${count} each`);
    t.is(
      live.reduce((a, b) => a + b, 0),
      64,
      'every slow reader is still connected',
    );
    // each direction holds at most maxBuffersHeld buffers
    const cap = 2 * proxy.options.maxBuffersHeld;
    for (let i = 0; i < live.length; i++) t.true(free[i] >= count - live[i] * cap, `worker ${i}: ${count - free[i]} buffers held by ${live[i]} connections`);
    // where receives are multishot (capped by bytes), what arrived while a
    // direction was at its buffer cap was copied out of the pool: that is
    // what kept the bound above; one buffer at a time never gets there
    const copies = st.workers.reduce((a, w) => a + w.proxy!.bufferCopies, 0);
    t.log(`buffers copied out at the cap: ${copies} (multishot with a byte cap: ${probe().recvCap})`);
    if (probe().recvCap) t.true(copies > 0, 'receives that raced a pause were copied out');
    else t.is(copies, 0);
    const payload = Buffer.alloc(1024, 0x61);
    const t1 = Date.now();
    const r = await Promise.all(Array.from({ length: 50 }, () => echoOnce(port, payload, 5000)));
    const served = r.filter((x) => x.cleanClose && x.bytes === payload.length).length;
    t.log(
      `new clients served: ${served}/50 in ${Date.now() - t1} ms; free buffers ${proxy
        .stats()
        .workers.map((w) => w.bufFree)
        .join('/')}`,
    );
    t.is(served, 50, JSON.stringify(r.find((x) => !x.cleanClose)));
  } finally {
    for (const c of slow) c.destroy();
    await proxy.close({ timeout: 1000 });
    await backend.close();
  }
});
