/**
 * Option `acceptors` (issue 12, acceptor ceiling): several acceptor rings,
 * each on a thread of its own with its own SO_REUSEPORT listener on the one
 * port and its own share of the workers. The kernel spreads connections
 * over the listeners; the server reports, reloads and closes as one.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { createServer } from '@ringleader/runtime';
import { echoChurn, echoOnce, killAll, sleep, userThreadCount, waitFor } from './helpers.js';
import { collect, connect, fixture, Reports } from './js-helpers.js';
import { freePort, jsonCli } from './ops-helpers.js';

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test("two acceptors: own threads and listeners on one port, both get connections, each only for its own workers; stats, metrics and close are the one server's", async (t) => {
  const server = createServer({ workers: 4, acceptors: 2, handler: 'echo', admin: '127.0.0.1:0' });
  const addr = await server.listen();
  let closed = false;
  try {
    const addrs = server.addresses();
    t.is(addrs.length, 2);
    t.true(addrs.every((a) => a.port === addr.port && a.address === '127.0.0.1'));
    const n = 60;
    for (let i = 0; i < n; i++) {
      const r = await echoOnce(addr.port, Buffer.from(`conn ${i}`));
      t.true(r.cleanClose && r.received === r.sent, r.error);
    }
    t.true(await waitFor(() => server.stats().total.closed === n, 5000));
    const st = server.stats();
    t.deepEqual(
      st.workers.map((w) => w.index),
      [0, 1, 2, 3],
    );
    t.is(st.total.accepted, n);
    t.is(st.acceptor.accepted, n, "the acceptors' counters add up");
    t.is(st.handoff.count, n, 'hand-off latency over every worker block');
    t.is(st.acceptors.length, 2);
    t.deepEqual(
      st.acceptors.map((a) => a.workers),
      [
        [0, 1],
        [2, 3],
      ],
    );
    // the kernel hashes each connection to one listener: both got some (all 60 on one: p = 2^-59)
    t.true(
      st.acceptors.every((a) => a.counters.accepted > 0),
      st.acceptors.map((a) => a.counters.accepted).join(' / '),
    );
    for (const a of st.acceptors) {
      const own = a.workers.reduce((s, i) => s + st.workers[i].accepted, 0);
      t.is(own, a.counters.accepted, `acceptor ${a.index} handed its connections to its own workers only`);
    }
    // each acceptor is a thread of this process, not the main thread
    const tids = st.acceptors.map((a) => a.tid);
    t.is(new Set(tids).size, 2);
    t.false(tids.includes(process.pid));
    t.true(tids.every((tid) => existsSync(`/proc/self/task/${tid}`)));
    // Prometheus: one series per acceptor
    const m = await (await fetch(`http://127.0.0.1:${server.adminAddress()!.port}/metrics`)).text();
    const per = [0, 1].map((i) => sample(m, `ringleader_acceptor_accepted_total{acceptor="${i}"}`) ?? -1);
    t.is(
      per[0] + per[1],
      n,
      m
        .split('\n')
        .filter((l) => l.includes('acceptor_accepted'))
        .join('\n'),
    );
    // close with a connection open: it is drained or forced, and counted once
    const s = await connect(addr.port);
    const done = collect(s);
    t.true(await waitFor(() => server.stats().total.live === 1, 3000));
    const summary = await server.close({ timeout: 300 });
    closed = true;
    t.is(summary.drained + summary.forced, 1, JSON.stringify(summary));
    t.true((await done).ended || (await done).error !== undefined);
    const after = server.stats();
    t.false(after.listening);
    t.is(after.total.accepted, n + 1, 'stats after close keep the final counts');
    t.is(after.total.live, 0);
    // the acceptor threads ended with the server
    t.true(await waitFor(() => tids.every((tid) => !existsSync(`/proc/self/task/${tid}`)), 5000));
  } finally {
    if (!closed) await server.close({ timeout: 0 });
  }
});

test("several acceptors: a rolling reload replaces every worker, terminateWorker and worker events use the server's worker indexes, restart-only options are named", async (t) => {
  const server = createServer({ workers: 3, acceptors: 2, handler: 'echo' });
  const ready: { worker: number; acceptor: number }[] = [];
  const exits: { worker: number; acceptor: number }[] = [];
  server.on('worker-ready', (e) => ready.push(e));
  server.on('worker-exit', (e) => exits.push(e));
  const { port } = await server.listen();
  try {
    t.deepEqual(ready.map((e) => e.worker).sort(), [0, 1, 2]);
    // 3 workers over 2 acceptors: the first takes the remainder
    t.deepEqual(
      server.stats().acceptors.map((a) => a.workers),
      [[0, 1], [2]],
    );
    const held = await connect(port);
    const heldDone = collect(held);
    const r = await server.reload({ drainTimeout: 200 });
    t.is(r.replaced, 3);
    t.is(r.drained + r.forced, 1, 'the open connection was drained or forced once');
    await heldDone;
    const a1 = await echoOnce(port, Buffer.from('after reload'));
    t.is(a1.received, a1.sent);
    // acceptors and workers are fixed for the process: named, not applied
    const r2 = await server.reload({ drainTimeout: 100, options: { workers: 3, acceptors: 3, handler: 'echo' } });
    t.deepEqual(r2.restartRequired, ['acceptors']);
    t.is(server.options.acceptors, 2);
    // worker 2 belongs to the second acceptor: its events name it as the server does
    exits.length = 0;
    ready.length = 0;
    await server.terminateWorker(2);
    t.true(await waitFor(() => ready.some((e) => e.worker === 2), 10000), JSON.stringify({ ready, exits }));
    t.deepEqual(
      exits.map((e) => [e.worker, e.acceptor]),
      [[2, 1]],
    );
    await t.throwsAsync(server.terminateWorker(3), { code: 'ERR_OUT_OF_RANGE' });
    const a2 = await echoOnce(port, Buffer.from('after terminate'));
    t.is(a2.received, a2.sent);
  } finally {
    await server.close({ timeout: 0 });
  }
});

test("several acceptors: a handler error in an acceptor's worker reaches a listener on the main thread", async (t) => {
  const reports = new Reports<Record<string, unknown>>();
  const server = createServer({ workers: 2, acceptors: 2, handler: fixture('destroy.mjs'), handlerOptions: { channel: reports.name } });
  const events: { worker: number; error: Error }[] = [];
  server.on('handler-error', (e) => events.push(e));
  const { port } = await server.listen();
  try {
    const s = await connect(port);
    const done = collect(s);
    s.write('THROW');
    await done;
    t.true(await waitFor(() => events.length === 1, 5000), 'reported once');
    t.regex(events[0].error.message, /^handler exploded on \d+$/);
    t.true(events[0].worker === 0 || events[0].worker === 1);
    t.is(server.stats().total.handlerErrors, 1);
  } finally {
    reports.close();
    await server.close({ timeout: 0 });
  }
});

test('several acceptors: what cannot go with them is refused, naming both options', (t) => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ workers: 2, acceptors: 3 }, /"acceptors" must be at most one per worker/],
    [{ workers: 2, acceptors: 0 }, /"acceptors"/],
    [{ workers: 2, acceptors: 1.5 }, /"acceptors"/],
    [{ workers: 2, acceptors: 2, placement: () => 0 }, /"acceptors".*"placement"/],
    [{ workers: 2, acceptors: 2, policy: 'source-hash' }, /"acceptors".*"policy"/],
    [{ workers: 2, acceptors: 2, fd: 3 }, /"acceptors".*"fd"/],
    [{ workers: 2, acceptors: 2, fds: [3] }, /"acceptors".*"fds".*exactly 2/],
    [{ workers: 2, acceptors: 2, maxConnections: 1 }, /"acceptors".*"maxConnections"/],
    [{ workers: 2, acceptors: 2, reusePort: false }, /"acceptors".*"reusePort"/],
  ];
  for (const [o, re] of bad) t.throws(() => createServer(o), { message: re }, JSON.stringify(o));
  t.is(createServer({ workers: 2 }).options.acceptors, 1);
});

test('several acceptors: a port taken by another listener fails listen() with EADDRINUSE and leaves no thread behind', async (t) => {
  const other = net.createServer();
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  const port = (other.address() as net.AddressInfo).port;
  const threads = userThreadCount();
  try {
    const server = createServer({ workers: 2, acceptors: 2, port });
    const e = await t.throwsAsync(server.listen(), { code: 'EADDRINUSE' });
    t.is((e as Error & { port?: number }).port, port);
    t.false(server.listening);
    t.true(await waitFor(() => userThreadCount() <= threads, 5000), `${userThreadCount()} threads, ${threads} before`);
  } finally {
    other.close();
  }
});

test('ringleader echo --acceptors 2: the listening line says so, and SIGUSR2 hands both listeners to the new process with no failed connection', async (t) => {
  const port = await freePort();
  const srv = jsonCli(['echo', '--port', String(port), '--workers', '2', '--acceptors', '2', '--interval', '200ms', '--drain', '2s']);
  let newPid = 0;
  try {
    const first = (await srv.line('listening')) as { pid: number; acceptors: number; acceptorTids: number[]; addresses: string[] };
    t.is(first.acceptors, 2);
    t.deepEqual(first.addresses, [`127.0.0.1:${port}`]);
    t.is(first.acceptorTids.length, 2);
    t.true(
      first.acceptorTids.every((tid) => existsSync(`/proc/${first.pid}/task/${tid}`)),
      'the acceptor threads are threads of the server',
    );
    const churn = echoChurn(port, 3, 30000);
    await sleep(300);
    srv.p.kill('SIGUSR2');
    const second = (await srv.line('listening', 20000, 1)) as { pid: number; acceptors: number };
    newPid = second.pid;
    t.is(second.acceptors, 2, 'the new process runs both acceptors, one inherited socket each');
    t.is(await srv.exited, 0, srv.stderr);
    const before = churn.ok();
    await sleep(300);
    await churn.stop();
    t.deepEqual(churn.failures, [], `${churn.failures.length} failed of ${churn.ok() + churn.failures.length}`);
    t.true(churn.ok() > before, 'the new process serves');
    t.log(`${churn.ok()} connections through the upgrade, 0 failed`);
  } finally {
    srv.p.kill('SIGKILL');
    killAll(newPid);
  }
});
