/**
 * Option handling of the stress request modes (HTTP/1.1, Redis, custom):
 * pure functions, no sockets and no rings. Every bad input must be a
 * TypeError or RangeError that names the option (or both options, for a
 * conflict), which `ringleader stress` turns into exit code 2.
 */
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  REDIS_TESTS,
  REQUEST_OPTIONS,
  parseBytes,
  parseExpectStatus,
  parseHeader,
  parseTests,
  parseUrlTarget,
  resolveProtocol,
  splitCommand,
  statusExpected,
  threadsOrTests,
  type ProtocolOptions,
} from '@ringleader/runtime/internal';

const dir = mkdtempSync(join(tmpdir(), 'rl-proto-'));

/** resolveProtocol must throw `type` with a message matching every pattern */
function fails(t: import('ava').ExecutionContext, o: ProtocolOptions, type: typeof TypeError | typeof RangeError, ...res: RegExp[]) {
  const e = t.throws(() => resolveProtocol(o), { instanceOf: type }, JSON.stringify(o));
  for (const re of res) t.regex(e?.message ?? '', re, JSON.stringify(o));
}

test('URL targets: scheme, default ports, path and query, IPv6, Host field', (t) => {
  t.deepEqual(parseUrlTarget('targets', 'http://127.0.0.1:8080/a/b?x=1&y=2#frag'), {
    scheme: 'http',
    host: '127.0.0.1',
    port: 8080,
    path: '/a/b?x=1&y=2',
    hostHeader: '127.0.0.1:8080',
  });
  t.deepEqual(parseUrlTarget('targets', 'http://example.com'), {
    scheme: 'http',
    host: 'example.com',
    port: 80,
    path: '/',
    hostHeader: 'example.com',
  });
  t.deepEqual(parseUrlTarget('targets', 'http://[::1]:9000/x'), {
    scheme: 'http',
    host: '::1',
    port: 9000,
    path: '/x',
    hostHeader: '[::1]:9000',
  });
  t.deepEqual(parseUrlTarget('targets', 'redis://127.0.0.1'), {
    scheme: 'redis',
    host: '127.0.0.1',
    port: 6379,
    path: '/',
    hostHeader: '127.0.0.1',
  });
  t.is(parseUrlTarget('targets', 'redis://localhost:6380/').port, 6380);
  // the path is sent as written, as wrk sends it: dot segments and escapes are the server's to read
  t.is(parseUrlTarget('targets', 'http://127.0.0.1:8080/a/../b').path, '/a/../b');
  t.is(parseUrlTarget('targets', 'http://127.0.0.1:8080/a/./c/%2e%2e/d?q=%41').path, '/a/./c/%2e%2e/d?q=%41');
  t.is(parseUrlTarget('targets', 'http://127.0.0.1:8080?x=1').path, '/?x=1');
  t.is(parseUrlTarget('targets', 'http://[::1]:9000#top').path, '/');
  // what cannot go on the wire as it is gets percent-encoded
  t.is(parseUrlTarget('targets', 'http://127.0.0.1/caf\u00e9 x').path, '/caf%C3%A9%20x');
});

test('URL targets: malformed URLs and unknown schemes name the option', (t) => {
  const bad: [string, RegExp][] = [
    ['http://', /a URL such as/],
    ['http://:80/', /a URL such as|with a host/],
    ['https://127.0.0.1/', /TLS is not supported/],
    ['ftp://127.0.0.1/', /unknown scheme "ftp"/],
    ['gopher://x', /unknown scheme "gopher"/],
    ['http://user:pw@127.0.0.1/', /without user or password/],
    ['redis://127.0.0.1:6379/2', /database selection is not supported/],
    ['http://127.0.0.1:0/', /port from 1 to 65535/],
    ['http://127.0.0.1:70000/', /a URL such as/],
  ];
  for (const [url, re] of bad) {
    const e = t.throws(() => resolveProtocol({ targets: url }), { instanceOf: RangeError }, url);
    t.regex(e?.message ?? '', /^option "targets" /, url);
    t.regex(e?.message ?? '', re, url);
  }
  fails(t, { targets: 'http://127.0.0.1:1/,redis://127.0.0.1:2' }, RangeError, /"targets"/, /one scheme/);
  fails(t, { targets: 42 as unknown as string }, TypeError, /"targets"/);
});

