/** Proxy mode: upstreams dialled on the worker rings, pumps, half-close, failover, timeouts. */
import test from 'ava';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { createServer } from '@ringleader/runtime';
import { CLI, echoOnce, readStream, runCli, sleep, Stream, waitFor } from './helpers.js';
import { freePort } from './ops-helpers.js';

/**
 * An upstream that checks what it receives and answers: the client sends a
 * 16-byte header (len, seed, respLen, respSeed) then len bytes of
 * Stream(seed); the upstream verifies them, answers respLen bytes of
 * Stream(respSeed) and ends.
 */
async function checkingUpstream(host = '127.0.0.1') {
  const results: { ok: boolean; len: number; why?: string }[] = [];
  const server = net.createServer((sock) => {
    let header: Buffer | null = null;
    let pending = Buffer.alloc(0);
    let got = 0;
    let expect: Stream;
    let ok = true;
    let why: string | undefined;
    sock.on('data', (d: Buffer) => {
      if (!header) {
        pending = Buffer.concat([pending, d]);
        if (pending.length < 16) return;
        header = pending.subarray(0, 16);
        d = pending.subarray(16);
        expect = new Stream(header.readUInt32LE(4));
      }
      const len = header.readUInt32LE(0);
      if (d.length) {
        const want = expect.fill(Buffer.alloc(d.length));
        if (ok && !want.equals(d)) {
          ok = false;
          why = `mismatch near offset ${got}`;
        }
        got += d.length;
      }
      if (got >= len) {
        if (got > len) {
          ok = false;
          why = `got ${got} > ${len}`;
        }
        results.push({ ok, len, why });
        const respLen = header.readUInt32LE(8);
        const out = new Stream(header.readUInt32LE(12));
        // answer respecting backpressure
        let sent = 0;
        const pump = () => {
          while (sent < respLen) {
            const n = Math.min(64 * 1024, respLen - sent);
            sent += n;
            if (!sock.write(out.fill(Buffer.alloc(n)))) return sock.once('drain', pump);
          }
          sock.end();
        };
        header = Buffer.alloc(16, 0xff); // answered: ignore anything more
        header.writeUInt32LE(0x7fffffff, 0);
        pump();
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  return { server, port: (server.address() as net.AddressInfo).port, results };
}

/** one exchange through the proxy: send len bytes, read respLen back, verify */
function exchange(port: number, len: number, respLen: number, seed: number, host = '127.0.0.1'): Promise<{ ok: boolean; why?: string }> {
  return new Promise((resolve) => {
    const sock = net.connect(port, host);
    const expect = new Stream(seed + 1);
    let got = 0;
    let ok = true;
    let why: string | undefined;
    const timer = setTimeout(() => {
      ok = false;
      why = `timeout with ${got}/${respLen}`;
      sock.destroy();
    }, 60_000);
    sock.on('connect', () => {
      const h = Buffer.alloc(16);
      h.writeUInt32LE(len, 0);
      h.writeUInt32LE(seed, 4);
      h.writeUInt32LE(respLen, 8);
      h.writeUInt32LE(seed + 1, 12);
      sock.write(h);
      const src = new Stream(seed);
      let sent = 0;
      const pump = () => {
        while (sent < len) {
          const n = Math.min(64 * 1024, len - sent);
          sent += n;
          if (!sock.write(src.fill(Buffer.alloc(n)))) return sock.once('drain', pump);
        }
      };
      pump();
    });
    sock.on('data', (d: Buffer) => {
      const want = expect.fill(Buffer.alloc(d.length));
      if (ok && !want.equals(d)) {
        ok = false;
        why = `response mismatch near ${got}`;
      }
      got += d.length;
    });
    sock.on('end', () => {
      if (got !== respLen) {
        ok = false;
        why = `response ${got}/${respLen}`;
      }
      sock.end();
    });
    sock.on('error', (e) => {
      ok = false;
      why = e.message;
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ ok, why });
    });
  });
}

/** log-uniform size from 1 B to 8 MiB */
function size(): number {
  return Math.max(1, Math.floor(2 ** (Math.random() * 23)));
}

test.serial('100 concurrent connections, 1 B to 8 MiB each way, byte-exact', async (t) => {
  t.timeout(120_000);
  const up = await checkingUpstream();
  const proxy = createServer({ handler: 'proxy', workers: 2, port: 0, upstreams: [`127.0.0.1:${up.port}`] });
  const { port } = await proxy.listen();
  try {
    const N = 100;
    const sizes = Array.from({ length: N }, (_, i) => (i === 0 ? [8 << 20, 1] : i === 1 ? [1, 8 << 20] : [size(), size()]));
    const res = await Promise.all(sizes.map(([a, b], i) => exchange(port, a, b, 1000 + i * 7)));
    const bad = res.filter((r) => !r.ok);
    t.deepEqual(bad.slice(0, 3), [], `${bad.length} failed`);
    t.is(up.results.length, N);
    t.true(
      up.results.every((r) => r.ok),
      JSON.stringify(up.results.filter((r) => !r.ok).slice(0, 3)),
    );
    const st = proxy.stats();
    const c2u = st.workers.reduce((a, w) => a + (w.proxy?.c2uBytes ?? 0), 0);
    const u2c = st.workers.reduce((a, w) => a + (w.proxy?.u2cBytes ?? 0), 0);
    t.is(
      c2u,
      sizes.reduce((a, [x]) => a + x + 16, 0),
    );
    t.is(
      u2c,
      sizes.reduce((a, [, y]) => a + y, 0),
    );
    t.is(st.upstreams![0].connected, N);
    t.true(st.zeroCopy.sends > 0, 'large sends used send_zc');
    t.is(st.zeroCopy.copied, st.zeroCopy.sends, 'loopback: every zero-copy send was copied');
    t.regex(st.zeroCopy.note ?? '', /loopback/);
  } finally {
    await proxy.close({ timeout: 1000 });
    up.server.close();
  }
});

test.serial('half-close: the client shuts down its write side and still gets the whole reply', async (t) => {
  const upstream = net.createServer((s) => {
    let n = 0;
    s.on('data', (d) => (n += d.length));
    // reply only after the client's FIN arrived through the proxy
    s.on('end', () => {
      s.write(`got ${n} bytes; `.repeat(20000));
      s.end();
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const proxy = createServer({ handler: 'proxy', workers: 1, port: 0, upstreams: [`127.0.0.1:${(upstream.address() as net.AddressInfo).port}`] });
  const { port } = await proxy.listen();
  try {
    const reply = await new Promise<string>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () => c.end(Buffer.alloc(100000, 1)));
      let out = '';
      c.on('data', (d) => (out += d));
      c.on('end', () => resolve(out));
      c.on('error', reject);
    });
    t.is(reply, 'got 100000 bytes; '.repeat(20000));
  } finally {
    await proxy.close({ timeout: 500 });
    upstream.close();
  }
});

test.serial('half-close, mirrored: the upstream ends first, the client keeps sending', async (t) => {
  let upstreamGot = 0;
  const upstreamDone = new Promise<void>((resolveDone) => {
    const upstream = net.createServer((s) => {
      let got = 0;
      s.end('goodbye from upstream'); // our write side closes at once
      s.on('data', (d) => (got += d.length));
      s.on('error', () => {});
      // the proxy's start-up probe connects too and sends nothing
      s.on('end', () => {
        if (got === 0) return;
        upstreamGot = got;
        resolveDone();
      });
    });
    upstream.listen(0, '127.0.0.1');
    (t.context as { upstream?: net.Server }).upstream = upstream;
  });
  const upstream = (t.context as { upstream: net.Server }).upstream;
  await new Promise((r) => upstream.once('listening', r));
  const proxy = createServer({ handler: 'proxy', workers: 1, port: 0, upstreams: [`127.0.0.1:${(upstream.address() as net.AddressInfo).port}`] });
  const { port } = await proxy.listen();
  try {
    const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const closed = new Promise((r) => c.on('close', r));
    let got = '';
    c.on('data', (d) => (got += d));
    await new Promise((r) => c.on('end', r)); // the upstream's FIN reached us
    t.is(got, 'goodbye from upstream');
    // the other direction still flows
    for (let i = 0; i < 10; i++) c.write(Buffer.alloc(50000, i));
    c.end();
    await upstreamDone;
    t.is(upstreamGot, 500000);
    await closed;
  } finally {
    await proxy.close({ timeout: 500 });
    upstream.close();
  }
});

test.serial('failover: a refusing upstream is skipped; all down closes the client at once; a returning upstream is used', async (t) => {
  const up = await checkingUpstream();
  // a port with nothing behind it
  // nothing listens there until the test says so (a port outside the ephemeral range: see freePort)
  const deadPort = await freePort();
  const warnings: string[] = [];
  const proxy = createServer({
    handler: 'proxy',
    workers: 1,
    port: 0,
    upstreams: [`127.0.0.1:${deadPort}`, `127.0.0.1:${up.port}`],
    upstreamBackoff: 100,
    upstreamBackoffMax: 200,
  });
  proxy.on('warning', (w: Error) => warnings.push(w.message));
  const { port } = await proxy.listen();
  try {
    t.true(
      warnings.some((w) => w.includes(`${deadPort}`) && w.includes('ECONNREFUSED')),
      'unreachable upstream warned at start',
    );
    const r = await Promise.all(Array.from({ length: 10 }, (_, i) => exchange(port, 1000, 1000, i)));
    t.true(
      r.every((x) => x.ok),
      JSON.stringify(r),
    );
    let st = proxy.stats();
    t.true(st.upstreams![0].refused > 0, 'the dead upstream refused');
    t.is(st.upstreams![1].connected, 10);

    // every upstream down: the client is closed promptly, counted
    up.server.close();
    await sleep(50);
    const before = proxy.stats().workers[0].proxy!.upstreamUnavailable;
    const t0 = Date.now();
    const closed = await new Promise<{ ms: number; bytes: number; error?: string }>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => c.write('anyone?'));
      let bytes = 0;
      let error: string | undefined;
      c.on('data', (d) => (bytes += d.length));
      c.on('error', (e: NodeJS.ErrnoException) => (error = e.code));
      c.on('close', () => resolve({ ms: Date.now() - t0, bytes, error }));
    });
    t.true(closed.ms < 2000, `closed after ${closed.ms} ms (refused: no connect timeout to wait for)`);
    t.is(closed.bytes, 0);
    t.is(closed.error, 'ECONNRESET', 'a reset, not an empty reply');
    t.true(await waitFor(() => proxy.stats().workers[0].proxy!.upstreamUnavailable > before, 1000), 'upstream_unavailable counted');

    // the first upstream comes back on its port: used again after its back-off
    const back = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => back.listen(deadPort, '127.0.0.1', () => r()));
    await sleep(300);
    const echoed = await new Promise<string>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => c.end('hello again'));
      let out = '';
      c.on('data', (d) => (out += d));
      c.on('error', () => {});
      c.on('close', () => resolve(out));
    });
    t.is(echoed, 'hello again');
    st = proxy.stats();
    t.true(st.upstreams![0].connected >= 1, 'the returning upstream served');
    t.is(st.upstreams![0].down, 0);
    back.close();
  } finally {
    await proxy.close({ timeout: 500 });
  }
});

