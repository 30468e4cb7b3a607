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
import { CLI, echoOnce, runCli, waitFor } from './helpers.js';
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

test('systemd-socket-activate with two sockets: exit 2 naming LISTEN_FDS (one listener per process), or --fd picks one', async (t) => {
  const [a, b] = [await freePort(), await freePort()];
  const run = (extra: string[]) =>
    new Promise<{ code: number | null; err: string }>((resolve) => {
      const p = spawn('systemd-socket-activate', ['-l', `127.0.0.1:${a}`, '-l', `127.0.0.1:${b}`, process.execPath, CLI, 'echo', '--workers', '1', '--json', ...extra], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      let out = '';
      p.stderr.on('data', (d) => (err += d));
      p.stdout.on('data', (d) => (out += d));
      p.on('close', (code) => resolve({ code, err }));
      // the first connection makes systemd-socket-activate exec the server
      const kick = async () => {
        if (!(await waitFor(() => err.includes('Listening on'), 10000))) return;
        const s = net.connect(a, '127.0.0.1');
        s.on('error', () => {});
        s.on('connect', () => s.write('x'));
        setTimeout(() => s.destroy(), 20000).unref();
        if (extra.length) {
          const r = await echoOnce(b, Buffer.from('on the second socket'), 30000);
          t.is(r.received, r.sent);
          // signals are handled once the listening line is out
          await waitFor(() => out.includes('"event":"listening"'), 10000);
          p.kill('SIGTERM');
        }
      };
      void kick();
      setTimeout(() => p.kill('SIGKILL'), 40000).unref();
    });
  const two = await run([]);
  t.is(two.code, 2, two.err);
  t.regex(two.err, /LISTEN_FDS=2.*serves one/);
  const picked = await run(['--fd', '4']);
  t.is(picked.code, 0, picked.err);
});
