import test from 'ava';
import { createServer, type Server } from '@ringleader/runtime';
import { sleep } from './helpers.js';
import { collect, connect, example, readUntil, runTool } from './js-helpers.js';

async function withServer<T>(module: string, fn: (port: number, server: Server) => Promise<T>): Promise<T> {
  const server = createServer({ port: 0, workers: 2, handler: example(module) });
  const { port } = await server.listen();
  try {
    return await fn(port, server);
  } finally {
    await server.close({ timeout: 500 });
  }
}

/** Send `chunks` (with a pause between them), collect everything until the server closes. */
async function exchange(port: number, chunks: string[], endAfter = false): Promise<{ text: string; ended: boolean }> {
  const s = await connect(port);
  const done = collect(s, 10000);
  for (const c of chunks) {
    s.write(c);
    await sleep(10);
  }
  if (endAfter) s.end();
  const r = await done;
  return { text: r.data.toString('latin1'), ended: r.ended };
}

const OK_BODY = 'Hello, World!';

test('http-hello: wrk, 20 keep-alive connections for 2 s, zero errors', async (t) => {
  await withServer('http-hello/handler.js', async (port, server) => {
    const r = await runTool('wrk', ['-t1', '-c20', '-d2s', `http://127.0.0.1:${port}/`], 30000);
    t.false(r.timedOut);
    t.is(r.code, 0, r.stderr);
    const out = r.stdout;
    t.notRegex(out, /Non-2xx or 3xx responses/, out);
    t.notRegex(out, /Socket errors/, out);
    const m = /(\d+) requests in/.exec(out);
    t.truthy(m, out);
    t.true(Number(m![1]) > 1000, out);
    t.regex(out, /Requests\/sec:\s+[\d.]+/);
    const st = server.stats();
    t.is(st.total.handlerErrors, 0);
    t.true(st.total.accepted >= 20);
  });
});

test('http-hello: keep-alive, pipelining, HEAD, bodies split across packets', async (t) => {
  await withServer('http-hello/handler.js', async (port) => {
    const req = (m: string, extra = '') => `${m} /x HTTP/1.1\r\nHost: a\r\n${extra}\r\n`;
    // three pipelined in one write, then a POST whose head and body arrive in pieces, then close
    const chunks = [req('GET') + req('GET', 'Accept: */*\r\n') + req('HEAD'), 'POST /form HTTP/1.1\r\nHost: a\r\nContent-Le', 'ngth: 11\r\n\r\nhello', ' world' + req('GET', 'Connection: close\r\n')];
    const r = await exchange(port, chunks);
    t.is(r.text.split('HTTP/1.1 200 OK').length - 1, 5, r.text);
    t.true(r.ended, 'closed after "Connection: close"');
    const parts = r.text.split('HTTP/1.1 200 OK').slice(1);
    t.true(parts[0].endsWith(`\r\n\r\n${OK_BODY}`));
    t.true(parts[1].endsWith(`\r\n\r\n${OK_BODY}`));
    t.true(parts[2].endsWith('\r\n\r\n'), 'HEAD: headers only');
    t.regex(parts[2], /Content-Length: 13\r\n/);
    t.true(parts[3].endsWith(`\r\n\r\n${OK_BODY}`));
    t.regex(parts[4], /Connection: close\r\n/);
    t.true(parts[4].endsWith(`\r\n\r\n${OK_BODY}`));
    t.regex(parts[0], /Date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT\r\n/);
  });
});

