/**
 * Scheduler and backpressure on a real server: no connection lost, whatever
 * the load.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { createServer } from '@ringleader/runtime';
import { echoOnce, sleep, waitFor } from './helpers.js';

interface ClientOutcome {
  echoed: boolean;
  reset: boolean;
  eofBeforeEcho: boolean;
  error?: string;
}

/** connect, send, wait for the whole echo, hold `holdMs`, close */
function holdingClient(port: number, i: number, holdMs: number, timeoutMs = 60000): Promise<ClientOutcome> {
  return new Promise((resolve) => {
    const out: ClientOutcome = { echoed: false, reset: false, eofBeforeEcho: false };
    const msg = Buffer.from(`client ${i} `.repeat(6));
    const c = net.connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => {
      out.error = 'timeout';
      c.destroy();
    }, timeoutMs);
    c.on('connect', () => c.write(msg));
    c.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (!out.echoed && got.length >= msg.length) {
        out.echoed = got.equals(msg);
        if (!out.echoed) out.error = 'echo mismatch';
        setTimeout(() => c.end(), holdMs);
      }
    });
    c.on('end', () => {
      if (!out.echoed) out.eofBeforeEcho = true;
    });
    c.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET') out.reset = true;
      else out.error = e.code ?? e.message;
    });
    c.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

test.serial('burst: 5,000 connections, worker tables of 16, acceptor table of 64: all served, none reset', async (t) => {
  t.timeout(120_000);
  const server = createServer({ workers: 2, port: 0, workerTableSize: 16, acceptorTableSize: 64, backlog: 4096 });
  let pauses = 0;
  let resumes = 0;
  server.on('pause', () => pauses++);
  server.on('resume', () => resumes++);
  const { port } = await server.listen();
  try {
    const N = 5000;
    const outcomes = await Promise.all(Array.from({ length: N }, (_, i) => holdingClient(port, i, 20)));
    const echoed = outcomes.filter((o) => o.echoed).length;
    const resets = outcomes.filter((o) => o.reset).length;
    const early = outcomes.filter((o) => o.eofBeforeEcho).length;
    const errors = outcomes.filter((o) => o.error).map((o) => o.error);
    t.is(echoed, N, 'every connection echoed byte-exact');
    t.is(resets, 0, 'no resets');
    t.is(early, 0, 'no EOF before the echo');
    t.deepEqual(errors.slice(0, 5), []);
    t.true(await waitFor(() => server.stats().total.closed === N, 5000));
    const st = server.stats();
    t.is(st.total.accepted, N);
    t.true(st.acceptor.handoffEnfile > 0, 'worker tables filled (-ENFILE) and the hand-offs were retried');
    t.true(
      st.workers.every((w) => w.saturations > 0),
      'each worker saturated at least once',
    );
    t.true(pauses > 0 && resumes > 0, `pauses ${pauses}, resumes ${resumes}`);
    t.is(st.pauses, pauses);
    t.is(st.acceptor.tableUsed, 0);
    for (const w of st.workers) t.is(w.tableUsed, 0);
    t.is(st.dropped, 0);
    t.is(st.rejected, 0);
  } finally {
    await server.close({ timeout: 2000 });
  }
});

/** open a connection and wait until the server has handed it to a worker */
async function openHeld(port: number, server: ReturnType<typeof createServer>, expectLive: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  await new Promise((r) => s.on('connect', r));
  await waitFor(() => server.stats().total.live === expectLive, 3000);
  return s;
}

test.serial('least-connections: long-lived connections arriving one at a time stay within one per worker', async (t) => {
  const server = createServer({ workers: 3, port: 0, policy: 'least-connections' });
  const { port } = await server.listen();
  const socks: net.Socket[] = [];
  try {
    for (let i = 1; i <= 24; i++) {
      socks.push(await openHeld(port, server, i));
      const lives = server.stats().workers.map((w) => w.live);
      t.true(Math.max(...lives) - Math.min(...lives) <= 1, `after ${i}: ${lives}`);
    }
    // close the ones on one worker: new arrivals go there
    for (const s of socks) s.destroy();
  } finally {
    await server.close({ timeout: 500 });
  }
});