/**
 * A listener that never accepts, with its backlog full: further SYNs are
 * dropped, so a dial to it waits for the connect timeout. `close` ends it.
 */
async function blackHole(): Promise<{ port: number; close: () => void }> {
  const py = spawn('python3', ['-c', 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)']);
  const port = await new Promise<number>((resolve) => py.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const f = net.connect(port, '127.0.0.1');
    f.on('error', () => {});
    fillers.push(f);
  }
  await sleep(200);
  return {
    port,
    close: () => {
      for (const f of fillers) f.destroy();
      py.kill();
    },
  };
}

test.serial('an idle timeout shorter than the connect timeout does not close clients still dialling: they fail over', async (t) => {
  const hole = await blackHole();
  const upPort = hole.port;
  const good = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => good.listen(0, '127.0.0.1', () => r()));
  try {
    const proxy = createServer({
      handler: 'proxy',
      workers: 1,
      port: 0,
      upstreams: [`127.0.0.1:${upPort}`, `127.0.0.1:${(good.address() as net.AddressInfo).port}`],
      upstreamPolicy: 'round-robin',
      connectTimeout: 1500,
      idleTimeout: 400,
    });
    const { port } = await proxy.listen();
    try {
      // 4 clients: round-robin sends two of them to the black hole first
      const r = await Promise.all(Array.from({ length: 4 }, () => echoOnce(port, Buffer.from('through'), 10_000)));
      t.deepEqual(
        r.map((x) => x.bytes),
        [7, 7, 7, 7],
        JSON.stringify(r),
      );
      const st = proxy.stats();
      t.is(st.workers[0].proxy!.idleTimeouts, 0, 'none closed as idle while dialling');
      t.true(st.upstreams![0].timeouts >= 1, 'the black hole timed out and they went on');
    } finally {
      await proxy.close({ timeout: 300 });
    }
  } finally {
    hole.close();
    good.close();
  }
});

