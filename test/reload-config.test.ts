/**
 * SIGHUP re-reads --config: the proxy's upstreams change under connection
 * churn without a failed connection (open ones finish on the old upstream,
 * new ones reach the new one); a config made invalid keeps the old workers
 * and says why; keys a reload cannot apply are named in a warning. And a
 * reload racing a shutdown is safe.
 */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from '@ringleader/runtime';
import { echoChurn, echoOnce, killAll, sleep, userThreadCount, waitFor } from './helpers.js';
import { ask, churn, jsonCli, taggedUpstream, writeHandler } from './ops-helpers.js';

/** A connection kept open: send() resolves when the bytes came back exactly. */
async function held(port: number) {
  const s = net.connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  let got = '';
  s.on('data', (d) => (got += d));
  return {
    async send(text: string): Promise<boolean> {
      got = '';
      s.write(text);
      return waitFor(() => got === text, 5000);
    },
    close: () => s.destroy(),
  };
}

test('SIGHUP with --config: the proxy moves to a new upstream under churn, zero failed connections, open ones finish byte-exact on the old one', async (t) => {
  const a = await taggedUpstream();
  const b = await taggedUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'rl-reloadcfg-'));
  const file = join(dir, 'proxy.json');
  writeFileSync(file, JSON.stringify({ upstream: [`127.0.0.1:${a.port}`], workers: 2 }));
  const cli = jsonCli(['proxy', '--config', file, '--port', '0', '--drain', '5s', '--interval', '200ms']);
  try {
    const { port } = (await cli.line('listening')) as { port: number };
    const load = echoChurn(port, 4, 30_000, { pad: 200, maxCount: 50_000 });
    const old = await Promise.all([held(port), held(port)]);
    for (const [i, c] of old.entries()) t.true(await c.send(`before ${i}\n`));
    await sleep(300);
    const aBefore = a.connections;
    writeFileSync(file, JSON.stringify({ upstream: [`127.0.0.1:${b.port}`], workers: 2 }));
    const bBefore = b.connections;
    cli.p.kill('SIGHUP');
    // the first successor serves: new connections reach the new upstream while the old workers drain
    t.true(await waitFor(() => b.connections > bBefore, 10_000), 'new connections reach the new upstream');
    // the connections opened before still reach the old upstream, byte-exact
    for (const [i, c] of old.entries()) t.true(await c.send(`after reload ${i}\n`), `held connection ${i}`);
    t.true(a.received.includes('after reload 0\n') && a.received.includes('after reload 1\n'), 'on the old upstream');
    for (const c of old) c.close();
    const r = await cli.line('reload', 20_000);
    t.is(r.error, undefined, JSON.stringify(r));
    t.like(r, { replaced: 2, forced: 0 });
    await sleep(500);
    await load.stop();
    t.deepEqual(load.failures.slice(0, 5), [], `${load.failures.length} of ${load.ok() + load.failures.length} connections failed`);
    t.true(b.connections - bBefore > 10, `new connections reach the new upstream (${b.connections - bBefore})`);
    t.true(a.connections >= aBefore);
    const last = await echoOnce(port, Buffer.from('last'));
    t.is(last.received, last.sent);
    const st = cli.lines.filter((l) => l.event === 'stats').at(-1) as { upstreams: { address: string; group: string }[] };
    t.deepEqual(
      st.upstreams.map((u) => u.address),
      [`127.0.0.1:${b.port}`],
      'stats show the new upstream only once the old workers are gone',
    );
    t.log(`${load.ok()} connections, 0 failed`);
  } finally {
    cli.p.kill('SIGTERM');
    await cli.exited;
    rmSync(dir, { recursive: true, force: true });
    await a.close();
    await b.close();
  }
});

test('SIGHUP with a config made invalid: the old upstream keeps serving and the reload line says why; a key a reload cannot change is a warning', async (t) => {
  const a = await taggedUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'rl-reloadcfg-'));
  const file = join(dir, 'proxy.yaml');
  writeFileSync(file, `upstream:\n  - 127.0.0.1:${a.port}\nworkers: 1\n`);
  const cli = jsonCli(['proxy', '--config', file, '--port', '0', '--drain', '1s']);
  try {
    const { port } = (await cli.line('listening')) as { port: number };
    writeFileSync(file, `upstream:\n  - 127.0.0.1:${a.port}\n  - nope\nworkers: 1\n`);
    cli.p.kill('SIGHUP');
    const bad = await cli.line('reload', 20_000);
    t.regex(String(bad.error), /--config .*proxy\.yaml: upstream\[1\]: /);
    t.is(bad.replaced, 0);
    const before = a.connections;
    const r = await echoOnce(port, Buffer.from('still here'));
    t.is(r.received, r.sent);
    t.is(a.connections, before + 1, 'the old upstream serves');

    writeFileSync(file, `upstream:\n  - 127.0.0.1:${a.port}\nworkers: 3\nidle-timeout: 30s\n`);
    cli.p.kill('SIGHUP');
    const good = await cli.line('reload', 20_000, 1);
    t.is(good.error, undefined);
    t.deepEqual(good.restartRequired, ['workers']);
    const w = cli.lines.find((l) => l.event === 'warning' && l.code === 'ERR_RESTART_REQUIRED');
    t.like(w, { key: 'workers' });
    t.regex(String(w?.message), /--config .*proxy\.yaml: workers: cannot change on a reload/);
    t.is(good.replaced, 1, 'still one worker');

    // the CLI's own settings that only a restart applies warn too
    writeFileSync(file, `upstream:\n  - 127.0.0.1:${a.port}\nworkers: 1\nidle-timeout: 30s\ninterval: 5s\n`);
    cli.p.kill('SIGHUP');
    const third = await cli.line('reload', 20_000, 2);
    t.is(third.error, undefined);
    // named as the file names it, in the warning and in the reload line
    const wi = cli.lines.find((l) => l.event === 'warning' && l.code === 'ERR_RESTART_REQUIRED' && l.key === 'interval');
    t.regex(String(wi?.message), /--config .*proxy\.yaml: interval: cannot change on a reload/);
    t.deepEqual(third.restartRequired, ['interval']);
  } finally {
    cli.p.kill('SIGTERM');
    await cli.exited;
    rmSync(dir, { recursive: true, force: true });
    await a.close();
  }
});

