/**
 * ringleader stress / runStress: verified load against real servers on
 * loopback (Node `net` servers written here, some deliberately broken, and
 * ringleader's own echo server). Every run is bounded by --duration or
 * --messages and by the CLI timeout; no test checks speed.
 */
import test from 'ava';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { patternBytes, patternSize } from '@ringleader/core-native';
import { createServer, runStress, type StressResult } from '@ringleader/runtime';
import { CLI, fdCount, runCli, sleep } from './helpers.js';

interface TestServer {
  port: number;
  /** remote addresses of the connections it accepted */
  peers: Set<string>;
  accepted: number;
  close(): Promise<void>;
}

/** A Node `net` server running `onConn` for every connection. */
async function serve(onConn: (s: net.Socket) => void): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const st: TestServer = { port: 0, peers: new Set(), accepted: 0, close: async () => undefined };
  const srv = net.createServer((s) => {
    st.accepted++;
    st.peers.add(s.remoteAddress ?? '?');
    sockets.add(s);
    s.setNoDelay(true);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    onConn(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  st.port = (srv.address() as net.AddressInfo).port;
  st.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      srv.close(() => r());
    });
  return st;
}

const echo = () => serve((s) => s.pipe(s));

/** Echoes, but flips byte 17 of every 1000th 64-byte message (messages 999, 1999, ... of each connection). */
const corrupting = () =>
  serve((s) => {
    let pos = 0;
    s.on('data', (d: Buffer) => {
      const out = Buffer.from(d);
      for (let i = 0; i < out.length; i++) {
        const p = pos + i;
        if (p % 64 === 17 && Math.floor(p / 64) % 1000 === 999) out[i] ^= 0xff;
      }
      pos += d.length;
      s.write(out);
    });
  });

/** Echoes the first 100 bytes of a connection, then closes it. */
const closesEarly = () =>
  serve((s) => {
    let n = 0;
    s.on('data', (d: Buffer) => {
      if (n >= 100) return;
      const part = d.subarray(0, 100 - n);
      n += part.length;
      s.write(part);
      if (n >= 100) s.end();
    });
  });

function checkLatency(t: import('ava').ExecutionContext, l: StressResult['latencyUs'], what: string): void {
  t.truthy(l, `${what}: latency present`);
  if (!l) return;
  t.true(l.count > 0, `${what}: samples`);
  const seq = [l.min, l.p50, l.p90, l.p99, l.p999, l.max];
  for (let i = 1; i < seq.length; i++) t.true(seq[i - 1] <= seq[i], `${what}: percentiles are monotonic: ${seq.join(' <= ')}`);
  t.true(l.min > 0, `${what}: a round trip takes time (${l.min} us)`);
  t.true(l.max < 10_000_000, `${what}: max below 10 s (${l.max} us)`);
  t.true(l.mean >= l.min && l.mean <= l.max, `${what}: mean within [min, max]`);
}

test('echo against a Node net server: sent and verified agree, percentiles are monotonic', async (t) => {
  const srv = await echo();
  try {
    const r = await runStress({ targets: `127.0.0.1:${srv.port}`, connections: 16, threads: 2, duration: 800, warmup: 200 });
    t.true(r.ok, r.failures.join('; '));
    t.is(r.exitCode, 0);
    // the Node server shares this process with the file's other tests: under
    // load it can be slow, and only agreement is asserted, not a rate
    t.true(r.messages.verified > 10, `verified ${r.messages.verified}`);
    // the drain lets every message in flight come back: nothing is lost
    t.is(r.messages.sent, r.messages.verified);
    t.is(r.messages.unfinished, 0);
    t.true(r.messages.measured <= r.messages.verified && r.messages.measured > 0);
    t.is(r.bytes.sent, r.bytes.received);
    t.is(r.bytes.sent, r.messages.sent * 64);
    checkLatency(t, r.latencyUs, 'round trip');
    t.is(r.latencyUs!.count, r.messages.measured);
    checkLatency(t, r.connectUs, 'connect');
    t.is(r.connected.opened, 16);
    t.is(r.connected.upAtEnd, 16);
    t.is(r.errors.total, 0);
    t.is(r.verification.failures, 0);
    t.true(r.durationMs >= 750 && r.durationMs <= 1500, `window ${r.durationMs} ms`);
    t.true(r.throughput.msgsPerSec > 0);
    t.is(srv.accepted, 16);
  } finally {
    await srv.close();
  }
});