test.serial('least-connections counts dials in flight: a burst spreads over the upstreams', async (t) => {
  const held: net.Socket[] = [];
  const ups = await Promise.all(
    [0, 1].map(async () => {
      const s = net.createServer((c) => {
        held.push(c);
        c.on('error', () => {});
      });
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
      return s;
    }),
  );
  const proxy = createServer({ handler: 'proxy', workers: 1, port: 0, upstreams: ups.map((s) => `127.0.0.1:${(s.address() as net.AddressInfo).port}`), upstreamPolicy: 'least-connections' });
  const { port } = await proxy.listen();
  const clients: net.Socket[] = [];
  try {
    // 20 at once, all dialled before any connects: counted as they are dialled
    await Promise.all(
      Array.from(
        { length: 20 },
        () =>
          new Promise<void>((resolve) => {
            const c = net.connect(port, '127.0.0.1', () => resolve());
            c.on('error', () => {});
            clients.push(c);
          }),
      ),
    );
    t.true(await waitFor(() => (proxy.stats().upstreams ?? []).reduce((a, u) => a + u.live, 0) === 20, 5000));
    const live = proxy.stats().upstreams!.map((u) => u.live);
    t.true(Math.abs(live[0] - live[1]) <= 2, `live per upstream ${live.join('/')}`);
  } finally {
    for (const c of clients) c.destroy();
    for (const c of held) c.destroy();
    await proxy.close({ timeout: 300 });
    for (const s of ups) s.close();
  }
});

