/**
 * `ringleader stress redis://...` end to end: against redis-server
 * (redis-benchmark's tests, command templates whose keys and values are
 * checked in the server afterwards, error replies) and examples/resp-ping,
 * and servers that answer wrong (a malformed reply, a reply of the wrong
 * kind, a close in the middle of a reply).
 */
import test from 'ava';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, runStress, type StressResult } from '@ringleader/runtime';
import { runCli } from './helpers.js';
import { example, runTool } from './js-helpers.js';
import { startBadServer, startRedis, withPeer } from './peers.js';

const base = { threads: 1, connections: 4, messages: 600 };
const failed = (r: StressResult) => r.failures.join('; ');

async function redisCli(port: number, ...args: string[]): Promise<string> {
  const r = await runTool('redis-cli', ['-p', String(port), ...args], 10_000);
  return r.stdout.trim();
}

test.serial('redis-server: redis-benchmark tests mixed, pipelined, every reply of the kind expected', async (t) => {
  await withPeer(startRedis(), async (port) => {
    const r = await runStress({ targets: `redis://127.0.0.1:${port}`, ...base, pipeline: 8, tests: 'ping,set,get,incr,lpush,lrange_100', keyspace: 1000 });
    t.true(r.ok, failed(r));
    t.is(r.mode, 'redis');
    t.is(r.responses?.total, 600);
    t.is(r.errors.total, 0);
    t.is(r.responses?.errorReplies, 0);
    t.is(r.responses?.unexpectedReplies, 0);
    t.true((r.throughput.requestsPerSec ?? 0) > 0);
    // 7 commands in turn (ping is ping_inline and ping_mbulk): LPUSH ran 600/7 times,
    // after the 600 elements pushed for LRANGE first
    const len = Number(await redisCli(port, 'LLEN', 'mylist'));
    t.true(len >= 680 && len <= 690, `LLEN ${len}`);
  });
});

test.serial('redis-server: a --command template writes keys from the key space with values of --data-size', async (t) => {
  await withPeer(startRedis(), async (port) => {
    const r = await runStress({ targets: `redis://127.0.0.1:${port}`, ...base, command: 'SET key:__rand__ __data__', keyspace: 10, dataSize: 100 });
    t.true(r.ok, failed(r));
    const keys = (await redisCli(port, 'KEYS', 'key:*')).split('\n').filter(Boolean);
    t.true(keys.length > 1 && keys.length <= 10, keys.join(','));
    for (const k of keys) {
      t.regex(k, /^key:\d{12}$/);
      t.true(Number(k.slice(4)) < 10);
      t.is(await redisCli(port, 'STRLEN', k), '100');
    }
  });
});

test.serial('redis-server: error replies fail the run (CLI exit 1) naming the reply, the connection and the request', async (t) => {
  await withPeer(startRedis(), async (port) => {
    const run = await runCli(['stress', `redis://127.0.0.1:${port}`, '-t', '1', '-c', '2', '-n', '40', '--command', 'NOSUCHCOMMAND x', '--json']);
    t.is(run.code, 1, run.stderr);
    const r = JSON.parse(run.stdout) as StressResult;
    t.is(r.errors.byCode['error reply'], 40);
    t.regex(failed(r), /first: connection [01], request \d+: error reply -ERR unknown command 'NOSUCHCOMMAND'/);
  });
});

