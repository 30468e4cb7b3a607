/**
 * What an operator meets around a server command's edges: signals sent
 * while it starts, errors under --json, --admin mistakes. (QA as an
 * operator: a config tool's SIGHUP to a service that was restarting killed
 * it; --json printed some errors as text.)
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { runCli, waitFor } from './helpers.js';
import { freePort, jsonCli } from './ops-helpers.js';

/** SIGHUP is caught by the process (bit 0 of SigCgt in /proc/PID/status) */
function catchesSighup(pid: number): boolean {
  try {
    const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m !== null && (BigInt(`0x${m[1]}`) & 1n) === 1n;
  } catch {
    return false;
  }
}

test('a SIGHUP while the server starts is held and reloads once it serves; the process lives', async (t) => {
  const dir = mkdtempSync(join(os.tmpdir(), 'rl-hup-'));
  const mod = join(dir, 'slow.mjs');
  // a handler module that takes 1.5 s to load: the server is not up meanwhile
  writeFileSync(mod, 'await new Promise((r) => setTimeout(r, 1500));\nexport default { onData(conn, data) { conn.write(data); } };\n');
  const cli = jsonCli(['serve', mod, '--port', '0', '--workers', '1']);
  try {
    t.true(await waitFor(() => catchesSighup(cli.p.pid!), 10_000), 'the process catches SIGHUP');
    t.is(
      cli.lines.find((l) => l.event === 'listening'),
      undefined,
      'still starting',
    );
    cli.p.kill('SIGHUP');
    await cli.line('listening', 20_000);
    const reload = await cli.line('reload', 20_000);
    t.is(reload.error, undefined);
    t.is(cli.p.exitCode, null, 'alive');
    t.regex(cli.stderr, /SIGHUP during start-up: held until the server is up/);
  } finally {
    cli.p.kill('SIGTERM');
    await cli.exited;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--json: a bad flag and a bad --config file are JSON records on stderr, exit 2', async (t) => {
  const flag = await runCli(['echo', '--json', '--workers', 'zero']);
  t.is(flag.code, 2);
  const rec = JSON.parse(flag.stderr.trim()) as { level: number; msg: string; exitCode: number };
  t.like(rec, { level: 60, exitCode: 2 });
  t.regex(rec.msg, /--workers/);

  const dir = mkdtempSync(join(os.tmpdir(), 'rl-json-'));
  try {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'upstream: [127.0.0.1:1]\nnosuch: 1\n');
    const cfg = await runCli(['proxy', '--json', '--config', file]);
    t.is(cfg.code, 2);
    const r = JSON.parse(cfg.stderr.trim()) as { msg: string; exitCode: number };
    t.regex(r.msg, /nosuch: unknown key/);
    // a deprecated flag's name in the file: refused, with the key to write
    writeFileSync(file, 'upstream: [127.0.0.1:1]\npolicy: random\n');
    const old = await runCli(['proxy', '--config', file]);
    t.is(old.code, 2);
    t.regex(old.stderr, /policy: unknown key \(the deprecated --policy: write upstream-policy\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--admin that does not resolve, or on the server own address, exits 2 naming --admin', async (t) => {
  const port = await freePort();
  const bad = await runCli(['echo', '--listen', `127.0.0.1:${port}`, '--workers', '1', '--admin', 'no.such.host.invalid:9100']);
  t.is(bad.code, 2, bad.stderr);
  t.regex(bad.stderr, /--admin must be a host name that resolves/);
  for (const admin of [`127.0.0.1:${port}`, `0.0.0.0:${port}`]) {
    const same = await runCli(['echo', '--listen', `127.0.0.1:${port}`, '--workers', '1', '--admin', admin]);
    t.is(same.code, 2, same.stderr);
    t.regex(same.stderr, /--admin must be an address other than the server's own/);
  }
  // a port of its own is fine (the server starts; SIGTERM ends it)
  const cli = jsonCli(['echo', '--listen', `127.0.0.1:${port}`, '--workers', '1', '--admin', `127.0.0.1:${await freePort()}`]);
  try {
    const l = await cli.line('listening', 20_000);
    t.truthy(l.admin);
  } finally {
    cli.p.kill('SIGTERM');
    await cli.exited;
  }
});