test('SIGHUP with a handler module that does not load: the reload line names the module and the error, and the generation running', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rl-reloadmod-'));
  const path = join(dir, 'handler.mjs');
  writeHandler(path, 'v1');
  const cli = jsonCli(['serve', path, '--port', '0', '--workers', '1', '--drain', '500ms']);
  try {
    const { port } = (await cli.line('listening')) as { port: number };
    writeHandler(path, 'v2');
    cli.p.kill('SIGHUP');
    const good = await cli.line('reload', 20_000, 0);
    t.is(good.error, undefined);
    t.is(good.generation, 1);
    writeHandler(path, 'v3', true);
    cli.p.kill('SIGHUP');
    const bad = await cli.line('reload', 20_000, 1);
    t.regex(String(bad.error), /^handler module .*handler\.mjs failed to load: SyntaxError: /);
    t.is(bad.replaced, 0);
    t.is(bad.generation, 1, 'the generation that goes on serving');
    t.is(await ask(port, 1), 'v2');
  } finally {
    cli.p.kill('SIGTERM');
    await cli.exited;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGHUP then SIGTERM at once: no crash, exit 0, a closed line', async (t) => {
  const cli = jsonCli(['echo', '--port', '0', '--workers', '2', '--drain', '1s']);
  await cli.line('listening');
  cli.p.kill('SIGHUP');
  cli.p.kill('SIGTERM');
  t.is(await cli.exited, 0, cli.stderr);
  t.truthy(cli.lines.find((l) => l.event === 'closed'));
  t.notRegex(cli.stderr, /Unhandled|TypeError|at .*\.js:\d+/);
});

test('server.reload() concurrent with server.close(): both settle, no unhandled rejection, no worker thread left', async (t) => {
  const threads0 = userThreadCount();
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    for (const delay of [0, 20, 100]) {
      const server = createServer({ port: 0, workers: 2 });
      await server.listen();
      const reload = server.reload({ drainTimeout: 200 });
      await sleep(delay);
      const [r, c] = await Promise.allSettled([reload, server.close({ timeout: 200 })]);
      t.is(c.status, 'fulfilled', `close after ${delay} ms`);
      if (r.status === 'rejected') t.is((r.reason as { code?: string }).code, 'ERR_SERVER_NOT_RUNNING');
      t.false(server.listening);
      t.true(
        server.stats().workers.every((w) => w.state === 'closed' || w.state === 'failed'),
        JSON.stringify(server.stats().workers.map((w) => w.state)),
      );
    }
    t.true(await waitFor(() => userThreadCount() <= threads0, 5000), `threads ${userThreadCount()} > ${threads0}`);
    await sleep(50);
    t.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test('3 SIGHUP reloads then 1 SIGUSR2 upgrade of one `ringleader serve` under churn: zero failed connections, each reload visibly changes the answer', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rl-drill-'));
  const path = join(dir, 'handler.mjs');
  writeHandler(path, 'v1');
  const cli = jsonCli(['serve', path, '--port', '0', '--workers', '2', '--drain', '1s', '--interval', '500ms']);
  let newPid = 0;
  try {
    const { port, pid } = (await cli.line('listening')) as { port: number; pid: number };
    const load = churn(port, 4, 60_000);
    t.is(await ask(port, 999_999), 'v1');
    for (const [i, v] of ['v2', 'v3', 'v4'].entries()) {
      await sleep(300);
      writeHandler(path, v);
      cli.p.kill('SIGHUP');
      const r = await cli.line('reload', 20_000, i);
      t.is(r.error, undefined);
      t.like(r, { generation: i + 1, replaced: 2 });
      t.is(await ask(port, 1_000_000 + i), v, `${v} answers after reload ${i + 1}`);
    }
    writeHandler(path, 'v5');
    cli.p.kill('SIGUSR2');
    const next = (await cli.line('listening', 30_000, 1)) as { port: number; pid: number };
    newPid = next.pid;
    t.not(newPid, pid);
    t.is(next.port, port, 'the same socket');
    t.is(await cli.exited, 0, cli.stderr);
    t.is(await ask(port, 2_000_000), 'v5', 'the new process runs the module as it is now');
    await sleep(300);
    await load.stop();
    t.deepEqual(load.failures.slice(0, 5), [], `${load.failures.length} of ${load.count()} connections failed`);
    t.true(load.count() > 100, `churn made ${load.count()} connections`);
    for (const v of ['v1', 'v2', 'v3', 'v4', 'v5']) t.true((load.versions.get(v) ?? 0) > 0, `answers by version: ${JSON.stringify([...load.versions])}`);
    t.log(`${load.count()} connections through 3 reloads and an upgrade, 0 failed: ${JSON.stringify([...load.versions])}`);
  } finally {
    cli.p.kill('SIGKILL');
    killAll(newPid);
    rmSync(dir, { recursive: true, force: true });
  }
});
