#!/usr/bin/env node
// node bench/placement.mjs [--suite p2c,source-hash,fn,fn-workers] [--duration S] [--rounds N] [--json]
// (also the `placement` suite of `pnpm bench`)
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
// (taskset, when there are 2 CPUs). Per mode: conns/s, the server's CPU per
// connection over the measured window (bench/lib/harness.mjs) and its
// difference from p2c, and the server's own mean time per placement call;
// medians over rounds. --json prints one JSON document instead of the table.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cfg, cpuFields, launch, median, ROOT, SERVER_CPU, stressWithCpu } from './lib/harness.mjs';
import { runMain, stopProc, timeout } from './lib/proc.mjs';
import { needBuiltCli, scriptOptions } from './lib/script.mjs';

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
  const o = scriptOptions('placement', 'node bench/placement.mjs [--suite LIST] [--rounds N] [--duration S] [--json]', MODES);
  needBuiltCli('placement');
  Object.assign(cfg, { warmup: 1, duration: o.duration });
  runMain('placement', () => main(o));
}

/** One server in `mode` under churn; resolves { connsPerSec, cpuUs, placement }. */
async function once(mode) {
  const out = [];
  const h = launch(SERVER_CPU, process.execPath, [fileURLToPath(import.meta.url), '--serve', mode], { onLine: (l) => out.push(JSON.parse(l)) });
  try {
    const wait = async (n, ms) => {
      const until = Promise.race([timeout(ms, `placement server (${mode}) line ${n}`), h.exited.then(() => Promise.reject(new Error(`placement server exited: ${h.stderr().trim()}`)))]);
      until.catch(() => {});
      while (out.length < n) {
        try {
          await Promise.race([new Promise((r) => setTimeout(r, 20)), until]);
        } catch (e) {
          // the line and the exit can arrive in the same turn: the line counts
          if (out.length < n) throw e;
        }
      }
    };
    await wait(1, 20_000);
    const { j, util } = await stressWithCpu(h.p.pid, out[0].port, ['--mode', 'churn', '-c', '32', '--source', '127.0.0.1-127.0.0.16']);
    const rate = j.throughput.cyclesPerSec;
    h.p.kill('SIGTERM');
    await wait(2, 10_000);
    return { connsPerSec: rate, cpuUs: cpuFields(util, rate, 'conn').cpuUs, placement: out[1].placement };
  } finally {
    await stopProc(h, 'SIGKILL');
  }
}

async function main(o) {
  const log = (s) => (o.json ? process.stderr : process.stdout).write(`${s}\n`);
  const modes = MODES.filter((m) => o.suites.includes(m));
  const res = Object.fromEntries(modes.map((m) => [m, []]));
  for (let r = 0; r < o.rounds; r++) {
    // rotate the order so drift on a shared machine spreads over the modes
    for (const m of [...modes.slice(r % modes.length), ...modes.slice(0, r % modes.length)]) {
      const x = await once(m);
      res[m].push(x);
      log(
        `round ${r + 1} ${m}: ${Math.round(x.connsPerSec)} conns/s, server CPU ${x.cpuUs?.toFixed(1) ?? 'n/a'} us/conn${x.placement ? `, ${x.placement.calls} placements, mean ${x.placement.meanUs.toFixed(2)} us, max ${x.placement.maxUs.toFixed(1)} us` : ''}`,
      );
    }
  }
  const summary = {};
  for (const m of modes) {
    summary[m] = {
      connsPerSec: median(res[m].map((x) => x.connsPerSec)),
      cpuUs: median(res[m].map((x) => x.cpuUs)),
      // source-hash is native (a peer-address read + FNV), not a timed JS call
      callUs: res[m][0].placement && m !== 'source-hash' ? median(res[m].map((x) => x.placement.meanUs)) : null,
      samples: res[m],
    };
  }
  const base = summary.p2c;
  for (const m of modes) {
    summary[m].vsP2c = base ? summary[m].connsPerSec / base.connsPerSec : null;
    summary[m].cpuUsOverP2c = base && summary[m].cpuUs !== null && base.cpuUs !== null ? summary[m].cpuUs - base.cpuUs : null;
  }
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ rounds: o.rounds, duration: o.duration, modes: summary })}\n`);
    return;
  }
  const f = (x, d = 2) => (x === null ? '-' : x.toFixed(d));
  console.log('| placement | conns/s (median) | vs p2c | server CPU us/conn | CPU us/conn over p2c | mean us per placement call |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const m of modes) {
    const s = summary[m];
    console.log(`| ${m} | ${Math.round(s.connsPerSec)} | ${f(s.vsP2c, 3)} | ${f(s.cpuUs)} | ${f(s.cpuUsOverP2c)} | ${m === 'source-hash' ? 'not timed (native peer read + FNV)' : f(s.callUs)} |`);
  }
}