test('runStress result shape', async (t) => {
  const srv = await echo();
  try {
    const r = await runStress({ targets: [`127.0.0.1:${srv.port}`], connections: 2, threads: 1, messages: 50, seed: 7 });
    t.deepEqual(
      Object.keys(r).sort(),
      [
        'aborted',
        'bytes',
        'clientCpu',
        'connectHistogram',
        'connected',
        'connectRate',
        'connectUs',
        'connections',
        'durationMs',
        'elapsedMs',
        'errors',
        'exitCode',
        'failures',
        'interrupted',
        'latencyHistogram',
        'latencyUs',
        'messages',
        'mode',
        'ok',
        'partial',
        'pipeline',
        'rate',
        'responses',
        'seed',
        'size',
        'socketMode',
        'targets',
        'threads',
        'throughput',
        'timeSeries',
        'verification',
        'warmupMs',
        'warnings',
        'windowStart',
        'zeroCopy',
      ].sort(),
    );
    t.is(r.mode, 'echo');
    t.deepEqual(r.targets, [`127.0.0.1:${srv.port}`]);
    t.is(r.seed, 7);
    t.deepEqual(r.size, { min: 64, max: 64 });
    t.is(r.rate, null);
    t.is(r.interrupted, false);
    t.is(r.aborted, null);
    t.is(r.partial, false);
    t.is(r.zeroCopy.retried, 0);
    t.deepEqual(r.errors, { total: 0, byCode: {} });
    t.deepEqual(r.verification, { failures: 0, mismatches: [] });
    t.is(r.responses, null, 'an echo run has no responses section');
    for (const k of ['msgsPerSec', 'cyclesPerSec', 'outMiBPerSec', 'inMiBPerSec'] as const) t.is(typeof r.throughput[k], 'number');
    for (const k of ['count', 'min', 'mean', 'p50', 'p90', 'p99', 'p999', 'max'] as const) t.is(typeof r.latencyUs![k], 'number');
    t.true(['ring', 'fd'].includes(r.socketMode));
  } finally {
    await srv.close();
  }
});

test('--messages N: exactly N verified, with pipelining and random sizes', async (t) => {
  const srv = await echo();
  try {
    const r = await runStress({ targets: `127.0.0.1:${srv.port}`, connections: 7, threads: 2, messages: 3001, pipeline: 4, size: [1, 3000] });
    t.true(r.ok, r.failures.join('; '));
    t.is(r.messages.verified, 3001);
    t.is(r.messages.sent, 3001);
    t.is(r.messages.measured, 3001);
    t.is(r.latencyUs!.count, 3001);
    t.is(r.bytes.sent, r.bytes.received);
    t.true(r.bytes.sent >= 3001 && r.bytes.sent <= 3001 * 3000);
    // the CLI says the same
    const cli = await runCli(['stress', `127.0.0.1:${srv.port}`, '-c', '3', '-t', '1', '-n', '1000', '--json'], 60_000);
    t.is(cli.code, 0, cli.stderr);
    const j = JSON.parse(cli.stdout) as StressResult;
    t.is(j.messages.verified, 1000);
    t.is(j.messages.sent, 1000);
  } finally {
    await srv.close();
  }
});