test('http-hello: HTTP/1.0 closes unless keep-alive; a slow client gets its answer', async (t) => {
  await withServer('http-hello/handler.js', async (port) => {
    const a = await exchange(port, ['GET / HTTP/1.0\r\n\r\n']);
    t.true(a.ended);
    t.regex(a.text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*Connection: close\r\n\r\nHello, World!$/);
    const s = await connect(port);
    const got = readUntil(s, (x) => x.endsWith(OK_BODY));
    s.write('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    t.regex(await got, /Connection: keep-alive\r\n/);
    // byte by byte
    const slow = readUntil(s, (x) => x.includes(OK_BODY));
    for (const ch of 'GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n') {
      s.write(ch);
      await sleep(1);
    }
    t.regex(await slow, /^HTTP\/1\.1 200 OK/);
    s.destroy();
  });
});

test('http-hello: malformed requests get 400 and a close; oversized heads 431; chunked bodies 501', async (t) => {
  await withServer('http-hello/handler.js', async (port, server) => {
    const bad = [
      'GARBAGE\r\n\r\n',
      'GET / HTTP/2.0\r\nHost: a\r\n\r\n',
      'GET / HTTP/1.1\r\n\r\n', // no Host
      'GET /a b HTTP/1.1\r\nHost: a\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    ];
    for (const req of bad) {
      const r = await exchange(port, [req]);
      t.regex(r.text, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*Connection: close\r\n\r\nBad Request\n$/, JSON.stringify(req));
      t.true(r.ended, JSON.stringify(req));
    }
    // a good request before the bad one is still answered
    const mixed = await exchange(port, ['GET / HTTP/1.1\r\nHost: a\r\n\r\nNOPE\r\n\r\n']);
    t.regex(mixed.text, /^HTTP\/1\.1 200 OK[\s\S]*Hello, World!HTTP\/1\.1 400 Bad Request/);
    const big = await exchange(port, [`GET / HTTP/1.1\r\nHost: a\r\nX: ${'y'.repeat(9000)}\r\n\r\n`]);
    t.regex(big.text, /^HTTP\/1\.1 431 /);
    const chunked = await exchange(port, ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n']);
    t.regex(chunked.text, /^HTTP\/1\.1 501 /);
    t.is(server.stats().total.handlerErrors, 0);
  });
});

test('resp-ping: redis-benchmark -t ping (plain and pipelined), zero errors', async (t) => {
  await withServer('resp-ping/handler.js', async (port, server) => {
    for (const extra of [[], ['-P', '16']]) {
      const r = await runTool('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '-t', 'ping', '-n', '20000', '-c', '20', '-q', ...extra], 60000);
      const out = (r.stdout + r.stderr).replace(/\r/g, '\n');
      t.false(r.timedOut);
      t.is(r.code, 0, out);
      t.notRegex(out, /error|warning/i, out);
      const inline = /PING_INLINE: ([\d.]+) requests per second/.exec(out);
      const mbulk = /PING_MBULK: ([\d.]+) requests per second/.exec(out);
      t.truthy(inline, out);
      t.truthy(mbulk, out);
      t.true(Number(inline![1]) > 0 && Number(mbulk![1]) > 0);
    }
    t.is(server.stats().total.handlerErrors, 0);
    t.is(server.stats().total.connErrors, 0);
  });
});

test('resp-ping: redis-cli PING, ECHO, unknown commands, wrong arity', async (t) => {
  await withServer('resp-ping/handler.js', async (port) => {
    const cli = (...args: string[]) => runTool('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], 10000);
    const ping = await cli('PING');
    t.is(ping.code, 0);
    t.is(ping.stdout, 'PONG\n');
    t.is((await cli('ping', 'hello there')).stdout, 'hello there\n');
    t.is((await cli('ECHO', 'hello world')).stdout, 'hello world\n');
    t.is((await cli('echo', '')).stdout, '\n');
    // (redis-cli prints an error reply followed by a blank line)
    t.is((await cli('SET', 'k', 'v')).stdout.trimEnd(), "ERR unknown command 'SET', with args beginning with: 'k' 'v'");
    t.is((await cli('echo')).stdout.trimEnd(), "ERR wrong number of arguments for 'echo' command");
    t.is((await cli('ping', 'a', 'b')).stdout.trimEnd(), "ERR wrong number of arguments for 'ping' command");
  });
});

test('resp-ping: pipelined requests split at every byte, inline commands, protocol errors', async (t) => {
  await withServer('resp-ping/handler.js', async (port) => {
    const reqs = '*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$5\r\nab\r\nc\r\nPING\r\necho  inline\r\n*2\r\n$4\r\nPING\r\n$0\r\n\r\n';
    const want = '+PONG\r\n$5\r\nab\r\nc\r\n+PONG\r\n$6\r\ninline\r\n$0\r\n\r\n';
    const s = await connect(port);
    const got = readUntil(s, (x) => x.length >= want.length, 10000);
    for (const ch of reqs) {
      s.write(ch);
      await sleep(0);
    }
    t.is(await got, want);
    // a large bulk string in many pieces
    const big = 'x'.repeat(300_000);
    const bigWant = `$${big.length}\r\n${big}\r\n`;
    const bigGot = readUntil(s, (x) => x.length >= bigWant.length, 10000);
    const msg = `*2\r\n$4\r\nECHO\r\n$${big.length}\r\n${big}\r\n`;
    for (let i = 0; i < msg.length; i += 7000) s.write(msg.slice(i, i + 7000));
    t.is(await bigGot, bigWant);
    s.destroy();
    const bad = await exchange(port, ['*1\r\n+PING\r\n']);
    t.is(bad.text, "-ERR Protocol error: expected '$', got '+'\r\n");
    t.true(bad.ended);
    const quit = await exchange(port, ['PING\r\nQUIT\r\nPING\r\n']);
    t.is(quit.text, '+PONG\r\n+OK\r\n');
    t.true(quit.ended);
  });
});
