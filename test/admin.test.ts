/**
 * The admin endpoint (option `admin`, `--admin`): /metrics scraped by a real
 * Prometheus server and checked by promtool, /healthz, /readyz through the
 * server's life, /stats, and the errors.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from '@ringleader/runtime';
import { echoOnce, runCli, sleep } from './helpers.js';
import { runTool } from './js-helpers.js';
import { freePort } from './ops-helpers.js';

async function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() };
}

/** The value of a metric line (`name{labels} value`) in Prometheus text. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('/metrics: per-worker counters, acceptor, a histogram; promtool check metrics passes', async (t) => {
  const server = createServer({ workers: 2, admin: '127.0.0.1:0' });
  await server.listen();
  try {
    const { port } = server.address()!;
    const admin = server.adminAddress()!.port;
    for (let i = 0; i < 6; i++) t.true((await echoOnce(port, Buffer.from('x'.repeat(100)))).cleanClose);
    const m = await get(admin, '/metrics');
    t.is(m.status, 200);
    t.regex(m.type, /^text\/plain; version=0\.0\.4/);
    for (const line of m.body.split('\n')) if (line && !line.startsWith('#')) t.regex(line, /^ringleader_[a-z_]+(\{[^}]*\})? [-0-9.e+Inf]+$/, line);
    const accepted = (sample(m.body, 'ringleader_connections_accepted_total{worker="0"}') ?? NaN) + (sample(m.body, 'ringleader_connections_accepted_total{worker="1"}') ?? NaN);
    t.is(accepted, 6);
    t.is(sample(m.body, 'ringleader_acceptor_accepted_total{acceptor="0"}'), 6);
    t.is((sample(m.body, 'ringleader_received_bytes_total{worker="0"}') ?? 0) + (sample(m.body, 'ringleader_received_bytes_total{worker="1"}') ?? 0), 600);
    t.is(sample(m.body, 'ringleader_ready'), 1);
    t.regex(m.body, /# TYPE ringleader_handoff_latency_seconds histogram/);
    const count = (w: number) => sample(m.body, `ringleader_handoff_latency_seconds_count{worker="${w}"}`) ?? NaN;
    t.is(count(0) + count(1), 6);
    t.is(sample(m.body, 'ringleader_handoff_latency_seconds_bucket{le="+Inf",worker="0"}'), count(0));
    t.true((sample(m.body, 'ringleader_handoff_latency_seconds_sum{worker="0"}') ?? -1) > 0);
    // promtool reads the exposition from stdin
    const dir = mkdtempSync(join(tmpdir(), 'ops-metrics-'));
    try {
      writeFileSync(join(dir, 'm.txt'), m.body);
      const r = await runTool('sh', ['-c', `promtool check metrics < ${join(dir, 'm.txt')}`], 20000);
      t.is(r.code, 0, r.stdout + r.stderr);
      t.is((r.stdout + r.stderr).trim(), '', 'no lint findings');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    await server.close({ timeout: 500 });
  }
});

test('/healthz, /readyz (503 while draining), /stats, 404 and 405', async (t) => {
  const server = createServer({ workers: 1, admin: { host: '127.0.0.1', port: 0 } });
  await server.listen();
  const admin = server.adminAddress()!.port;
  const { port } = server.address()!;
  t.is((await get(admin, '/healthz')).status, 200);
  t.is((await get(admin, '/readyz')).status, 200);
  const st = await get(admin, '/stats');
  t.regex(st.type, /application\/json/);
  const stats = JSON.parse(st.body);
  t.is(stats.address.port, port);
  t.is(stats.workers.length, 1);
  t.is((await get(admin, '/nope')).status, 404);
  t.is((await fetch(`http://127.0.0.1:${admin}/metrics`, { method: 'POST' })).status, 405);
  // one connection held open keeps the drain going
  const c = net.connect(port, '127.0.0.1');
  c.on('error', () => {});
  await new Promise((r) => c.on('connect', r));
  await sleep(100);
  const closing = server.close({ timeout: 3000 });
  const r = await get(admin, '/readyz');
  t.is(r.status, 503);
  t.regex(r.body, /draining/);
  t.is((await get(admin, '/healthz')).status, 200, 'alive while draining');
  t.is(sample((await get(admin, '/metrics')).body, 'ringleader_draining'), 1);
  c.end();
  await closing;
  await t.throwsAsync(fetch(`http://127.0.0.1:${admin}/healthz`), undefined, 'the admin port closes with the server');
});

test('a real Prometheus scrapes /metrics and answers a query about it', async (t) => {
  const server = createServer({ workers: 2, admin: '127.0.0.1:0' });
  await server.listen();
  const dir = mkdtempSync(join(tmpdir(), 'ops-prom-'));
  const promPort = await freePort();
  const admin = server.adminAddress()!.port;
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: ringleader\n    static_configs:\n      - targets: ['127.0.0.1:${admin}']\n`,
  );
  const prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let promErr = '';
  prom.stderr.on('data', (d) => (promErr = (promErr + d).slice(-4000)));
  const spawnError = new Promise<Error>((resolve) => prom.on('error', resolve));
  try {
    const { port } = server.address()!;
    for (let i = 0; i < 10; i++) t.true((await echoOnce(port, Buffer.from('ping'))).cleanClose);
    const query = async (q: string) => {
      const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
      return (await r.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    };
    // bounded: Prometheus starts, scrapes every second; 30 s at most
    let total: number | undefined;
    let up: number | undefined;
    const until = Date.now() + 30000;
    while (Date.now() < until) {
      const failed = await Promise.race([spawnError, sleep(500).then(() => undefined)]);
      if (failed) throw new Error(`prometheus did not start (${failed.message}); run \`sh scripts/setup.sh --test\``);
      try {
        const r = await query('sum(ringleader_connections_accepted_total)');
        if (r.status === 'success' && r.data.result.length) total = Number(r.data.result[0].value[1]);
        const u = await query('up{job="ringleader"}');
        if (u.data.result.length) up = Number(u.data.result[0].value[1]);
        if (total === 10 && up === 1) break;
      } catch {
        /* not up yet */
      }
    }
    t.is(up, 1, `scrape target up; prometheus said: ${promErr.slice(-1000)}`);
    t.is(total, 10);
    // the histogram works as one: a quantile over the buckets is a positive number of seconds
    const q = await query('histogram_quantile(0.5, sum by (le) (ringleader_handoff_latency_seconds_bucket))');
    const p50 = Number(q.data.result[0]?.value[1]);
    t.true(p50 > 0 && p50 < 1, `p50 ${p50}`);
    const w = await query('ringleader_connections');
    t.deepEqual(w.data.result.map((x) => x.metric.worker).sort(), ['0', '1']);
  } finally {
    prom.kill('SIGTERM');
    await new Promise((r) => (prom.exitCode !== null || prom.signalCode !== null ? r(null) : prom.on('close', r)));
    rmSync(dir, { recursive: true, force: true });
    await server.close({ timeout: 500 });
  }
});

