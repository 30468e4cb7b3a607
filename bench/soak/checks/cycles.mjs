// 100,000 connect/echo/close cycles, then everything back where it was: no
// fd, fixed-file slot or thread left behind, and RSS within 5% of the
// baseline. The baseline is taken after a warm-up of 10,000 cycles, so that
// what grows once (JIT code, allocator arenas, the scheduler's maps) is in
// it and what remains is what each cycle would leak.
import { STEADY_HEAP, fmtMiB, startServer, stress, stressErrors } from '../lib.mjs';

const RSS_TOLERANCE = 0.05;

const idle = (s) => s.live === 0 && s.inflight === 0 && s.acceptorSlots === 0 && s.workerSlots.every((n) => n === 0);

/** Wait until the server is idle, then take the median of 5 samples after a GC. */
async function settled(srv, ms) {
  const s = await srv.waitFor(idle, ms);
  return (s && (await srv.steady())) ?? srv.latest();
}

const shape = (s) => `RSS ${fmtMiB(s.rss)}, ${s.fds} fds, ${s.threads} threads (+${s.ioWorkers} io-wq), slots ${s.workerSlots.join('+')} (acceptor ${s.acceptorSlots}), live ${s.live}`;

export default {
  name: 'cycles',
  title: '100,000 connect/echo/close cycles',
  goal: 'fds, fixed-file slots and threads back to baseline, RSS within 5%, 0 errors',
  async run({ quick, log }) {
    const n = quick ? 5000 : 100_000;
    const warm = quick ? 1000 : 10_000;
    const srv = await startServer({ handler: 'echo', workers: 2 }, { nodeFlags: STEADY_HEAP });
    try {
      const churn = (count) => stress(srv.port, ['--mode', 'churn', '-c', '32', '-t', '1', '-n', String(count), '-d', '300s', '--source', '127.0.0.1-127.0.0.16'], 330_000);
      const w = await churn(warm);
      if (!w.ok) return { figure: 'warm-up failed', pass: false, details: w.failures };
      await srv.settle();
      const base = await settled(srv, 10_000);
      log(`baseline after ${warm} cycles: ${shape(base)}`);
      const t0 = Date.now();
      const r = await churn(n);
      const secs = (Date.now() - t0) / 1000;
      log(`${r.connected?.cycles ?? 0} cycles in ${secs.toFixed(1)} s (${Math.round(r.throughput?.cyclesPerSec ?? 0)}/s)`);
      // closes complete asynchronously; then RSS must stop moving, as before the baseline
      await srv.waitFor(idle, 15_000);
      await srv.settle();
      const end = await settled(srv, 15_000);
      const growth = (end.rss - base.rss) / base.rss;
      const same = end.fds === base.fds && end.threads === base.threads && idle(end);
      const cyclesDone = r.connected?.cycles ?? 0;
      const errs = r.errors?.total ?? 0;
      const details = [
        `before: ${shape(base)}`,
        `after:  ${shape(end)}`,
        `${cyclesDone} cycles verified, ${errs} errors${errs ? ` (${stressErrors(r)})` : ''}, server accepted ${end.accepted - base.accepted}, connection errors ${end.connErrors - base.connErrors}`,
      ];
      const pass = r.ok && cyclesDone >= n && errs === 0 && same && Math.abs(growth) <= RSS_TOLERANCE;
      const sign = growth >= 0 ? '+' : '';
      return {
        figure: `RSS ${sign}${(growth * 100).toFixed(1)}% after ${cyclesDone} cycles; fds ${base.fds}->${end.fds}, threads ${base.threads}->${end.threads}, slots ${end.workerSlots.reduce((a, b) => a + b, 0) + end.acceptorSlots}`,
        pass,
        details,
      };
    } finally {
      await srv.stop();
    }
  },
};
