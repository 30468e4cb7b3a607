/**
 * ringleader stress at the edges of what the machine allows: send_zc
 * refused by RLIMIT_MEMLOCK, a listener that never completes a handshake,
 * a connect ramp longer than the run, and rings past their time limit. Each
 * run is bounded by --duration and by the CLI timeout.
 */
import test from 'ava';
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { createServer, runStress, type StressResult } from '@ringleader/runtime';
import { CLI, runCli, runProcess, waitFor } from './helpers.js';

/** root has CAP_IPC_LOCK and is never limited: run as nobody under `memlock` bytes */
function limited(memlock: number, args: string[]): string[] {
  const asRoot = process.getuid?.() === 0;
  const drop = asRoot ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  return [`--memlock=${memlock}:${memlock}`, ...drop, process.execPath, CLI, ...args];
}

const MiB = 1 << 20;

test.serial('send_zc refused by RLIMIT_MEMLOCK (nobody, 1 MiB): every failed send goes out as a plain send, no error, exit 0', async (t) => {
  const server = createServer({ workers: 1, port: 0 });
  const { port } = await server.listen();
  try {
    const r = await runProcess('prlimit', limited(MiB, ['stress', `127.0.0.1:${port}`, '--mode', 'bulk', '-c', '8', '-t', '2', '-d', '2s', '--warmup', '0', '--json']), { timeoutMs: 60_000 });
    t.is(r.code, 0, r.stderr + r.stdout.slice(-800));
    const j = JSON.parse(r.stdout) as StressResult;
    t.is(j.errors.total, 0, JSON.stringify(j.errors));
    t.is(j.connected.dropped, 0);
    t.is(j.verification.failures, 0);
    t.true(j.messages.verified > 0);
    t.is(j.zeroCopy.fallbackCode, 'ENOMEM');
    // 8 connections each keep sends in flight: more than one fails, and each is resent
    t.true(j.zeroCopy.retried > j.zeroCopy.fallbacks, `resent ${j.zeroCopy.retried}, switched off ${j.zeroCopy.fallbacks} time(s)`);
  } finally {
    await server.close({ timeout: 500 });
  }
});

