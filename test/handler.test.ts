import test from 'ava';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createServer, JS_ECHO_HANDLER, type Server } from '@ringleader/runtime';
import { echoOnce, randomPayload, sleep, waitFor } from './helpers.js';
import { collect, connect, fixture, readUntil, Reports } from './js-helpers.js';

async function withServer<T>(opts: Parameters<typeof createServer>[0], fn: (port: number, server: Server) => Promise<T>): Promise<T> {
  const server = createServer({ port: 0, ...opts });
  const { port } = await server.listen();
  try {
    return await fn(port, server);
  } finally {
    await server.close({ timeout: 500 });
  }
}

test('lifecycle: onConnection → onData* → onEnd → onClose on every connection, across 3 workers', async (t) => {
  const reports = new Reports<Record<string, any>>();
  try {
    await withServer({ workers: 3, handler: fixture('lifecycle.mjs'), handlerOptions: { tag: 'lc', channel: reports.name }, policy: 'round-robin' }, async (port, server) => {
      t.true(await reports.until((m) => m.filter((x) => 'init' in x).length === 3, 5000), 'init ran once per worker');
      const inits = reports.messages.filter((x) => 'init' in x);
      t.deepEqual(inits.map((x) => x.init).sort(), [0, 1, 2]);
      t.true(inits.every((x) => x.workers === 3 && x.options?.tag === 'lc'));
      const N = 30;
      const ports = new Map<number, number>();
      const results = await Promise.all(
        Array.from({ length: N }, async (_, i) => {
          const s = await connect(port);
          ports.set(s.localPort!, i);
          const done = collect(s);
          // several messages, each echoed before the next, then FIN
          for (let k = 0; k < 3; k++) {
            const msg = `conn ${i} msg ${k}\n`;
            const got = readUntil(s, (txt) => txt.includes(msg));
            s.write(msg);
            await got;
          }
          s.end();
          return done;
        }),
      );
      t.true(
        results.every((r) => r.ended && !r.error && !r.timedOut),
        'every client saw a clean FIN',
      );
      t.true(await reports.until((m) => m.filter((x) => 'seq' in x).length === N, 5000), 'every connection reported its close');
      const closes = reports.messages.filter((x) => 'seq' in x);
      for (const c of closes) {
        const seq = (c.seq as string[]).join(' ');
        t.regex(seq, /^connect( data)+ end close$/, `connection ${c.id}: ${seq}`);
        t.is(c.err, null);
        t.is(c.remoteAddress, '127.0.0.1');
        t.is(c.remoteFamily, 'IPv4');
        t.true(ports.has(c.remotePort), `remotePort ${c.remotePort} is a client's local port`);
        t.is(c.workerId, c.worker);
        t.false(c.writeAfterClose, 'write on a closed connection returns false');
        t.true(c.destroyed);
      }
      t.is(new Set(closes.map((c) => c.id)).size, N, 'connection ids are distinct');
      t.deepEqual([...new Set(closes.map((c) => c.worker))].sort(), [0, 1, 2], 'every worker served');
      const st = server.stats();
      t.is(st.total.handlerErrors, 0);
      t.true(st.workers.every((w) => w.jsEvents >= w.jsBatches));
    });
  } finally {
    reports.close();
  }
});

test('IPv6: remoteAddress is "::1"', async (t) => {
  const reports = new Reports<Record<string, any>>();
  try {
    await withServer({ workers: 1, host: '::1', handler: fixture('lifecycle.mjs'), handlerOptions: { channel: reports.name } }, async (port) => {
      const s = await connect(port, '::1');
      const localPort = s.localPort;
      const done = collect(s);
      s.end('hi');
      const r = await done;
      t.is(r.data.toString(), 'hi');
      t.true(await reports.until((m) => m.some((x) => 'seq' in x), 3000));
      const c = reports.messages.find((x) => 'seq' in x)!;
      t.is(c.remoteAddress, '::1');
      t.is(c.remoteFamily, 'IPv6');
      t.is(c.remotePort, localPort);
    });
  } finally {
    reports.close();
  }
});

