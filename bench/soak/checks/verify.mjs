// 1,000,000 echo messages of random sizes (1 B - 64 KiB), pipelined, every
// byte verified by `ringleader stress` (each payload byte is a function of
// seed, connection, message and offset), through each of the three byte
// paths: the native echo, the JS echo handler and the proxy (in front of the
// C echo peer). A mismatch names the connection, message and offset.
import { startEchoPeer, startServer, stress, stressErrors } from '../lib.mjs';

async function run(port, n, limitS) {
  // 16 connections x 4 in flight; -d only bounds the time
  return stress(port, ['-c', '16', '-P', '4', '-t', '1', '--size', '1-65536', '-n', String(n), '-d', `${limitS}s`], (limitS + 30) * 1000);
}

export default {
  name: 'verify',
  title: '1,000,000 verified echo messages, 1 B - 64 KiB, pipelined: native echo, JS echo handler, proxy',
  goal: 'every message verified, 0 mismatches, 0 errors, on each path',
  async run({ quick, log }) {
    const n = quick ? 5000 : 1_000_000;
    const limitS = quick ? 60 : 900;
    const peer = await startEchoPeer();
    const paths = [
      ['echo', { handler: 'echo', workers: 2 }],
      ['js-echo', { handler: 'js-echo', workers: 2 }],
      ['proxy', { handler: 'proxy', workers: 2, upstreams: [`127.0.0.1:${peer.port}`] }],
    ];
    const details = [];
    let pass = true;
    let mismatches = 0;
    let verified = 0;
    try {
      for (const [label, opts] of paths) {
        const srv = await startServer(opts);
        try {
          const t0 = Date.now();
          const r = await run(srv.port, n, limitS);
          const secs = (Date.now() - t0) / 1000;
          const mm = r.verification?.failures ?? 0;
          const v = r.messages?.verified ?? 0;
          const errs = r.errors?.total ?? 0;
          mismatches += mm;
          verified += v;
          const ok = r.ok && mm === 0 && errs === 0 && v >= n;
          if (!ok) pass = false;
          const gib = ((r.bytes?.received ?? 0) / 2 ** 30).toFixed(1);
          const line = `${label}: ${v} verified, ${mm} mismatches, ${errs} errors${errs ? ` (${stressErrors(r)})` : ''}, ${gib} GiB back in ${secs.toFixed(0)} s (seed ${r.seed})`;
          log(line);
          details.push(line);
          for (const f of r.failures ?? []) details.push(`  ${label}: ${f}`);
        } finally {
          await srv.stop();
        }
      }
    } finally {
      await peer.stop();
    }
    return { figure: `${mismatches} mismatches in ${verified} verified messages over 3 paths`, pass, details };
  },
};
