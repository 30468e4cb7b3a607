import test from 'ava';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from '@ringleader/runtime';
import { errnoError, ioUringUnavailable, resolveOptions } from '@ringleader/runtime/internal';
import { CLI, runCli, runProcess, userThreadCount, waitFor } from './helpers.js';
import { fixture } from './js-helpers.js';

const LAUNCHER = fileURLToPath(new URL('../../packages/cli/bin/ringleader', import.meta.url));

test('errnoError is Node-shaped', (t) => {
  const e = errnoError(-23, 'io_uring_prep_msg_ring_fd_alloc');
  t.is(e.code, 'ENFILE');
  t.is(e.errno, -23);
  t.is(e.syscall, 'io_uring_prep_msg_ring_fd_alloc');
  t.is(e.message, 'io_uring_prep_msg_ring_fd_alloc ENFILE: Too many open files in system');
  const a = errnoError(98, 'listen', { address: '127.0.0.1', port: 80 });
  t.is(a.errno, -98);
  t.is(a.address, '127.0.0.1');
  t.is(a.port, 80);
  t.is(a.message, 'listen EADDRINUSE: Address already in use 127.0.0.1:80');
});

test('io_uring unavailable points to doctor', (t) => {
  const e = ioUringUnavailable(errnoError(-1, 'io_uring_queue_init'));
  t.is(e.code, 'EPERM');
  t.regex(e.message, /ringleader doctor/);
});

test('options: wrong types are TypeErrors, bad values RangeErrors, naming the option', (t) => {
  const cases: [object, typeof TypeError | typeof RangeError, RegExp][] = [
    [{ port: 70000 }, RangeError, /"port"/],
    [{ port: -1 }, RangeError, /"port"/],
    [{ port: 'eighty' }, TypeError, /"port"/],
    [{ workers: 0 }, RangeError, /"workers"/],
    [{ workers: 1.5 }, RangeError, /"workers"/],
    [{ workers: NaN }, TypeError, /"workers"/],
    [{ handler: 'telnet' }, RangeError, /"handler"/],
    [{ handler: 42 }, TypeError, /"handler"/],
    [{ policy: 'random' }, RangeError, /"policy"/],
    [{ overflow: 'drop' }, RangeError, /"overflow"/],
    [{ bufferCount: 1000 }, RangeError, /"bufferCount"/],
    [{ weights: [1], workers: 2 }, RangeError, /"weights"/],
    [{ hots: 'x' }, RangeError, /"hots"/],
  ];
  for (const [opts, Ctor, re] of cases) {
    const e = t.throws(() => resolveOptions(opts as never), { instanceOf: Ctor }, JSON.stringify(opts));
    t.regex(e!.message, re);
  }
  t.notThrows(() => resolveOptions({ port: 0, workers: 1, handler: 'echo', policy: 'weighted', weights: [2] }));
});

test('port in use: EADDRINUSE with address and port', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const server = createServer({ port, workers: 1 });
    const err = await t.throwsAsync(server.listen());
    t.is((err as NodeJS.ErrnoException).code, 'EADDRINUSE');
    t.is((err as NodeJS.ErrnoException).errno, -98);
    t.is((err as NodeJS.ErrnoException & { address: string }).address, '127.0.0.1');
    t.is((err as NodeJS.ErrnoException & { port: number }).port, port);
    t.false(server.listening);
  } finally {
    blocker.close();
  }
});

test('listen twice is refused', async (t) => {
  const server = createServer({ port: 0, workers: 1 });
  await server.listen();
  try {
    await t.throwsAsync(server.listen(), { code: 'ERR_SERVER_ALREADY_LISTEN' } as never);
  } finally {
    await server.close({ timeout: 100 });
  }
  // a Server listens once
  await t.throwsAsync(server.listen(), { code: 'ERR_SERVER_CLOSED', message: /listens once/ } as never);
});

test('close() while listen() starts: listen settles, then the server closes; a second close() waits for the first', async (t) => {
  const a = createServer({ workers: 2, port: 0 });
  const started = a.listen().then(
    (addr) => ({ ok: true as const, addr }),
    (e: Error & { code?: string }) => ({ ok: false as const, e }),
  );
  const closed = await a.close();
  const s = await started;
  // either it started and was closed, or it was told to stop: never an internal TypeError
  if (!s.ok) t.is(s.e.code, 'ERR_SERVER_NOT_RUNNING', s.e.message);
  t.deepEqual(Object.keys(closed).sort(), ['drained', 'dropped', 'durationMs', 'forced']);
  t.false(a.listening);
  t.is(a.address(), null, 'no address once closed, as net.Server');
  t.deepEqual(a.addresses(), []);

  // two closes of a server with an idle client: both settle with the drain's summary
  const b = createServer({ workers: 1, port: 0 });
  const { port } = await b.listen();
  const c = net.connect(port, '127.0.0.1');
  c.on('error', () => {});
  await new Promise((r) => c.once('connect', r));
  await waitFor(() => b.stats().total.live === 1, 2000);
  const t0 = Date.now();
  const [first, second] = await Promise.all([b.close({ timeout: 400 }), b.close()]);
  t.true(Date.now() - t0 >= 350, 'the second waited for the drain');
  t.deepEqual(second, first);
  t.is(first.forced, 1);
  c.destroy();
});

