/**
 * Real servers for the stress request modes, started on loopback from the
 * Debian packages scripts/setup.sh --test installs (nginx-light,
 * redis-server), and misbehaving ones: tiny Node servers that answer
 * wrong. Every server is stopped by the caller (`stop()`), whatever happens.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ops-helpers.js';

export interface Peer {
  port: number;
  stop(): Promise<void>;
}

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'];
const REDIS = ['/usr/bin/redis-server', '/usr/sbin/redis-server'];

function which(paths: string[], pkg: string): string {
  const p = paths.find((x) => existsSync(x));
  if (!p) throw new Error(`${pkg} is not installed; run \`sh scripts/setup.sh --test\` (it installs nginx-light and redis-server)`);
  return p;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** start `cmd` until it listens on its port (a few ports tried); kill it on stop */
async function startListening(make: (port: number) => ChildProcess, what: string): Promise<Peer> {
  let lastErr = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    // nginx and redis cannot be asked for port 0 and tell us: a free port
    // below the ephemeral range (a random one in it was once held by another
    // test's client socket, and nginx's bind failed with EADDRINUSE)
    const port = await freePort();
    const p = make(port);
    let out = '';
    p.stdout?.on('data', (d) => (out += d));
    p.stderr?.on('data', (d) => (out += d));
    let exited = false;
    const gone = new Promise<void>((r) =>
      p.once('exit', () => {
        exited = true;
        r();
      }),
    );
    const deadline = Date.now() + 10_000;
    while (!exited && Date.now() < deadline) {
      if (await canConnect(port)) {
        return {
          port,
          stop: async () => {
            if (!exited) p.kill('SIGTERM');
            await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
            if (!exited) p.kill('SIGKILL');
          },
        };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!exited) p.kill('SIGKILL');
    lastErr = out;
  }
  throw new Error(`${what} did not start: ${lastErr.slice(-800)}`);
}

/**
 * nginx with a temp prefix, in the foreground, one process:
 *   /ok            200 "hello\n" (Content-Length)
 *   /fail          500
 *   /chunked.html  200, chunked (SSI makes the length unknown)
 *   /close         200 with Connection: close
 */
export async function startNginx(): Promise<Peer> {
  const bin = which(NGINX, 'nginx');
  const dir = mkdtempSync(join(tmpdir(), 'rl-nginx-'));
  mkdirSync(join(dir, 'www'));
  mkdirSync(join(dir, 'tmp'));
  writeFileSync(join(dir, 'www', 'chunked.html'), 'a<!--# echo var="uri" -->b\n');
  const peer = await startListening((port) => {
    const conf = `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp;
  proxy_temp_path ${dir}/tmp;
  fastcgi_temp_path ${dir}/tmp;
  uwsgi_temp_path ${dir}/tmp;
  scgi_temp_path ${dir}/tmp;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:${port};
    root ${dir}/www;
    location = /ok { return 200 "hello\\n"; }
    location = /fail { return 500 "boom\\n"; }
    location = /chunked.html { ssi on; }
    location = /close { keepalive_timeout 0; return 200 "bye\\n"; }
  }
}
`;
    writeFileSync(join(dir, 'nginx.conf'), conf);
    return spawn(bin, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  }, 'nginx');
  return {
    port: peer.port,
    stop: async () => {
      await peer.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** redis-server on loopback, no persistence */
export async function startRedis(): Promise<Peer> {
  const bin = which(REDIS, 'redis-server');
  const dir = mkdtempSync(join(tmpdir(), 'rl-redis-'));
  const peer = await startListening(
    (port) => spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] }),
    'redis-server',
  );
  return {
    port: peer.port,
    stop: async () => {
      await peer.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A misbehaving server: `answer` is called for every chunk a connection
 * receives, with that connection's number of chunks so far, and writes what
 * it wants (or closes). With `answer` null it accepts and never reads.
 */
export async function startBadServer(answer: ((sock: net.Socket, data: Buffer, n: number) => void) | null): Promise<Peer> {
  const socks = new Set<net.Socket>();
  const server = net.createServer((s) => {
    socks.add(s);
    let n = 0;
    if (answer) s.on('data', (d) => answer(s, d, n++));
    else s.pause();
    s.on('error', () => undefined);
    s.on('close', () => socks.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    stop: async () => {
      for (const s of socks) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** run fn with peer, stopping it afterwards */
export async function withPeer<T>(start: Promise<Peer>, fn: (port: number) => Promise<T>): Promise<T> {
  const p = await start;
  try {
    return await fn(p.port);
  } finally {
    await p.stop();
  }
}
