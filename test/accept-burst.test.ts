/**
 * The acceptor never lets the kernel accept more connections than it has
 * free slots (hardening issue, defect 4): a direct accept into a full table
 * is accepted by the kernel and then dropped, which the client sees as a
 * reset.
 *
 * The burst: the main thread (which drives the acceptor ring) is blocked
 * right after listen() while 2,300 clients connect into a backlog of 4,096,
 * then released with only 2,100 acceptor slots and one worker of 16.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createServer, type ServerOptions } from '@ringleader/runtime';
import { ROOT, waitFor } from './helpers.js';

const CLIENTS = 2300;

async function burst(t: import('ava').ExecutionContext, extra: ServerOptions): Promise<void> {
  t.timeout(150_000);
  const server = createServer({ workers: 1, port: 0, workerTableSize: 16, acceptorTableSize: 2100, backlog: 4096, ...extra });
  const { port } = await server.listen();
  try {
    const child = spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'burst-clients.mjs'), String(port), String(CLIENTS)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    // the acceptor's completions run only on this thread: block it while the
    // clients connect, so they all wait in the backlog at once
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 4000);
    const code = await exited;
    t.is(code, 0);
    const r = JSON.parse(stdout);
    t.is(r.connected, CLIENTS);
    t.is(r.echoed, CLIENTS, 'every client echoed');
    t.is(r.reset, 0, 'no client reset');
    t.is(r.eofBeforeEcho, 0);
    t.deepEqual(r.errors, {});
    t.true(await waitFor(() => server.stats().total.closed === CLIENTS, 10_000));
    const st = server.stats();
    t.is(st.acceptor.errEnfile, 0, 'no accept into a full acceptor table');
    t.is(st.total.accepted, CLIENTS);
    t.is(st.dropped, 0);
  } finally {
    await server.close({ timeout: 2000 });
  }
}

test.serial('accept burst after a 4 s stall: 2,300 clients, 2,100 acceptor slots, none reset (default accepts)', (t) => burst(t, {}));

test.serial('accept burst after a 4 s stall with multishotAccept: none reset', (t) => burst(t, { multishotAccept: true }));
