/**
 * The deployment material under deploy/, tested where this machine can:
 * the systemd units pass `systemd-analyze verify` and their ExecStart runs
 * under the socket unit's activation (systemd-socket-activate) with
 * Type=notify readiness; the Kubernetes container args start the server and
 * its probes answer as the kubelet expects; the stress Job's pods, run as
 * processes here, merge as its header says. (The Dockerfile needs a
 * container engine and base images; not built here.)
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, echoOnce, ROOT, sleep, waitFor } from './helpers.js';
import { runTool } from './js-helpers.js';
import { freePort, notifySocket } from './ops-helpers.js';

const unit = (name: string) => readFileSync(join(ROOT, 'deploy', 'systemd', name), 'utf8');

/** ExecStart's arguments after the ringleader binary. */
function execStartArgs(service: string): string[] {
  const line = service.split('\n').find((l) => l.startsWith('ExecStart='))!;
  return line.slice('ExecStart='.length).trim().split(/\s+/).slice(1);
}

test('systemd units: systemd-analyze verify is clean; Type=notify, LimitMEMLOCK, LimitNOFILE, ExecReload, a .socket', async (t) => {
  const service = unit('ringleader.service');
  for (const k of ['Type=notify', 'LimitMEMLOCK=', 'LimitNOFILE=', 'ExecReload=', 'Requires=ringleader.socket']) t.true(service.includes(`\n${k}`), k);
  t.regex(unit('ringleader.socket'), /\nListenStream=/);
  const dir = mkdtempSync(join(tmpdir(), 'ops-units-'));
  try {
    // the unit names an installed binary; verify it against this checkout's CLI
    const here = service.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath} ${CLI}`);
    writeFileSync(join(dir, 'ringleader.service'), here);
    writeFileSync(join(dir, 'ringleader.socket'), unit('ringleader.socket'));
    const r = await runTool('systemd-analyze', ['verify', join(dir, 'ringleader.service'), join(dir, 'ringleader.socket')], 30000);
    t.is(r.code, 0, r.stderr);
    t.is(r.stderr.trim(), '', 'no warnings');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("systemd units: the service's ExecStart on the socket unit's socket: notify readiness, admin ready, serves; ExecReload's SIGHUP reloads (RELOADING=1, READY=1)", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ops-unit-run-'));
  const sock = await notifySocket(join(dir, 'notify'));
  const port = await freePort();
  const admin = await freePort();
  const args = execStartArgs(unit('ringleader.service')).map((a) => (a === '127.0.0.1:9100' ? `127.0.0.1:${admin}` : a));
  t.true(args.includes(`127.0.0.1:${admin}`), 'the unit serves --admin on 127.0.0.1:9100');
  const p = spawn('systemd-socket-activate', ['-l', `127.0.0.1:${port}`, '-E', `NOTIFY_SOCKET=${join(dir, 'notify')}`, process.execPath, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  p.stderr.on('data', (d) => (err += d));
  p.stdout.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => p.on('close', (c) => r(c)));
  try {
    t.true(await waitFor(() => err.includes('Listening on'), 10000), err);
    const r = await echoOnce(port, Buffer.from('unit'), 40000);
    t.is(r.received, r.sent, r.error);
    t.true(await waitFor(() => sock.got.some((d) => d.startsWith('READY=1')), 30000), err);
    t.is((await fetch(`http://127.0.0.1:${admin}/readyz`)).status, 200);
    // ExecReload: a rolling reload, announced to systemd as RELOADING=1 then READY=1
    const before = sock.got.length;
    p.kill('SIGHUP');
    t.true(await waitFor(() => sock.got.slice(before).some((d) => d.startsWith('RELOADING=1')), 10000), JSON.stringify(sock.got));
    t.true(await waitFor(() => sock.got.slice(before).some((d) => d.startsWith('READY=1')), 30000), JSON.stringify(sock.got));
    t.true(await waitFor(() => out.includes('"event":"reload"'), 5000), out.slice(-500));
    const again = await echoOnce(port, Buffer.from('still'));
    t.is(again.received, again.sent);
    p.kill('SIGTERM');
    t.is(await exited, 0, err);
  } finally {
    p.kill('SIGKILL');
    sock.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kubernetes manifest: the container args start the server; liveness and readiness probes answer on the admin port', async (t) => {
  const yaml = readFileSync(join(ROOT, 'deploy', 'kubernetes', 'ringleader.yaml'), 'utf8');
  const args = JSON.parse(/^\s+args: (\[.*\])$/m.exec(yaml)![1]) as string[];
  const probes = [...yaml.matchAll(/(livenessProbe|readinessProbe):\s*\n\s+httpGet: \{ path: (\/\w+), port: admin \}/g)].map((m) => [m[1], m[2]]);
  t.deepEqual(probes, [
    ['livenessProbe', '/healthz'],
    ['readinessProbe', '/readyz'],
  ]);
  t.regex(yaml, /preStop:/);
  t.regex(yaml, /seccompProfile:/);
  t.regex(yaml, /memlock/i);
  // the manifest's ports, moved to free ones on loopback
  const port = await freePort();
  const admin = await freePort();
  const local = args.map((a) => (a === ':7000' ? `127.0.0.1:${port}` : a === ':9100' ? `127.0.0.1:${admin}` : a));
  const p = spawn(process.execPath, [CLI, ...local], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => p.on('close', (c) => r(c)));
  try {
    t.true(await waitFor(() => out.includes('"event":"listening"'), 15000), out);
    for (const [, path] of probes) t.is((await fetch(`http://127.0.0.1:${admin}${path}`)).status, 200, path);
    // during the drain (SIGTERM after preStop) readiness fails and liveness holds
    const hold = await new Promise<net.Socket>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => resolve(c));
    });
    p.kill('SIGTERM');
    await sleep(300);
    t.is((await fetch(`http://127.0.0.1:${admin}/readyz`)).status, 503);
    t.is((await fetch(`http://127.0.0.1:${admin}/healthz`)).status, 200);
    hold.destroy();
    t.is(await exited, 0);
  } finally {
    p.kill('SIGKILL');
  }
});