test('JS echo handler: 60 connections, 1 B to 256 KiB, byte-exact, clean close', async (t) => {
  await withServer({ workers: 2, handler: JS_ECHO_HANDLER }, async (port, server) => {
    const payloads = Array.from({ length: 60 }, (_, i) => (i === 0 ? randomPayload(1, 1) : i === 1 ? randomPayload(256 * 1024, 256 * 1024) : randomPayload(1, 256 * 1024)));
    const results = await Promise.all(payloads.map((p) => echoOnce(port, p)));
    const bad = results.filter((r) => r.sent !== r.received || !r.cleanClose);
    t.deepEqual(bad.slice(0, 3), [], `${bad.length} connections failed`);
    t.true(await waitFor(() => server.stats().total.closed === 60, 5000));
    const total = payloads.reduce((a, p) => a + p.length, 0);
    const st = server.stats();
    t.is(st.total.bytesIn, total);
    t.is(st.total.bytesOut, total);
    t.true(await waitFor(() => server.stats().workers.every((w) => w.bufFree === server.options.bufferCount), 2000), 'every receive buffer back in the ring');
  });
});

test("churn with half-close: 800 connect/ping/close cycles, no connection is cut by another one's shutdown", async (t) => {
  // regression: a shutdown(SHUT_WR) runs in io-wq and looks its fixed slot up
  // late; closing the slot before it ran let it hit the next connection given
  // that slot (seen as EPIPE and a FIN on a brand-new connection)
  await withServer({ workers: 1, handler: JS_ECHO_HANDLER }, async (port, server) => {
    let unexpected = 0;
    let errors = 0;
    const cycle = () =>
      new Promise<void>((resolve) => {
        const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
        let left = 50;
        let done = false;
        let buf = '';
        s.on('connect', () => s.write('ping'));
        s.on('data', (d) => {
          buf += d;
          while (buf.startsWith('ping')) {
            buf = buf.slice(4);
            if (--left === 0) {
              // close at once: the server's end()/close overlaps the next round's connects
              done = true;
              s.destroy();
              return;
            }
            s.write('ping');
          }
        });
        s.on('end', () => {
          if (!done) unexpected++;
        });
        s.on('error', () => errors++);
        s.on('close', () => resolve());
      });
    for (let round = 0; round < 40; round++) await Promise.all(Array.from({ length: 20 }, cycle));
    t.is(unexpected, 0, 'no connection ended before its last echo');
    t.is(errors, 0);
    t.true(await waitFor(() => server.stats().total.closed === 800, 5000));
    t.is(server.stats().total.connErrors, 0);
  });
});

test('batching: one call into JS carries many events under concurrent load', async (t) => {
  await withServer({ workers: 1, handler: JS_ECHO_HANDLER }, async (port, server) => {
    const socks = await Promise.all(Array.from({ length: 50 }, () => connect(port)));
    const dones = socks.map((s) => collect(s));
    for (let round = 0; round < 20; round++) {
      const gots = socks.map((s) => readUntil(s, (x) => x.length >= 16));
      for (const s of socks) s.write('0123456789abcdef');
      await Promise.all(gots);
    }
    for (const s of socks) s.end();
    await Promise.all(dones);
    const w = server.stats().workers[0];
    t.true(w.jsEvents >= 50 * 20, `events ${w.jsEvents}`);
    t.true(w.jsEvents / w.jsBatches > 2, `${w.jsEvents} events in ${w.jsBatches} calls`);
  });
});

test('backpressure: 64 MiB to a slow reader; write() returns false, drain fires, memory bounded, bytes in order', async (t) => {
  const reports = new Reports<Record<string, any>>();
  const HWM = 256 * 1024;
  try {
    await withServer({ workers: 1, handler: fixture('backpressure.mjs'), highWaterMark: HWM, handlerOptions: { channel: reports.name } }, async (port, server) => {
      const s = await connect(port);
      const hash = createHash('sha256');
      let bytes = 0;
      let maxBuffered = 0;
      const sampler = setInterval(() => {
        maxBuffered = Math.max(maxBuffered, server.stats().workers[0].buffered);
      }, 5);
      const ended = new Promise<boolean>((resolve) => {
        const t0 = Date.now();
        // slow reader: take one chunk every 2 ms
        s.pause();
        s.on('data', (d: Buffer) => {
          hash.update(d);
          bytes += d.length;
          s.pause();
        });
        const tick = setInterval(() => {
          if (Date.now() - t0 > 60000) {
            clearInterval(tick);
            s.destroy();
          }
          s.resume();
        }, 2);
        s.on('end', () => {
          clearInterval(tick);
          resolve(true);
        });
        s.on('close', () => {
          clearInterval(tick);
          resolve(false);
        });
      });
      const gotEnd = await ended;
      clearInterval(sampler);
      s.destroy();
      t.true(gotEnd, `stream ended cleanly (${bytes} bytes)`);
      t.is(bytes, 64 * 1024 * 1024);
      t.true(await reports.until((m) => m.length === 1, 5000));
      const r = reports.messages[0];
      t.is(r.sha, hash.digest('hex'), 'every byte arrived, in order');
      t.is(r.sent, 64 * 1024 * 1024);
      t.true(r.falses > 10, `write returned false ${r.falses} times`);
      t.is(r.drains, r.falses, 'one drain per false');
      t.is(r.badFlag, 0, 'writableNeedDrain set whenever write returns false');
      t.true(r.maxQueued <= HWM + 64 * 1024, `handler-side queue peaked at ${r.maxQueued}`);
      t.true(maxBuffered <= HWM + 64 * 1024, `engine-side queue peaked at ${maxBuffered}`);
      t.is(r.err, null);
    });
  } finally {
    reports.close();
  }
});

