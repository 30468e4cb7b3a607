/**
 * `ringleader stress HOST:PORT --send ...` (custom request/response) end to
 * end against small Node servers: each framing (a delimiter, a fixed length,
 * a length prefix), `{seq}`/`{conn}` as the server receives them, `--expect`
 * and a response that differs from it. Then bad input of every request mode
 * on the command line: exit 2, naming the flag.
 */
import test from 'ava';
import { runStress, type StressResult } from '@ringleader/runtime';
import { runCli } from './helpers.js';
import { startBadServer, withPeer } from './peers.js';

const base = { threads: 1, connections: 3, messages: 300 };
const failed = (r: StressResult) => r.failures.join('; ');

/** a server that splits what it receives at `sep` and answers each piece with reply(piece) */
function framedServer(sep: string, reply: (req: string) => Buffer | string, seen?: string[]) {
  const pending = new WeakMap<object, string>();
  return startBadServer((s, d) => {
    let buf = (pending.get(s) ?? '') + d.toString('latin1');
    let i: number;
    while ((i = buf.indexOf(sep)) >= 0) {
      const req = buf.slice(0, i);
      buf = buf.slice(i + sep.length);
      seen?.push(req);
      s.write(reply(req));
    }
    pending.set(s, buf);
  });
}

test('a delimiter framing, {seq} and {conn} rendered per request, --expect met', async (t) => {
  const seen: string[] = [];
  await withPeer(
    framedServer('\n', () => 'PONG\r\n', seen),
    async (port) => {
      const r = await runStress({ targets: `127.0.0.1:${port}`, ...base, pipeline: 4, send: 'PING {seq} c={conn}\\n', expectDelimiter: '\\r\\n', expect: 'PONG\\r\\n' });
      t.true(r.ok, failed(r));
      t.is(r.mode, 'custom');
      t.is(r.responses?.total, 300);
    },
  );
  // every connection numbered its requests 0, 1, 2, ... in order
  const byConn = new Map<string, number[]>();
  for (const line of seen) {
    const m = /^PING (\d+) c=(\d+)$/.exec(line);
    t.truthy(m, line);
    if (!m) continue;
    byConn.set(m[2], [...(byConn.get(m[2]) ?? []), Number(m[1])]);
  }
  t.deepEqual([...byConn.keys()].sort(), ['0', '1', '2']);
  for (const seqs of byConn.values())
    t.deepEqual(
      seqs,
      seqs.map((_, i) => i),
    );
});

test('fixed-length and length-prefixed responses (u32be, u16le including itself)', async (t) => {
  await withPeer(
    framedServer('\n', () => 'ABCDEFGH'),
    async (port) => {
      const r = await runStress({ targets: `127.0.0.1:${port}`, ...base, send: 'x\\n', expectBytes: 8 });
      t.true(r.ok, failed(r));
      t.is(r.bytes.received, 300 * 8);
    },
  );
  const prefixed = (n: number) => {
    const b = Buffer.alloc(4 + n, 0x61);
    b.writeUInt32BE(n, 0);
    return b;
  };
  const seen: string[] = [];
  await withPeer(
    framedServer('\n', (req) => prefixed(Number(req)), seen),
    async (port) => {
      const r = await runStress({ targets: `127.0.0.1:${port}`, ...base, pipeline: 3, send: '{seq}\\n', lengthPrefix: 'u32be' });
      t.true(r.ok, failed(r));
      // request seq got a seq-byte body behind its 4-byte prefix, and every byte was framed
      t.is(r.responses?.total, 300);
      t.is(
        r.bytes.received,
        seen.reduce((a, q) => a + 4 + Number(q), 0),
      );
    },
  );
  await withPeer(
    framedServer('\n', () => Buffer.from([5, 0, 0x68, 0x69, 0x21])),
    async (port) => {
      const r = await runStress({ targets: `127.0.0.1:${port}`, ...base, send: 'q\\n', lengthPrefix: 'u16le', lengthIncludesPrefix: true });
      t.true(r.ok, failed(r));
    },
  );
});

