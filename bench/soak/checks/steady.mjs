// Two minutes of mixed load on one echo server: verified echo of random
// sizes (1 B - 64 KiB, 50 connections, 2 in flight each) and accept churn
// (8 concurrent cycles) at once. RSS is sampled every 10 s; a least-squares
// line through the samples must not rise more than 5% over the run (a
// trend, so one noisy sample does not decide), with 0 errors anywhere.
import { fmtMiB, linearFit, startServer, stressBackground, stressErrors } from '../lib.mjs';

const TREND_LIMIT = 0.05;

export default {
  name: 'steady',
  title: '2 minutes of mixed load: echo 1 B - 64 KiB + churn, RSS every 10 s',
  goal: 'RSS trend over the run <= +5%, 0 errors, 0 mismatches',
  async run({ quick, log }) {
    const seconds = quick ? 20 : 120;
    const everyMs = quick ? 2000 : 10_000;
    const srv = await startServer({ handler: 'echo', workers: 2 }, { intervalMs: everyMs });
    let echo;
    let churn;
    try {
      const first = await srv.next(everyMs + 5000);
      echo = stressBackground(srv.port, ['-c', '50', '-P', '2', '-t', '1', '--size', '1-65536', '--warmup', '0', '-d', `${seconds}s`]);
      churn = stressBackground(srv.port, ['--mode', 'churn', '-c', '8', '-t', '1', '--warmup', '0', '-d', `${seconds}s`, '--source', '127.0.0.1-127.0.0.8']);
      const [e, c] = await Promise.all([echo.done, churn.done]);
      const end = srv.latest();
      // the samples taken under load, from the first one after load started
      const under = srv.samples.filter((s) => s.t > first.t && s.t <= end.t);
      const xs = under.map((s) => (s.t - under[0].t) / 1000);
      const ys = under.map((s) => s.rss);
      const fit = linearFit(xs, ys);
      const trend = under.length >= 2 ? (fit.at(xs[xs.length - 1]) - fit.at(0)) / fit.at(0) : 0;
      const serverErrors = end.connErrors - first.connErrors;
      const errs = (e.errors?.total ?? 0) + (c.errors?.total ?? 0);
      const mm = (e.verification?.failures ?? 0) + (c.verification?.failures ?? 0);
      log(`RSS samples: ${ys.map((b) => (b / 2 ** 20).toFixed(0)).join(' ')} MiB`);
      const details = [
        `RSS ${fmtMiB(ys[0] ?? 0)} -> ${fmtMiB(ys[ys.length - 1] ?? 0)} over ${under.length} samples, fitted slope ${(fit.slope / 1024).toFixed(1)} KiB/s`,
        `echo: ${e.messages?.verified ?? 0} verified (${(e.throughput?.msgsPerSec ?? 0).toFixed(0)} msgs/s); churn: ${c.connected?.cycles ?? 0} cycles`,
        `errors: client ${errs}${errs ? ` (${[stressErrors(e), stressErrors(c)].filter(Boolean).join('; ')})` : ''}, server connection errors ${serverErrors}, mismatches ${mm}`,
      ];
      const pass = under.length >= Math.floor(seconds / (everyMs / 1000)) - 1 && trend <= TREND_LIMIT && errs === 0 && mm === 0 && serverErrors === 0 && e.ok && c.ok;
      const sign = trend >= 0 ? '+' : '';
      return { figure: `RSS trend ${sign}${(trend * 100).toFixed(1)}% over ${seconds} s, ${errs + serverErrors} errors`, pass, details };
    } finally {
      await echo?.stop();
      await churn?.stop();
      await srv.stop();
    }
  },
};