test('a peer that resets while a send is in flight: the handler hears the reset (ECONNRESET), not an onEnd', async (t) => {
  const reports = new Reports<Record<string, any>>();
  try {
    await withServer({ workers: 1, handler: fixture('backpressure.mjs'), handlerOptions: { channel: reports.name } }, async (port) => {
      // the handler floods a client that never reads: its send waits for room when the reset comes
      for (let i = 0; i < 5; i++) {
        const s = await connect(port);
        s.pause();
        s.write('go\n'); // read by the server: its recv is under way when the reset comes
        await sleep(150 + i * 20);
        s.resetAndDestroy();
        t.true(await reports.until((m) => m.length === i + 1, 5000), `report ${i}`);
        t.like(reports.messages[i], { code: 'ECONNRESET', ended: false }, JSON.stringify(reports.messages[i]));
      }
    });
  } finally {
    reports.close();
  }
});

test.serial('a client flooding a slow handler does not starve the others on its worker', async (t) => {
  t.timeout(60_000);
  await withServer({ workers: 1, handler: fixture('slow-echo.mjs') }, async (port, server) => {
    // the flood: 64 B writes as fast as the socket takes them, replies read and dropped
    const flooder = await connect(port);
    flooder.on('data', () => {});
    let flooding = true;
    const pump = () => {
      while (flooding && flooder.write(Buffer.alloc(64, 0x6d)));
      if (flooding) flooder.once('drain', pump);
    };
    pump();
    const floodEnd = sleep(10_000).then(() => {
      flooding = false;
      return 'flood over';
    });
    await sleep(1000);
    // a second client asks once; each data event costs 50 ms, so its answer must not wait behind the whole flood
    const probe = await connect(port);
    const answered = readUntil(probe, (x) => x === 'ping').then(() => 'answered');
    probe.write('ping');
    const first = await Promise.race([answered, floodEnd]);
    flooding = false;
    t.is(first, 'answered', 'answered while the flood went on');
    t.true(server.stats().workers[0].rxPaused > 0, 'the flooder was paused');
    probe.destroy();
    flooder.destroy();
  });
});

test.serial('a slow handler under a flood hands the event loop back between slices', async (t) => {
  t.timeout(60_000);
  const reports = new Reports<{ calls: number; turned: number }>();
  const server = createServer({ workers: 1, port: 0, handler: fixture('slow-echo.mjs'), handlerOptions: { channel: reports.name } });
  const { port } = await server.listen();
  const flooders = await Promise.all(Array.from({ length: 8 }, () => connect(port)));
  let flooding = true;
  try {
    for (const f of flooders) {
      f.on('data', () => {});
      f.on('error', () => {});
      const pump = () => {
        while (flooding && f.write(Buffer.alloc(64, 0x6d)));
        if (flooding) f.once('drain', pump);
      };
      pump();
    }
    await sleep(2000);
    const summary = await server.close({ timeout: 300 });
    t.is(summary.forced, 8);
    t.true(await reports.until((m) => m.length === 1, 5000));
    const { calls, turned } = reports.messages[0];
    // each call (50 ms) is its own 20 ms slice: the event loop turns between
    // calls; in one batch of all the flooders' events it would not
    t.true(calls >= 10, `${calls} calls`);
    t.true(turned / calls > 0.8, `the event loop turned before ${turned} of ${calls} calls`);
  } finally {
    flooding = false;
    for (const f of flooders) f.destroy();
    reports.close();
  }
});