test('a response that differs from --expect fails the run, naming connection, request and offset', async (t) => {
  await withPeer(
    framedServer('\n', () => 'PANG\r\n'),
    async (port) => {
      const r = await runStress({ targets: `127.0.0.1:${port}`, threads: 1, connections: 2, duration: 300, warmup: 0, drain: 100, send: 'PING\\n', expect: 'PONG\\r\\n' });
      t.false(r.ok);
      t.true(r.responses!.protocolErrors.MISMATCH > 0);
      t.regex(failed(r), /connection [01], request 0, offset 1 of the response: response differs from the expected bytes \(MISMATCH\): expected 0x4f, got 0x41/);
      const m = r.verification.mismatches.find((x) => x.kind === 'protocol')!;
      t.like(m, { protocolError: 'MISMATCH', offset: 1, expected: 0x4f, got: 0x41 });
    },
  );
});

/** answers "ok\\r\\n" to every line for `ms` after its first request, then never again */
function stallingServer(ms: number) {
  let first = 0;
  return startBadServer((s, d) => {
    first ||= Date.now();
    if (Date.now() - first > ms) return;
    const n = d.toString('latin1').split('\n').length - 1;
    if (n) s.write('ok\r\n'.repeat(n));
  });
}

test('a server that stops answering fails the run, closed and open loop; what fell due unsent is reported', async (t) => {
  const base = { threads: 1, connections: 2, duration: 1000, warmup: 0, drain: 300, send: 'q\\n', expect: 'ok\\r\\n' };
  const closed = await withPeer(stallingServer(300), (port) => runStress({ targets: `127.0.0.1:${port}`, ...base }));
  t.false(closed.ok);
  t.is(closed.messages.unansweredAfterDrain, 2, 'one request in flight on each connection');
  t.regex(failed(closed), /2 request\(s\) still unanswered when the 300 ms drain ended: the server stopped answering/);
  const open = await withPeer(stallingServer(300), (port) => runStress({ targets: `127.0.0.1:${port}`, ...base, rate: 200 }));
  t.false(open.ok);
  // ~140 of the 200 due in the second went unsent behind the two unanswered requests
  t.true(open.messages.unsent >= 80 && open.messages.unsent <= 200, `unsent ${open.messages.unsent}`);
  t.true(open.messages.sent + open.messages.unsent <= 200 + 2, `sent ${open.messages.sent} + unsent ${open.messages.unsent}`);
  t.true(
    open.warnings.some((w) => /fell due and were never sent/.test(w)),
    open.warnings.join('; '),
  );
});

test('requests sent with send_zc to a server that never reads: the timeout ends the run on time and names the requests', async (t) => {
  const t0 = Date.now();
  // 100 KB requests go out zero-copy and stay queued behind the server's full window
  const r = await withPeer(startBadServer(null), (port) =>
    runStress({ targets: `127.0.0.1:${port}`, threads: 1, connections: 2, pipeline: 8, duration: 1000, warmup: 0, drain: 0, timeout: 500, send: `${'x'.repeat(100_000)}\\n`, expectDelimiter: '\\n' }),
  );
  const ms = Date.now() - t0;
  t.false(r.ok);
  t.false(r.partial, r.failures.join('; '));
  t.true(r.zeroCopy.sends > 0, 'the requests went out with send_zc');
  t.regex(failed(r), /connection [01], request 0: no response within the timeout/);
  t.true(ms < 8_000, `took ${ms} ms`);
});

test('pipelined requests lost behind a timed-out one are counted: sent = answered + timeouts + lost + unfinished', async (t) => {
  // answers the first 3 requests of each connection, then nothing
  const counts = new WeakMap<object, number>();
  const r = await withPeer(
    startBadServer((s, d) => {
      const seen = counts.get(s) ?? 0;
      const n = d.toString('latin1').split('\n').length - 1;
      counts.set(s, seen + n);
      const answer = Math.max(0, Math.min(n, 3 - seen));
      if (answer) s.write('ok\r\n'.repeat(answer));
    }),
    (port) =>
      runStress({ targets: `127.0.0.1:${port}`, threads: 1, connections: 2, pipeline: 4, duration: 1500, warmup: 0, drain: 0, timeout: 300, maxErrors: 1000, send: 'q\\n', expect: 'ok\\r\\n' }),
  );
  const m = r.messages;
  t.true(r.responses!.timeouts > 0);
  t.true(m.abandoned > 0, JSON.stringify(m));
  t.is(m.sent, m.verified + r.responses!.timeouts + m.abandoned + m.unfinished, JSON.stringify({ ...m, timeouts: r.responses!.timeouts }));
});