test.serial('connect timeout fires at the configured time, each retry too, and the upstream goes down after upstreamMaxFails', async (t) => {
  const hole = await blackHole();
  const upPort = hole.port;
  try {
    // three dials (one, then two retries of the only upstream), each timing out
    const proxy = createServer({
      handler: 'proxy',
      workers: 1,
      port: 0,
      upstreams: [`127.0.0.1:${upPort}`],
      connectTimeout: 600,
      connectRetries: 2,
      upstreamMaxFails: 3,
    });
    const { port } = await proxy.listen();
    try {
      const t0 = Date.now();
      const ms = await new Promise<number>((resolve) => {
        const c = net.connect(port, '127.0.0.1', () => c.write('never relayed'));
        c.on('error', () => {});
        c.on('close', () => resolve(Date.now() - t0));
      });
      t.log(`client closed after ${ms} ms`);
      // received from the client, never sent to an upstream: not counted as relayed
      t.is(proxy.stats().workers[0].proxy!.c2uBytes, 0);
      t.true(ms >= 3 * 550 && ms < 3 * 600 + 2000, `client closed after ${ms} ms; 3 dials with a 600 ms connect timeout`);
      const st = proxy.stats();
      t.is(st.upstreams![0].timeouts, 3, JSON.stringify(st.upstreams));
      t.is(st.upstreams![0].down, 1, 'down after 3 consecutive failures');
    } finally {
      await proxy.close({ timeout: 300 });
    }
  } finally {
    hole.close();
  }
});