test('payload pattern: deterministic, sliceable, different per connection and message', (t) => {
  const seed = 12345n;
  const whole = Buffer.from(patternBytes(seed, 3, 7, 0, 100));
  const parts = Buffer.concat([patternBytes(seed, 3, 7, 0, 37), patternBytes(seed, 3, 7, 37, 63)]);
  t.deepEqual(whole, parts);
  t.deepEqual(whole, Buffer.from(patternBytes(seed, 3, 7, 0, 100)));
  t.notDeepEqual(whole, Buffer.from(patternBytes(seed, 4, 7, 0, 100)));
  t.notDeepEqual(whole, Buffer.from(patternBytes(seed, 3, 8, 0, 100)));
  t.notDeepEqual(whole, Buffer.from(patternBytes(seed + 1n, 3, 7, 0, 100)));
  const sizes = Array.from({ length: 200 }, (_, i) => patternSize(seed, 1, i, 64, 65536));
  t.true(sizes.every((s) => s >= 64 && s <= 65536));
  t.true(new Set(sizes).size > 150, 'sizes vary');
  t.is(patternSize(seed, 1, 5, 64, 64), 64);
});

test('a corrupting server: exit 1, the report names connection, message and offset', async (t) => {
  const srv = await corrupting();
  try {
    const r = await runCli(['stress', `127.0.0.1:${srv.port}`, '-c', '4', '-t', '1', '-n', '6000', '-d', '20s', '--json'], 60_000);
    t.is(r.code, 1, r.stderr);
    const j = JSON.parse(r.stdout) as StressResult;
    t.false(j.ok);
    t.true(j.verification.failures >= 1, `failures ${j.verification.failures}`);
    const m = j.verification.mismatches.find((x) => x.message === 999);
    t.truthy(m, `a mismatch at message 999: ${JSON.stringify(j.verification.mismatches)}`);
    t.is(m!.kind, 'mismatch');
    t.is(m!.offset, 17);
    t.true(m!.connection >= 0 && m!.connection < 4);
    // the engine's expectation is the pattern; the server flipped every bit
    const want = patternBytes(BigInt(j.seed), m!.connection, 999, 17, 1)[0];
    t.is(m!.expected, want);
    t.is(m!.got, want ^ 0xff);
    t.true(
      j.failures.some((f) => /connection \d+, message 999, offset 17/.test(f)),
      j.failures.join('; '),
    );
    // still exactly N verified: corrupted messages are re-sent on a new connection
    t.is(j.messages.verified, 6000);
    const human = await runCli(['stress', `127.0.0.1:${srv.port}`, '-c', '2', '-t', '1', '-n', '3000'], 60_000);
    t.is(human.code, 1);
    t.regex(human.stdout, /verification +FAILED/);
    t.regex(human.stdout, /connection \d, message 999, offset 17: expected 0x[0-9a-f]{2}, got 0x[0-9a-f]{2}/);
  } finally {
    await srv.close();
  }
});

test('a server that closes early: EOF counted, the report names connection, message and offset', async (t) => {
  const srv = await closesEarly();
  try {
    const r = await runStress({ targets: `127.0.0.1:${srv.port}`, connections: 2, threads: 1, duration: 600, warmup: 0, retryDelay: 50 });
    t.false(r.ok);
    t.is(r.exitCode, 1);
    t.true((r.errors.byCode.EOF ?? 0) >= 2, JSON.stringify(r.errors));
    const eof = r.verification.mismatches.filter((m) => m.kind === 'eof');
    t.true(eof.length >= 2);
    // 100 bytes echoed: message 0 whole, then 36 bytes of message 1
    const first = eof.find((m) => m.connection === 0)!;
    t.is(first.message, 1);
    t.is(first.offset, 36);
    t.true(r.connected.dropped >= 2);
    t.true(r.connected.opened > 2, 'connections are retried');
  } finally {
    await srv.close();
  }
});

