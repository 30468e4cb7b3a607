/**
 * The scheduler's pick for the next connection is made ahead of its accept
 * (dispatch.ts #pickAhead), so the acceptor hands it off as the accept
 * completes instead of after the scheduler's JS has run. These check that
 * it is used, that placement still follows the policy, and that it stays
 * out of the way where a connection must wait or be placed by address.
 */
import test from 'ava';
import { createServer, type ServerOptions } from '@ringleader/runtime';
import { echoOnce, randomPayload, waitFor } from './helpers.js';

async function sequential(opts: ServerOptions, n: number) {
  const server = createServer({ port: 0, ...opts });
  const { port } = await server.listen();
  try {
    for (let i = 0; i < n; i++) {
      const p = randomPayload(1, 512);
      const r = await echoOnce(port, p);
      if (r.received !== r.sent) throw new Error(`connection ${i}: ${r.received} of ${r.sent} bytes echoed`);
    }
    if (!(await waitFor(() => server.stats().total.closed === n, 5000))) throw new Error('not every connection closed');
    return server.stats();
  } finally {
    await server.close({ timeout: 1000 });
  }
}

test('one connection at a time: handed off to the pick made ahead, round-robin still alternates exactly', async (t) => {
  const N = 40;
  const st = await sequential({ workers: 2, policy: 'round-robin' }, N);
  t.is(st.acceptor.accepted, N);
  t.is(st.acceptor.handoffs, N);
  // the first pick is made when the workers are ready; each batch after a
  // placed connection makes the next one (a connection accepted before that
  // batch ran goes through the scheduler's JS instead)
  t.true(st.acceptor.placedAhead >= N / 2, `placed ahead: ${st.acceptor.placedAhead} of ${N}`);
  t.deepEqual(
    st.workers.map((w) => w.accepted),
    [N / 2, N / 2],
  );
  t.is(st.total.live, 0);
});

test('source-hash places by address: no pick is made ahead', async (t) => {
  const st = await sequential({ workers: 2, policy: 'source-hash' }, 10);
  t.is(st.acceptor.handoffs, 10);
  t.is(st.acceptor.placedAhead, 0);
});

test('maxConnections 1: the pick made ahead never lets a second connection in', async (t) => {
  const server = createServer({ port: 0, workers: 2, maxConnections: 1 });
  const { port } = await server.listen();
  try {
    const net = await import('node:net');
    const a = net.connect(port, '127.0.0.1');
    await new Promise((r) => a.once('connect', r));
    t.true(await waitFor(() => server.stats().total.live === 1, 3000));
    // a second client: the kernel completes its handshake, but it must wait in the backlog
    const b = net.connect(port, '127.0.0.1');
    await new Promise((r) => b.once('connect', r));
    await new Promise((r) => setTimeout(r, 300));
    const st = server.stats();
    t.is(st.total.live, 1, 'only one connection on the workers');
    t.is(st.acceptor.handoffs, 1);
    // when the first leaves, the second is served
    a.destroy();
    b.write('ping');
    const got = await new Promise<string>((resolve, reject) => {
      b.once('data', (d) => resolve(d.toString()));
      setTimeout(() => reject(new Error('the waiting client was never served')), 5000).unref();
    });
    t.is(got, 'ping');
    b.destroy();
  } finally {
    await server.close({ timeout: 1000 });
  }
});
