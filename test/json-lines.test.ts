/**
 * The JSON lines schema of `--json` (README "JSON lines"): every stdout line
 * is JSON with `t` and a known `event`; stats lines carry cumulative totals;
 * warnings are objects with a code; proxy upstreams going down and up are
 * events; logs go to stderr as pino records, filtered by --log-level.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { CLI, echoOnce, sleep, waitFor } from './helpers.js';
import { freePort } from './ops-helpers.js';

const EVENTS = new Set(['listening', 'stats', 'reload', 'pause', 'resume', 'upstream-down', 'upstream-up', 'warning', 'worker-exit', 'closed']);

type Line = Record<string, unknown> & { t: string; event: string };

function start(args: string[]) {
  const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const io = { out: '', err: '' };
  p.stdout.on('data', (d) => (io.out += d));
  p.stderr.on('data', (d) => (io.err += d));
  const exited = new Promise<number | null>((r) => p.on('close', (c) => r(c)));
  const lines = (): Line[] =>
    io.out
      .split('\n')
      .filter((l) => l.endsWith('}'))
      .map((l) => JSON.parse(l) as Line);
  return { p, io, exited, lines };
}

function checkSchema(t: import('ava').ExecutionContext, out: string): Line[] {
  const raw = out.trim().split('\n');
  const lines = raw.map((l) => {
    let j: Line | undefined;
    t.notThrows(() => (j = JSON.parse(l)), `not JSON on stdout: ${l}`);
    return j as Line;
  });
  for (const l of lines) {
    t.false(Number.isNaN(Date.parse(l.t)), `t is a time: ${JSON.stringify(l)}`);
    t.true(EVENTS.has(l.event), `known event: ${JSON.stringify(l)}`);
  }
  return lines;
}

test('echo --json: only JSON on stdout, every line has t and event, stats carry cumulative totals; pino logs on stderr', async (t) => {
  const s = start(['echo', '--port', '0', '--workers', '2', '--json', '--interval', '100ms', '--admin', '127.0.0.1:0', '--log-level', 'debug']);
  try {
    t.true(await waitFor(() => s.io.out.includes('"event":"listening"'), 15000), s.io.err);
    const listening = s.lines().find((l) => l.event === 'listening')!;
    t.regex(String(listening.admin), /^127\.0\.0\.1:\d+$/);
    for (let i = 0; i < 5; i++) t.true((await echoOnce(listening.port as number, Buffer.from('abc'))).cleanClose);
    t.true(await waitFor(() => s.lines().some((l) => l.event === 'stats' && l.accepted === 5), 5000), s.io.out.slice(-800));
    s.p.kill('SIGTERM');
    t.is(await s.exited, 0, s.io.err);
    const lines = checkSchema(t, s.io.out);
    const stats = lines.filter((l) => l.event === 'stats').at(-1)!;
    for (const k of ['rejected', 'dropped', 'restarts', 'handlerErrors', 'accepted', 'closed', 'bytesIn', 'bytesOut', 'acceptsPerSec', 'live']) t.is(typeof stats[k], 'number', k);
    t.is(stats.accepted, 5);
    t.is(stats.bytesIn, 15);
    t.false('events' in stats, 'events are lines of their own');
    const closed = lines.at(-1)!;
    t.is(closed.event, 'closed');
    t.is(closed.signal, 'SIGTERM');
    // stderr: pino records (JSON, with level and msg), the drain notice among them
    const logs = s.io.err
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: number; msg: string; time: string });
    t.true(
      logs.some((l) => l.level === 30 && /SIGTERM: draining/.test(l.msg)),
      s.io.err,
    );
  } finally {
    s.p.kill('SIGKILL');
  }
});

test('--log-level error silences the drain notice; a bad level exits 2 naming the flag', async (t) => {
  const s = start(['echo', '--port', '0', '--workers', '1', '--json', '--log-level', 'error']);
  try {
    t.true(await waitFor(() => s.io.out.includes('"event":"listening"'), 15000), s.io.err);
    s.p.kill('SIGTERM');
    t.is(await s.exited, 0);
    t.is(s.io.err, '');
  } finally {
    s.p.kill('SIGKILL');
  }
  const bad = start(['echo', '--port', '0', '--log-level', 'loud']);
  t.is(await bad.exited, 2);
  t.regex(bad.io.err, /--log-level/);
});

test('proxy --json: an unreachable upstream is a warning object, then upstream-down and upstream-up events', async (t) => {
  // nothing listens there until the test says so (a port outside the ephemeral range: see freePort)
  const upPort = await freePort();
  const s = start(['proxy', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upPort}`, '--workers', '1', '--json', '--interval', '200ms', '--upstream-max-fails', '1']);
  const up = net.createServer((c) => c.pipe(c));
  try {
    t.true(await waitFor(() => s.io.out.includes('"event":"listening"'), 15000), s.io.err);
    const warning = s.lines().find((l) => l.event === 'warning')!;
    t.is(warning.code, 'ERR_UPSTREAM_UNREACHABLE');
    t.regex(String(warning.message), /not reachable/);
    const port = s.lines().find((l) => l.event === 'listening')!.port as number;
    // a client while the upstream is down marks it down
    await new Promise<void>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.on('error', () => {});
      c.on('close', () => resolve());
    });
    t.true(await waitFor(() => s.lines().some((l) => l.event === 'upstream-down'), 5000), s.io.out.slice(-800));
    t.is(s.lines().find((l) => l.event === 'upstream-down')!.upstream, `127.0.0.1:${upPort}`);
    await new Promise<void>((r) => up.listen(upPort, '127.0.0.1', () => r()));
    // bounded: a few tries past the back-off bring it up
    let echoed = '';
    for (let i = 0; i < 20 && echoed !== 'back'; i++) {
      await sleep(300);
      echoed = await new Promise<string>((resolve) => {
        const c = net.connect(port, '127.0.0.1', () => c.end('back'));
        let got = '';
        c.on('data', (d) => (got += d));
        c.on('error', () => {});
        c.on('close', () => resolve(got));
      });
    }
    t.is(echoed, 'back');
    t.true(await waitFor(() => s.lines().some((l) => l.event === 'upstream-up'), 5000), s.io.out.slice(-800));
    s.p.kill('SIGTERM');
    await s.exited;
    checkSchema(t, s.io.out);
  } finally {
    s.p.kill('SIGKILL');
    up.close();
  }
});
