// The memory suite of `pnpm bench`: user-space RSS per idle connection of a
// ringleader echo server holding N idle connections (60,000; 4,000 with
// --quick). The measurement is the soak suite's idle check
// (bench/soak/checks/idle.mjs: RLIMIT_NOFILE 20,000 per process, 4 workers,
// sources 127.0.0.1-4, RSS after a GC compared with the same server with
// 16-slot tables); run once per bench run, not per round: RSS is not what
// the other load on the machine moves.
import { GOAL_BYTES, measureIdle } from '../soak/checks/idle.mjs';
import { cfg, measure, notes, say } from '../lib/harness.mjs';

export { GOAL_BYTES as MEMORY_GOAL_BYTES };

export async function suiteMemory(round) {
  if (round > 0) return;
  const conns = cfg.quick ? 4000 : 60_000;
  await measure('memory', 'ringleader', async () => {
    const m = await measureIdle({ conns, quick: cfg.quick, log: (s) => say(`    .. ${s}`) });
    if (m.notRun) {
      notes.memory = `not run: ${m.notRun}`;
      throw new Error(notes.memory);
    }
    if (!m.up) throw new Error(`${m.live} of ${conns} connections up: ${m.failures.join('; ')}`);
    return {
      value: m.perConn,
      unit: 'B RSS per idle connection',
      conns: m.held.live,
      added: m.added,
      perSlot: m.perSlot,
      noise: m.noise,
      rssSmall: m.small.rss,
      rssBase: m.base.rss,
      rssHeld: m.held.rss,
      table: m.table,
      echoMs: m.rtt.ok ? m.rtt.ms : null,
      extra: `${m.held.live} held, ${m.added.toFixed(0)} B each on top of ${m.perSlot.toFixed(0)} B per table slot, noise +-${m.noise.toFixed(0)} B`,
    };
  });
}