test('HTTP: a URL implies the mode; several URLs spread; HOST:PORT with mode http asks for /', (t) => {
  const r = resolveProtocol({ targets: 'http://127.0.0.1:8080/a,http://127.0.0.1:8081/b' });
  t.is(r?.mode, 'http');
  t.deepEqual(
    r?.targets.map((x) => [x.port, x.path]),
    [
      [8080, '/a'],
      [8081, '/b'],
    ],
  );
  if (r?.mode !== 'http') return;
  t.deepEqual(r.http, { method: 'GET', head: false, headers: [], body: null, expectStatus: [[200, 299]] });
  const h = resolveProtocol({ targets: ['127.0.0.1:8080', '[::1]:8081'], mode: 'http', method: 'HEAD' });
  t.deepEqual(
    h?.targets.map((x) => [x.host, x.path, x.hostHeader]),
    [
      ['127.0.0.1', '/', '127.0.0.1:8080'],
      ['::1', '/', '[::1]:8081'],
    ],
  );
  t.true(h?.mode === 'http' && h.http.head);
  // an HTTP option alone makes a HOST:PORT run an HTTP run
  t.is(resolveProtocol({ targets: '127.0.0.1:8080', headers: 'Accept: */*' })?.mode, 'http');
});

test('HTTP: headers, method and body', (t) => {
  const r = resolveProtocol({
    targets: 'http://127.0.0.1:8080/',
    headers: ['Accept: */*', 'X-Token:abc  ', 'X-Empty:', 'X-Utf8: café'],
    method: 'POST',
    body: '{"a": "\\n"}',
  });
  t.true(r?.mode === 'http');
  if (r?.mode !== 'http') return;
  t.deepEqual(r.http.headers, [
    ['Accept', '*/*'],
    ['X-Token', 'abc'],
    ['X-Empty', ''],
    ['X-Utf8', 'café'],
  ]);
  t.is(r.http.method, 'POST');
  t.is(r.http.body?.toString(), '{"a": "\\n"}'); // a body is sent as given: no escapes
  const file = join(dir, 'body.bin');
  writeFileSync(file, Buffer.from([0, 1, 2, 255]));
  const f = resolveProtocol({ targets: 'http://127.0.0.1:8080/', bodyFile: file });
  t.deepEqual(f?.mode === 'http' ? [...(f.http.body ?? [])] : null, [0, 1, 2, 255]);
});

test('HTTP: bad header syntax, method or body is an error naming the option', (t) => {
  const badHeaders = ['NoColon', ': value', 'Bad Name: x', 'X: a\r\nInjected: 1', 'X: a\u0000', 'Content-Length: 5', 'transfer-encoding: chunked'];
  for (const h of badHeaders) {
    const e = t.throws(() => parseHeader('headers[0]', h), { instanceOf: RangeError }, h);
    t.regex(e?.message ?? '', /^option "headers\[0\]" /, h);
  }
  fails(t, { targets: 'http://127.0.0.1:1/', headers: ['A: 1', 'B'] }, RangeError, /"headers\[1\]"/);
  fails(t, { targets: 'http://127.0.0.1:1/', headers: ['Host: a', 'X: 1', 'host: b'] }, RangeError, /"headers\[2\]" must be a header other than a second Host/);
  fails(t, { targets: 'http://127.0.0.1:1/', method: 'G T' }, RangeError, /"method"/);
  fails(t, { targets: 'http://127.0.0.1:1/', method: '' }, RangeError, /"method"/);
  fails(t, { targets: 'http://127.0.0.1:1/', body: 'a', bodyFile: '/x' }, RangeError, /"body" conflicts with option "bodyFile"/);
  fails(t, { targets: 'http://127.0.0.1:1/', bodyFile: join(dir, 'missing') }, RangeError, /"bodyFile"/, /ENOENT/);
});

test('HTTP: --expect-status classes, codes, ranges and lists', (t) => {
  t.deepEqual(parseExpectStatus('expectStatus', undefined), [[200, 299]]);
  const r = parseExpectStatus('expectStatus', '2xx, 301,404-410');
  t.deepEqual(r, [
    [200, 299],
    [301, 301],
    [404, 410],
  ]);
  t.true(statusExpected(r, 204));
  t.true(statusExpected(r, 301));
  t.true(statusExpected(r, 410));
  t.false(statusExpected(r, 302));
  t.false(statusExpected(r, 500));
  for (const bad of ['', '700', '2xx-3xx', '6xx', '299-200', '20', 'abc', '200,']) {
    const e = t.throws(() => parseExpectStatus('expectStatus', bad), { instanceOf: RangeError }, bad);
    t.regex(e?.message ?? '', /"expectStatus"/);
  }
});