test('nothing listening: ECONNREFUSED counted, exit 1, no hang', async (t) => {
  // a port that was just free
  const tmp = await echo();
  const port = tmp.port;
  await tmp.close();
  const t0 = Date.now();
  const r = await runCli(['stress', `127.0.0.1:${port}`, '-c', '5', '-d', '30s', '--json'], 20_000);
  t.true(Date.now() - t0 < 15_000, 'gives up early instead of retrying for 30 s');
  t.is(r.code, 1, r.stderr);
  const j = JSON.parse(r.stdout) as StressResult;
  t.true(j.errors.byCode.ECONNREFUSED >= 5, JSON.stringify(j.errors));
  t.is(j.connected.opened, 0);
  t.regex(j.aborted ?? '', /no connection could be made .*ECONNREFUSED/);
  const human = await runCli(['stress', `127.0.0.1:${port}`, '-c', '2', '-d', '30s'], 20_000);
  t.is(human.code, 1);
  t.regex(human.stdout, /ECONNREFUSED 2/);
  t.regex(human.stdout, /result: FAILED/);
  t.regex(human.stdout, /nothing measured: the run ended after \d+\.\d s, within its 2\.0 s warmup/);
  t.notRegex(human.stdout, /measured 0\.00 s/);
});

test('bad options exit 2 naming the option, without a stack trace', async (t) => {
  const cases: [string[], RegExp][] = [
    [['stress', 'nosuchhost.invalid:7000'], /target .*nosuchhost\.invalid/],
    [['stress', '127.0.0.1'], /target must be HOST:PORT/],
    [['stress', '127.0.0.1:0'], /target .*port from 1 to 65535/],
    [['stress', '127.0.0.1:7000', '--size', '0'], /--size/],
    [['stress', '127.0.0.1:7000', '--size', '1.5'], /--size .*a whole number of bytes/],
    [['stress', '127.0.0.1:7000', '--seed', '99999999999999999999'], /--seed .*must be at most 9007199254740991/],
    [['stress', '127.0.0.1:7000', '--size', '1.5-3'], /--size .*a whole number of bytes/],
    [['stress', '127.0.0.1:7000', '--json', '--csv'], /--json and --csv both choose what is printed; give one/],
    [['stress', 'redis://127.0.0.1:7000', '--mix'], /--mix runs the -t tests together: give it with a test list/],
    // what a flag that does not apply was given does not matter ("got object" said nothing)
    [['stress', 'http://127.0.0.1:7000/', '--command', 'PING'], /^ringleader: --command must be left out in http mode \(it applies to redis\)\n$/],
    [['stress', 'http://127.0.0.1:7000/', '-t', 'ping'], /^ringleader: -t must be left out in http mode \(it applies to redis\)\n$/],
    // before the load runs, not after it
    [['stress', '127.0.0.1:7000', '--hdr-out', '/nonexistent-dir/x.hgrm'], /--hdr-out: cannot write \/nonexistent-dir\/x\.hgrm \(ENOENT\)/],
    [['stress', '127.0.0.1:7000', '--size', '100-10'], /--size/],
    [['stress', '127.0.0.1:7000', '--size', '64-99GiB'], /--size/],
    [['stress', '127.0.0.1:7000', '--rate', '0'], /--rate/],
    [['stress', '127.0.0.1:7000', '--rate', 'fast'], /--rate/],
    [['stress', '127.0.0.1:7000', '--mode', 'idle', '--rate', '10'], /--rate/],
    [['stress', '127.0.0.1:7000', '--mode', 'telnet'], /--mode/],
    [['stress', '127.0.0.1:7000', '--connections', '0'], /--connections/],
    [['stress', '127.0.0.1:7000', '--source', '10.0.0.9-10.0.0.1'], /--source/],
    // an address this machine does not have: refused at once (it used to hang the run 12 s in ring mode)
    [['stress', '127.0.0.1:7000', '--source', '127.0.0.1,192.0.2.1'], /--source must be addresses of this machine \(binding 192\.0\.2\.1 fails with EADDRNOTAVAIL\)/],
    [['stress', '127.0.0.1:7000', '--source', '::1'], /--source/],
    [['stress', '127.0.0.1:7000', '--messages', '10', '--warmup', '1s'], /--warmup/],
    [['stress', '127.0.0.1:7000', '--duration', '0'], /--duration/],
    [['stress', '127.0.0.1:7000', '--pipeline', '4', '--mode', 'churn'], /--pipeline/],
    [['stress'], /missing required argument/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args, 20_000);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /^ringleader: /, args.join(' '));
    t.regex(r.stderr, re, args.join(' '));
    t.notRegex(r.stderr, /\n\s+at /, `${args.join(' ')}: no stack trace`);
  }
  // and from the API: TypeError/RangeError naming the option
  await t.throwsAsync(runStress({ targets: '127.0.0.1:7000', size: 0 }), { instanceOf: RangeError, message: /"size"/ });
  await t.throwsAsync(runStress({ targets: '127.0.0.1:7000', rate: -1 }), { instanceOf: RangeError, message: /"rate"/ });
  await t.throwsAsync(runStress({ targets: '127.0.0.1:7000', connections: 'many' as never }), { instanceOf: TypeError, message: /"connections"/ });
  await t.throwsAsync(runStress({ targets: 7000 as never }), { instanceOf: TypeError, message: /"targets"/ });
  await t.throwsAsync(runStress({ targets: '127.0.0.1:7000', colour: 'red' } as never), { instanceOf: RangeError, message: /"colour"/ });
});