test.serial('the server with zero-copy on as nobody under 1 MiB of memlock serves bulk load without error', async (t) => {
  // rings and registered buffers are charged to RLIMIT_MEMLOCK too: sized to fit
  const args = ['echo', '--port', '0', '--workers', '1', '--worker-table-size', '256', '--acceptor-table-size', '256', '--buffers', '16', '--json', '--interval', '200ms'];
  const p: ChildProcess = spawn('prlimit', limited(MiB, args), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout?.on('data', (d) => (out += d));
  p.stderr?.on('data', (d) => (err += d));
  try {
    t.true(await waitFor(() => out.includes('"listening"'), 30_000), err);
    const port = JSON.parse(out.split('\n')[0]).port as number;
    const r = await runCli(['stress', `127.0.0.1:${port}`, '--mode', 'bulk', '-c', '8', '-t', '1', '-d', '2s', '--warmup', '0', '--json'], 60_000);
    t.is(r.code, 0, r.stderr + r.stdout.slice(-800));
    const j = JSON.parse(r.stdout) as StressResult;
    t.is(j.errors.total, 0);
    t.true(j.messages.verified > 0);
    await waitFor(() => out.trim().split('\n').length > 3, 2000);
    const last = JSON.parse(out.trim().split('\n').pop()!);
    t.true(last.zeroCopy.enabled, 'registered buffers fit: zero-copy stayed on');
    t.true(last.zeroCopy.sends > 0, 'large echoes went out with send_zc');
    t.is(last.zeroCopy.fallbacks, 0);
  } finally {
    p.kill('SIGINT');
    await new Promise((r) => p.once('close', r));
  }
  t.is(p.exitCode, 0, err);
  const closed = JSON.parse(out.trim().split('\n').pop()!);
  t.is(closed.total.connErrors, 0);
});

/** A listener that never accepts, with a backlog of 0: one handshake completes, every later SYN is dropped. */
async function fullBacklog(): Promise<{ port: number; close(): void }> {
  const code = 'import socket,sys\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()';
  const p = spawn('python3', ['-c', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  if (!(await waitFor(() => out.includes('\n'), 10_000))) throw new Error('python3 listener did not start');
  return { port: Number(out.trim()), close: () => p.kill('SIGKILL') };
}

test.serial('--connect-timeout: connects to a full backlog fail as ETIMEDOUT and the run ends at its duration', async (t) => {
  const l = await fullBacklog();
  try {
    const t0 = Date.now();
    const r = await runCli(['stress', `127.0.0.1:${l.port}`, '--mode', 'idle', '-c', '3', '-t', '1', '--connect-timeout', '1s', '-d', '3s', '--warmup', '0', '--json'], 30_000);
    const wall = Date.now() - t0;
    t.is(r.code, 1, r.stderr);
    const j = JSON.parse(r.stdout) as StressResult;
    // one connection sits in the accept queue; the other two time out about once a second
    t.true(j.errors.byCode.ETIMEDOUT >= 2, JSON.stringify(j.errors));
    t.is(j.errors.total, j.errors.byCode.ETIMEDOUT);
    t.is(j.connected.failed, j.errors.byCode.ETIMEDOUT);
    t.is(j.connected.opened, 1);
    t.true(wall < 10_000, `ended ${wall} ms after start, for a 3 s run`);
    const human = await runCli(['stress', `127.0.0.1:${l.port}`, '--mode', 'idle', '-c', '2', '-t', '1', '--connect-timeout', '300ms', '-d', '1s', '--warmup', '0'], 30_000);
    t.regex(human.stdout, /errors +ETIMEDOUT \d/);
  } finally {
    l.close();
  }
  const bad = await runCli(['stress', '127.0.0.1:7000', '--connect-timeout', '0']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--connect-timeout/);
  await t.throwsAsync(runStress({ targets: '127.0.0.1:7000', connectTimeout: 0 }), { instanceOf: RangeError, message: /"connectTimeout"/ });
  const help = await runCli(['stress', '--help']);
  t.regex(help.stdout, /--connect-timeout <duration>[\s\S]*ETIMEDOUT[\s\S]*default 5s/);
});

test.serial('idle: a 2 s connect ramp inside the warmup prints its result and exits 0; one longer than the run says so', async (t) => {
  const server = createServer({ workers: 1, port: 0 });
  const { port } = await server.listen();
  try {
    const ok = await runCli(['stress', `127.0.0.1:${port}`, '--mode', 'idle', '-c', '3000', '-t', '2', '--connect-rate', '1500', '--warmup', '3s', '-d', '1s', '--json'], 60_000);
    t.is(ok.code, 0, ok.stderr + ok.stdout.slice(-800));
    const j = JSON.parse(ok.stdout) as StressResult;
    t.is(j.connected.upAtEnd, 3000);
    t.false(j.partial);
    await waitFor(() => server.stats().total.live === 0, 5000);
    // the same ramp with no warmup: cut short at the end of the run, and the result says why
    const short = await runCli(['stress', `127.0.0.1:${port}`, '--mode', 'idle', '-c', '3000', '-t', '2', '--connect-rate', '1500', '--warmup', '0', '-d', '1s'], 60_000);
    t.is(short.code, 1, short.stderr);
    t.regex(short.stdout, /connections were up at the end: at --connect-rate 1500\/s the connect ramp takes 2\.0 s, longer than --warmup plus --duration \(1\.0 s\)/);
    t.regex(short.stdout, /result: FAILED/);
  } finally {
    await server.close({ timeout: 1000 });
  }
});

test.serial('rings past their time limit: the result is still printed, marked partial', async (t) => {
  const server = createServer({ workers: 1, port: 0 });
  const { port } = await server.listen();
  try {
    // the test hook stands for a machine too slow to close in time
    const env = { RINGLEADER_TEST_STRESS_LIMIT_MS: '1500' };
    const t0 = Date.now();
    const r = await runCli(['stress', `127.0.0.1:${port}`, '--mode', 'idle', '-c', '50', '-t', '2', '-d', '20s', '--warmup', '0', '--json'], 30_000, env);
    t.true(Date.now() - t0 < 15_000, 'cut at the limit, not at the 20 s duration');
    t.is(r.code, 1, r.stderr);
    const j = JSON.parse(r.stdout) as StressResult;
    t.true(j.partial);
    t.is(j.connected.upAtEnd, 50, 'counted when the limit was reached');
    t.true(
      j.failures.some((f) => /did not finish within 1500 ms .*the result is partial/.test(f)),
      j.failures.join('; '),
    );
    const human = await runCli(['stress', `127.0.0.1:${port}`, '--mode', 'idle', '-c', '10', '-t', '1', '-d', '20s', '--warmup', '0'], 30_000, env);
    t.is(human.code, 1);
    t.regex(human.stdout, /partial \(see below\)/);
    t.regex(human.stdout, /connections +10 opened/);
    t.regex(human.stdout, /result: FAILED\n.*the result is partial/);
  } finally {
    await server.close({ timeout: 1000 });
  }
});

test('a server that cannot make its rings under RLIMIT_MEMLOCK (nobody, 64 KiB) says which limit to raise, exit 1', async (t) => {
  const r = await runProcess('prlimit', limited(64 * 1024, ['echo', '--port', '0', '--workers', '2']), { timeoutMs: 30_000 });
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /ENOMEM/);
  t.regex(r.stderr, /RLIMIT_MEMLOCK.*(ulimit -l|LimitMEMLOCK)/);
  t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
});

test('--messages against a server that closes every connection: the run stops once errors pass --max-errors instead of retrying without end', async (t) => {
  // reads each message, then closes: no message is ever answered
  const server = net.createServer((s) => s.on('data', () => s.destroy()));
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as net.AddressInfo;
  try {
    let timer: NodeJS.Timeout | undefined;
    const bounded = new Promise<'hung'>((res) => {
      timer = setTimeout(() => res('hung'), 20_000);
    });
    const r = await Promise.race([runStress({ targets: `127.0.0.1:${port}`, connections: 2, threads: 1, messages: 100, maxErrors: 20 }), bounded]);
    clearTimeout(timer);
    if (r === 'hung') return t.fail('still retrying after 20 s');
    t.false(r.ok);
    t.true(r.errors.total > 20, `errors ${r.errors.total}`);
    t.is(r.messages.verified, 0);
    t.true(
      r.failures.some((f) => /stopped early: \d+ error\(s\), more than the 20 allowed/.test(f)),
      r.failures.join('; '),
    );
  } finally {
    server.close();
  }
});