test('pause/resume: no onData while paused; everything arrives, in order, after resume', async (t) => {
  const reports = new Reports<Record<string, any>>();
  try {
    await withServer({ workers: 1, handler: fixture('pause.mjs'), handlerOptions: { channel: reports.name } }, async (port) => {
      const s = await connect(port);
      const done = collect(s);
      s.write('PAUSE 1500\n'); // long enough for the 20 writes below on a loaded machine
      t.true(await reports.until((m) => m.some((x) => x.paused === true), 3000), 'handler paused');
      // sent while the handler is paused: waits in the kernel
      const parts = Array.from({ length: 20 }, (_, i) => `part ${i} ${'.'.repeat(i * 50)}\n`);
      const reading = readUntil(s, (x) => x.includes('RESUMED\n') && x.includes(parts[19]), 10000);
      for (const p of parts) {
        s.write(p);
        await sleep(5);
      }
      const text = await reading;
      s.end();
      await done;
      const resumedAt = text.indexOf('RESUMED\n');
      t.true(resumedAt >= 0);
      t.is(text.slice(0, resumedAt), '', 'nothing echoed while paused');
      t.is(text.slice(resumedAt + 8), parts.join(''), 'all data after resume, in order');
      t.true(await reports.until((m) => m.some((x) => 'during' in x), 3000));
      const r = reports.messages.find((x) => 'during' in x)!;
      t.is(r.during, 0, 'no onData while paused');
      t.is(r.pauses, 1);
    });
  } finally {
    reports.close();
  }
});

test('half-close: writes after the peer FIN, end() from a timer, then close', async (t) => {
  const reports = new Reports<Record<string, any>>();
  try {
    await withServer({ workers: 1, handler: fixture('halfclose.mjs'), handlerOptions: { channel: reports.name } }, async (port) => {
      const s = await connect(port);
      const done = collect(s);
      s.end('abcdef');
      const r = await done;
      t.is(r.data.toString(), 'got 6 bytes\nlater\n');
      t.true(r.ended, 'server FIN after its last write');
      t.falsy(r.error);
      t.true(await reports.until((m) => m.length === 1, 3000));
      t.deepEqual(reports.messages[0].seq, ['onEnd', 'end()', 'onClose']);
      t.is(reports.messages[0].err, null);
    });
  } finally {
    reports.close();
  }
});

test('half-close: the server end()s first and keeps receiving until the peer FIN', async (t) => {
  const reports = new Reports<Record<string, any>>();
  try {
    await withServer({ workers: 1, handler: fixture('halfclose.mjs'), handlerOptions: { channel: reports.name } }, async (port) => {
      // a half-open client: the server's FIN does not end our side
      const s = await connect(port, '127.0.0.1', 5000, true);
      const done = collect(s);
      const serverEnded = new Promise<void>((r) => s.once('end', () => r()));
      s.write('END\n');
      await serverEnded;
      // our side is still open: the server keeps reading
      s.write('still talking');
      await sleep(50);
      s.end(' and done');
      const r = await done;
      t.is(r.data.toString(), 'bye\n');
      t.true(await reports.until((m) => m.length === 1, 3000));
      const m = reports.messages[0];
      t.deepEqual(m.seq, ['end()', 'onEnd', 'onClose']);
      t.is(m.afterEnd, 'still talking and done');
      t.is(m.writeAfterEnd, 'ERR_STREAM_WRITE_AFTER_END');
    });
  } finally {
    reports.close();
  }
});

test('destroy(err): the connection closes at once, onClose gets the error, it counts as a connection error', async (t) => {
  const reports = new Reports<Record<string, any>>();
  try {
    await withServer({ workers: 1, handler: fixture('destroy.mjs'), handlerOptions: { channel: reports.name } }, async (port, server) => {
      const s = await connect(port);
      const done = collect(s);
      s.write('DESTROY');
      const r = await done;
      t.false(r.data.toString().includes('dropped'), 'queued bytes are dropped');
      t.true(await reports.until((m) => m.length === 1, 3000));
      t.deepEqual(reports.messages[0].err, { message: 'destroyed on request', code: 'E_TEST' });
      t.true(await waitFor(() => server.stats().total.connErrors === 1, 2000));
      t.is(server.stats().total.handlerErrors, 0);
    });
  } finally {
    reports.close();
  }
});