test('--help describes the command', async (t) => {
  const r = await runCli(['stress', '--help']);
  t.is(r.code, 0);
  for (const flag of ['--threads', '--connections', '--duration', '--messages', '--warmup', '--size', '--pipeline', '--rate', '--connect-rate', '--source', '--max-errors', '--json', 'Exit status']) {
    t.true(r.stdout.includes(flag), flag);
  }
});

test('churn: connections per second over spread source addresses, ring and fd socket set-up', async (t) => {
  for (const socketMode of ['ring', 'fd'] as const) {
    const srv = await echo();
    try {
      const r = await runStress({
        targets: `127.0.0.1:${srv.port}`,
        mode: 'churn',
        connections: 8,
        threads: 2,
        duration: 600,
        warmup: 100,
        source: '127.0.0.1-127.0.0.4',
        socketMode,
      });
      t.true(r.ok, `${socketMode}: ${r.failures.join('; ')}`);
      t.is(r.socketMode, socketMode);
      t.true(r.connected.cycles > 8, `${socketMode}: cycles ${r.connected.cycles}`);
      t.true(r.throughput.cyclesPerSec > 0);
      t.is(r.errors.total, 0, JSON.stringify(r.errors));
      // one message per cycle, each verified
      t.is(r.messages.verified, r.connected.cycles);
      t.is(r.connected.opened, r.connected.cycles);
      checkLatency(t, r.latencyUs, `${socketMode} cycle`);
      t.deepEqual([...srv.peers].sort(), ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'], `${socketMode}: every source address was used`);
    } finally {
      await srv.close();
    }
  }
});

test('churn: each second counts its cycles once (the per-second series matches the rate)', async (t) => {
  const srv = await echo();
  try {
    const r = await runStress({ targets: `127.0.0.1:${srv.port}`, mode: 'churn', connections: 8, threads: 1, duration: 1500, warmup: 0 });
    t.true(r.ok, r.failures.join('; '));
    const perSeconds = r.timeSeries.reduce((a, s) => a + s.msgs, 0);
    t.true(r.timeSeries.length >= 1);
    // the whole seconds are part of the window: never more than the cycles measured in it (they were twice that)
    t.true(perSeconds <= r.messages.measured, `${perSeconds} in the seconds, ${r.messages.measured} measured`);
  } finally {
    await srv.close();
  }
});

test('churn with --messages: exactly N cycles', async (t) => {
  const srv = await echo();
  try {
    const r = await runStress({ targets: `127.0.0.1:${srv.port}`, mode: 'churn', connections: 5, threads: 2, messages: 123 });
    t.true(r.ok, r.failures.join('; '));
    t.is(r.connected.cycles, 123);
    t.is(srv.accepted, 123);
  } finally {
    await srv.close();
  }
});

test('bulk: MiB/s both ways, every byte verified, large sends go through send_zc', async (t) => {
  const srv = await echo();
  try {
    const r = await runStress({ targets: `127.0.0.1:${srv.port}`, mode: 'bulk', connections: 4, threads: 1, duration: 700, warmup: 100 });
    t.true(r.ok, r.failures.join('; '));
    t.true(r.throughput.outMiBPerSec > 0 && r.throughput.inMiBPerSec > 0);
    t.true(r.messages.verified > 4);
    t.is(r.bytes.sent, r.bytes.received, 'the drain waits for every byte');
    t.is(r.size.min, 65536);
    // 64 KiB sends are above the 32 KiB threshold: zero copy, two CQEs each
    t.true(r.zeroCopy.sends > 0, JSON.stringify(r.zeroCopy));
    t.is(r.zeroCopy.notifications, r.zeroCopy.sends);
    t.is(r.zeroCopy.copied, r.zeroCopy.sends, 'loopback copies every zero-copy send');
    t.is(r.zeroCopy.fallbacks, 0);
    t.true(r.warnings.some((w) => /loopback/.test(w)));
    const off = await runStress({ targets: `127.0.0.1:${srv.port}`, mode: 'bulk', connections: 2, threads: 1, messages: 40, zcThreshold: 0 });
    t.true(off.ok, off.failures.join('; '));
    t.is(off.zeroCopy.sends, 0);
    t.is(off.messages.verified, 40);
  } finally {
    await srv.close();
  }
});

test.serial('idle: holds N connections as direct descriptors (no process fds), reports how many are up', async (t) => {
  const server = createServer({ workers: 1, port: 0 });
  const { port } = await server.listen();
  try {
    const before = fdCount();
    let maxFds = before;
    let maxUp = 0;
    const r = await runStress({
      targets: `127.0.0.1:${port}`,
      mode: 'idle',
      connections: 300,
      threads: 2,
      duration: 600,
      warmup: 100,
      progressInterval: 100,
      onProgress: (p) => {
        maxFds = Math.max(maxFds, fdCount());
        maxUp = Math.max(maxUp, p.up);
      },
    });
    t.true(r.ok, r.failures.join('; '));
    t.is(r.connected.upAtEnd, 300);
    t.is(r.connected.peakUp, 300);
    t.is(maxUp, 300);
    t.is(r.connectUs!.count, 300);
    t.is(r.errors.total, 0);
    t.true(maxFds - before < 30, `process fds grew by ${maxFds - before} while 300 connections were held`);
    t.is(server.stats().total.accepted, 300);
  } finally {
    await server.close({ timeout: 500 });
  }
});

test('open loop: the schedule is fixed, latency counts from it (no coordinated omission)', async (t) => {
  // a server that takes 40 ms per message: 2 connections manage ~50 msgs/s
  const slow = await serve((s) => {
    let pending = Buffer.alloc(0);
    let busy = false;
    const next = () => {
      if (busy || pending.length < 64) return;
      busy = true;
      const msg = pending.subarray(0, 64);
      pending = pending.subarray(64);
      setTimeout(() => {
        busy = false;
        if (!s.destroyed) s.write(msg);
        next();
      }, 40);
    };
    s.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      next();
    });
  });
  try {
    const common = { targets: `127.0.0.1:${slow.port}`, connections: 2, threads: 1, duration: 1200, warmup: 0, drain: 3000 };
    const closed = await runStress(common);
    const open = await runStress({ ...common, rate: 200 });
    t.true(closed.ok, closed.failures.join('; '));
    t.true(open.ok, open.failures.join('; '));
    // never more than the schedule: 200/s over 1.2 s (plus the one in flight per connection)
    t.true(open.messages.sent <= 240 + 2, `sent ${open.messages.sent}`);
    t.is(open.rate, 200);
    t.true(open.messages.late > 0, 'the server could not keep up: sends were late');
    checkLatency(t, open.latencyUs, 'open loop');
    checkLatency(t, closed.latencyUs, 'closed loop');
    // Closed loop measures only the service time (>= 40 ms). Open loop adds
    // the time each message waited behind its schedule, and that has a floor
    // no slow machine can lower: each connection is scheduled every 10 ms but
    // served at most every 40 ms, so its j-th message waits >= ~30*j ms, and
    // of n verified messages at most L/15 ms can have a latency under L.
    // (Comparing with the closed p50 instead failed on a loaded CI machine,
    // where one stall pushed the closed p50 to 280 ms.)
    t.true(closed.latencyUs!.p50 >= 30_000, `closed p50 ${closed.latencyUs!.p50} us`);
    const n = open.messages.verified;
    t.true(n >= 10, `verified ${n}`);
    const floorP50 = 0.8 * 7_500 * n;
    const floorMax = 0.8 * 30_000 * (Math.ceil(n / 2) - 1);
    t.log(`${n} verified, open p50 ${open.latencyUs!.p50} us (floor ${floorP50}), closed p50 ${closed.latencyUs!.p50} us`);
    t.true(open.latencyUs!.p50 >= floorP50, `open p50 ${open.latencyUs!.p50} us, floor ${floorP50} us for ${n} messages`);
    t.true(open.latencyUs!.max >= floorMax, `open max ${open.latencyUs!.max} us, floor ${floorMax} us`);
  } finally {
    await slow.close();
  }
});

