// Issue 13 defect 1, as a soak: a proxy with 2 workers in front of two C
// echo backends, under accept churn (-c 8) and echo traffic (-c 50, 1 B -
// 16 KiB) at once. The defect stopped accepting for good a few seconds in,
// about 1 run in 6, so this takes 10 fresh proxies for 20 s each, samples
// the accepted counter every second, and fails on any second of load in
// which nothing was accepted. After each run a new client must still be
// echoed and the proxy must shut down within its drain time.
import { echoProbe, sleep, startEchoPeer, startServer, stressBackground, stressErrors } from '../lib.mjs';

const STOP_LIMIT_MS = 5000;

async function oneRun(upstreams, seconds) {
  const srv = await startServer({ handler: 'proxy', workers: 2, upstreams }, { intervalMs: 1000 });
  let churn;
  let echo;
  try {
    const first = await srv.next();
    churn = stressBackground(srv.port, ['--mode', 'churn', '-c', '8', '-t', '1', '--warmup', '0', '-d', `${seconds}s`, '--max-errors', '1000000']);
    echo = stressBackground(srv.port, ['-c', '50', '-t', '1', '--size', '1-16384', '--warmup', '0', '-d', `${seconds}s`, '--max-errors', '1000000']);
    const [c, e] = await Promise.all([churn.done, echo.done]);
    // the seconds of load: from the first sample that saw an accept (the
    // clients take a moment to start) for the run's length less 1.5 s (the
    // clients stop issuing before they exit); a proxy that stopped accepting
    // for good shows up as zeros inside that window
    const start = srv.samples.findIndex((s) => s.t > first.t && s.accepted > first.accepted);
    const tEnd = start < 0 ? 0 : srv.samples[start].t + (seconds - 1.5) * 1000;
    const during = start < 0 ? [] : srv.samples.slice(start).filter((s) => s.t <= tEnd);
    const last = srv.latest();
    let stalls = start < 0 ? seconds : 0;
    let minRate = start < 0 ? 0 : Infinity;
    const perSecond = [];
    for (let i = 1; i < during.length; i++) {
      const d = during[i].accepted - during[i - 1].accepted;
      perSecond.push(d);
      minRate = Math.min(minRate, d);
      if (d === 0) stalls++;
    }
    await sleep(200);
    const probe = await echoProbe(srv.port, { bytes: 512, ms: 3000 }).then(
      () => null,
      (err) => err.message,
    );
    const t0 = Date.now();
    const exit = await srv.stop();
    const stopMs = Date.now() - t0;
    return {
      seconds: during.length - 1,
      stalls,
      perSecond,
      minRate: Number.isFinite(minRate) ? minRate : 0,
      accepted: last.accepted,
      churnCycles: c.connected?.cycles ?? 0,
      echoVerified: e.messages?.verified ?? 0,
      mismatches: (c.verification?.failures ?? 0) + (e.verification?.failures ?? 0),
      errors: [stressErrors(c), stressErrors(e)].filter(Boolean).join('; '),
      probe,
      stopMs,
      exit,
      stderr: srv.stderr().trim().split('\n').slice(-2).join(' | '),
    };
  } finally {
    await churn?.stop();
    await echo?.stop();
    await srv.stop();
  }
}

export default {
  name: 'mixed',
  title: 'proxy mixed load (issue 13 defect 1 recipe): 2 workers, 2 echo backends, churn -c 8 + echo -c 50 1-16384 B',
  goal: '10 runs of 20 s: accepts never stop (every 1 s sample grows), a new client is echoed after each run, shutdown within 5 s',
  async run({ quick, log }) {
    const runs = quick ? 1 : 10;
    const seconds = quick ? 5 : 20;
    const b1 = await startEchoPeer();
    const b2 = await startEchoPeer();
    const details = [];
    let bad = 0;
    let minRate = Infinity;
    let samples = 0;
    try {
      for (let i = 0; i < runs; i++) {
        const r = await oneRun([`127.0.0.1:${b1.port}`, `127.0.0.1:${b2.port}`], seconds);
        const ok = r.stalls === 0 && r.seconds >= seconds - 4 && !r.probe && r.stopMs <= STOP_LIMIT_MS && r.mismatches === 0;
        if (!ok) bad++;
        minRate = Math.min(minRate, r.minRate);
        samples += r.seconds;
        const line =
          `run ${i + 1}: ${r.seconds} one-second samples, ${r.stalls} with no accept (fewest ${r.minRate}/s), ${r.accepted} accepted, ` +
          `churn ${r.churnCycles} cycles, echo ${r.echoVerified} verified, ${r.mismatches} mismatches` +
          `${r.errors ? `, client errors ${r.errors}` : ''}; probe ${r.probe ?? 'ok'}; stop ${r.stopMs} ms${ok ? '' : `  <- FAIL; accepts per second: ${r.perSecond.join(' ')}; server stderr: ${r.stderr}`}`;
        log(line);
        details.push(line);
      }
    } finally {
      await b1.stop();
      await b2.stop();
    }
    return { figure: `${runs - bad}/${runs} runs kept accepting (fewest accepts in any second: ${Number.isFinite(minRate) ? minRate : 0}, over ${samples} s)`, pass: bad === 0, details };
  },
};