test('a burst of handler errors: the first reported at once, the rest within the second after, with the count', async (t) => {
  const reports = new Reports<Record<string, any>>();
  try {
    await withServer({ workers: 1, handler: fixture('destroy.mjs'), handlerOptions: { channel: reports.name } }, async (port, server) => {
      const events: { worker: number; error: Error; suppressed: number }[] = [];
      server.on('handler-error', (e: { worker: number; error: Error; suppressed: number }) => events.push(e));
      // three errors at once: one reported, two held for the rest of the second
      const socks = await Promise.all(Array.from({ length: 3 }, () => connect(port)));
      const dones = socks.map((s) => collect(s));
      for (const s of socks) s.write('THROW');
      await Promise.all(dones);
      t.true(await waitFor(() => server.stats().total.handlerErrors === 3, 3000), 'every error counted');
      // no fourth error comes to carry the count: it goes out on its own
      t.true(await waitFor(() => events.length === 2, 3000), `${events.length} reports`);
      t.deepEqual(
        events.map((e) => e.suppressed),
        [0, 1],
      );
      t.is(events.length + events.reduce((n, e) => n + e.suppressed, 0), 3, 'reported plus suppressed = counted');
      for (const e of events) t.regex(e.error.message, /^handler exploded/);
    });
  } finally {
    reports.close();
  }
});

test('a throwing handler closes only its connection; the error is counted and reported', async (t) => {
  const reports = new Reports<Record<string, any>>();
  try {
    await withServer({ workers: 2, handler: fixture('destroy.mjs'), handlerOptions: { channel: reports.name } }, async (port, server) => {
      const events: { worker: number; error: Error }[] = [];
      server.on('handler-error', (e: { worker: number; error: Error }) => events.push(e));
      const socks = await Promise.all(Array.from({ length: 8 }, () => connect(port)));
      const dones = socks.map((s) => collect(s));
      socks[3].write('THROW');
      const bad = await dones[3];
      t.true(bad.ended || bad.error !== undefined, 'the throwing connection closed');
      // the others still echo
      await Promise.all(
        socks.map(async (s, i) => {
          if (i === 3) return;
          const got = readUntil(s, (x) => x === `still here ${i}`);
          s.write(`still here ${i}`);
          await got;
          s.end();
        }),
      );
      const rest = await Promise.all(dones.filter((_, i) => i !== 3));
      t.true(rest.every((r) => r.ended && !r.error));
      t.true(await waitFor(() => server.stats().total.handlerErrors === 1, 3000), 'counted once');
      t.true(await waitFor(() => events.length === 1, 3000), 'reported once');
      t.regex(events[0].error.message, /^handler exploded on \d+$/);
      t.true(await reports.until((m) => m.length === 8, 3000));
      const withErr = reports.messages.filter((m) => m.err);
      t.is(withErr.length, 1, 'onClose got the thrown error on that connection only');
      t.regex(withErr[0].err.message, /^handler exploded/);
      t.is(server.stats().workers.filter((w) => w.state === 'ready').length, 2, 'both workers still serving');
      const after = await echoOnce(server.address()!.port, Buffer.from('after the error'));
      t.is(after.received, after.sent);
    });
  } finally {
    reports.close();
  }
});

test('a handler returning a rejected promise closes only its connection, counted like a throw', async (t) => {
  const reports = new Reports<Record<string, any>>();
  try {
    await withServer({ workers: 1, handler: fixture('destroy.mjs'), handlerOptions: { channel: reports.name } }, async (port, server) => {
      const reported: Error[] = [];
      server.on('handler-error', (e: { error: Error }) => reported.push(e.error));
      const ok = await connect(port);
      const okDone = collect(ok);
      const bad = await connect(port);
      const badDone = collect(bad);
      bad.write('REJECT');
      const b = await badDone;
      t.false(b.timedOut);
      const got = readUntil(ok, (x) => x === 'fine');
      ok.write('fine');
      await got;
      ok.end();
      t.true((await okDone).ended);
      t.true(await waitFor(() => server.stats().total.handlerErrors === 1, 3000));
      t.true(await reports.until((m) => m.length === 2, 3000));
      const withErr = reports.messages.filter((m) => m.err);
      t.is(withErr.length, 1);
      t.regex(withErr[0].err.message, /^async handler failed on \d+$/);
      t.true(await waitFor(() => reported.length === 1, 2000));
      t.regex(reported[0].message, /^async handler failed/);
    });
  } finally {
    reports.close();
  }
});