test('Redis: a redis:// target with redis-benchmark tests', (t) => {
  const r = resolveProtocol({ targets: 'redis://127.0.0.1:6379', tests: 'ping,SET,get,lrange' });
  t.is(r?.mode, 'redis');
  if (r?.mode !== 'redis') return;
  t.deepEqual(
    r.redis.commands.map((c) => c.name),
    ['ping_inline', 'ping_mbulk', 'set', 'get', 'lrange_100', 'lrange_300', 'lrange_500', 'lrange_600'],
  );
  t.is(r.redis.commands[0].inline?.toString(), 'PING\r\n');
  t.deepEqual(r.redis.commands[2].args?.map(String), ['SET', 'key:__rand_int__', '__data__']);
  t.deepEqual(r.redis.commands[2].expect, ['simple']);
  t.is(r.redis.commands[2].word, 'OK');
  t.deepEqual(r.redis.commands[3].expect, ['bulk', 'null-bulk']);
  t.deepEqual(r.redis.commands[4].args?.map(String), ['LRANGE', 'mylist', '0', '99']);
  t.is(r.redis.keyspace, 1);
  t.is(r.redis.dataSize, 3);
  // every test's arguments pass the placeholder check the --command path applies
  for (const name of Object.keys(REDIS_TESTS)) t.is(parseTests('tests', name).length, 1, name);
  t.is(REDIS_TESTS.mset.args?.length, 21);
  // no command and no tests: PING
  const d = resolveProtocol({ targets: 'redis://127.0.0.1' });
  t.deepEqual(d?.mode === 'redis' ? d.redis.commands.map((c) => c.name) : null, ['ping_mbulk']);
});

test('Redis: command templates split like redis-cli, placeholders checked', (t) => {
  t.deepEqual(splitCommand('command', '  SET  key:__rand__   __data__ ').map(String), ['SET', 'key:__rand__', '__data__']);
  t.deepEqual(splitCommand('command', `SET "a b\\n\\x41" 'a\\b'`).map(String), ['SET', 'a b\nA', 'a\\b']);
  t.deepEqual(splitCommand('command', `ECHO 'don\\'t' ""`).map(String), ['ECHO', "don't", '']);
  t.deepEqual([...splitCommand('command', 'SET k "\\x00\\xff"')[2]], [0, 255]);
  for (const bad of ['SET "open', "SET 'open", 'SET "a"b', "SET 'it''s'", '   ']) {
    t.throws(() => splitCommand('command', bad), { instanceOf: RangeError, message: /"command"/ }, bad);
  }
  const r = resolveProtocol({ targets: 'redis://127.0.0.1', command: ['set k:__rand_int__ __data__', 'GET k:__rand__', 'PING', 'PING hi', 'MSET a 1', 'FOO x'], keyspace: 100000, dataSize: 64 });
  t.true(r?.mode === 'redis');
  if (r?.mode !== 'redis') return;
  // the replies Redis documents for known commands (SET ... GET answers a bulk string); others: errors only
  t.deepEqual(
    r.redis.commands.map((c) => [c.name, c.expect, c.word]),
    [
      ['SET', ['simple', 'bulk', 'null-bulk'], null],
      ['GET', ['bulk', 'null-bulk'], null],
      ['PING', ['simple'], 'PONG'],
      ['PING', ['bulk'], null],
      ['MSET', ['simple'], 'OK'],
      ['FOO', null, null],
    ],
  );
  t.is(r.redis.tests, null);
  t.is(r.redis.keyspace, 100000);
  t.is(r.redis.dataSize, 64);
  fails(t, { targets: 'redis://127.0.0.1', command: 'SET key:__rnd__ x' }, RangeError, /"command"/, /__rnd__/);
  fails(t, { targets: 'redis://127.0.0.1', command: 'SET a "b' }, RangeError, /"command"/);
});

