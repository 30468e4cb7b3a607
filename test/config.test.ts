/**
 * `--config FILE` (JSON or YAML): the server flags from a file, flags on
 * the command line overriding it; every error names the file and the key
 * path and exits 2.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, echoOnce, runCli, waitFor } from './helpers.js';
import { freePort } from './ops-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'ops-config-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

test('a YAML config sets the flags (long names or camelCase, durations, sizes, lists); the command line overrides it', async (t) => {
  const cfg = file('echo.yaml', 'listen: 127.0.0.1:0\nworkers: 2\nweights: [3, 1]\ndrain: 2s\nmaxBuffered: 1MiB\njson: true\ninterval: 100ms\nlog-level: error\n');
  const p = spawn(process.execPath, [CLI, 'echo', '--config', cfg, '--weights', '1,1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => p.on('close', (c) => r(c)));
  try {
    t.true(await waitFor(() => out.includes('"event":"listening"'), 20000), err);
    const listening = JSON.parse(out.split('\n').find((l) => l.includes('"event":"listening"'))!);
    t.is(listening.workers, 2, 'workers from the file');
    t.is(listening.placement, 'weighted', 'weights imply weighted placement');
    for (let i = 0; i < 4; i++) {
      const r = await echoOnce(listening.port, Buffer.from('configured'));
      t.is(r.received, r.sent);
    }
    // --weights 1,1 on the command line beats the file's [3, 1]: 2 and 2, not 3 and 1
    const perWorker = () =>
      JSON.parse(
        out
          .split('\n')
          .filter((l) => l.includes('"event":"stats"'))
          .at(-1) ?? '{"workers":[]}',
      ).workers.map((w: { accepted: number }) => w.accepted);
    t.true(await waitFor(() => perWorker().reduce((a: number, n: number) => a + n, 0) === 4, 5000));
    t.deepEqual(perWorker(), [2, 2]);
    p.kill('SIGTERM');
    t.is(await exited, 0, err);
    t.is(err, '', 'log-level error from the file: no drain notice');
  } finally {
    p.kill('SIGKILL');
  }
});

test('command line beats the file for a scalar; JSON configs work', async (t) => {
  const cfg = file('w.json', JSON.stringify({ listen: '127.0.0.1:0', workers: 3, json: true }));
  const p = spawn(process.execPath, [CLI, 'echo', '--config', cfg, '--workers', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  try {
    t.true(await waitFor(() => out.includes('"event":"listening"'), 20000));
    t.is(JSON.parse(out.split('\n').find((l) => l.includes('"event":"listening"'))!).workers, 1);
  } finally {
    p.kill('SIGKILL');
  }
});

test("--port on the command line replaces the port of the file's listen, whose host stays; --listen replaces both", async (t) => {
  const [a, b] = [await freePort(), await freePort()];
  const cfg = file('listen.yaml', `listen: 127.0.0.1:${a}\nworkers: 1\njson: true\n`);
  for (const [extra, port] of [
    [['--port', String(b)], b],
    [['--listen', `127.0.0.1:${b}`], b],
    [[], a],
  ] as const) {
    const p = spawn(process.execPath, [CLI, 'echo', '--config', cfg, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    try {
      t.true(await waitFor(() => out.includes('"event":"listening"'), 20000), `${extra.join(' ')}: ${err}`);
      const l = JSON.parse(out.split('\n').find((x) => x.includes('"event":"listening"'))!);
      t.deepEqual([l.address, l.port], ['127.0.0.1', port], extra.join(' '));
    } finally {
      p.kill('SIGKILL');
      await new Promise((r) => p.on('close', r));
    }
  }
});

test('config errors name the file and the key path and exit 2', async (t) => {
  const cases: [string[], RegExp][] = [
    [['echo', '--config', file('unknown.yaml', 'wrkers: 2\n')], /unknown\.yaml: wrkers: unknown key \(known: .*workers/],
    [['echo', '--config', file('type.json', '{"workers": "many"}')], /type\.json: workers: not an integer/],
    [['echo', '--config', file('bool.json', '{"json": "yes"}')], /bool\.json: json: must be true or false/],
    [['echo', '--config', file('choice.json', '{"placement": "sticky"}')], /choice\.json: placement: must be one of .*source-hash/],
    [['echo', '--config', file('dur.yaml', 'drain: soon\n')], /dur\.yaml: drain: /],
    [['proxy', '--config', file('up.json', '{"listen":"127.0.0.1:0","upstream":["127.0.0.1:1","127.0.0.1:2","nohost:x"]}')], /up\.json: upstream\[2\]: must be HOST:PORT with a numeric port/],
    [['echo', '--config', file('syntax.json', '{"workers": ')], /syntax\.json: not valid JSON/],
    [['echo', '--config', file('list.yaml', '- 1\n- 2\n')], /list\.yaml: must hold an object/],
    [['echo', '--config', join(dir, 'missing.yaml')], /missing\.yaml: cannot be read \(ENOENT\)/],
    // values that pass the flag's parser but not the server's own checks are named by their key too
    [['echo', '--config', file('listen.json', '{"listen": 5}')], /^ringleader: --config .*listen\.json: listen: must be HOST:PORT/],
    [['echo', '--config', file('admin.json', '{"admin": "127.0.0.1"}')], /^ringleader: --config .*admin\.json: admin: must be HOST:PORT/],
    [['echo', '--config', file('bufs.json', '{"buffers": 1000}')], /^ringleader: --config .*bufs\.json: buffers: must be a power of two/],
    [['echo', '--config', file('bsize.yaml', 'bufferSize: 1\n')], /^ringleader: --config .*bsize\.yaml: bufferSize: must be an integer from 64/],
    [['echo', '--config', file('both.yaml', 'listen: 127.0.0.1:0\nport: 7000\n')], /--listen replaces --host and --port/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args, 20000);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, re);
    t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