test('broken handler modules: listen() rejects with the module error, createServer with a bad path', async (t) => {
  const cases: [string, RegExp, string | undefined, string][] = [
    ['broken-import.mjs', /^fixture: broken at import$/, 'E_FIXTURE_BROKEN', 'Error'],
    ['broken-syntax.mjs', /./, undefined, 'SyntaxError'],
    ['broken-init.mjs', /^fixture: init failed in worker 1$/, undefined, 'RangeError'],
    ['broken-shape.mjs', /handler\.onData must be a function/, 'ERR_INVALID_HANDLER', 'TypeError'],
    ['broken-nodefault.mjs', /has no default export/, 'ERR_INVALID_HANDLER', 'TypeError'],
  ];
  for (const [file, message, code, name] of cases) {
    const server = createServer({ workers: 2, port: 0, handler: fixture(file), startTimeout: 8000 });
    const t0 = Date.now();
    const err = await t.throwsAsync(server.listen(), { message }, file);
    t.true(Date.now() - t0 < 7000, `${file}: rejected without waiting for the start timeout`);
    t.is(err?.name, name, file);
    if (code) t.is((err as Error & { code?: string }).code, code, file);
    t.false(server.listening);
  }
  t.throws(() => createServer({ handler: './no/such/handler.js' }), {
    instanceOf: RangeError,
    code: 'ERR_MODULE_NOT_FOUND',
    message: /^option "handler": no handler module at .*no\/such\/handler\.js/,
  });
  // a directory stands for its package.json "main", else handler.js, handler.mjs, index.js, index.mjs
  const dir = mkdtempSync(join(tmpdir(), 'rl-handler-dir-'));
  try {
    t.throws(() => createServer({ handler: dir }), {
      code: 'ERR_MODULE_NOT_FOUND',
      message: /no handler module in the directory .*package\.json "main", handler\.js, handler\.mjs, index\.js, index\.mjs/,
    });
    writeFileSync(join(dir, 'index.mjs'), 'export default {};');
    t.is((createServer({ handler: dir }).options.handler as { path: string }).path, join(dir, 'index.mjs'));
    writeFileSync(join(dir, 'handler.js'), 'export default {};');
    t.is((createServer({ handler: dir }).options.handler as { path: string }).path, join(dir, 'handler.js'));
    mkdirSync(join(dir, 'lib'));
    writeFileSync(join(dir, 'lib', 'main.mjs'), 'export default {};');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ main: 'lib/main.mjs' }));
    t.is((createServer({ handler: pathToFileURL(dir) }).options.handler as { path: string }).path, join(dir, 'lib', 'main.mjs'));
    // a "main" that is not there: the file names still apply
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ main: 'gone.js' }));
    t.is((createServer({ handler: dir }).options.handler as { path: string }).path, join(dir, 'handler.js'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.throws(() => createServer({ handler: new URL('https://example.invalid/h.js') }), { instanceOf: RangeError, message: /option "handler"/ });
  t.throws(() => createServer({ handler: 42 as never }), { instanceOf: TypeError, message: /option "handler"/ });
});