test('Redis: bad tests, key space, data size, and commands with tests', (t) => {
  fails(t, { targets: 'redis://127.0.0.1', tests: 'ping,flushall' }, RangeError, /"tests"/, /flushall/);
  fails(t, { targets: 'redis://127.0.0.1', tests: 'ping,,get' }, RangeError, /"tests"/);
  fails(t, { targets: 'redis://127.0.0.1', tests: 'get', command: 'GET x' }, RangeError, /"command" conflicts with option "tests"/);
  fails(t, { targets: 'redis://127.0.0.1', keyspace: 0 }, RangeError, /"keyspace"/);
  fails(t, { targets: 'redis://127.0.0.1', keyspace: 1e12 + 1 }, RangeError, /"keyspace"/);
  fails(t, { targets: 'redis://127.0.0.1', dataSize: -1 }, RangeError, /"dataSize"/);
  fails(t, { targets: 'redis://127.0.0.1', dataSize: 2 ** 30 }, RangeError, /"dataSize"/);
  // -t: a number is wrk's threads, a list redis-benchmark's tests
  t.deepEqual(threadsOrTests('4'), { threads: 4 });
  t.deepEqual(threadsOrTests('ping,set'), { tests: 'ping,set' });
});

test('custom: --send as text with escapes, hex or a file; placeholders', (t) => {
  t.deepEqual(parseBytes('send', 'GET {seq}\\r\\n'), { bytes: Buffer.from('GET {seq}\r\n'), text: true });
  t.deepEqual([...parseBytes('send', 'a\\x00\\xff\\\\\\t\\0').bytes], [97, 0, 255, 92, 9, 0]);
  t.deepEqual(parseBytes('send', 'hex:00 ff:10'), { bytes: Buffer.from([0, 255, 16]), text: false });
  const file = join(dir, 'req.bin');
  writeFileSync(file, '{"id": {seq}, "x": {unknown}}');
  t.deepEqual(parseBytes('send', `@${file}`), { bytes: Buffer.from('{"id": {seq}, "x": {unknown}}'), text: false });
  for (const bad of ['', 'hex:abc', 'hex:zz', 'a\\q', 'a\\x4', `@${join(dir, 'missing')}`]) {
    t.throws(() => parseBytes('send', bad), { message: /"send"/ }, bad);
  }
  const r = resolveProtocol({ targets: '127.0.0.1:9000', send: 'PING {conn} {seq}\\n', expectDelimiter: '\\n' });
  t.deepEqual(r?.mode === 'custom' ? r.custom : null, {
    send: Buffer.from('PING {conn} {seq}\n'),
    framing: { kind: 'delimiter', delimiter: Buffer.from('\n'), maxFrame: 16 << 20 },
    expect: null,
  });
  // a typo in a typed template is caught; braces in a file are the file's business
  fails(t, { targets: '127.0.0.1:9000', send: 'x {sequence}', expectBytes: 1 }, RangeError, /"send"/, /\{sequence\}/);
  t.is(resolveProtocol({ targets: '127.0.0.1:9000', send: `@${file}`, expectBytes: 2 })?.mode, 'custom');
});

test('custom: framing by bytes, delimiter, length prefix, or the expected response', (t) => {
  const base = { targets: '127.0.0.1:9000', send: 'x' };
  const framing = (o: Partial<ProtocolOptions>) => {
    const r = resolveProtocol({ ...base, ...o });
    return r?.mode === 'custom' ? [r.custom.framing, r.custom.expect] : null;
  };
  t.deepEqual(framing({ expectBytes: 64 }), [{ kind: 'bytes', bytes: 64 }, null]);
  t.deepEqual(framing({ expect: '+PONG\\r\\n' }), [{ kind: 'bytes', bytes: 7 }, Buffer.from('+PONG\r\n')]);
  t.deepEqual(framing({ expectDelimiter: 'hex:0d0a0d0a', maxFrame: 4096 }), [{ kind: 'delimiter', delimiter: Buffer.from('\r\n\r\n'), maxFrame: 4096 }, null]);
  t.deepEqual(framing({ lengthPrefix: 'u16le', lengthIncludesPrefix: true }), [{ kind: 'prefix', prefix: 'u16le', inclusive: true, maxFrame: 16 << 20 }, null]);
  t.deepEqual(framing({ lengthPrefix: 'u32be', expect: 'hex:00000002 6f6b' }), [{ kind: 'prefix', prefix: 'u32be', inclusive: false, maxFrame: 16 << 20 }, Buffer.from([0, 0, 0, 2, 0x6f, 0x6b])]);
  t.deepEqual(framing({ expectDelimiter: '\\n', expect: 'OK\\n' })?.[1], Buffer.from('OK\n'));
});