test.serial('slow reader: 100 MiB streamed to a client that stops reading; buffered bytes stay under the cap', async (t) => {
  t.timeout(120_000);
  const TOTAL = 100 << 20;
  const upstream = net.createServer((s) => {
    const out = new Stream(42);
    let sent = 0;
    const pump = () => {
      while (sent < TOTAL) {
        const n = Math.min(256 * 1024, TOTAL - sent);
        sent += n;
        if (!s.write(out.fill(Buffer.alloc(n)))) return s.once('drain', pump);
      }
      s.end();
    };
    pump();
    s.on('error', () => {});
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const CAP = 256 * 1024;
  const proxy = createServer({ handler: 'proxy', workers: 1, port: 0, highWaterMark: CAP, upstreams: [`127.0.0.1:${(upstream.address() as net.AddressInfo).port}`] });
  const { port } = await proxy.listen();
  try {
    const rss0 = process.memoryUsage().rss;
    const c = net.connect(port, '127.0.0.1');
    c.pause(); // the slow reader
    await new Promise((r) => c.on('connect', r));
    let maxBuffered = 0;
    let maxRss = 0;
    for (let i = 0; i < 20; i++) {
      await sleep(100);
      maxBuffered = Math.max(maxBuffered, proxy.stats().workers[0].buffered);
      maxRss = Math.max(maxRss, process.memoryUsage().rss);
    }
    t.true(proxy.stats().workers[0].rxPaused > 0, 'the upstream side was paused');
    // now read it all and check every byte
    const { bytes, inOrder } = await readStream(c, 42, () => {
      maxBuffered = Math.max(maxBuffered, proxy.stats().workers[0].buffered);
    });
    t.is(bytes, TOTAL);
    t.true(inOrder, 'bytes in order');
    const bufSize = proxy.options.bufferSize;
    t.true(maxBuffered <= CAP + bufSize, `buffered peaked at ${maxBuffered} (cap ${CAP} + one ${bufSize} buffer)`);
    t.true(maxRss - rss0 < 96 << 20, `RSS grew ${((maxRss - rss0) / 1048576).toFixed(1)} MiB while 100 MiB waited`);
  } finally {
    await proxy.close({ timeout: 500 });
    upstream.close();
  }
});

test.serial('IPv6 upstream, least-connections policy, idle timeout', async (t) => {
  const up = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => up.listen(0, '::1', () => r()));
  const proxy = createServer({
    handler: 'proxy',
    workers: 1,
    port: 0,
    upstreams: [`[::1]:${(up.address() as net.AddressInfo).port}`],
    upstreamPolicy: 'least-connections',
    idleTimeout: 300,
  });
  const { port } = await proxy.listen();
  try {
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => {});
    const echoed = await new Promise<string>((r) => {
      c.on('connect', () => c.write('over v6'));
      c.once('data', (d) => r(String(d)));
    });
    t.is(echoed, 'over v6');
    // then silence: the idle timeout closes it
    const t0 = Date.now();
    await new Promise((r) => c.on('close', r));
    const ms = Date.now() - t0;
    t.true(ms >= 250 && ms < 1500, `idle close after ${ms} ms`);
    t.is(proxy.stats().workers[0].proxy!.idleTimeouts, 1);
  } finally {
    await proxy.close({ timeout: 300 });
    up.close();
  }
});

