// 60,000 idle connections on one server whose RLIMIT_NOFILE is 20,000: each
// ring's fixed-file table is capped at RLIMIT_NOFILE, so it takes 4 workers
// with 20,000-slot tables. While they are held, a new connection must still
// be echoed. The figure is the server's user-space RSS per idle connection
// (kernel socket memory is not in RSS): what the connection core, the
// scheduler and the rings cost per connection. The connection core's state
// is allocated and initialised per table slot when a worker starts, so
// holding a connection adds next to nothing: the figure counts the tables
// too, as (RSS holding them - RSS of the same server with 16-slot tables) /
// connections, and the details split it into per slot and per connection.
import { echoProbe, STEADY_HEAP, fmtMiB, nofileHard, sleep, startServer, stressBackground } from '../lib.mjs';

const SERVER_NOFILE = 20_000;
export const GOAL_BYTES = 2048;
const SMALL_TABLE = 16;

/** The settled RSS of a server started with `opts`, doing nothing. */
async function idleRss(opts) {
  const srv = await startServer(opts, { nofile: SERVER_NOFILE, nodeFlags: STEADY_HEAP });
  try {
    await echoProbe(srv.port, { bytes: 4096 });
    await srv.settle();
    return await srv.steady();
  } finally {
    await srv.stop();
  }
}

/**
 * Hold `conns` idle connections on a 4-worker echo server and measure its
 * RSS: also what `pnpm bench`'s memory suite runs (bench/suites/memory.mjs).
 * `quick` sizes the tables to the connections instead of RLIMIT_NOFILE.
 * Resolves { notRun } when the hard RLIMIT_NOFILE is too low, { up: false,
 * live, failures } when not every connection came up, or the figures:
 * { up: true, perConn, added, perSlot, noise, held, small, base, table, rtt, stress }.
 */
export async function measureIdle({ conns, quick, log }) {
  const workers = 4;
  // prlimit may lower a limit, or raise it up to the hard limit
  if (nofileHard() < SERVER_NOFILE) return { notRun: `the hard RLIMIT_NOFILE is ${nofileHard()}, below ${SERVER_NOFILE} (ulimit -Hn)` };
  // the full run's tables are as large as RLIMIT_NOFILE allows; --quick's fit its connections
  const table = quick ? Math.ceil((conns / workers) * 1.25) : SERVER_NOFILE;
  const opts = { handler: 'echo', workers, workerTableSize: table, backlog: 4096 };
  const small = await idleRss({ ...opts, workerTableSize: SMALL_TABLE });
  log(`reference: the same server with ${SMALL_TABLE}-slot tables: RSS ${fmtMiB(small.rss)}`);
  const srv = await startServer(opts, { nofile: SERVER_NOFILE, nodeFlags: STEADY_HEAP });
  let load;
  try {
    // one echo first, so that what the first connection touches once is in the baseline
    await echoProbe(srv.port, { bytes: 4096 });
    const calm = await srv.settle();
    const base = await srv.steady();
    log(`baseline${calm ? '' : ' (RSS still moving after 90 s)'}: RSS ${fmtMiB(base.rss)}, ${base.fds} fds, ${base.threads} threads, tables ${base.workerTables.join('/')}`);
    // 127.0.0.1-4: one source address has ~28k ephemeral ports toward one port.
    // The client's ring tables are capped by its RLIMIT_NOFILE too: raising
    // the hard limit needs CAP_SYS_RESOURCE, which a container may lack, so
    // the client spreads its connections over enough threads instead.
    const perRing = Math.min(conns, Math.floor(0.9 * Math.min(nofileHard(), 1 << 20)));
    const threads = Math.max(2, Math.ceil(conns / perRing));
    const rampS = Math.ceil(conns / 10_000);
    log(`client: ${threads} threads (${Math.ceil(conns / threads)} connections per ring), 127.0.0.1-4 as sources`);
    load = stressBackground(srv.port, [
      '--mode',
      'idle',
      '-c',
      String(conns),
      '-t',
      String(threads),
      '--connect-rate',
      '10000',
      '--source',
      '127.0.0.1-127.0.0.4',
      '--warmup',
      '0',
      '-d',
      `${rampS + 180}s`,
    ]);
    const full = await srv.waitFor((s) => s.live >= conns, (rampS + 90) * 1000);
    if (!full) {
      const s = srv.latest();
      await load.stop();
      const r = await load.done.catch((e) => ({ failures: [e.message] }));
      return { up: false, live: s?.live ?? 0, failures: r.failures ?? [] };
    }
    // hold for a moment so every ring has settled, then measure
    await sleep(2000);
    const held = await srv.steady();
    const rtt = await echoProbe(srv.port, { bytes: 4096 }).then(
      (ms) => ({ ok: true, ms }),
      (e) => ({ ok: false, err: e.message }),
    );
    const after = await srv.next();
    await load.stop();
    const stress = await load.done;
    log(`held: ${held.live} live (per worker ${held.workerLive.join('/')}), RSS ${fmtMiB(held.rss)}, ${held.fds} fds`);
    return {
      up: true,
      perConn: (held.rss - small.rss) / held.live,
      added: (held.rss - base.rss) / held.live,
      perSlot: (base.rss - small.rss) / (workers * (table - SMALL_TABLE)),
      noise: Math.max(small.spread, base.spread, held.spread) / held.live,
      held,
      small,
      base,
      table,
      after,
      rtt,
      stress,
    };
  } finally {
    if (load) await load.stop();
    await srv.stop();
  }
}

export default {
  name: 'idle',
  title: '60,000 idle connections, server RLIMIT_NOFILE 20,000 (4 workers)',
  goal: `<= ${GOAL_BYTES} B of RSS per idle connection; all up; echo served meanwhile`,
  async run({ quick, log }) {
    const conns = quick ? 4000 : 60_000;
    const m = await measureIdle({ conns, quick, log });
    if (m.notRun) return { figure: `not run: ${m.notRun}`, pass: false, details: [] };
    if (!m.up) return { figure: `${m.live} of ${conns} connections up`, pass: false, details: [`stress: ${m.failures.join('; ')}`] };
    const { held, small, base, rtt, stress: r } = m;
    const details = [
      `RSS ${fmtMiB(small.rss)} with ${SMALL_TABLE}-slot tables, ${fmtMiB(base.rss)} with ${m.table}-slot tables (${m.perSlot.toFixed(0)} B per slot, allocated at start), ${fmtMiB(held.rss)} with ${held.live} connections held (${m.added.toFixed(0)} B each on top); medians of 5 samples after a GC, noise +-${m.noise.toFixed(0)} B per connection`,
      rtt.ok ? `echo on a new connection meanwhile: ${rtt.ms.toFixed(1)} ms` : `echo on a new connection meanwhile FAILED: ${rtt.err}`,
      `stress: peak up ${r.connected?.peakUp}, failed attempts ${r.connected?.failed}, dropped ${r.connected?.dropped}`,
      `server fds ${m.after.fds} (tables are direct descriptors: no fd per connection)`,
    ];
    const pass = m.perConn <= GOAL_BYTES && rtt.ok && held.live >= conns && (r.connected?.dropped ?? 0) === 0;
    return { figure: `${m.perConn.toFixed(0)} B RSS per idle connection, tables included (noise +-${m.noise.toFixed(0)} B; ${held.live} held)`, pass, details };
  },
};