test('custom: conflicting or inconsistent framing options name both options', (t) => {
  const base = { targets: '127.0.0.1:9000', send: 'x' };
  fails(t, { ...base, expectBytes: 4, expectDelimiter: '\\n' }, RangeError, /"expectBytes" conflicts with option "expectDelimiter"/);
  fails(t, { ...base, expectBytes: 4, lengthPrefix: 'u8' }, RangeError, /"expectBytes" conflicts with option "lengthPrefix"/);
  fails(t, { ...base, expectDelimiter: '\\n', lengthPrefix: 'u8' }, RangeError, /"expectDelimiter" conflicts with option "lengthPrefix"/);
  fails(t, { ...base, expectBytes: 4, expect: 'abc' }, RangeError, /"expect" conflicts with option "expectBytes"/);
  fails(t, { ...base, expectDelimiter: '\\n', expect: 'a\\nb\\n' }, RangeError, /"expect" conflicts with option "expectDelimiter"/);
  fails(t, { ...base, expectDelimiter: '\\n', expect: 'ab' }, RangeError, /"expect" conflicts with option "expectDelimiter"/);
  fails(t, { ...base, lengthPrefix: 'u8', expect: 'hex:0561' }, RangeError, /"expect" conflicts with option "lengthPrefix"/);
  fails(t, { ...base, expectDelimiter: '\\n', maxFrame: 2, expect: 'ok\\n' }, RangeError, /"expect" conflicts with option "maxFrame"/);
  fails(t, { ...base, lengthIncludesPrefix: true, expectBytes: 1 }, RangeError, /"lengthIncludesPrefix"/, /"lengthPrefix"/);
  fails(t, { ...base, maxFrame: 100, expectBytes: 1 }, RangeError, /"maxFrame"/);
  fails(t, { ...base, lengthPrefix: 'u24' }, RangeError, /"lengthPrefix"/);
  fails(t, { ...base, expectDelimiter: '0123456789abcdefg' }, RangeError, /"expectDelimiter"/);
  fails(t, { ...base, expectBytes: 0 }, RangeError, /"expectBytes"/);
  fails(t, { ...base }, RangeError, /"send"/, /framing/);
  fails(t, { targets: '127.0.0.1:9000', mode: 'custom', expectBytes: 1 }, TypeError, /"send"/);
});

test('modes: options of another mode, contradicting targets, echo modes', (t) => {
  t.is(resolveProtocol({ targets: '127.0.0.1:7000' }), null);
  t.is(resolveProtocol({ targets: '127.0.0.1:7000', mode: 'churn' }), null);
  fails(t, { targets: 'http://127.0.0.1:1/', command: 'PING' }, RangeError, /"command"/, /http mode/);
  fails(t, { targets: 'redis://127.0.0.1', method: 'GET' }, RangeError, /"method"/, /redis mode/);
  fails(t, { targets: 'redis://127.0.0.1', send: 'x', expectBytes: 1 }, RangeError, /"send"|"expectBytes"/, /redis mode/);
  fails(t, { targets: '127.0.0.1:1', headers: 'A: b', send: 'x' }, RangeError, /"headers" conflicts with option "send"/);
  fails(t, { targets: 'http://127.0.0.1:1/', mode: 'redis' }, RangeError, /"mode" conflicts with option "targets"/);
  fails(t, { targets: 'http://127.0.0.1:1/', mode: 'echo' }, RangeError, /"mode" conflicts with option "targets"/);
  fails(t, { targets: '127.0.0.1:1', mode: 'bulk', send: 'x' }, RangeError, /"mode" conflicts with option "send"/);
  fails(t, { targets: 'http://127.0.0.1:1/', mode: 'custom', send: 'x', expectBytes: 1 }, RangeError, /"mode" conflicts with option "targets"/);
  fails(t, { targets: '127.0.0.1:1,http://127.0.0.1:2/', send: 'x', expectBytes: 1 }, RangeError, /"send"/, /http mode/);
  fails(t, { targets: 'not a target', method: 'GET' }, RangeError, /"targets"/);
});

test('every request option has a command-line flag for error messages', async (t) => {
  // the CLI's table of flags (packages/cli/src/util.ts), as the CLI uses it
  const util = (await import(new URL('../../packages/cli/dist/util.js', import.meta.url).href)) as { cliText(s: string): string };
  for (const o of REQUEST_OPTIONS) t.regex(util.cliText(`option "${o}" must be ...`), /^(--|-H|-t)[a-z-]* must be/, o);
});