test('open loop at a rate the server sustains: sent never exceeds the schedule', async (t) => {
  const srv = await echo();
  try {
    const r = await runStress({ targets: `127.0.0.1:${srv.port}`, connections: 10, threads: 2, rate: 500, duration: 800, warmup: 200 });
    t.true(r.ok, r.failures.join('; '));
    t.true(r.messages.sent <= 500 + 10, `sent ${r.messages.sent}, scheduled 500`);
    t.true(r.messages.sent > 0);
    t.is(r.messages.sent, r.messages.verified);
    checkLatency(t, r.latencyUs, 'open loop');
  } finally {
    await srv.close();
  }
});

test('against ringleader echo (io_uring server): verified, several targets', async (t) => {
  const a = createServer({ workers: 1, port: 0 });
  const b = createServer({ workers: 1, port: 0 });
  const pa = (await a.listen()).port;
  const pb = (await b.listen()).port;
  try {
    const r = await runStress({ targets: `127.0.0.1:${pa},localhost:${pb}`, connections: 6, threads: 2, messages: 2000, size: [64, 20000] });
    t.true(r.ok, r.failures.join('; '));
    t.is(r.messages.verified, 2000);
    t.deepEqual(r.targets, [`127.0.0.1:${pa}`, `localhost:${pb}`]);
    t.is(a.stats().total.accepted, 3);
    t.is(b.stats().total.accepted, 3);
  } finally {
    await a.close({ timeout: 500 });
    await b.close({ timeout: 500 });
  }
});

