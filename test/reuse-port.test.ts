/** `--reuse-port`: several processes listen on one port and the kernel spreads connections across them. */
import test from 'ava';
import { spawn } from 'node:child_process';
import { CLI, echoOnce, runCli, waitFor } from './helpers.js';
import { freePort } from './ops-helpers.js';

function start(port: number, extra: string[] = []) {
  const p = spawn(process.execPath, [CLI, 'echo', '--port', String(port), '--workers', '1', '--json', '--interval', '100ms', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const io = { out: '', err: '' };
  p.stdout.on('data', (d) => (io.out += d));
  p.stderr.on('data', (d) => (io.err += d));
  const exited = new Promise<number | null>((r) => p.on('close', (c) => r(c)));
  /** connections this process accepted, from its latest stats line */
  const accepted = () => {
    const stats = io.out
      .split('\n')
      .filter((l) => l.includes('"event":"stats"'))
      .at(-1);
    return stats ? (JSON.parse(stats).accepted as number) : 0;
  };
  return { p, io, exited, accepted };
}

test('two processes with --reuse-port share one port; both serve; when one stops the other serves on', async (t) => {
  const port = await freePort();
  const a = start(port, ['--reuse-port']);
  const b = start(port, ['--reuse-port']);
  try {
    t.true(await waitFor(() => a.io.out.includes('"event":"listening"') && b.io.out.includes('"event":"listening"'), 20000), a.io.err + b.io.err);
    const n = 60;
    for (let i = 0; i < n; i++) {
      const r = await echoOnce(port, Buffer.from(`conn ${i}`));
      t.true(r.cleanClose && r.received === r.sent, r.error);
    }
    t.true(await waitFor(() => a.accepted() + b.accepted() === n, 5000), `${a.accepted()} + ${b.accepted()}`);
    // the kernel hashes each connection to one listener: both got some (all 60 on one side: p = 2^-59)
    t.true(a.accepted() > 0 && b.accepted() > 0, `${a.accepted()} / ${b.accepted()}`);
    a.p.kill('SIGTERM');
    t.is(await a.exited, 0, a.io.err);
    const before = b.accepted();
    for (let i = 0; i < 10; i++) t.true((await echoOnce(port, Buffer.from('after'))).cleanClose);
    t.true(await waitFor(() => b.accepted() === before + 10, 5000), 'the remaining process takes every new connection');
  } finally {
    a.p.kill('SIGKILL');
    b.p.kill('SIGKILL');
  }
});

test('without --reuse-port a second process on the same port exits 1 (EADDRINUSE)', async (t) => {
  const port = await freePort();
  const a = start(port);
  try {
    t.true(await waitFor(() => a.io.out.includes('"event":"listening"'), 20000), a.io.err);
    const r = await runCli(['echo', '--port', String(port), '--workers', '1'], 20000);
    t.is(r.code, 1, r.stderr);
    t.regex(r.stderr, /EADDRINUSE/);
  } finally {
    a.p.kill('SIGKILL');
  }
});