test.serial('weighted: accepted counts follow the weights within 10%', async (t) => {
  const weights = [1, 2, 3];
  const server = createServer({ workers: 3, port: 0, policy: 'weighted', weights });
  const { port } = await server.listen();
  try {
    const N = 600;
    for (let k = 0; k < N; k += 50) {
      const r = await Promise.all(Array.from({ length: 50 }, () => echoOnce(port, Buffer.from('w'))));
      t.true(r.every((x) => x.sent === x.received));
    }
    const st = server.stats();
    const total = weights.reduce((a, b) => a + b, 0);
    st.workers.forEach((w, i) => {
      const want = (N * weights[i]) / total;
      t.true(Math.abs(w.accepted - want) <= want * 0.1, `worker ${i}: ${w.accepted} vs ${want}`);
    });
  } finally {
    await server.close({ timeout: 500 });
  }
});

test.serial('p2c beats round-robin when every second connection is long-lived', async (t) => {
  // 2 workers: round-robin sends every long-lived connection to the same one
  const imbalance = async (policy: 'p2c' | 'round-robin') => {
    const server = createServer({ workers: 2, port: 0, policy });
    const { port } = await server.listen();
    const held: net.Socket[] = [];
    try {
      for (let i = 0; i < 40; i++) {
        if (i % 2 === 0) {
          held.push(await openHeld(port, server, held.length + 1));
        } else {
          const r = await echoOnce(port, Buffer.from('short'));
          t.is(r.received, r.sent);
          await waitFor(() => server.stats().total.live === held.length, 2000);
        }
      }
      const lives = server.stats().workers.map((w) => w.live);
      return Math.max(...lives) - Math.min(...lives);
    } finally {
      for (const s of held) s.destroy();
      await server.close({ timeout: 500 });
    }
  };
  const rr = await imbalance('round-robin');
  const p2c = await imbalance('p2c');
  t.true(p2c < rr, `p2c imbalance ${p2c}, round-robin ${rr}`);
  t.true(p2c <= 2, `p2c imbalance ${p2c}`);
});

test.serial('worker failure under load: only its connections end, a replacement serves within 1 s', async (t) => {
  const server = createServer({ workers: 2, port: 0, policy: 'round-robin' });
  const exits: number[] = [];
  server.on('worker-exit', (e: { worker: number }) => exits.push(e.worker));
  const { port } = await server.listen();
  try {
    // 20 long-lived connections, 10 per worker
    const socks: net.Socket[] = [];
    for (let i = 1; i <= 20; i++) socks.push(await openHeld(port, server, i));
    t.deepEqual(
      server.stats().workers.map((w) => w.live),
      [10, 10],
    );
    const closed = new Set<number>();
    socks.forEach((s, i) => s.on('close', () => closed.add(i)));
    // load keeps coming while worker 1 dies
    let stop = false;
    let served = 0;
    let failed = 0;
    const load = (async () => {
      while (!stop) {
        const r = await echoOnce(port, Buffer.from('under load'), 5000);
        if (r.received === r.sent && r.cleanClose) served++;
        else failed++;
      }
    })();
    await sleep(100);
    const t0 = Date.now();
    await server.terminateWorker(1);
    t.true(await waitFor(() => closed.size === 10, 3000), `${closed.size} connections ended`);
    // the survivors still echo
    const survivors = socks.filter((_, i) => !closed.has(i));
    t.is(survivors.length, 10);
    for (const s of survivors) {
      const got = new Promise<string>((r) => s.once('data', (d) => r(d.toString())));
      s.write('still here');
      t.is(await got, 'still here');
    }
    // a replacement joins and serves new connections within 1 s
    t.true(await waitFor(() => server.stats().workers[1].state === 'ready', 1000), 'replacement ready');
    const before = server.stats().workers[1].accepted;
    const r = await Promise.all(Array.from({ length: 6 }, () => echoOnce(port, Buffer.from('new'))));
    t.true(r.every((x) => x.received === x.sent));
    t.true(server.stats().workers[1].accepted > before, 'the replacement served');
    t.true(Date.now() - t0 < 3000);
    stop = true;
    await load;
    t.true(served > 0);
    t.is(failed, 0, 'connections during the failure were all served');
    t.deepEqual(exits, [1]);
    t.is(server.stats().restarts, 1);
    for (const s of survivors) s.destroy();
  } finally {
    await server.close({ timeout: 500 });
  }
});