test('startTimeout: a handler whose init never ends fails listen() on time, and leaves no thread behind', async (t) => {
  const before = userThreadCount();
  // the fixture hangs in init while the file named by options.marker exists: this one does
  const marker = fileURLToPath(import.meta.url);
  const server = createServer({ port: 0, workers: 2, handler: fileURLToPath(fixture('hang-init.mjs')), handlerOptions: { marker }, startTimeout: 300 });
  const t0 = Date.now();
  await t.throwsAsync(server.listen(), { code: 'ERR_WORKER_START_TIMEOUT', message: /workers did not start within 300 ms \(0 of 2 ready\)/ } as never);
  const took = Date.now() - t0;
  // it waited 3 s more for workers that read nothing until they serve
  t.true(took < 1500, `rejected after ${took} ms`);
  t.true(await waitFor(() => userThreadCount() <= before, 5000), `${userThreadCount()} threads, ${before} before`);
});

test('CLI: bad options exit 2 with one line and no stack trace', async (t) => {
  for (const args of [
    ['echo', '--port', '70000'],
    ['echo', '--workers', '0'],
    ['echo', '--policy', 'random'],
    ['echo', '--overflow', 'x'],
    ['echo', '--bogus'],
  ]) {
    const r = await runCli(args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /^ringleader: /);
    t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('CLI: port in use exits 1 naming address and port', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const r = await runCli(['echo', '--port', String(port), '--workers', '1']);
    t.is(r.code, 1);
    t.regex(r.stderr, new RegExp(`EADDRINUSE.*127\\.0\\.0\\.1:${port}`));
    t.notRegex(r.stderr, /\n\s+at /);
  } finally {
    blocker.close();
  }
});

test('CLI: a low open-files limit that cuts the default tables is warned of at start', async (t) => {
  // the port is taken, so the server stops right after its start-up checks
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const r = await runProcess('sh', ['-c', `ulimit -n 256 && exec "${process.execPath}" "${CLI}" echo --port ${port} --workers 1`]);
    t.is(r.code, 1, r.stderr);
    t.regex(r.stderr, /the open-files limit \(256, ulimit -n\) cuts each worker's connection table to 256 slots/);
  } finally {
    blocker.close();
  }
});

test('CLI: --help works for every command', async (t) => {
  for (const args of [['--help'], ['echo', '--help'], ['doctor', '--help'], ['demo', '--help']]) {
    const r = await runCli(args);
    t.is(r.code, 0, args.join(' '));
    t.regex(r.stdout, /Usage: ringleader/);
  }
});

test('doctor on this machine: ready, with every check named', async (t) => {
  const r = await runCli(['doctor', '--json']);
  t.is(r.code, 0, r.stdout + r.stderr);
  const rep = JSON.parse(r.stdout) as { ready: boolean; checks: { name: string; ok: boolean }[] };
  t.true(rep.ready);
  const names = rep.checks.map((c) => c.name);
  for (const want of [
    'kernel',
    'kernel.io_uring_disabled',
    'opcode MSG_RING',
    'opcode ACCEPT',
    'msg_ring fd passing',
    'RLIMIT_NOFILE',
    'RLIMIT_MEMLOCK',
    'net.core.somaxconn',
    'liburing (built against)',
  ]) {
    t.true(names.includes(want), `doctor reports ${want}`);
  }
  const human = await runCli(['doctor']);
  t.regex(human.stdout, /verdict: ready/);
});

test("the ringleader command starts node without V8's memory reducer; doctor notes it when started otherwise", async (t) => {
  // as npm installs the command: a symlink to the launcher, somewhere else
  const dir = mkdtempSync(join(tmpdir(), 'rl-bin-'));
  try {
    const link = join(dir, 'ringleader');
    symlinkSync(LAUNCHER, link);
    const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}` };
    const asCommand = await runProcess(link, ['doctor', '--json'], { env });
    t.is(asCommand.code, 0, asCommand.stdout + asCommand.stderr);
    const rep = JSON.parse(asCommand.stdout) as { checks: { name: string; value: string; advisory?: boolean }[]; notes: string[] };
    const check = rep.checks.find((c) => c.name === 'V8 memory reducer');
    t.is(check?.value, 'off');
    t.falsy(check?.advisory);
    t.false(rep.notes.some((n) => n.startsWith('V8 memory reducer')));
    // arguments pass through as they are, exit codes come back
    const bad = await runProcess(link, ['stress', 'not a target', '-d', '1s'], { env });
    t.is(bad.code, 2, bad.stdout + bad.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // `node bin.js`: ready all the same, with a note saying what to run instead
  const plain = await runCli(['doctor']);
  t.is(plain.code, 0, plain.stdout + plain.stderr);
  t.regex(plain.stdout, /V8 memory reducer\s+on in the main thread/);
  t.regex(plain.stdout, /V8 memory reducer: .*run the `ringleader` command, or `node --no-memory-reducer`/);
});