test('pipelined requests lost behind a reset are counted once: sent = answered + errors + lost + unfinished', async (t) => {
  // answers 5 requests of each connection, then resets it with requests
  // unread (the reset's request is its error, those behind it are lost)
  const counts = new WeakMap<object, number>();
  const r = await withPeer(
    startBadServer((s, d) => {
      const seen = counts.get(s) ?? 0;
      const n = d.toString('latin1').split('\n').length - 1;
      counts.set(s, seen + n);
      const answer = Math.max(0, Math.min(n, 5 - seen));
      if (answer) s.write('ok\r\n'.repeat(answer));
      if (seen + n > 5) s.resetAndDestroy();
    }),
    (port) => runStress({ targets: `127.0.0.1:${port}`, threads: 1, connections: 2, pipeline: 4, duration: 1000, warmup: 0, maxErrors: 100_000, send: 'q\n', expect: 'ok\r\n' }),
  );
  const m = r.messages;
  t.true((r.errors.byCode.ECONNRESET ?? 0) > 0, JSON.stringify(r.errors));
  t.true(m.abandoned > 0, JSON.stringify(m));
  // each reset's request was counted as its error and in abandoned too
  t.is(m.sent, m.verified + r.errors.total + m.abandoned + m.unfinished, JSON.stringify({ ...m, errors: r.errors }));
});

test('a reset names the connection and request it left unanswered; with several servers, the server too', async (t) => {
  const reset = startBadServer((s) => s.resetAndDestroy());
  const right = framedServer('\n', () => 'ok\r\n');
  const [a, b] = await Promise.all([right, reset]);
  try {
    const r = await runStress({ targets: `127.0.0.1:${a.port},127.0.0.1:${b.port}`, threads: 1, connections: 2, duration: 400, warmup: 0, drain: 100, send: 'q\\n', expect: 'ok\\r\\n' });
    t.false(r.ok);
    t.true(r.errors.byCode.ECONNRESET > 0, JSON.stringify(r.errors.byCode));
    // connection 1 dialled the second target
    t.regex(failed(r), new RegExp(`first: connection 1 \\(127\\.0\\.0\\.1:${b.port}\\), request \\d+: ECONNRESET with the request unanswered`));
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('bad input of the request modes exits 2 naming the flag', async (t) => {
  const cases: [string[], RegExp][] = [
    [['ftp://127.0.0.1/'], /target.*unknown scheme "ftp"/],
    [['http://[::1/'], /target.*a URL such as/],
    [['https://127.0.0.1/'], /TLS is not supported/],
    [['http://127.0.0.1:1/', '-H', 'no colon here'], /-H must be "Name: value"/],
    [['http://127.0.0.1:1/', '-H', 'Content-Length: 5'], /-H must be a header other than Content-Length/],
    [['http://127.0.0.1:1/', '--method', 'GE T'], /--method must be a method/],
    [['http://127.0.0.1:1/', '--expect-status', '7xx'], /--expect-status must be status codes/],
    [['http://127.0.0.1:1/', '--command', 'PING'], /--command|--mode/],
    [['redis://127.0.0.1:1', '--command', 'SET __bogus__ 1'], /--command must be a command whose placeholders/],
    [['redis://127.0.0.1:1', '-t', 'nosuchtest'], /-t must be test names/],
    [['127.0.0.1:1', '--send', 'x{sequence}', '--expect-bytes', '4'], /--send must be a template whose placeholders are \{seq\} and \{conn\}/],
    [['127.0.0.1:1', '--send', 'x', '--expect-bytes', '4', '--expect-delimiter', 'y'], /--expect-bytes.*--expect-delimiter/],
    [['127.0.0.1:1', '--send', 'x'], /--send must be given with a response framing/],
    [['127.0.0.1:1', '--send', 'x', '--expect-bytes', '2', '--length-prefix', 'u64'], /--expect-bytes.*--length-prefix/],
    [['127.0.0.1:1', '--send', 'x', '--length-prefix', 'u64'], /--length-prefix must be one of/],
    [['http://127.0.0.1:1/', '--size', '64'], /--size must be left out in http mode/],
    [['127.0.0.1:1', '--timeout', '1s'], /--timeout must be left out outside the request modes/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(['stress', ...args, '-d', '1s']);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, re, args.join(' '));
    t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