test.serial('overflow reject: beyond maxConnections new connections are reset and counted', async (t) => {
  const server = createServer({ workers: 2, port: 0, maxConnections: 10, overflow: 'reject' });
  const { port } = await server.listen();
  try {
    const socks: net.Socket[] = [];
    for (let i = 1; i <= 10; i++) socks.push(await openHeld(port, server, i));
    const extra = await Promise.all(Array.from({ length: 5 }, (_, i) => holdingClient(port, 100 + i, 0, 5000)));
    t.true(
      extra.every((o) => o.reset && !o.echoed),
      JSON.stringify(extra),
    );
    t.is(server.stats().rejected, 5);
    t.is(server.stats().total.live, 10);
    // below the limit again: served
    socks[0].destroy();
    await waitFor(() => server.stats().total.live === 9, 2000);
    const ok = await holdingClient(port, 200, 0, 5000);
    t.true(ok.echoed && !ok.reset);
    for (const s of socks) s.destroy();
  } finally {
    await server.close({ timeout: 500 });
  }
});

test.serial('overflow reject under a burst: exactly maxConnections are served at once, the rest reset', async (t) => {
  // all at once: a connection the worker has taken while its hand-off still
  // counts as in flight was counted twice, and resets came early (4 of 5, 1 of 2)
  for (const [max, burst] of [
    [2, 2],
    [5, 10],
  ]) {
    const server = createServer({ workers: 2, port: 0, maxConnections: max, overflow: 'reject' });
    const { port } = await server.listen();
    try {
      for (let round = 0; round < 3; round++) {
        const out = await Promise.all(Array.from({ length: burst }, (_, i) => holdingClient(port, i, 300, 5000)));
        t.is(out.filter((o) => o.echoed).length, max, `max ${max}, burst ${burst}, round ${round}: ${JSON.stringify(out)}`);
        t.is(out.filter((o) => o.reset).length, burst - max);
        await waitFor(() => server.stats().total.live === 0, 3000);
      }
    } finally {
      await server.close({ timeout: 500 });
    }
  }
});

test.serial('maxConnections with overflow pause: extra connections wait, then are served; none reset', async (t) => {
  const server = createServer({ workers: 2, port: 0, maxConnections: 10 });
  let pauses = 0;
  server.on('pause', (e: { reason: string }) => {
    if (e.reason === 'max-connections') pauses++;
  });
  const { port } = await server.listen();
  try {
    const socks: net.Socket[] = [];
    for (let i = 1; i <= 10; i++) socks.push(await openHeld(port, server, i));
    const waiting = Array.from({ length: 5 }, (_, i) => holdingClient(port, 300 + i, 0, 10000));
    await sleep(300);
    t.is(server.stats().total.live, 10, 'the limit holds');
    t.true(server.stats().paused);
    for (const s of socks) s.destroy();
    const outcomes = await Promise.all(waiting);
    t.true(
      outcomes.every((o) => o.echoed && !o.reset),
      JSON.stringify(outcomes),
    );
    t.true(pauses > 0);
    t.is(server.stats().rejected, 0);
    t.true(await waitFor(() => !server.stats().paused, 2000), 'resumed');
  } finally {
    await server.close({ timeout: 500 });
  }
});

test.serial('maxConnectionsPerWorker caps each worker', async (t) => {
  const server = createServer({ workers: 2, port: 0, maxConnectionsPerWorker: 3 });
  const { port } = await server.listen();
  try {
    const socks: net.Socket[] = [];
    for (let i = 1; i <= 6; i++) socks.push(await openHeld(port, server, i));
    t.deepEqual(
      server.stats().workers.map((w) => w.live),
      [3, 3],
    );
    const waiting = holdingClient(port, 7, 0, 5000);
    await sleep(200);
    t.is(server.stats().total.live, 6);
    socks[0].destroy();
    const o = await waiting;
    t.true(o.echoed);
    for (const s of socks) s.destroy();
  } finally {
    await server.close({ timeout: 500 });
  }
});

