import test from 'ava';
import { spawn } from 'node:child_process';
import { CLI, echoOnce, runCli } from './helpers.js';
import { fixture } from './js-helpers.js';
import { fileURLToPath } from 'node:url';

test('CLI: serve <module> serves the handler, reports JSON lines, drains on SIGTERM, exits 0', async (t) => {
  const p = spawn(process.execPath, [CLI, 'serve', 'examples/resp-ping', '--port', '0', '--workers', '2', '--json', '--interval', '200ms'], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  const killer = setTimeout(() => p.kill('SIGKILL'), 20000);
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const iv = setInterval(() => {
        const m = /"event":"listening"[^\n]*"port":(\d+)/.exec(out);
        if (m) {
          clearInterval(iv);
          resolve(Number(m[1]));
        }
        if (p.exitCode !== null) {
          clearInterval(iv);
          reject(new Error(`exited ${p.exitCode}: ${err}`));
        }
      }, 20);
    });
    const r = await echoOnce(port, Buffer.from('PING\r\n'), 5000).catch(() => null);
    // resp-ping answers PONG (not an echo): compare what came back by hand
    t.truthy(r);
    t.is(r!.bytes, '+PONG\r\n'.length);
    await new Promise((r2) => setTimeout(r2, 300));
    p.kill('SIGTERM');
    const code = await new Promise<number | null>((r2) => p.on('exit', (c) => r2(c)));
    t.is(code, 0, err);
    const closed = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((j) => j.event === 'closed');
    t.truthy(closed, out);
    t.is(closed.total.accepted, 1);
    t.is(closed.total.handlerErrors, 0);
  } finally {
    clearTimeout(killer);
    if (p.exitCode === null) p.kill('SIGKILL');
  }
});

test('CLI: serve with a missing module exits 2; with a broken one exits 1 naming it', async (t) => {
  const missing = await runCli(['serve', './no-such-handler.js', '--port', '0']);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /^ringleader: <module>: no handler module at .*no-such-handler\.js/);
  t.notRegex(missing.stderr, /\n\s+at /, 'no stack trace for a usage error');
  // a module of the wrong shape: what is wrong, without a stack through ringleader's loader
  const shape = await runCli(['serve', fileURLToPath(fixture('broken-nodefault.mjs')), '--port', '0', '--workers', '1']);
  t.is(shape.code, 1);
  t.regex(shape.stderr, /broken-nodefault\.mjs has no default export/);
  t.notRegex(shape.stderr, /\n\s+at /);
  // a flag only the built-in handlers use
  const held = await runCli(['serve', 'examples/http-hello', '--port', '0', '--max-buffers-held', '4']);
  t.is(held.code, 2);
  t.regex(held.stderr, /--max-buffers-held applies to the built-in echo and proxy, not to a handler module/);
  const broken = await runCli(['serve', fileURLToPath(fixture('broken-import.mjs')), '--port', '0', '--workers', '1']);
  t.is(broken.code, 1);
  t.regex(broken.stderr, /handler module .*broken-import\.mjs failed to load: Error: fixture: broken at import/);
  const help = await runCli(['serve', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /Usage: ringleader serve \[options\] <module>/);
  t.regex(help.stdout, /--max-buffered <bytes>/);
});
