/**
 * Inherited listening sockets: systemd socket activation (driven by the
 * real `systemd-socket-activate`), `--fd N`, and sd_notify to a fake
 * NOTIFY_SOCKET (a unix datagram socket the test binds).
 */
import test from 'ava';
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from '@ringleader/runtime';
import { CLI, echoOnce, killAll, randomPayload, runCli, waitFor } from './helpers.js';
import { FIXTURES, freePort, notifySocket } from './ops-helpers.js';

test('systemd-socket-activate: the first connection starts the server on the inherited socket; READY, STATUS, STOPPING reach NOTIFY_SOCKET', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ops-sa-'));
  const sock = await notifySocket(join(dir, 'notify'));
  const port = await freePort();
  const p = spawn(
    'systemd-socket-activate',
    ['-l', `127.0.0.1:${port}`, '-E', `NOTIFY_SOCKET=${join(dir, 'notify')}`, process.execPath, CLI, 'echo', '--workers', '1', '--json', '--interval', '200ms', '--port', '9'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const io = { out: '', err: '' };
  p.stdout.on('data', (d) => (io.out += d));
  p.stderr.on('data', (d) => (io.err += d));
  const exited = new Promise<number | null>((r) => p.on('close', (c) => r(c)));
  try {
    t.true(await waitFor(() => io.err.includes('Listening on'), 10000), io.err);
    // this connection makes systemd-socket-activate exec the server; it waits in the backlog meanwhile
    const first = await echoOnce(port, Buffer.from('activated'), 40000);
    t.true(first.cleanClose, first.error);
    t.is(first.received, first.sent);
    t.true(await waitFor(() => io.out.includes('"event":"listening"'), 30000), io.out);
    const listening = io.out.split('\n').find((l) => l.includes('"event":"listening"'));
    t.is(JSON.parse(listening!).port, port, 'reports the inherited socket, not --port 9');
    // the connection that waited in the backlog paused accepting while the
    // worker started: that pause follows the listening line, which is first
    t.is((JSON.parse(io.out.split('\n')[0]!) as { event: string }).event, 'listening', io.out);
    t.regex(io.err, /socket activation: serving the inherited socket \(fd 3\)/);
    t.regex(io.err, /--port ignored/);
    t.true(await waitFor(() => sock.got.some((d) => d.startsWith('READY=1')), 5000), JSON.stringify(sock.got));
    const ready = sock.got.find((d) => d.startsWith('READY=1'))!;
    t.regex(ready, /\nSTATUS=\d+ connections, \d+ accepted, 1\/1 workers ready/);
    t.true(await waitFor(() => sock.got.filter((d) => d.startsWith('STATUS=')).length > 0, 3000), 'periodic STATUS');
    p.kill('SIGTERM');
    t.is(await exited, 0, io.err);
    t.regex(sock.got.at(-1)!, /^STOPPING=1\nSTATUS=draining/);
  } finally {
    p.kill('SIGKILL');
    sock.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The holder (test/fixtures/fd-holder.mjs) keeps the socket on its fd 3 and runs servers on it. */
function holder(fd: number) {
  const h = fork(join(FIXTURES, 'fd-holder.mjs'), [CLI], { stdio: ['ignore', 'inherit', 'inherit', fd, 'ipc'] });
  const io = { out: '', err: '', exit: undefined as number | null | undefined, ready: false };
  h.on('message', (m: { out?: string; err?: string; exit?: number | null; ready?: boolean }) => {
    if (m.ready) io.ready = true;
    if (m.out) io.out += m.out;
    if (m.err) io.err += m.err;
    if ('exit' in m) io.exit = m.exit;
  });
  return { h, io };
}

async function runOnHolder(t: import('ava').ExecutionContext, h: ChildProcess, io: { out: string; err: string; exit?: number | null }, port: number, payload: string) {
  io.out = '';
  io.err = '';
  io.exit = undefined;
  h.send({ start: ['echo', '--workers', '1', '--json', '--host', '0.0.0.0'] });
  t.true(await waitFor(() => io.out.includes('"event":"listening"'), 15000), io.err);
  t.regex(io.err, /serving inherited fd 3: --host ignored/);
  const r = await echoOnce(port, Buffer.from(payload));
  t.true(r.cleanClose, r.error);
  t.is(r.received, r.sent);
  h.send({ stop: true });
  t.true(await waitFor(() => io.exit !== undefined, 10000));
  t.is(io.exit as number | null | undefined, 0, io.err);
}

test('--fd 3: serves an inherited socket; stopping leaves it listening for its other holder, so a second server takes over', async (t) => {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  const fd = (srv as unknown as { _handle: { fd: number } })._handle.fd;
  const { h, io } = holder(fd);
  // only the holder keeps the socket now (closing ours does not shut it down)
  await new Promise((r) => srv.close(r));
  try {
    t.true(await waitFor(() => io.ready, 10000));
    await runOnHolder(t, h, io, port, 'first server');
    // with shutdown(2) on stop the socket would have stopped listening here
    await runOnHolder(t, h, io, port, 'second server');
  } finally {
    h.send({ quit: true });
    await new Promise((r) => (h.exitCode !== null ? r(null) : h.on('exit', r)));
  }
});

test('--fd that is not a listening TCP socket exits 2 naming --fd and why', async (t) => {
  // fd 0 is /dev/null (stdin ignored); fd 97 is not open
  const notSock = await runCli(['echo', '--workers', '1', '--fd', '0'], 20000);
  t.is(notSock.code, 2, notSock.stderr);
  t.regex(notSock.stderr, /--fd must be an inherited listening TCP socket \(fd 0 is not a socket\)/);
  const closed = await runCli(['echo', '--workers', '1', '--fd', '97'], 20000);
  t.is(closed.code, 2, closed.stderr);
  t.regex(closed.stderr, /--fd .*fd 97 is not an open file descriptor/);
  const bad = await runCli(['echo', '--fd', 'three'], 20000);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--fd/);
});

/** `systemd-socket-activate -l A -l B ... ringleader echo extra`, its output, and a kill that waits for exit. */
function activateTwo(a: number, b: number, extra: string[]) {
  const p = spawn('systemd-socket-activate', ['-l', `127.0.0.1:${a}`, '-l', `127.0.0.1:${b}`, process.execPath, CLI, 'echo', '--workers', '1', '--json', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const io = { out: '', err: '' };
  p.stdout.on('data', (d) => (io.out += d));
  p.stderr.on('data', (d) => (io.err += d));
  // 'exit', not 'close': after an upgrade the new process keeps the inherited stdout open
  const exited = new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
  const listening = () =>
    io.out
      .split('\n')
      .filter((l) => l.includes('"event":"listening"'))
      .map((l) => JSON.parse(l) as { pid: number; port: number; addresses: string[] });
  return { p, io, exited, listening };
}

/** Echo on each port, byte-exact: a small and a 256 KiB payload, `rounds` times. */
async function echoBoth(t: import('ava').ExecutionContext, ports: number[], rounds: number, timeoutMs = 20000) {
  for (let i = 0; i < rounds; i++) {
    for (const port of ports) {
      for (const payload of [Buffer.from(`round ${i} on ${port}`), randomPayload(256 * 1024, 256 * 1024)]) {
        const r = await echoOnce(port, payload, timeoutMs);
        t.true(r.cleanClose, `${port}: ${r.error}`);
        t.is(r.received, r.sent, `${port}: ${r.bytes} of ${payload.length} bytes`);
      }
    }
  }
}

test('systemd-socket-activate with two sockets: both are served byte-exact, the listening line names both, SIGUSR2 hands both to the new process', async (t) => {
  const [a, b] = [await freePort(), await freePort()];
  const { p, io, exited, listening } = activateTwo(a, b, ['--interval', '200ms', '--drain', '2s']);
  let newPid = 0;
  try {
    t.true(await waitFor(() => io.err.includes('Listening on'), 10000), io.err);
    // the first connection (on the second socket) makes systemd-socket-activate exec the server
    await echoBoth(t, [b], 1, 40000);
    t.true(await waitFor(() => listening().length === 1, 20000), io.err);
    t.regex(io.err, /socket activation: serving the inherited sockets \(fd 3, 4\)/);
    t.deepEqual(listening()[0].addresses, [`127.0.0.1:${a}`, `127.0.0.1:${b}`]);
    await echoBoth(t, [a, b], 3);
    // the upgrade: the new process serves both sockets, the old one exits 0
    p.kill('SIGUSR2');
    t.true(await waitFor(() => listening().length === 2, 20000), io.err);
    newPid = listening()[1].pid;
    t.not(newPid, p.pid);
    t.deepEqual(listening()[1].addresses, [`127.0.0.1:${a}`, `127.0.0.1:${b}`]);
    t.regex(io.err, /upgrade: serving the inherited sockets \(fd 3, 4\)/);
    t.is(await exited, 0, io.err);
    await echoBoth(t, [a, b], 2);
    process.kill(newPid, 'SIGTERM');
    t.true(await waitFor(() => io.out.split('\n').filter((l) => l.includes('"event":"closed"')).length === 2, 10000), io.out);
  } finally {
    p.kill('SIGKILL');
    killAll(newPid);
  }
});

test('systemd-socket-activate with two sockets and --fd 4: serves only that one', async (t) => {
  const [a, b] = [await freePort(), await freePort()];
  const { p, io, exited, listening } = activateTwo(a, b, ['--fd', '4']);
  try {
    t.true(await waitFor(() => io.err.includes('Listening on'), 10000), io.err);
    await echoBoth(t, [b], 1, 40000);
    t.true(await waitFor(() => listening().length === 1, 20000), io.err);
    t.deepEqual(listening()[0].addresses, [`127.0.0.1:${b}`]);
    p.kill('SIGTERM');
    t.is(await exited, 0, io.err);
  } finally {
    p.kill('SIGKILL');
  }
});

test('option fds: bad values throw naming the option, and a bad one of several names fds[i] with nothing adopted', async (t) => {
  t.throws(() => createServer({ fd: 3, fds: [4] }), { message: /"fd" conflicts with option "fds"/ });
  t.throws(() => createServer({ fds: [] }), { message: /"fds"/ });
  t.throws(() => createServer({ fds: [3, 3] }), { message: /"fds".*distinct/ });
  t.throws(() => createServer({ fds: [3, 4, 5, 6, 7, 8, 9, 10, 11] }), { message: /"fds".*at most 8/ });
  // a good socket first, then fd 0 (no listening TCP socket): refused before either is taken
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const fd = (srv as unknown as { _handle: { fd: number } })._handle.fd;
  try {
    const bad = createServer({ workers: 1, fds: [fd, 0] });
    await t.throwsAsync(bad.listen(), { message: /"fds\[1\]" must be an inherited listening TCP socket \(fd 0 is not / });
    // the good one was not taken over: it still serves its own server
    const { port } = srv.address() as net.AddressInfo;
    srv.once('connection', (c) => c.end('still mine'));
    const got = await new Promise<string>((resolve) => {
      let d = '';
      net
        .connect(port, '127.0.0.1')
        .on('data', (b) => (d += b))
        .on('close', () => resolve(d));
    });
    t.is(got, 'still mine');
  } finally {
    srv.close();
  }
});