test.serial('-t runs the tests one after another with a report each, as redis-benchmark does; --mix runs them together', async (t) => {
  await withPeer(startRedis(), async (port) => {
    const each = await runCli(['stress', `redis://127.0.0.1:${port}`, '-t', 'set,get', '-c', '4', '-n', '200', '--threads', '1', '--json']);
    t.is(each.code, 0, each.stderr);
    const lines = each.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as StressResult);
    t.is(lines.length, 2);
    for (const r of lines) t.is(r.responses?.total, 200);
    t.deepEqual(
      lines.map((r) => r.test),
      ['set', 'get'],
      'each result names its test',
    );
    t.is(await redisCli(port, 'EXISTS', 'key:000000000000'), '1', 'SET ran before GET');
    // CSV: one header line, a row per test; --hdr-out: a file per test
    const dir = mkdtempSync(join(tmpdir(), 'rl-tests-'));
    try {
      const csv = await runCli(['stress', `redis://127.0.0.1:${port}`, '-t', 'set,get', '-c', '4', '-n', '200', '--threads', '1', '--csv', '--hdr-out', join(dir, 'lat.hgrm')]);
      t.is(csv.code, 0, csv.stderr);
      const rows = csv.stdout.trim().split('\n');
      t.is(rows.length, 3, csv.stdout);
      t.regex(rows[0], /^mode,test,/);
      t.regex(rows[1], /^redis,set,/);
      t.regex(rows[2], /^redis,get,/);
      t.deepEqual(readdirSync(dir).sort(), ['lat.get.hgrm', 'lat.set.hgrm']);
      for (const f of readdirSync(dir)) t.regex(readFileSync(join(dir, f), 'utf8'), /#\[Mean +=\s+[\d.]+, StdDeviation +=\s+[\d.]+\]/, f);
      // merge adds each test to the same test of the other file
      writeFileSync(join(dir, 'a.json'), each.stdout);
      writeFileSync(join(dir, 'b.json'), each.stdout);
      const merged = await runCli(['stress', 'merge', join(dir, 'a.json'), join(dir, 'b.json'), '--json']);
      t.is(merged.code, 0, merged.stderr);
      const m = merged.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as StressResult);
      t.deepEqual(
        m.map((r) => [r.test, r.responses?.total, r.connectUs?.count]),
        [
          ['set', 400, 8],
          ['get', 400, 8],
        ],
      );
      writeFileSync(join(dir, 'c.json'), `${each.stdout.trim().split('\n')[0]}\n`);
      const odd = await runCli(['stress', 'merge', join(dir, 'a.json'), join(dir, 'c.json')]);
      t.is(odd.code, 2);
      t.regex(odd.stderr, /c\.json holds results of set, .*a\.json of set, get: only the same tests merge/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const table = await runCli(['stress', `redis://127.0.0.1:${port}`, '-t', 'set,get', '-c', '4', '-n', '200', '--threads', '1']);
    t.regex(table.stdout, /== SET ==[\s\S]*result: OK[\s\S]*== GET ==[\s\S]*result: OK/);
    const mixed = await runCli(['stress', `redis://127.0.0.1:${port}`, '-t', 'set,get', '--mix', '-c', '4', '-n', '200', '--threads', '1', '--json']);
    t.is(mixed.code, 0, mixed.stderr);
    t.is(mixed.stdout.trim().split('\n').length, 1);
    t.is((JSON.parse(mixed.stdout) as StressResult).responses?.total, 200);
  });
});

test.serial('lrange tests read a filled list: mylist gets 600 elements first, as redis-benchmark pushes them', async (t) => {
  await withPeer(startRedis(), async (port) => {
    const r = await runStress({ targets: `redis://127.0.0.1:${port}`, tests: 'lrange_100', threads: 1, connections: 2, messages: 100, dataSize: 8 });
    t.true(r.ok, failed(r));
    t.deepEqual(r.warnings, []);
    t.is(await redisCli(port, 'LLEN', 'mylist'), '600');
    // each reply is an array of 100 elements of 8 bytes ("$8\r\nxxxxxxxx\r\n", 14 bytes), not an empty one
    t.true(r.bytes.received >= 100 * 100 * 14, `${r.bytes.received} bytes received`);
    // a server that refuses LPUSH (the resp-ping example knows PING only): a warning, and the run reports its replies
    const ping = createServer({ port: 0, workers: 1, handler: example('resp-ping') });
    const { port: p2 } = await ping.listen();
    try {
      const bad = await runStress({ targets: `redis://127.0.0.1:${p2}`, tests: 'lrange_100', threads: 1, connections: 1, messages: 10 });
      t.false(bad.ok);
      t.regex(bad.warnings.join('\n'), /mylist could not be filled for LRANGE on redis:\/\/127\.0\.0\.1:\d+ \(LPUSH answered -ERR/);
      t.true(bad.errors.byCode['error reply'] > 0);
    } finally {
      await ping.close({ timeout: 500 });
    }
  });
});

test.serial('examples/resp-ping: -t ping pipelined', async (t) => {
  const server = createServer({ port: 0, workers: 1, handler: example('resp-ping/handler.js') });
  const { port } = await server.listen();
  try {
    const r = await runStress({ targets: `redis://127.0.0.1:${port}`, ...base, pipeline: 16, tests: 'ping' });
    t.true(r.ok, failed(r));
    t.is(r.responses?.total, 600);
  } finally {
    await server.close({ timeout: 500 });
  }
});

async function against(answer: Parameters<typeof startBadServer>[0]): Promise<StressResult> {
  return withPeer(startBadServer(answer), (port) => runStress({ targets: `redis://127.0.0.1:${port}`, threads: 1, connections: 2, duration: 400, warmup: 0, drain: 200, tests: 'ping_mbulk' }));
}

test('a malformed reply is a protocol error naming the connection and the request', async (t) => {
  const r = await against((s) => s.write('?what\r\n'));
  t.false(r.ok);
  t.true(r.responses!.protocolErrors.RESP_TYPE > 0);
  t.regex(failed(r), /connection [01], request 0, offset 0 of the response: unexpected RESP type byte \(RESP_TYPE\)/);
});

test('a reply of a kind the command does not expect is a wrong answer', async (t) => {
  const r = await against((s, d) => s.write(':1\r\n'.repeat(d.toString().split('*1').length - 1)));
  t.false(r.ok);
  t.true(r.responses!.unexpectedReplies > 0);
  t.true(r.errors.byCode['unexpected reply'] > 0);
  t.regex(failed(r), /request \d+: unexpected reply an integer \(:\)/);
});

test('--command replies are checked as Redis documents them (PING, SET, INCR); a command not known only for error replies', async (t) => {
  // a server that answers every command with an array
  const arrays = (s: import('node:net').Socket, d: Buffer) => s.write('*2\r\n$1\r\na\r\n:1\r\n'.repeat(d.toString().split(/(?:^|\n)\*/).length - 1));
  for (const [command, wrong] of [
    ['PING', true],
    ['SET k v', true],
    ['INCR k', true],
    ['LRANGE mylist 0 9', false],
    ['NOTACOMMAND x', false],
  ] as const) {
    const r = await withPeer(startBadServer(arrays), (port) => runStress({ targets: `redis://127.0.0.1:${port}`, threads: 1, connections: 2, duration: 300, warmup: 0, drain: 200, command: command }));
    t.true(r.responses!.total > 0, command);
    if (wrong) {
      t.false(r.ok, command);
      t.true(r.responses!.unexpectedReplies > 0, command);
      t.regex(failed(r), /unexpected reply an array \(\*\)/, command);
    } else {
      t.true(r.ok, `${command}: ${failed(r)}`);
    }
  }
});

test('a close in the middle of a reply is TRUNCATED', async (t) => {
  const r = await against((s) => {
    s.write('$10\r\nabc');
    s.destroy();
  });
  t.false(r.ok);
  t.true(r.responses!.protocolErrors.TRUNCATED > 0);
});