test('SIGINT stops early and still prints the result', async (t) => {
  const srv = await echo();
  try {
    const p = spawn(process.execPath, [CLI, 'stress', `127.0.0.1:${srv.port}`, '-c', '4', '-t', '1', '-d', '60s', '--warmup', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
    // wait until the run is under way (the CLI may start slowly on a busy machine)
    for (let i = 0; i < 300 && srv.accepted < 4; i++) await sleep(50);
    t.is(srv.accepted, 4);
    await sleep(300);
    const t0 = Date.now();
    p.kill('SIGINT');
    const killer = setTimeout(() => p.kill('SIGKILL'), 15_000);
    const code = await exited;
    clearTimeout(killer);
    t.true(Date.now() - t0 < 10_000, 'stops within the drain time');
    t.is(code, 0, stderr);
    t.regex(stdout, /interrupted/);
    t.regex(stdout, /verification +ok/);
    t.regex(stdout, /result: OK/);
  } finally {
    await srv.close();
  }
});

test('SIGINT within the warmup: nothing was measured, so the run fails (exit 1)', async (t) => {
  const srv = await echo();
  try {
    const p = spawn(process.execPath, [CLI, 'stress', `127.0.0.1:${srv.port}`, '-c', '2', '-t', '1', '-d', '30s', '--warmup', '20s', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    p.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
    for (let i = 0; i < 300 && srv.accepted < 2; i++) await sleep(50);
    await sleep(300);
    p.kill('SIGINT');
    const killer = setTimeout(() => p.kill('SIGKILL'), 15_000);
    const code = await exited;
    clearTimeout(killer);
    t.is(code, 1);
    const r = JSON.parse(stdout) as StressResult;
    t.false(r.ok);
    t.true(r.messages.verified > 0, 'work was done');
    t.regex(r.failures.join('\n'), /nothing was measured: the run stopped within its 20000 ms warmup/);
  } finally {
    await srv.close();
  }
});

test('ringleader demo drives its server with runStress: verified echoes, same JSON shape', async (t) => {
  const r = await runCli(['demo', '-d', '1s', '-w', '1', '-c', '10', '--json'], 60_000);
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as Record<string, unknown> & { messages: number; verifyFailures: number; errors: number; perWorker: { accepted: number }[] };
  for (const k of ['workers', 'connections', 'size', 'seconds', 'messages', 'msgsPerSec', 'bytesPerSec', 'latencyUs', 'verifyFailures', 'errors', 'perWorker', 'handoffUs', 'close']) {
    t.true(k in j, k);
  }
  t.true(j.messages > 0);
  t.is(j.verifyFailures, 0);
  t.is(j.errors, 0);
  t.is(j.perWorker[0].accepted, 10);
});

test('threadWait: a load thread waiting in io_uring_enter or in its event loop runs the same load, and an abort ends either promptly', async (t) => {
  const srv = await echo();
  try {
    for (const threadWait of ['ring', 'loop'] as const) {
      const r = await runStress({ targets: `127.0.0.1:${srv.port}`, connections: 8, threads: 2, messages: 3000, size: [16, 3000], threadWait });
      t.true(r.ok, `${threadWait}: ${r.failures.join('; ')}`);
      t.is(r.messages.verified, 3000, threadWait);
      // an open-ended run stopped from outside once messages flow (not at a
      // fixed time: a loaded machine may take longer than that to connect):
      // the ring sees the stop within one serve
      const ac = new AbortController();
      let abortedAt = 0;
      const onProgress = (p: { verified: number }) => {
        if (p.verified > 0 && !abortedAt) {
          abortedAt = Date.now();
          ac.abort();
        }
      };
      const a = await runStress({
        targets: `127.0.0.1:${srv.port}`,
        connections: 4,
        threads: 2,
        duration: 60_000,
        warmup: 0,
        drain: 200,
        threadWait,
        signal: ac.signal,
        onProgress,
        progressInterval: 50,
      });
      const took = Date.now() - abortedAt;
      t.true(abortedAt > 0, `${threadWait}: aborted`);
      t.true(a.interrupted, `${threadWait}: interrupted`);
      t.true(a.messages.verified > 0, `${threadWait}: verified ${a.messages.verified}`);
      t.true(took < 5000, `${threadWait}: a 60 s run ended ${took} ms after the abort`);
    }
    await t.throwsAsync(() => runStress({ targets: `127.0.0.1:${srv.port}`, threadWait: 'spin' as never }), { message: /threadWait/ });
  } finally {
    await srv.close();
  }
});