test('kubernetes stress Job: an Indexed Job whose pods, run here as two processes against a local server, merge into one result with the commands its header gives', async (t) => {
  const yaml = readFileSync(join(ROOT, 'deploy', 'kubernetes', 'stress-job.yaml'), 'utf8');
  t.regex(yaml, /^kind: Job$/m);
  t.regex(yaml, /^\s+completionMode: Indexed$/m);
  const completions = /^\s+completions: (\d+)$/m.exec(yaml)?.[1];
  t.is(/^\s+parallelism: (\d+)$/m.exec(yaml)?.[1], completions, 'every pod loads at once');
  t.regex(yaml, /^\s+backoffLimit: 0$/m);
  t.regex(yaml, /^\s+restartPolicy: Never$/m);
  t.regex(yaml, /podAntiAffinity:/);
  t.regex(yaml, /seccompProfile:/);
  const args = JSON.parse(/^\s+args: (\[.*\])$/m.exec(yaml)![1]) as string[];
  t.is(args[0], 'stress');
  t.true(args.includes('--json'), 'each pod prints its result as JSON');
  // the header's merge command, as a user runs it on the collected logs
  const mergeLine = /^#\s+ringleader (stress merge) \S+$/m.exec(yaml);
  t.truthy(mergeLine, 'the header says how to merge');

  const server = await import('@ringleader/runtime').then((m) => m.createServer({ port: 0, workers: 1 }));
  const { port } = await server.listen();
  const dir = mkdtempSync(join(tmpdir(), 'stress-job-'));
  try {
    // the header's way of filling in the start time, as a user runs it
    const sedLine = /^#\s+(sed "s\/\\\$\{START_AT\}\/\$START_AT\/" deploy\/kubernetes\/stress-job\.yaml) \| kubectl apply -f -$/m.exec(yaml);
    t.truthy(sedLine, 'the header fills in --start-at with sed');
    const startAt = new Date(Date.now() + 5000).toISOString().replace(/\.\d+Z$/, 'Z');
    const filled = await runTool('sh', ['-c', `cd '${ROOT}' && START_AT=${startAt} && ${sedLine![1]}`], 10000);
    t.is(filled.code, 0, filled.stderr);
    const filledArgs = JSON.parse(/^\s+args: (\[.*\])$/m.exec(filled.stdout)![1]) as string[];
    t.is(filledArgs[filledArgs.indexOf('--start-at') + 1], startAt);
    // the manifest's args: the target moved to this server, a short run, fewer connections
    const local = filledArgs.map((a, i) => (a === 'ringleader:7000' ? `127.0.0.1:${port}` : filledArgs[i - 1] === '-d' ? '2s' : filledArgs[i - 1] === '-c' ? '20' : a));
    t.not(local[1], args[1], 'the target is the Service ringleader:7000');
    // two "pods" at once; like kubectl logs, a file holds stderr and stdout
    const pod = (i: number) =>
      new Promise<string>((resolve) => {
        const p = spawn(process.execPath, [CLI, ...local], { stdio: ['ignore', 'pipe', 'pipe'] });
        let log = '';
        p.stdout.on('data', (d) => (log += d));
        p.stderr.on('data', (d) => (log += d));
        p.on('close', () => {
          const file = join(dir, `ringleader-stress-${i}.json`);
          writeFileSync(file, log);
          resolve(file);
        });
      });
    const files = await Promise.all([pod(0), pod(1)]);
    const each = files.map((f) => JSON.parse(readFileSync(f, 'utf8').trim().split('\n').pop()!) as { ok: boolean; warnings: string[]; messages: { verified: number } });
    for (const r of each) {
      t.true(r.ok);
      t.true(r.messages.verified > 0);
      t.deepEqual(r.warnings, [], 'both started at --start-at');
    }
    const r = await runTool(process.execPath, [CLI, ...mergeLine![1].split(' '), ...files, '--json'], 30000);
    t.is(r.code, 0, r.stderr);
    const merged = JSON.parse(r.stdout) as { ok: boolean; mergedFrom: number; connections: number; warnings: string[]; messages: { verified: number } };
    t.true(merged.ok);
    // started together: no warning that the windows did not overlap
    t.deepEqual(merged.warnings, []);
    t.is(merged.mergedFrom, 2);
    t.is(merged.connections, 40);
    t.is(merged.messages.verified, each[0]!.messages.verified + each[1]!.messages.verified);
  } finally {
    await server.close({ timeout: 1000 });
    rmSync(dir, { recursive: true, force: true });
  }
});
