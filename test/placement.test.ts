/**
 * Placement users steer (issue 14 item 8): `policy: 'source-hash'`
 * (`--placement source-hash`) keeps a client address on one worker and
 * walks on to the next one when it cannot take more or is being replaced;
 * `placement: (conn) => workerIndex` is called per connection, validated,
 * timed, and falls back to the policy when it throws or answers nonsense.
 */
import test from 'ava';
import net from 'node:net';
import { createServer, type PlacementInfo, type Server } from '@ringleader/runtime';
import { Scheduler } from '@ringleader/runtime/internal';
import { runCli, sleep, waitFor } from './helpers.js';
import { fixture } from './js-helpers.js';

interface Client {
  worker: number;
  sock: net.Socket;
}

/** Connect from `source`, ask which worker serves us; the connection stays open until closed. */
function whoami(port: number, source = '127.0.0.1', ms = 10000): Promise<Client> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1', localAddress: source });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer from ${source} in ${ms} ms`));
    }, ms);
    let got = '';
    sock.on('connect', () => sock.write('?'));
    sock.on('data', (d) => {
      got += d;
      if (got.endsWith('\n')) {
        clearTimeout(timer);
        resolve({ worker: Number(got.trim()), sock });
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function once(port: number, source?: string): Promise<number> {
  const c = await whoami(port, source);
  c.sock.destroy();
  return c.worker;
}

async function withServer(opts: Parameters<typeof createServer>[0], fn: (s: Server, port: number) => Promise<void>): Promise<void> {
  const server = createServer({ workers: 4, handler: fixture('whoami.mjs'), ...opts });
  const { port } = await server.listen();
  try {
    await fn(server, port);
  } finally {
    await server.close({ timeout: 500 });
  }
}

const SOURCES = Array.from({ length: 12 }, (_, i) => `127.0.0.${i + 2}`);

test.serial('source-hash: each client address always lands on the same worker; addresses spread over workers', async (t) => {
  await withServer({ policy: 'source-hash' }, async (server, port) => {
    const home = new Map<string, number>();
    for (let round = 0; round < 3; round++) {
      for (const src of SOURCES) {
        const w = await once(port, src);
        if (round === 0) home.set(src, w);
        else t.is(w, home.get(src) ?? -1, `${src} moved from worker ${home.get(src)} to ${w}`);
      }
    }
    t.true(new Set(home.values()).size >= 2, `12 addresses over 4 workers: ${JSON.stringify([...home])}`);
    const st = server.stats().placement!;
    t.is(st.mode, 'source-hash');
    t.is(st.calls, 36);
    t.is(st.fallbacks, 0);
  });
});

test.serial('source-hash: a saturated worker passes its clients to the next worker, and takes them back; nothing dropped', async (t) => {
  await withServer({ policy: 'source-hash', maxConnectionsPerWorker: 1 }, async (server, port) => {
    const first = await whoami(port, '127.0.0.9');
    const home = first.worker;
    // home is at its limit: the same client goes to the next worker index, every time
    const second = await whoami(port, '127.0.0.9');
    t.is(second.worker, (home + 1) % 4);
    second.sock.destroy();
    t.true(await waitFor(() => server.stats().workers[(home + 1) % 4].live === 0, 3000));
    t.is(await once(port, '127.0.0.9'), (home + 1) % 4);
    first.sock.destroy();
    t.true(await waitFor(() => server.stats().workers[home].live === 0, 3000));
    t.is(await once(port, '127.0.0.9'), home, 'back home once it has room');
    t.true(server.stats().placement!.fallbacks >= 2);
    t.is(server.stats().dropped, 0);
  });
});

test.serial('source-hash: while its worker is replaced the client is served by the next one, then returns', async (t) => {
  await withServer({ policy: 'source-hash' }, async (server, port) => {
    const home = await once(port, '127.0.0.10');
    const exited = new Promise((r) => server.once('worker-exit', r));
    const replaced = new Promise((r) => server.once('worker-ready', r));
    void server.terminateWorker(home);
    await exited;
    const during = await once(port, '127.0.0.10');
    t.not(during, home);
    await replaced;
    await sleep(50);
    t.is(await once(port, '127.0.0.10'), home, 'sticky again after the replacement');
    t.is(server.stats().dropped, 0);
  });
});

test('scheduler: source-hash preference walks to the next open worker index, wrapping', (t) => {
  const s = new Scheduler('source-hash');
  const live = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) s.add({ id: 100 + i, index: i, weight: 1, capacity: 1, live: () => live[i] });
  const out = new Int32Array(1);
  const place = (w: number) => {
    const n = s.assign(1, out, Int32Array.of(w));
    if (n === 0) return -1;
    live[out[0] - 100]++;
    s.settled(out[0]);
    return out[0] - 100;
  };
  t.is(place(3), 3);
  t.is(place(3), 0, 'wraps to index 0');
  t.is(place(3), 1);
  s.remove(102);
  t.is(place(2), -1, 'index 2 gone and every other worker full');
  live[0] = 0;
  t.is(place(2), 0, 'the next open index after 2 (3 full, then 0)');
});

test.serial('placement function: called per connection with the peer and the workers; its choice is honoured', async (t) => {
  const seen: PlacementInfo[] = [];
  await withServer(
    {
      placement: (conn) => {
        seen.push({ remoteAddress: conn.remoteAddress, remotePort: conn.remotePort, remoteFamily: conn.remoteFamily, workers: conn.workers });
        return conn.remotePort! % 2 === 0 ? 2 : 3;
      },
    },
    async (server, port) => {
      for (let i = 0; i < 10; i++) {
        const c = await whoami(port);
        t.is(c.worker, c.sock.localPort! % 2 === 0 ? 2 : 3, `port ${c.sock.localPort}`);
        c.sock.destroy();
      }
      t.is(seen.length, 10);
      t.is(seen[0].remoteAddress, '127.0.0.1');
      t.is(seen[0].remoteFamily, 'IPv4');
      t.deepEqual(
        seen[0].workers.map((w) => w.index),
        [0, 1, 2, 3],
      );
      t.true(seen[0].workers.every((w) => w.ready && typeof w.live === 'number'));
      const st = server.stats().placement!;
      t.is(st.mode, 'function');
      t.is(st.calls, 10);
      t.is(st.errors, 0);
      t.true(st.meanUs > 0 && st.maxUs >= st.meanUs);
    },
  );
});

test.serial('placement function: a throw or a bad index is counted, warned once, and the connection is still served', async (t) => {
  let n = 0;
  const answers: unknown[] = [99, -1, 1.5, 'two', Number.NaN];
  await withServer(
    {
      placement: () => {
        const i = n++;
        if (i === 0) throw new Error('placement bug');
        return answers[(i - 1) % answers.length] as number;
      },
    },
    async (server, port) => {
      const warnings: { code: string; message: string }[] = [];
      server.on('warning', (w) => warnings.push(w));
      for (let i = 0; i < 6; i++) {
        const w = await once(port);
        t.true(w >= 0 && w < 4);
      }
      const st = server.stats().placement!;
      t.is(st.calls, 6);
      t.is(st.errors, 6);
      t.is(warnings.filter((w) => w.code === 'ERR_PLACEMENT').length, 1);
      t.regex(warnings.find((w) => w.code === 'ERR_PLACEMENT')!.message, /threw: placement bug/);
      t.is(server.stats().total.accepted, 6);
    },
  );
});

test('placement options: a non-function is a TypeError, with source-hash a RangeError; --placement source-hash is a CLI choice', async (t) => {
  t.throws(() => createServer({ placement: 3 as never }), { instanceOf: TypeError, message: /option "placement"/ });
  t.throws(() => createServer({ placement: () => 0, policy: 'source-hash' }), { instanceOf: RangeError, message: /"placement" conflicts with option "policy"/ });
  const r = await runCli(['echo', '--help']);
  t.regex(r.stdout, /source-hash/);
  const bad = await runCli(['echo', '--placement', 'source-hashed']);
  t.is(bad.code, 2);
});