test('proxy options: upstreams required, validated, and never the proxy itself', async (t) => {
  t.throws(() => createServer({ handler: 'proxy' }), { instanceOf: TypeError, message: /"upstreams"/ });
  t.throws(() => createServer({ handler: 'proxy', upstreams: ['nohost'] }), { instanceOf: RangeError, message: /upstreams\[0\].*nohost/ });
  t.throws(() => createServer({ handler: 'proxy', upstreams: ['h:70000'] }), { instanceOf: RangeError });
  t.throws(() => createServer({ handler: 'echo', upstreams: ['h:1'] }), { instanceOf: RangeError, message: /"upstreams"/ });
  const loop = createServer({ handler: 'proxy', port: 47123, workers: 1, upstreams: ['127.0.0.1:47123'] });
  await t.throwsAsync(loop.listen(), { instanceOf: RangeError, message: /own listening address/ });
  const unresolvable = createServer({ handler: 'proxy', port: 0, workers: 1, upstreams: ['nohost.invalid:80'] });
  await t.throwsAsync(unresolvable.listen(), { instanceOf: RangeError, message: /nohost\.invalid/ });
  // loss and fairness knobs: defaults, and ranges that name the option
  const d = createServer({ handler: 'proxy', upstreams: ['127.0.0.1:1'] }).options;
  t.deepEqual([d.connectTimeout, d.connectRetries, d.upstreamMaxFails, d.maxBuffersHeld], [5000, 2, 5, 2]);
  t.throws(() => createServer({ handler: 'proxy', upstreams: ['127.0.0.1:1'], connectRetries: -1 }), { instanceOf: RangeError, message: /"connectRetries"/ });
  t.throws(() => createServer({ handler: 'proxy', upstreams: ['127.0.0.1:1'], upstreamMaxFails: 0 }), { instanceOf: RangeError, message: /"upstreamMaxFails"/ });
  t.throws(() => createServer({ handler: 'proxy', upstreams: ['127.0.0.1:1'], maxBuffersHeld: 1.5 }), { instanceOf: RangeError, message: /"maxBuffersHeld"/ });
  t.throws(() => createServer({ handler: 'proxy', upstreams: ['127.0.0.1:1'], bufferCount: 64, maxBuffersHeld: 33 }), {
    instanceOf: RangeError,
    message: /"maxBuffersHeld".*0 to 32/,
  });
});

test('CLI proxy: bad input exits 2 naming the value', async (t) => {
  const cases: [string[], RegExp][] = [
    [['proxy'], /--upstream HOST:PORT is required/],
    [['proxy', '--upstream', 'localhost'], /--upstream .*"localhost"/],
    [['proxy', '--upstream', 'nohost.invalid:80', '--listen', '127.0.0.1:0'], /nohost\.invalid/],
    [['proxy', '--listen', '127.0.0.1:47124', '--upstream', '127.0.0.1:47124'], /own listening address/],
    [['proxy', '--listen', 'nowhere', '--upstream', '127.0.0.1:1'], /--listen/],
    [['proxy', '--upstream', '127.0.0.1:1', '--connect-retries', 'x'], /--connect-retries/],
    [['proxy', '--upstream', '127.0.0.1:1', '--upstream-max-fails', '0'], /--upstream-max-fails/],
    [['proxy', '--upstream', '127.0.0.1:1', '--buffers', '64', '--max-buffers-held', '40'], /--max-buffers-held/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, re);
    t.notRegex(r.stderr, /\n\s+at /);
  }
});

test('CLI proxy: starts with its upstream down, warns, and serves once it is up', async (t) => {
  // nothing listens there until the test says so (a port outside the ephemeral range: see freePort)
  const upPort = await freePort();
  const child = spawn(process.execPath, [CLI, 'proxy', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upPort}`, '--workers', '1', '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const up = net.createServer((s) => s.pipe(s));
  try {
    t.true(await waitFor(() => out.includes('"listening"'), 10000), err);
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    t.true(
      lines.some((l) => l.event === 'warning' && l.code === 'ERR_UPSTREAM_UNREACHABLE' && /upstream .* not reachable/.test(l.message)),
      out,
    );
    const port = lines.find((l) => l.event === 'listening').port as number;
    await new Promise<void>((r) => up.listen(upPort, '127.0.0.1', () => r()));
    await sleep(400); // past the first back-off
    const echoed = await new Promise<string>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => c.end('through'));
      let s = '';
      c.on('data', (d) => (s += d));
      c.on('error', () => {});
      c.on('close', () => resolve(s));
    });
    t.is(echoed, 'through');
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.on('close', r));
    up.close();
  }
});