test('development mode: a data view used after its callback reads as detached and throws', async (t) => {
  for (const how of ['option', 'NODE_ENV'] as const) {
    const prev = process.env.NODE_ENV;
    if (how === 'NODE_ENV') process.env.NODE_ENV = 'development';
    let server: Server;
    try {
      server = createServer({ workers: 1, port: 0, handler: fixture('devview.mjs'), ...(how === 'option' ? { dev: true } : {}) });
    } finally {
      if (prev === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = prev;
    }
    t.true(server.options.dev, how);
    const { port } = await server.listen();
    try {
      const s = await connect(port);
      const done = collect(s);
      s.write('some bytes');
      const r = await done;
      t.is(r.data.toString(), 'DETACHED 10 0 ERR_BUFFER_OUT_OF_BOUNDS', how);
    } finally {
      await server.close({ timeout: 500 });
    }
  }
});

test('coalescing: writes made in one callback, or one tick outside it, leave in one send; cork holds them', async (t) => {
  await withServer({ workers: 1, handler: fixture('coalesce.mjs') }, async (port, server) => {
    const s = await connect(port);
    const done = collect(s);
    s.write('go');
    const r = await done;
    t.is(r.data.toString(), 'yx'.repeat(50) + 'z'.repeat(50));
    t.true(await waitFor(() => server.stats().total.sends === 2, 2000), `sends: ${server.stats().total.sends}`);

    const c = await connect(port);
    const t0 = Date.now();
    let first = 0;
    c.once('data', () => (first = Date.now() - t0));
    const cd = collect(c);
    c.write('CORK');
    const rc = await cd;
    t.is(rc.data.toString(), 'abc');
    t.true(first >= 50, `first corked byte after ${first} ms`);
    t.true(await waitFor(() => server.stats().total.sends === 3, 2000), `sends: ${server.stats().total.sends}`);
  });
});

test('setTimeout: onTimeout after the idle time; without onTimeout the connection is destroyed with ETIMEDOUT', async (t) => {
  const reports = new Reports<Record<string, any>>();
  const reports2 = new Reports<Record<string, any>>();
  try {
    await withServer({ workers: 1, handler: fixture('timeout.mjs'), handlerOptions: { channel: reports.name } }, async (port) => {
      const s = await connect(port);
      const done = collect(s);
      // 1 s, not less: a loaded machine can stall a 30 ms gap for hundreds of ms
      s.write('T 1000\n');
      // activity keeps it alive: six bytes 30 ms apart
      for (let i = 0; i < 6; i++) {
        await sleep(30);
        s.write('.');
      }
      const r = await done;
      t.regex(r.data.toString(), /timeout after \d+ ms\n$/);
      t.true(r.ended);
      t.true(await reports.until((x) => x.length === 1, 2000));
      const m = reports.messages[0];
      t.is(m.dots, 6, 'every byte of activity arrived before the timeout');
      // never early (the sweep sees activity after it happens): a few ms for two clocks
      t.true(m.idle >= 1000 - 5, `fired after ${m.idle} ms idle`);
      t.is(reports.messages[0].timeouts, 1);
    });
    // timeouts set partway through a sweep period (250 ms here), on clients that stay silent: not early either
    await withServer({ workers: 1, handler: fixture('timeout.mjs'), handlerOptions: { channel: reports.name, onConnection: 1000 } }, async (port) => {
      const staggered = await Promise.all(
        [0, 90, 180].map(async (delay) => {
          await sleep(delay);
          const c = await connect(port);
          return Number(/timeout after (\d+) ms/.exec((await collect(c, 5000)).data.toString())?.[1]);
        }),
      );
      t.log(`silent clients timed out after ${staggered.join(', ')} ms`);
      t.true(
        staggered.every((ms) => ms >= 1000 - 5),
        `fired after ${staggered.join(', ')} ms`,
      );
    });
    await withServer({ workers: 1, handler: fixture('notimeout-cb.mjs'), handlerOptions: { channel: reports2.name } }, async (port) => {
      const s = await connect(port);
      const r = await collect(s, 5000);
      t.false(r.timedOut, 'the server closed the idle connection');
      t.true(await reports2.until((x) => x.length === 1, 2000));
      t.is(reports2.messages[0].err, 'ETIMEDOUT');
    });
  } finally {
    reports.close();
    reports2.close();
  }
});

test('server close: open handler connections get onClose, the handler close() hook runs', async (t) => {
  const reports = new Reports<Record<string, any>>();
  const server = createServer({ workers: 2, port: 0, handler: fixture('lifecycle.mjs'), handlerOptions: { channel: reports.name } });
  const { port } = await server.listen();
  const socks = await Promise.all(Array.from({ length: 6 }, () => connect(port)));
  const dones = socks.map((s) => collect(s));
  for (const s of socks) s.write('x');
  await Promise.all(socks.map((s) => readUntil(s, (x) => x === 'x')));
  const summary = await server.close({ timeout: 100 });
  t.is(summary.forced, 6);
  const rs = await Promise.all(dones);
  t.true(rs.every((r) => !r.timedOut));
  t.true(await reports.until((m) => m.filter((x) => 'seq' in x).length === 6, 3000));
  for (const c of reports.messages.filter((x) => 'seq' in x)) {
    t.deepEqual(c.seq, ['connect', 'data', 'close']);
    // cut short by the server: onClose can tell it from a clean close
    t.is(c.code, 'ECONNABORTED');
  }
  t.true(await reports.until((m) => m.filter((x) => 'closed' in x).length === 2, 3000), 'close() ran in both workers');
  reports.close();
});
