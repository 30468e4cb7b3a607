/** Helpers of the operating suites (admin, socket activation, reuse-port, deploy). */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, waitFor } from './helpers.js';

export const FIXTURES = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));

/** A port the kernel picked and released (for tools that take no port 0). */
export async function freePort(): Promise<number> {
  // Below the kernel's ephemeral range (ip_local_port_range, 32768-60999 by
  // default): a port the kernel hands out for listen(0) or an outgoing
  // connection can be taken by another test between this check and the
  // caller's own listen. Ports down here are only ever bound by name.
  for (let i = 0; ; i++) {
    const port = 10000 + Math.floor(Math.random() * 22000);
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
    if (i > 50) throw new Error('no free port below the ephemeral range');
  }
}

/** A fake NOTIFY_SOCKET (test/fixtures/notify-recv.py): every datagram it received, in order. */
export async function notifySocket(path: string): Promise<{ got: string[]; close(): void }> {
  const p = spawn('python3', [join(FIXTURES, 'notify-recv.py'), path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const got: string[] = [];
  let buf = '';
  p.stdout.on('data', (d) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      got.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  });
  const failed = new Promise<Error>((r) => p.on('error', r));
  const ok = await Promise.race([waitFor(() => got[0] === 'BOUND', 10000), failed]);
  if (ok !== true) throw new Error(`fake notify socket did not start: ${ok instanceof Error ? ok.message : 'timeout'}; run \`sh scripts/setup.sh --test\``);
  got.shift();
  return { got, close: () => p.kill('SIGKILL') };
}

/** An echo upstream that counts its connections and keeps what it received (to tell upstreams apart). */
export interface TaggedUpstream {
  port: number;
  connections: number;
  received: string;
  close(): Promise<void>;
}

/** Start (or restart, on `port`) an echo upstream on loopback. */
export function taggedUpstream(port = 0): Promise<TaggedUpstream> {
  const socks = new Set<net.Socket>();
  const u = { port, connections: 0, received: '' } as TaggedUpstream;
  const srv = net.createServer((s) => {
    u.connections++;
    socks.add(s);
    s.on('close', () => socks.delete(s));
    s.on('error', () => {});
    s.on('data', (d) => {
      u.received += d.toString('latin1');
      s.write(d);
    });
    s.on('end', () => s.end());
  });
  u.close = () =>
    new Promise((r) => {
      for (const s of socks) s.destroy();
      srv.close(() => r());
    });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => {
      u.port = (srv.address() as net.AddressInfo).port;
      resolve(u);
    });
  });
}

/** A CLI server process started with --json: its JSON lines as they come, and its stderr. */
export function jsonCli(args: string[]) {
  const p = spawn(process.execPath, [CLI, ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  const r = { p, lines, stderr: '', exited: new Promise<number | null>((res) => p.on('exit', (c) => res(c))) };
  let buf = '';
  p.stdout.on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      lines.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  });
  p.stderr.on('data', (d) => (r.stderr += d));
  return {
    p,
    lines,
    exited: r.exited,
    /** what it wrote to stderr so far */
    get stderr(): string {
      return r.stderr;
    },
    /** the `n`th line of this event (0 first), waiting for it up to `ms` */
    async line(event: string, ms = 20000, n = 0): Promise<Record<string, unknown>> {
      const find = () => lines.filter((l) => l.event === event)[n];
      if (!(await waitFor(() => find() !== undefined, ms))) throw new Error(`no ${event} line #${n} within ${ms} ms; stderr: ${r.stderr}`);
      return find();
    },
  };
}

/** A handler module that answers each line with "VERSION:line". */
export function writeHandler(path: string, version: string, broken = false): void {
  writeFileSync(path, broken ? 'export default {{{ this is not JavaScript\n' : `export default {\n  onData(conn, data) { conn.write(${JSON.stringify(`${version}:`)} + data.toString()); },\n};\n`);
}

/** One connection: send "ping N\\n", expect "VERSION:ping N\\n", close. Resolves with the version, or throws. */
export function ask(port: number, n: number, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const fail = (e: Error) => {
      s.destroy();
      reject(e);
    };
    s.setTimeout(timeoutMs, () => fail(new Error(`connection ${n}: no answer within ${timeoutMs} ms`)));
    s.on('error', (e) => fail(new Error(`connection ${n}: ${e.message}`)));
    s.on('data', (d) => {
      got += d;
      if (!got.endsWith('\n')) return;
      const m = /^(v\d+):ping (\d+)\n$/.exec(got);
      if (!m || Number(m[2]) !== n) return fail(new Error(`connection ${n}: wrong answer ${JSON.stringify(got)}`));
      s.end();
      resolve(m[1]);
    });
    s.on('close', () => {
      if (!got.endsWith('\n')) fail(new Error(`connection ${n}: closed after ${JSON.stringify(got)}`));
    });
    s.write(`ping ${n}\n`);
  });
}

/** Churn: `parallel` loops of ask() until stop() (bounded by maxMs); counts answers by version and failures. */
export function churn(port: number, parallel: number, maxMs: number) {
  const versions = new Map<string, number>();
  const failures: string[] = [];
  let n = 0;
  let running = true;
  const until = Date.now() + maxMs;
  const loops = Array.from({ length: parallel }, async () => {
    while (running && Date.now() < until) {
      const i = n++;
      try {
        const v = await ask(port, i);
        versions.set(v, (versions.get(v) ?? 0) + 1);
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
  });
  return {
    versions,
    failures,
    count: () => n,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
