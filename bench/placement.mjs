#!/usr/bin/env node
// node bench/placement.mjs [--duration S] [--rounds N]
//
// What steering placement costs per accept: accept churn (connect, 64 B
// echo, close; 32 clients over 127.0.0.1-16) against a one-worker echo
// server whose main thread places every connection with
//   p2c          the default (no per-connection placement work)
//   source-hash  hash of the client address
//   fn           placement: () => 0
//   fn-workers   placement reading conn.workers (the lazily built list)
// One worker, so every mode puts each connection in the same place and the
// difference is the placement itself. Server pinned to CPU 0, load to CPU 1
// (taskset, when there are 2 CPUs). Prints conns/s (median over rounds) and
// the server's own mean time per placement call.
import { spawn, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'packages', 'cli', 'dist', 'bin.js');
const MODES = ['p2c', 'source-hash', 'fn', 'fn-workers'];

// --serve MODE: the server process (stdout: {port}, then {placement} on SIGTERM)
if (process.argv[2] === '--serve') {
  const { createServer } = await import(join(ROOT, 'packages', 'runtime', 'dist', 'index.js'));
  const mode = process.argv[3];
  const placement = mode === 'fn' ? () => 0 : mode === 'fn-workers' ? (c) => c.workers.reduce((b, w) => (w.live < c.workers[b].live ? w.index : b), 0) : undefined;
  const server = createServer({ workers: 1, policy: mode === 'source-hash' ? 'source-hash' : 'p2c', placement });
  const { port } = await server.listen();
  process.stdout.write(`${JSON.stringify({ port })}\n`);
  process.on('SIGTERM', async () => {
    const st = server.stats();
    await server.close({ timeout: 500 });
    process.stdout.write(`${JSON.stringify({ placement: st.placement ?? null, accepted: st.total.accepted })}\n`);
    process.exit(0);
  });
} else {
  await main();
}

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

function pinned(cpu, cmd, args) {
  const pin = availableParallelism() >= 2 && spawnSync('taskset', ['-V']).status === 0;
  return pin ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
}

function lines(p) {
  const got = [];
  let buf = '';
  p.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      got.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  });
  return got;
}

async function until(cond, ms) {
  const t = Date.now();
  while (!cond()) {
    if (Date.now() - t > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function once(mode, duration) {
  const [cmd, args] = pinned(0, process.execPath, [fileURLToPath(import.meta.url), '--serve', mode]);
  const srv = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const out = lines(srv);
  try {
    await until(() => out.length > 0, 20000);
    const [lcmd, largs] = pinned(1, process.execPath, [
      CLI,
      'stress',
      `127.0.0.1:${out[0].port}`,
      '--mode',
      'churn',
      '-c',
      '32',
      '--source',
      '127.0.0.1-127.0.0.16',
      '-t',
      '1',
      '--warmup',
      '1s',
      '-d',
      `${duration}s`,
      '--json',
    ]);
    const r = spawnSync(lcmd, largs, { encoding: 'utf8', timeout: (duration + 30) * 1000 });
    const j = JSON.parse(r.stdout.trim().split('\n').pop());
    srv.kill('SIGTERM');
    await until(() => out.length > 1, 10000);
    return { connsPerSec: j.throughput.cyclesPerSec, placement: out[1].placement };
  } finally {
    srv.kill('SIGKILL');
  }
}

async function main() {
  const duration = arg('--duration', 5);
  const rounds = arg('--rounds', 3);
  const res = Object.fromEntries(MODES.map((m) => [m, []]));
  for (let r = 0; r < rounds; r++) {
    // rotate the order so drift on a shared machine spreads over the modes
    for (const m of [...MODES.slice(r % MODES.length), ...MODES.slice(0, r % MODES.length)]) {
      const x = await once(m, duration);
      res[m].push(x);
      process.stderr.write(
        `round ${r + 1} ${m}: ${Math.round(x.connsPerSec)} conns/s${x.placement ? `, ${x.placement.calls} placements, mean ${x.placement.meanUs.toFixed(2)} us, max ${x.placement.maxUs.toFixed(1)} us` : ''}\n`,
      );
    }
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const base = med(res.p2c.map((x) => x.connsPerSec));
  console.log('| placement | conns/s (median) | vs p2c | mean us per placement call |');
  console.log('| --- | --- | --- | --- |');
  for (const m of MODES) {
    const c = med(res[m].map((x) => x.connsPerSec));
    const us = res[m][0].placement ? med(res[m].map((x) => x.placement.meanUs)).toFixed(2) : '-';
    console.log(`| ${m} | ${Math.round(c)} | ${(c / base).toFixed(3)} | ${m === 'source-hash' ? 'not timed (native peer read + FNV)' : us} |`);
  }
}
