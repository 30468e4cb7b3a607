/**
 * Zero-downtime reload (server.reload(), SIGHUP in the CLI): workers are
 * replaced one at a time, each successor imports the handler module afresh,
 * and the worker it replaces drains. Under continuous connection churn no
 * connection may fail, and the new code must visibly answer.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type ReloadSummary } from '@ringleader/runtime';
import { CLI, sleep, waitFor } from './helpers.js';
import { ask, churn, writeHandler } from './ops-helpers.js';

test('3 reloads under connection churn: zero failed connections, and the new code answers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rl-reload-'));
  const path = join(dir, 'handler.mjs');
  writeHandler(path, 'v1');
  const server = createServer({ port: 0, workers: 2, handler: path });
  const events: ReloadSummary[] = [];
  server.on('reload', (s: ReloadSummary) => events.push(s));
  const { port } = await server.listen();
  const load = churn(port, 8, 60_000);
  try {
    t.is(await ask(port, -0), 'v1');
    for (const v of ['v2', 'v3', 'v4']) {
      await new Promise((r) => setTimeout(r, 300));
      writeHandler(path, v);
      const s = await server.reload({ drainTimeout: 2000 });
      t.is(s.error, undefined);
      t.is(s.replaced, 2, `${v}: both workers replaced`);
      t.is(await ask(port, 1_000_000), v, `${v} answers after its reload`);
    }
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    await load.stop();
    await server.close({ timeout: 1000 });
    rmSync(dir, { recursive: true, force: true });
  }
  t.deepEqual(load.failures.slice(0, 5), [], `${load.failures.length} of ${load.count()} connections failed`);
  t.true(load.count() > 100, `churn made ${load.count()} connections`);
  t.deepEqual(
    events.map((e) => e.generation),
    [1, 2, 3],
  );
  t.true((load.versions.get('v4') ?? 0) > 0, `answers by version: ${JSON.stringify([...load.versions])}`);
});

test('a reload whose module fails to load keeps the old workers serving, and a fixed one goes through', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rl-reload-'));
  const path = join(dir, 'handler.mjs');
  writeHandler(path, 'v1');
  const server = createServer({ port: 0, workers: 2, handler: path });
  const { port } = await server.listen();
  try {
    writeHandler(path, 'v2', true);
    const bad = await server.reload({ drainTimeout: 500 });
    t.truthy(bad.error, 'the summary carries the load error');
    t.is(bad.replaced, 0);
    t.is(await ask(port, 1), 'v1');
    t.is(server.stats().workers.filter((w) => w.state === 'ready').length, 2);
    writeHandler(path, 'v3');
    const good = await server.reload({ drainTimeout: 500 });
    t.is(good.error, undefined);
    t.is(good.replaced, 2);
    t.is(await ask(port, 2), 'v3');
  } finally {
    await server.close({ timeout: 1000 });
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reload drains: an idle connection on a replaced worker is closed when the drain time runs out, and counted', async (t) => {
  const server = createServer({ port: 0, workers: 1 });
  const { port } = await server.listen();
  try {
    const idle = net.connect(port, '127.0.0.1');
    await new Promise((r) => idle.once('connect', r));
    const closed = new Promise((r) => idle.once('close', r));
    idle.on('error', () => {});
    // wait until the worker has it
    for (let i = 0; i < 200 && server.stats().total.live < 1; i++) await new Promise((r) => setTimeout(r, 5));
    const s = await server.reload({ drainTimeout: 200 });
    t.is(s.replaced, 1);
    t.is(s.forced, 1);
    t.is(s.drained, 0);
    await closed;
    t.is(server.stats().total.accepted, 1, 'totals carry over the replaced worker');
  } finally {
    await server.close({ timeout: 500 });
  }
  await t.throwsAsync(() => server.reload(), { code: 'ERR_SERVER_NOT_RUNNING' });
});

test('CLI: SIGHUP reloads `ringleader serve` and reports a reload line; the new code answers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rl-reload-'));
  const path = join(dir, 'handler.mjs');
  writeHandler(path, 'v1');
  const p = spawn(process.execPath, [CLI, 'serve', path, '--port', '0', '--workers', '2', '--json', '--drain', '1s'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  p.stderr.on('data', (d) => (stderr += d));
  const waitLine = (event: string, ms: number) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const t0 = Date.now();
      const poll = setInterval(() => {
        const l = lines.find((x) => x.event === event);
        if (l) {
          clearInterval(poll);
          resolve(l);
        } else if (Date.now() - t0 > ms) {
          clearInterval(poll);
          reject(new Error(`no ${event} line within ${ms} ms; stderr: ${stderr}`));
        }
      }, 20);
    });
  let buf = '';
  p.stdout.on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(l));
      } catch {
        t.fail(`not JSON on stdout: ${l}`);
      }
    }
  });
  try {
    const listening = await waitLine('listening', 20_000);
    const port = listening.port as number;
    t.is(await ask(port, 1), 'v1');
    writeHandler(path, 'v2');
    p.kill('SIGHUP');
    const r = await waitLine('reload', 20_000);
    t.like(r, { generation: 1, replaced: 2 });
    t.is(typeof r.t, 'string');
    t.is(await ask(port, 2), 'v2');
  } finally {
    p.kill('SIGTERM');
    await new Promise((r) => p.once('close', r));
    rmSync(dir, { recursive: true, force: true });
  }
});

test("close() during a reload waits for the replaced worker's connections too, and counts them as they end", async (t) => {
  for (const clientsEnd of [true, false]) {
    const server = createServer({ handler: 'echo', workers: 2, port: 0 });
    const { port } = await server.listen();
    const socks: net.Socket[] = [];
    const serverEnded: boolean[] = [];
    const endedAt: number[] = [];
    let clientsEndedAt = Infinity;
    try {
      for (let i = 0; i < 6; i++) {
        const c = net.connect(port, '127.0.0.1');
        c.on('error', () => {});
        const k = socks.push(c) - 1;
        serverEnded[k] = false;
        c.on('end', () => {
          serverEnded[k] = true;
          endedAt[k] = Date.now();
        });
        await new Promise((r) => c.once('connect', r));
      }
      await waitFor(() => server.stats().total.live === 6, 3000);
      const reload = server.reload({ drainTimeout: 3000 });
      await sleep(100);
      // the clients end by themselves at +300 ms (or never: then the close forces them)
      if (clientsEnd)
        setTimeout(() => {
          clientsEndedAt = Date.now();
          socks.forEach((c) => c.end());
        }, 300);
      const closed = await server.close({ timeout: clientsEnd ? 2000 : 500 });
      const r = await reload;
      t.log(`clients end: ${clientsEnd}; close ${JSON.stringify(closed)}; reload ${JSON.stringify(r)}`);
      if (clientsEnd) {
        t.deepEqual([closed.drained, closed.forced], [6, 0]);
        t.true(closed.durationMs >= 250, 'close waited for the clients');
        // no connection (the replaced worker's included) was ended by the server before its client ended it
        t.true(
          endedAt.every((at) => at >= clientsEndedAt),
          `server FIN ${endedAt.map((at) => at - clientsEndedAt).join(',')} ms after the clients' ends`,
        );
      } else {
        t.deepEqual([closed.drained, closed.forced], [0, 6], 'forced by the close, not counted as drained');
        t.true(serverEnded.every(Boolean) || socks.every((c) => c.destroyed || c.readableEnded));
      }
    } finally {
      for (const c of socks) c.destroy();
      await server.close({ timeout: 100 });
    }
  }
});

test('handlerOptions: what structured clone carries changes on a reload (a Map, a BigInt); what it cannot carry fails at createServer', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rl-reloadopts-'));
  const path = join(dir, 'handler.mjs');
  writeFileSync(path, 'let o;\nexport default {\n  init(ctx) { o = ctx.options; },\n  onData(conn) { conn.end([...o.routes.keys()].join(",") + ":" + o.n + "\\n"); },\n};\n');
  const ask1 = (port: number) =>
    new Promise<string>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () => c.write('?'));
      let s = '';
      c.on('data', (d) => (s += d));
      c.on('end', () => resolve(s.trim()));
      c.on('error', reject);
    });
  const server = createServer({ port: 0, workers: 1, handler: path, handlerOptions: { routes: new Map([['old', 1]]), n: 1n } });
  const { port } = await server.listen();
  try {
    t.is(await ask1(port), 'old:1');
    const r = await server.reload({ options: { port: 0, workers: 1, handler: path, handlerOptions: { routes: new Map([['new', 2]]), n: 2n } } });
    t.is(r.error, undefined);
    t.is(await ask1(port), 'new:2');
    for (const bad of [{ f() {} }, { s: Symbol('x') }]) {
      t.throws(() => createServer({ port: 0, handler: path, handlerOptions: bad }), { instanceOf: TypeError, message: /^option "handlerOptions" must be structured-cloneable/ });
    }
  } finally {
    await server.close({ timeout: 200 });
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a proxy reload to new upstreams: new clients reach them once the successors serve, not after each old worker drains in turn', async (t) => {
  const held: net.Socket[] = [];
  const tagged = async (tag: string) => {
    const s = net.createServer((c) => {
      held.push(c);
      c.on('error', () => {});
      c.write(`${tag}\n`);
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    return { s, addr: `127.0.0.1:${(s.address() as net.AddressInfo).port}` };
  };
  const a = await tagged('A');
  const b = await tagged('B');
  const opts = { handler: 'proxy' as const, workers: 2, port: 0 };
  const server = createServer({ ...opts, upstreams: [a.addr] });
  const { port } = await server.listen();
  const clients: net.Socket[] = [];
  const tagOf = () =>
    new Promise<string>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      clients.push(c);
      c.on('error', () => resolve('error'));
      c.once('data', (d) => resolve(String(d).trim()));
    });
  try {
    // idle clients on both workers: each old worker drains for the whole drainTimeout
    for (let i = 0; i < 4; i++) t.is(await tagOf(), 'A');
    const old = new Set(server.stats().workers.map((w) => w.threadId));
    const t0 = Date.now();
    const reload = server.reload({ drainTimeout: 6000, options: { ...opts, port, upstreams: [b.addr] } });
    // both successors serve (a fixed 1.5 s sleep was too short on a loaded machine) ...
    t.true(await waitFor(() => server.stats().workers.every((w) => w.state === 'ready' && !old.has(w.threadId)), 10_000), 'the successors serve');
    // ... well before the old workers' 6 s drain ends (drained one after the other, the second would start after it)
    t.true(Date.now() - t0 < 5500, `successors serving after ${Date.now() - t0} ms`);
    const tags = await Promise.all(Array.from({ length: 6 }, tagOf));
    t.deepEqual(tags, ['B', 'B', 'B', 'B', 'B', 'B'], 'every new client reaches the new upstream');
    const r = await reload;
    t.is(r.replaced, 2);
  } finally {
    for (const c of [...clients, ...held]) c.destroy();
    await server.close({ timeout: 200 });
    a.s.close();
    b.s.close();
  }
});