test('bad admin option: RangeError naming it; a busy admin port rejects listen naming it', async (t) => {
  t.throws(() => createServer({ admin: 'nope' }), { instanceOf: RangeError, message: /option "admin"/ });
  t.throws(() => createServer({ admin: '127.0.0.1:70000' }), { instanceOf: RangeError, message: /option "admin"/ });
  t.throws(() => createServer({ admin: 7 as never }), { instanceOf: TypeError, message: /option "admin"/ });
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const busy = (blocker.address() as net.AddressInfo).port;
  try {
    const server = createServer({ workers: 1, admin: `127.0.0.1:${busy}` });
    const e = await t.throwsAsync(server.listen());
    t.is((e as Error & { code: string }).code, 'EADDRINUSE');
    t.regex(e!.message, new RegExp(`option "admin": 127\\.0\\.0\\.1:${busy} is already in use`));
    t.false(server.listening);
  } finally {
    blocker.close();
  }
});

test('CLI: --admin bad value exits 2 naming it; a busy admin port exits 1 naming it', async (t) => {
  const bad = await runCli(['echo', '--port', '0', '--workers', '1', '--admin', 'localhost'], 20000);
  t.is(bad.code, 2, bad.stderr);
  t.regex(bad.stderr, /--admin/);
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const busy = (blocker.address() as net.AddressInfo).port;
  try {
    const r = await runCli(['echo', '--port', '0', '--workers', '1', '--admin', `127.0.0.1:${busy}`], 20000);
    t.is(r.code, 1, r.stderr);
    t.regex(r.stderr, new RegExp(`--admin: 127\\.0\\.0\\.1:${busy} is already in use`));
  } finally {
    blocker.close();
  }
});

test('/readyz answers 503 while a reload replaces the workers, 200 after', async (t) => {
  const server = createServer({ workers: 1, admin: '127.0.0.1:0' });
  await server.listen();
  try {
    const admin = server.adminAddress()!.port;
    t.is((await get(admin, '/readyz')).status, 200);
    const reload = server.reload({ drainTimeout: 200 });
    const during = await get(admin, '/readyz');
    t.is(during.status, 503);
    t.regex(during.body, /reloading/);
    const s = await reload;
    t.is(s.replaced, 1);
    t.is((await get(admin, '/readyz')).status, 200);
  } finally {
    await server.close({ timeout: 500 });
  }
});
