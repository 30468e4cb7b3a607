/**
 * SIGUSR2: a process upgrade. A new process of the same binary serves the
 * inherited listening socket; the old one stops accepting once the new one
 * is ready, drains and exits. Under continuous connection churn no
 * connection fails; the admin port moves to the new process.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, echoChurn, echoOnce, killAll, sleep, waitFor } from './helpers.js';
import { fixture } from './js-helpers.js';
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

/** a CLI server with its output kept; `lines(event)` its JSON lines of that event */
function jsonServer(args: string[]) {
  const p = spawn(process.execPath, [CLI, ...args, '--json', '--interval', '200ms'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
  const lines = (event: string) =>
    out
      .split('\n')
      .filter((l) => l.includes(`"event":"${event}"`))
      .map((l) => JSON.parse(l) as { pid: number; port: number });
  return { p, exited, lines, out: () => out, err: () => err };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('a failed upgrade gives the admin endpoint back: the old process goes on serving with /healthz and /metrics', async (t) => {
  const admin = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'rl-upgrade-'));
  const config = join(dir, 'server.yaml');
  writeFileSync(config, `listen: 127.0.0.1:0\nworkers: 1\nadmin: 127.0.0.1:${admin}\n`);
  const s = jsonServer(['echo', '--config', config]);
  try {
    t.true(await waitFor(() => s.lines('listening').length === 1, 20000), s.err());
    const { port } = s.lines('listening')[0];
    // the new process reads the file as it is now, and refuses it (exit 2)
    writeFileSync(config, `listen: 127.0.0.1:0\nworkers: 0\nadmin: 127.0.0.1:${admin}\n`);
    s.p.kill('SIGUSR2');
    t.true(await waitFor(() => /the new process exited \(code 2\) before it was ready; this one goes on serving\b/.test(s.err()), 20000), s.err());
    t.notRegex(s.err(), /without its admin endpoint/);
    const health = await fetch(`http://127.0.0.1:${admin}/healthz`);
    t.is(health.status, 200);
    t.regex(await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text(), /ringleader_connections/);
    const r = await echoOnce(port, Buffer.from('still here'));
    t.is(r.received, r.sent);
    // and it can upgrade again once the file is right
    writeFileSync(config, `listen: 127.0.0.1:0\nworkers: 1\nadmin: 127.0.0.1:${admin}\n`);
    s.p.kill('SIGUSR2');
    t.is(await s.exited, 0, s.err());
    t.is(s.lines('listening').length, 2);
    killAll(s.lines('listening')[1].pid);
  } finally {
    s.p.kill('SIGKILL');
    for (const l of s.lines('listening')) killAll(l.pid);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a stop signal during an upgrade stops the new process too: no server is left behind', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rl-upgrade-'));
  const marker = join(dir, 'hang');
  const s = jsonServer(['serve', fileURLToPath(fixture('hang-init.mjs')), '--port', '0', '--workers', '1', '--options', JSON.stringify({ marker }), '--drain', '500ms']);
  let childPid = 0;
  try {
    t.true(await waitFor(() => s.lines('listening').length === 1, 20000), s.err());
    // from now on a new process hangs in its handler's init
    writeFileSync(marker, '');
    s.p.kill('SIGUSR2');
    t.true(await waitFor(() => /starting the new process/.test(s.err()), 10000), s.err());
    await sleep(500);
    s.p.kill('SIGTERM');
    t.is(await s.exited, 0, s.err());
    const m = /the new process (\d+) of the upgrade under way is stopped too/.exec(s.err());
    t.truthy(m, s.err());
    childPid = Number(m?.[1]);
    t.true(await waitFor(() => !alive(childPid), 10000), `process ${childPid} still runs`);
  } finally {
    s.p.kill('SIGKILL');
    if (childPid) killAll(childPid);
    rmSync(dir, { recursive: true, force: true });
  }
});
