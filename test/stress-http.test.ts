/**
 * `ringleader stress http://...` end to end: against nginx (a 200, a 500, a
 * chunked response, Connection: close), examples/http-hello, and servers
 * that answer wrong (a wrong status, a truncated body, a close in the middle
 * of a response, another protocol, no answer at all). A wrong answer fails
 * the run and names the connection and the request.
 */
import test from 'ava';
import { createServer, runStress, type StressResult } from '@ringleader/runtime';
import { runCli } from './helpers.js';
import { example } from './js-helpers.js';
import { startBadServer, startNginx, withPeer } from './peers.js';

const base = { threads: 1, connections: 4, messages: 400 };
const failed = (r: StressResult) => r.failures.join('; ');

test.serial('nginx: keep-alive with pipelining, a chunked body, Connection: close, several URLs', async (t) => {
  await withPeer(startNginx(), async (port) => {
    const url = (p: string) => `http://127.0.0.1:${port}${p}`;
    const r = await runStress({ targets: url('/ok'), ...base, pipeline: 4 });
    t.true(r.ok, failed(r));
    t.is(r.mode, 'http');
    t.is(r.responses?.total, 400);
    t.deepEqual(r.responses?.statuses, { 200: 400 });
    t.deepEqual(r.responses?.classes, { '2xx': 400 });
    t.is(r.errors.total, 0);
    t.true((r.throughput.requestsPerSec ?? 0) > 0);
    t.is(r.latencyUs?.count, 400);
    // "hello\n" behind nginx's head: every byte received was parsed
    t.true(r.bytes.received > 400 * 6);

    const c = await runStress({ targets: url('/chunked.html'), ...base, pipeline: 2 });
    t.true(c.ok, failed(c));
    t.deepEqual(c.responses?.statuses, { 200: 400 });

    // every response ends its socket: the connection dials again at once
    const k = await runStress({ targets: url('/close'), ...base });
    t.true(k.ok, failed(k));
    t.is(k.responses?.total, 400);
    t.true((k.responses?.serverCloses ?? 0) >= 396, `${k.responses?.serverCloses}`);
    t.true(k.connected.opened >= 397, `${k.connected.opened}`);
    t.is(k.responses?.reissued, 0, 'one request in flight: none left unanswered by a close');
    // pipelined behind a response that closes: the rest go again on the next socket, and say so
    const kp = await runStress({ targets: url('/close'), ...base, pipeline: 4 });
    t.true(kp.ok, failed(kp));
    t.is(kp.responses?.total, 400);
    t.true((kp.responses?.reissued ?? 0) > 0);
    t.true(kp.messages.sent > kp.responses!.total, 'sent counts the requests issued again');

    const m = await runStress({ targets: [url('/ok'), url('/chunked.html')], ...base });
    t.true(m.ok, failed(m));
    t.deepEqual(m.targets, [url('/ok'), url('/chunked.html')]);
  });
});

test.serial('nginx 500: the CLI exits 1 naming HTTP 500, a connection and a request; --expect-status 5xx accepts it', async (t) => {
  await withPeer(startNginx(), async (port) => {
    const url = `http://127.0.0.1:${port}/fail`;
    const bad = await runCli(['stress', url, '-t', '1', '-c', '2', '-n', '50', '--json']);
    t.is(bad.code, 1, bad.stderr);
    const r = JSON.parse(bad.stdout) as StressResult;
    t.is(r.errors.byCode['HTTP 500'], 50);
    t.regex(r.failures.join('\n'), /HTTP 500 50.*first: connection \d+, request \d+: HTTP 500/);
    const ok = await runCli(['stress', url, '-t', '1', '-c', '2', '-n', '50', '--expect-status', '5xx']);
    t.is(ok.code, 0, ok.stdout + ok.stderr);
    t.regex(ok.stdout, /responses +50 \(5xx 50\)/);
    t.regex(ok.stdout, /result: OK/);
  });
});

test.serial('wrk flags: -t is threads, -R an open-loop rate with latency from the schedule, -H and --method reach the server', async (t) => {
  const seen: string[] = [];
  await withPeer(
    startBadServer((s, d) => {
      seen.push(d.toString('latin1'));
      const n = d.toString('latin1').split('\r\n\r\n').length - 1;
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'.repeat(n));
    }),
    async (port) => {
      const run = await runCli(['stress', `http://127.0.0.1:${port}/x?y=1`, '-t2', '-c4', '-d', '1s', '--warmup', '0', '-R', '400', '-H', 'X-Test: yes', '--method', 'DELETE', '--json']);
      t.is(run.code, 0, run.stderr);
      const r = JSON.parse(run.stdout) as StressResult;
      t.is(r.threads, 2);
      t.is(r.rate, 400);
      // 400/s for 1 s on a schedule fixed in advance: never more than the schedule allows
      t.true(r.messages.sent <= 400 + 4, `sent ${r.messages.sent}`);
      t.true(r.messages.verified >= 300, `answered ${r.messages.verified}`);
      t.truthy(r.latencyUs);
    },
  );
  t.regex(seen[0], /^DELETE \/x\?y=1 HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\nX-Test: yes\r\n/);
});

test.serial('examples/http-hello: GET pipelined and HEAD (a response without a body)', async (t) => {
  const server = createServer({ port: 0, workers: 1, handler: example('http-hello') });
  const { port } = await server.listen();
  try {
    const url = `http://127.0.0.1:${port}/`;
    const g = await runStress({ targets: url, ...base, pipeline: 8 });
    t.true(g.ok, failed(g));
    t.deepEqual(g.responses?.statuses, { 200: 400 });
    const h = await runStress({ targets: url, ...base, method: 'HEAD' });
    t.true(h.ok, failed(h));
    t.is(h.responses?.total, 400);
    t.true(h.bytes.received < g.bytes.received, 'HEAD responses carry no body');
  } finally {
    await server.close({ timeout: 500 });
  }
});

