/**
 * SIGUSR2: a process upgrade. A new process of the same binary serves the
 * inherited listening socket; the old one stops accepting once the new one
 * is ready, drains and exits. Under continuous connection churn no
 * connection fails; the admin port moves to the new process.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { CLI, echoChurn, echoOnce, killAll, sleep, waitFor } from './helpers.js';
import { freePort } from './ops-helpers.js';

test('SIGUSR2 under connection churn: the new process takes over, the old drains and exits 0, zero failed connections', async (t) => {
  const admin = await freePort();
  const p = spawn(process.execPath, [CLI, 'echo', '--port', '0', '--workers', '1', '--json', '--interval', '200ms', '--drain', '2s', '--admin', `127.0.0.1:${admin}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  // 'exit', not 'close': the new process keeps the inherited stdout open
  const exited = new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
  const listening = () =>
    out
      .split('\n')
      .filter((l) => l.includes('"event":"listening"'))
      .map((l) => JSON.parse(l) as { pid: number; port: number });
  let newPid = 0;
  try {
    t.true(await waitFor(() => listening().length === 1, 20000), err);
    const { port, pid } = listening()[0];
    t.is(pid, p.pid ?? -1);
    // churn: 4 loops of connect, echo, close; bounded in count and time
    const churn = echoChurn(port, 4, 30000);
    await sleep(500);
    const before = churn.ok();
    p.kill('SIGUSR2');
    t.true(await waitFor(() => listening().length === 2, 20000), err);
    newPid = listening()[1].pid;
    t.not(newPid, p.pid);
    t.is(listening()[1].port, port, 'the same socket');
    t.is(await exited, 0, err);
    t.regex(out, /"event":"upgrade","pid":\d+/);
    t.regex(out, /"event":"closed","signal":"SIGUSR2"/);
    await sleep(500);
    await churn.stop();
    const { failures } = churn;
    const ok = churn.ok();
    t.deepEqual(failures, [], `${failures.length} failed of ${ok + failures.length}`);
    t.true(ok > before, 'connections went on through the upgrade');
    t.log(`${ok} connections, ${before} before SIGUSR2, 0 failed`);
    // the new process serves, and has the admin port now
    const st = (await (await fetch(`http://127.0.0.1:${admin}/stats`)).json()) as { total: { accepted: number } };
    t.true(st.total.accepted > 0, 'the new process accepted connections');
    const last = await echoOnce(port, Buffer.from('after'));
    t.is(last.received, last.sent);
  } finally {
    p.kill('SIGKILL');
    killAll(newPid);
  }
});
