/** The CLI's signal handling: the first SIGINT/SIGTERM drains, a second one exits at once. */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { CLI, ROOT, waitFor } from './helpers.js';

function startEcho(args: string[]) {
  const p = spawn(process.execPath, [CLI, 'echo', '--port', '0', '--workers', '1', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const io = { out: '', err: '' };
  p.stdout.on('data', (d) => (io.out += d));
  p.stderr.on('data', (d) => (io.err += d));
  const exited = new Promise<{ code: number | null; ms: number }>((resolve) => {
    const t0 = Date.now();
    p.on('close', (code) => resolve({ code, ms: Date.now() - t0 }));
  });
  return { p, io, exited };
}

test('SIGTERM drains: the connection that ends in time counts as drained, summary printed, exit 0', async (t) => {
  const s = startEcho(['--drain', '5s']);
  try {
    t.true(await waitFor(() => s.io.out.includes('listening on'), 10000), s.io.err);
    const port = Number(/:(\d+) \(/.exec(s.io.out)![1]);
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => {});
    await new Promise((r) => c.on('connect', r));
    // an echo proves a worker holds the connection (a fixed sleep did not,
    // on a loaded machine)
    const echoed = new Promise((r) => c.once('data', r));
    c.write('x');
    await echoed;
    s.p.kill('SIGTERM');
    t.true(await waitFor(() => s.io.err.includes('draining 1 connection'), 5000), s.io.err);
    c.end();
    const { code } = await s.exited;
    t.is(code, 0);
    t.regex(s.io.out, /closed: 1 drained, 0 forced/, s.io.err);
  } finally {
    s.p.kill('SIGKILL');
  }
});

test('a second signal while draining exits at once with 130', async (t) => {
  const s = startEcho(['--drain', '20s']);
  try {
    t.true(await waitFor(() => s.io.out.includes('listening on'), 10000), s.io.err);
    const port = Number(/:(\d+) \(/.exec(s.io.out)![1]);
    const c = net.connect(port, '127.0.0.1'); // never closes: the drain would wait 20 s
    c.on('error', () => {});
    await new Promise((r) => c.on('connect', r));
    const echoed = new Promise((r) => c.once('data', r));
    c.write('x');
    await echoed;
    s.p.kill('SIGINT');
    t.true(await waitFor(() => s.io.err.includes('draining'), 5000), s.io.err);
    const t0 = Date.now();
    s.p.kill('SIGINT');
    const { code } = await s.exited;
    t.is(code, 130);
    t.true(Date.now() - t0 < 3000, 'did not wait for the drain');
    t.regex(s.io.err, /SIGINT again, exiting now/);
    c.destroy();
  } finally {
    s.p.kill('SIGKILL');
  }
});

test('building the addon without liburing fails with one line naming the package', (t) => {
  // pkg-config that finds no .pc files behaves as on a machine without liburing-dev
  const r = spawnSync(process.execPath, [join(ROOT, 'packages', 'core-native', 'scripts', 'build-native.mjs'), '--force'], {
    encoding: 'utf8',
    env: { ...process.env, PKG_CONFIG_LIBDIR: '/nonexistent', PKG_CONFIG_PATH: '' },
  });
  t.is(r.status, 1);
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0], /^ringleader: liburing >= 2\.3 was not found .*liburing-dev/);
});