const RESPONSE = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello';

/** run against a server that answers every request with `answer` for 400 ms */
async function against(answer: Parameters<typeof startBadServer>[0], extra: Record<string, unknown> = {}): Promise<StressResult> {
  return withPeer(startBadServer(answer), (port) => runStress({ targets: `http://127.0.0.1:${port}/`, threads: 1, connections: 2, duration: 400, warmup: 0, drain: 200, ...extra }));
}

test('a wrong status fails the run, naming the connection and the request', async (t) => {
  const r = await against((s) => s.write('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'));
  t.false(r.ok);
  t.true(r.errors.byCode['HTTP 404'] > 0);
  t.regex(failed(r), /first: connection [01], request \d+: HTTP 404/);
});

test('a truncated body and a close mid-response are protocol errors naming connection, request and offset', async (t) => {
  const truncated = await against((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
  t.false(truncated.ok);
  t.true(truncated.responses!.protocolErrors.TRUNCATED > 0);
  const m = truncated.verification.mismatches.find((x) => x.kind === 'protocol');
  t.is(m?.protocolError, 'TRUNCATED');
  // 39 bytes of head and 3 of the 10-byte body arrived
  t.is(m?.offset, 42);
  t.regex(failed(truncated), /connection [01], request 0, offset 42 of the response: connection closed in the middle of a response \(TRUNCATED\)/);

  const cut = await against((s) => {
    s.write('HTTP/1.1 200 O');
    s.destroy();
  });
  t.false(cut.ok);
  t.true(cut.errors.byCode.TRUNCATED > 0);
});

test('a server speaking another protocol: a clear protocol error at once, no hang', async (t) => {
  const r = await against((s) => s.write('+PONG\r\n'));
  t.false(r.ok);
  const names = Object.keys(r.responses!.protocolErrors);
  t.true(names.includes('HTTP_STATUS_LINE') || names.includes('HTTP_VERSION'), names.join(','));
  t.is(r.responses?.total, 0);
  t.regex(failed(r), /no response was received/);
});

test('a server that never answers: requests time out and the run stops instead of hanging', async (t) => {
  const t0 = Date.now();
  const r = await withPeer(
    startBadServer(() => undefined),
    (port) => runStress({ targets: `http://127.0.0.1:${port}/`, threads: 1, connections: 2, messages: 10, timeout: 300, drain: 100 }),
  );
  t.false(r.ok);
  t.true(r.responses!.timeouts >= 2);
  t.true(r.errors.byCode.ETIMEDOUT >= 2);
  t.regex(failed(r), /no response from .* within the timeout/);
  t.true(Date.now() - t0 < 10_000);
});

test('an answer nobody asked for ends the socket and counts as an error (answer to no request)', async (t) => {
  const r = await against((s) => s.write(RESPONSE + RESPONSE));
  t.false(r.ok);
  t.is(r.verification.failures, 0, 'a wrong answer, not an echo verification failure');
  t.true(r.responses!.extraAnswers > 0);
  t.is(r.errors.byCode['answer to no request'], r.responses!.extraAnswers);
  t.true(r.errors.total >= r.responses!.extraAnswers);
  t.true(r.verification.mismatches.some((m) => m.kind === 'extra'));
  // the table says so too: no "errors none" above a FAILED result
  const { formatResult } = (await import(new URL('../../packages/cli/dist/stress-format.js', import.meta.url).href)) as { formatResult(r: StressResult): string };
  const table = formatResult(r);
  t.regex(table, /errors +answer to no request \d+/);
  t.regex(table, /answers +WRONG: .*answers to no request/);
  t.regex(failed(r), /connection [01], request 1: the server sent an answer to a request that was never sent \(first byte 0x48\)/);
});

test('a 408 on a connection with nothing asked is the server closing an idle connection, not a wrong answer', async (t) => {
  // answers the first request on each connection, then times the idle connection out as HAProxy's timeout http-request does
  const r = await withPeer(
    startBadServer((s, _d, n) => {
      if (n === 0) s.write(RESPONSE);
      setTimeout(() => s.end('HTTP/1.1 408 Request Time-out\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'), 20);
    }),
    (port) => runStress({ targets: `http://127.0.0.1:${port}/`, threads: 1, connections: 2, rate: 10, duration: 1000, warmup: 0, drain: 200 }),
  );
  t.true(r.ok, failed(r));
  t.true(r.responses!.serverCloses > 0, JSON.stringify(r.responses));
  t.is(r.errors.total, 0);
});

test('with --messages, the stop at --max-errors is worded from the final counts', async (t) => {
  const r = await withPeer(
    startBadServer((s) => s.write('HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n')),
    (port) => runStress({ targets: `http://127.0.0.1:${port}/`, threads: 1, connections: 2, messages: 2000 }),
  );
  t.false(r.ok);
  const m = /stopped early: (\d+) error\(s\), more than the 0 allowed \(option "maxErrors"\), with (\d+) of 2000 requests done/.exec(failed(r));
  t.truthy(m, failed(r));
  t.is(Number(m![1]), r.errors.total);
  t.is(Number(m![2]), r.messages.verified);
});

test('a close with a request unanswered is an EOF error naming the connection and the request', async (t) => {
  const r = await against((s) => s.destroy());
  t.false(r.ok);
  t.true(r.errors.byCode.EOF > 0);
  t.regex(failed(r), /first: connection [01], request 0: the server closed the connection with the request unanswered/);
});