test.serial('accept errors back off: a killed listener costs a bounded number of completions per second', async (t) => {
  const server = createServer({ workers: 1, port: 0 });
  const errors: number[] = [];
  server.on('accept-error', () => errors.push(Date.now()));
  const { port } = await server.listen();
  try {
    // ss -K kills the listening socket under us: every accept now fails
    execFileSync('ss', ['-K', '-ltn', `sport = :${port}`], { stdio: 'ignore' });
    await sleep(3000);
    const st = server.stats();
    t.true(st.acceptor.acceptErrors > 0, 'the failure was seen');
    t.is(st.acceptor.acceptErrors, errors.length, 'every error counted and reported');
    // back-off doubles from 5 ms to 1 s: about 10 completions in 3 s, never a storm
    t.true(st.acceptor.acceptErrors <= 15, `${st.acceptor.acceptErrors} accept completions in 3 s`);
    const lastSecond = errors.filter((x) => x > Date.now() - 1000).length;
    t.true(lastSecond <= 2, `${lastSecond} in the last second`);
  } finally {
    await server.close({ timeout: 200 });
  }
});

test.serial('a tiny acceptor table never loses a connection: 300 at once through 2 slots', async (t) => {
  const server = createServer({ workers: 2, port: 0, acceptorTableSize: 2, backlog: 1024 });
  const { port } = await server.listen();
  try {
    const outcomes = await Promise.all(Array.from({ length: 300 }, (_, i) => holdingClient(port, i, 0, 30000)));
    t.is(outcomes.filter((o) => o.echoed).length, 300);
    t.is(outcomes.filter((o) => o.reset || o.eofBeforeEcho).length, 0);
    const st = server.stats();
    t.is(st.acceptor.acceptErrors, 0, 'no accept ever failed for lack of a slot');
    t.true(st.acceptor.stalls > 0, 'the acceptor stalled on its full table and recovered');
  } finally {
    await server.close({ timeout: 500 });
  }
});

test.serial('with RLIMIT_NOFILE lowered to 64, a server in a child process still serves 200 connections', async (t) => {
  // direct descriptors do not use process fds: the low limit only caps table sizes
  const { spawn } = await import('node:child_process');
  const { CLI } = await import('./helpers.js');
  const child = spawn('prlimit', ['--nofile=64:64', process.execPath, CLI, 'echo', '--port', '0', '--workers', '1', '--json', '--interval', '200ms'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  try {
    t.true(await waitFor(() => out.includes('"listening"'), 10000), err);
    const port = JSON.parse(out.split('\n').find((l) => l.includes('"event":"listening"'))!).port as number;
    const outcomes = await Promise.all(Array.from({ length: 200 }, (_, i) => holdingClient(port, i, 50, 20000)));
    t.is(outcomes.filter((o) => o.echoed).length, 200, err);
    await sleep(300);
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const last = lines.filter((l) => l.event === 'stats').at(-1);
    t.is(last.workers[0].accepted, 200);
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.on('close', r));
  }
});

test.serial('CLI: --max-connections and --worker-table-size show pause, resume and saturation in JSON lines', async (t) => {
  const { spawn } = await import('node:child_process');
  const { CLI } = await import('./helpers.js');
  const child = spawn(process.execPath, [CLI, 'echo', '--port', '0', '--workers', '2', '--max-connections', '5', '--worker-table-size', '2', '--json', '--interval', '100ms'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  try {
    t.true(await waitFor(() => out.includes('"listening"'), 10000));
    const port = JSON.parse(out.split('\n').find((l) => l.includes('"event":"listening"'))!).port as number;
    const socks: net.Socket[] = [];
    for (let i = 0; i < 7; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      socks.push(s);
    }
    await sleep(400);
    for (const s of socks) s.destroy();
    await sleep(400);
    child.kill('SIGINT');
    await new Promise((r) => child.on('close', r));
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const events = lines.map((l) => l.event);
    // 2 workers x 2 slots hold 4; the 5th hand-off fills a table (-ENFILE)
    t.true(
      lines.some((l) => l.event === 'pause' && typeof l.reason === 'string'),
      JSON.stringify(events),
    );
    t.true(events.includes('resume'), JSON.stringify(events));
    t.true(lines.some((l) => l.paused === true && l.live === 4));
    t.true(
      lines.some((l) => Array.isArray(l.workers) && l.workers.some((w: { saturated: boolean }) => w.saturated)),
      'a saturated worker shows',
    );
    const closed = lines[lines.length - 1];
    t.is(closed.event, 'closed');
    t.is(closed.total.accepted, 7, 'all seven served in the end');
  } finally {
    child.kill('SIGKILL');
  }
});
