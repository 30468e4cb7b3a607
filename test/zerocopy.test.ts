/** Zero-copy sends: used above the threshold in echo mode, fallback when memlock forbids them. */
import test from 'ava';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { createServer } from '@ringleader/runtime';
import { CLI, echoOnce, randomPayload, waitFor } from './helpers.js';

/** echo `payload` over an open socket and resolve with what came back */
function echoOn(sock: net.Socket, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= payload.length) {
        sock.off('data', onData);
        resolve(Buffer.concat(chunks));
      }
    };
    sock.on('data', onData);
    sock.write(payload);
  });
}

test('echo mode sends large messages with send_zc; loopback copies every one, and the socket stops using it', async (t) => {
  const server = createServer({ workers: 1, port: 0, zcThreshold: 16384 });
  const { port } = await server.listen();
  const sock = net.connect(port, '127.0.0.1');
  try {
    await new Promise((r) => sock.on('connect', r));
    const first = randomPayload(4 << 20, 4 << 20); // 256 buffers of 16 KiB
    t.true((await echoOn(sock, first)).equals(first));
    const small = Buffer.from('tiny');
    t.true((await echoOn(sock, small)).equals(small));
    const z = server.stats().zeroCopy;
    t.true(z.enabled);
    t.is(z.threshold, 16384);
    t.true(z.sends > 0, 'full buffers went out with send_zc');
    t.true(await waitFor(() => server.stats().zeroCopy.copied === server.stats().zeroCopy.sends, 2000), 'every notification reported a copy');
    t.regex(server.stats().zeroCopy.note ?? '', /loopback/);
    // the socket learned that the kernel copies anyway: plain send from now on
    t.is(server.stats().zeroCopy.stoppedSockets, 1);
    const zcBefore = server.stats().zeroCopy.sends;
    const second = randomPayload(4 << 20, 4 << 20);
    t.true((await echoOn(sock, second)).equals(second));
    t.is(server.stats().zeroCopy.sends, zcBefore, 'no zc send on a socket that stopped');
  } finally {
    sock.destroy();
    await server.close({ timeout: 300 });
  }
});

test('zcThreshold 0 turns send_zc off', async (t) => {
  const server = createServer({ workers: 1, port: 0, zcThreshold: 0 });
  const { port } = await server.listen();
  try {
    const r = await echoOnce(port, randomPayload(1 << 20, 1 << 20));
    t.is(r.received, r.sent);
    t.is(server.stats().zeroCopy.sends, 0);
    t.false(server.stats().zeroCopy.enabled);
  } finally {
    await server.close({ timeout: 300 });
  }
});

test('memlock too small for registered buffers: plain send, once, with a warning', async (t) => {
  // root has CAP_IPC_LOCK and is never limited: run the server as nobody
  const asRoot = process.getuid?.() === 0;
  const cmd = asRoot ? ['--memlock=4194304:4194304', 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath] : ['--memlock=4194304:4194304', process.execPath];
  const child = spawn('prlimit', [...cmd, CLI, 'echo', '--port', '0', '--workers', '1', '--json', '--interval', '300ms'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  try {
    t.true(await waitFor(() => out.includes('"listening"'), 10000), err);
    const port = JSON.parse(out.split('\n').find((l) => l.includes('"event":"listening"'))!).port as number;
    const r = await echoOnce(port, randomPayload(1 << 20, 1 << 20));
    t.is(r.received, r.sent, 'data still flows over plain send');
    t.true(await waitFor(() => out.includes('send_zc unavailable'), 4000), out.slice(-500));
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const last = lines.filter((l) => l.event === 'stats').at(-1);
    t.false(last.zeroCopy.enabled);
    t.is(last.zeroCopy.fallbacks, 1);
    t.is(last.zeroCopy.error, 'ENOMEM');
    t.is(last.zeroCopy.sends, 0);
    const warnings = lines.filter((l) => l.event === 'warning' && l.code === 'ERR_ZEROCOPY_FALLBACK' && l.message.includes('send_zc unavailable'));
    t.is(warnings.length, 1, 'warned once');
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.on('close', r));
  }
});

test('proxy: a reset on one side resets the other, both ways', async (t) => {
  const upSockets: net.Socket[] = [];
  const upErrors: string[] = [];
  const upstream = net.createServer((s) => {
    upSockets.push(s);
    s.on('error', (e: NodeJS.ErrnoException) => upErrors.push(e.code ?? e.message));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const proxy = createServer({ handler: 'proxy', workers: 1, port: 0, upstreams: [`127.0.0.1:${(upstream.address() as net.AddressInfo).port}`] });
  const { port } = await proxy.listen();
  const connected = async () => {
    const n = upSockets.length;
    const c = net.connect(port, '127.0.0.1');
    const errs: string[] = [];
    c.on('error', (e: NodeJS.ErrnoException) => errs.push(e.code ?? e.message));
    await new Promise((r) => c.on('connect', r));
    c.write('hello');
    // wait for the proxy's dial (skip the start-up probe's connection)
    await waitFor(() => upSockets.length > n && upSockets[upSockets.length - 1].bytesRead > 0, 3000);
    return { c, errs, up: upSockets[upSockets.length - 1] };
  };
  try {
    // upstream resets -> the client sees a reset
    const a = await connected();
    a.up.resetAndDestroy();
    await new Promise((r) => a.c.on('close', r));
    t.deepEqual(a.errs, ['ECONNRESET']);
    // client resets -> the upstream sees a reset
    const b = await connected();
    const before = upErrors.length;
    b.c.resetAndDestroy();
    t.true(await waitFor(() => upErrors.length > before, 3000));
    t.is(upErrors[upErrors.length - 1], 'ECONNRESET');
    t.true(await waitFor(() => proxy.stats().workers[0].proxy!.resets === 2, 2000));
  } finally {
    await proxy.close({ timeout: 300 });
    upstream.close();
  }
});
