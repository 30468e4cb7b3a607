/**
 * The command line as a new user meets it: one name per meaning across
 * commands, deprecated names that still work (with a warning), --listen on
 * every server command, -v, --help with examples and exit codes, values
 * refused with the flag named, exit 143 on a second SIGTERM. Serial: each
 * test starts CLI processes, and many at once starve each other on a busy
 * machine.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { CLI, ROOT, runCli, runProcess, sleep, waitFor } from './helpers.js';

function startCli(args: string[]) {
  const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const io = { out: '', err: '' };
  p.stdout.on('data', (d) => (io.out += d));
  p.stderr.on('data', (d) => (io.err += d));
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => p.on('close', (code, signal) => resolve(code ?? signal)));
  const killer = setTimeout(() => p.kill('SIGKILL'), 60_000);
  exited.then(() => clearTimeout(killer));
  return { p, io, exited };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => resolve(c));
    c.on('error', reject);
  });
}

test.serial('-v and --version print the package version', async (t) => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'packages', 'cli', 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['-v', '--version']) {
    const r = await runCli([flag]);
    t.is(r.code, 0);
    t.is(r.stdout.trim(), version);
  }
});

test.serial('every command has examples and exit codes in its --help', async (t) => {
  for (const cmd of [[], ['echo'], ['proxy'], ['serve'], ['stress'], ['doctor'], ['demo']]) {
    const r = await runCli([...cmd, '--help']);
    t.is(r.code, 0, cmd.join(' '));
    t.regex(r.stdout, /\nExamples:\n {2}ringleader /, `${cmd.join(' ') || 'ringleader'}: examples`);
    t.regex(r.stdout, /\nExit status: 0 /, `${cmd.join(' ') || 'ringleader'}: exit codes`);
  }
  const demo = await runCli(['demo', '--help']);
  t.regex(demo.stdout, /-d, --duration <duration>\s+how long to drive load \(default: 5s\)/, 'the default reads as a duration');
  for (const cmd of ['echo', 'proxy', 'serve']) {
    const r = await runCli([cmd, '--help']);
    for (const flag of ['-l, --listen <host:port>', '--placement <policy>', '--weights <list>', '--max-buffered <bytes>', '--buffers <n>', '--buffer-size <bytes>']) {
      t.true(r.stdout.includes(flag), `${cmd} --help lists ${flag}`);
    }
    t.false(/--policy|--buffer </.test(r.stdout), `${cmd} --help hides the deprecated names`);
  }
  t.true((await runCli(['proxy', '--help'])).stdout.includes('--upstream-policy <policy>'));
});

test.serial('values that cannot work exit 2 with one line naming the flag', async (t) => {
  const cases: [string[], RegExp][] = [
    [['echo', '--interval', '0'], /--interval .*must be from 10ms to 24h/],
    [['echo', '--interval', '99999h'], /--interval .*must be from 10ms to 24h/],
    [['echo', '--drain', '-1s'], /--drain .*must be from 0 to 24h/],
    [['echo', '--workers', '-2'], /--workers .*must be from 1 to 1024/],
    [['echo', '--buffer-size', '-4k'], /--buffer-size .*must not be negative/],
    [['echo', '--buffers', '64', '--max-buffers-held', '40'], /--max-buffers-held .*0 to 32/],
    [['stress', '127.0.0.1:7000', '--rate', '-5'], /--rate .*must not be negative/],
    [['stress', '127.0.0.1:7000', '--connections', '-5'], /--connections .*must be from 1 to 1000000/],
    [['stress', '127.0.0.1:7000', '--duration', '99999h'], /--duration .*must be from 0 to 24h/],
    [['echo', '--host', 'nohost.invalid', '--workers', '1'], /^ringleader: --host must be a host name that resolves .*"nohost\.invalid"/],
    [['proxy', '--listen', 'nohost.invalid:0', '-u', '127.0.0.1:1', '--workers', '1'], /^ringleader: --listen must be a host name that resolves/],
    [['serve', 'examples/resp-ping/handler.js', '--listen', 'nowhere'], /^ringleader: --listen must be HOST:PORT/],
    [['echo', '--listen', ':0', '--port', '1'], /--listen replaces --host and --port/],
    [
      ['echo', '--workers', '64', '--buffers', '32768', '--buffer-size', '1MiB'],
      /^ringleader: --buffers must be small enough that 64 worker\(s\) x --buffers x --buffer-size fits in the .* of memory available/,
    ],
    [['echo', '--weights', '3,0'], /--weights .*positive numbers/],
    [['echo', '--weights', '3,1', '--placement', 'p2c'], /--weights needs --placement weighted/],
    [['echo', '--weights', '3,1', '--workers', '3'], /--weights must be an array with one weight per worker \(3\)/],
    [['echo', '--policy', 'p2c', '--placement', 'p2c'], /--policy is the old name of --placement/],
    [['proxy', '-u', '127.0.0.1:1', '--policy', 'p2c'], /--policy/],
    [['echo', '--max-buffered', '1KiB'], /--max-buffered must be an integer from 16384/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, re, args.join(' '));
    t.notRegex(r.stderr, /\n\s+at /, `${args.join(' ')}: no stack trace`);
  }
});

test.serial('echo: --listen, --weights 3,1 (two workers, weighted), --buffer still works with a warning; a second SIGTERM exits 143', async (t) => {
  const s = startCli(['echo', '--listen', '127.0.0.1:0', '--weights', '3,1', '--buffer', '512KiB', '--json', '--interval', '100ms', '--drain', '20s']);
  try {
    t.true(await waitFor(() => s.io.out.includes('"event":"listening"'), 30_000), s.io.err);
    const listening = JSON.parse(s.io.out.split('\n').find((l) => l.includes('"event":"listening"'))!) as { port: number; workers: number; placement: string };
    t.is(listening.workers, 2);
    t.is(listening.placement, 'weighted');
    t.regex(s.io.err, /^ringleader: warning: --buffer is deprecated, use --max-buffered$/m);
    const conns = [];
    for (let i = 0; i < 4; i++) conns.push(await connect(listening.port));
    const accepted = () => {
      const last = s.io.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { workers?: { accepted: number }[] })
        .filter((r) => Array.isArray(r.workers))
        .at(-1);
      return last?.workers?.map((w) => w.accepted) ?? [];
    };
    t.true(await waitFor(() => accepted().reduce((a, n) => a + n, 0) === 4, 5000), JSON.stringify(accepted()));
    t.deepEqual(accepted(), [3, 1], 'smooth weighted round robin: 3 of every 4 to worker 0');
    s.p.kill('SIGTERM');
    await sleep(300);
    t.is(s.p.exitCode, null, 'the first SIGTERM drains (connections are still open)');
    s.p.kill('SIGTERM');
    t.is(await s.exited, 143);
    t.regex(s.io.err, /SIGTERM again, exiting now/);
    for (const c of conns) c.destroy();
  } finally {
    s.p.kill('SIGKILL');
  }
});

test.serial('proxy: --policy is the old --upstream-policy; the header names placement and upstream policy apart', async (t) => {
  const up = net.createServer((c) => c.pipe(c));
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', () => r()));
  const upPort = (up.address() as net.AddressInfo).port;
  const s = startCli(['proxy', '--host', '127.0.0.1', '--port', '0', '-u', `127.0.0.1:${upPort}`, '--policy', 'least-connections', '--workers', '1']);
  try {
    t.true(await waitFor(() => s.io.out.includes('listening on'), 30_000), s.io.err);
    t.regex(s.io.out, /^ringleader proxy listening on 127\.0\.0\.1:\d+ \(1 worker, placement p2c, upstream policy least-connections\)$/m);
    t.regex(s.io.err, /^ringleader: warning: --policy is deprecated, use --upstream-policy$/m);
    s.p.kill('SIGINT');
    t.is(await s.exited, 0, s.io.err);
  } finally {
    s.p.kill('SIGKILL');
    up.close();
  }
});

test.serial('receive buffers beyond RLIMIT_MEMLOCK: warned before any ring is built (zero-copy would fall back); not with --zc-threshold 0', async (t) => {
  // root has CAP_IPC_LOCK and is never limited: run the server as nobody
  const asRoot = process.getuid?.() === 0;
  const run = async (extra: string[]) => {
    const prefix = asRoot ? ['--memlock=4194304:4194304', 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : ['--memlock=4194304:4194304'];
    const p = spawn('prlimit', [...prefix, process.execPath, CLI, 'echo', '--port', '0', '--workers', '1', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    const io = { out: '', err: '' };
    p.stdout.on('data', (d) => (io.out += d));
    p.stderr.on('data', (d) => (io.err += d));
    const exited = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
    try {
      t.true(await waitFor(() => io.out.includes('listening on'), 30_000), io.err);
      p.kill('SIGINT');
      t.is(await exited, 0, io.err);
    } finally {
      p.kill('SIGKILL');
    }
    return io.err;
  };
  const warned = await run([]);
  t.regex(warned, /^ringleader: warning: registering 16 MiB of receive buffers for zero-copy sends exceeds RLIMIT_MEMLOCK \(4 MiB\); workers will use plain send/m);
  t.true(warned.indexOf('RLIMIT_MEMLOCK') < warned.indexOf('SIGINT'), 'said before serving');
  const quiet = await run(['--zc-threshold', '0']);
  t.notRegex(quiet, /RLIMIT_MEMLOCK/);
});

test.serial('a worker ring that RLIMIT_MEMLOCK refuses: ENOMEM with its code and the hint, not a bare message', async (t) => {
  // 1 MiB: the acceptor ring fits, two worker rings do not (root is never limited: run as nobody)
  const asRoot = process.getuid?.() === 0;
  const prefix = asRoot ? ['--memlock=1048576:1048576', 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : ['--memlock=1048576:1048576'];
  const r = await runProcess('prlimit', [...prefix, process.execPath, CLI, 'echo', '--port', '0', '--workers', '2', '--zc-threshold', '0', '--json'], { timeoutMs: 30_000 });
  t.is(r.code, 1, r.stderr);
  const rec = JSON.parse(r.stderr.trim().split('\n').at(-1) ?? '') as { msg: string; code?: string };
  t.is(rec.code, 'ENOMEM');
  t.regex(rec.msg, /io_uring_queue_init ENOMEM: .*count against RLIMIT_MEMLOCK .*now 1 MiB: raise it with `ulimit -l`/);
});

test.serial('stdout closed by its reader (a pipe into head): the server keeps serving and still exits 0 on SIGINT', async (t) => {
  const { p, io, exited } = startCli(['echo', '--port', '0', '--workers', '1', '--json', '--interval', '100ms']);
  t.true(await waitFor(() => io.out.includes('"event":"listening"'), 15_000), io.err);
  const port = (JSON.parse(io.out.split('\n')[0]!) as { port: number }).port;
  // close our end: the next stats line (every 100 ms) meets EPIPE
  p.stdout.destroy();
  await sleep(600);
  t.is(p.exitCode, null, `exited after EPIPE: ${io.err}`);
  const c = await connect(port);
  const got = await new Promise<string>((resolve) => {
    c.once('data', (d) => resolve(String(d)));
    c.write('still here');
  });
  c.destroy();
  t.is(got, 'still here');
  p.kill('SIGINT');
  t.is(await exited, 0);
  t.notRegex(io.err, /EPIPE/);
});

test('--json: a fatal start-up error is a JSON log record on stderr, with the exit code', async (t) => {
  // a port in use (exit 1) and a bad flag value (exit 2)
  const busy = net.createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  const port = (busy.address() as net.AddressInfo).port;
  try {
    for (const [args, code, re] of [
      [['echo', '--port', String(port), '--workers', '1', '--json'], 1, /EADDRINUSE/],
      [['echo', '--admin', 'localhost', '--json'], 2, /--admin must be HOST:PORT/],
    ] as const) {
      const r = await runCli([...args], 20000);
      t.is(r.code, code, r.stderr);
      const lines = r.stderr.trim().split('\n');
      const rec = JSON.parse(lines.at(-1) ?? '') as { level: number; msg: string; exitCode: number; pid: number; time: string };
      t.is(rec.level, 60);
      t.is(rec.exitCode, code);
      t.regex(rec.msg, re);
      t.true(Number.isFinite(Date.parse(rec.time)));
      for (const l of lines) t.notThrows(() => JSON.parse(l), `every stderr line is JSON: ${l}`);
    }
  } finally {
    busy.close();
  }
});
