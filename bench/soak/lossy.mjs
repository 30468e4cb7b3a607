#!/usr/bin/env node
// The `loss` check's body. Runs inside a network namespace the check created
// (`ip netns exec NS node bench/soak/lossy.mjs ...`), so its nftables rules
// touch nothing else. Starts a Node echo backend that half-closes properly
// (echoes, and ends its side after the client's FIN) and a ringleader proxy
// (2 workers, main's defaults) in front of it, then:
//   1. reset: N clients hold connections; the backend resets one of them
//      (RST): that client must see a reset, the others finish byte-exact;
//   2. loss: 5% of the packets to and from the backend are dropped, and
//      `transfers` clients each send up to 1 MiB, FIN, and read to EOF:
//      each must get its bytes back exactly, none may be reset.
// With --syn-drop-ms M, step 2 drops instead every SYN toward the backend
// for the first M ms of the transfers (the dial's connect timeout and
// retries against lost SYNs: test/proxy-loss.test.ts); --reset 0 skips
// step 1; --proxy '{...}' adds createServer options (e.g. old settings).
// Prints one JSON document on stdout.
//
// usage: lossy.mjs --transfers N --max-bytes B --percent P --concurrency C --limit-s S
//                  [--syn-drop-ms M] [--reset 0] [--proxy JSON]
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { lossCounters, lossRuleset, nft, synDropRuleset } from '../lib/netns.mjs';
import { killChildren, sleep } from '../lib/proc.mjs';
import { startServer } from './lib.mjs';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const o = {
  transfers: arg('transfers', 50),
  maxBytes: arg('max-bytes', 1 << 20),
  percent: arg('percent', 5),
  concurrency: arg('concurrency', 10),
  limitS: arg('limit-s', 240),
  synDropMs: arg('syn-drop-ms', 0),
  reset: arg('reset', 1),
};
const ip = process.argv.indexOf('--proxy');
const proxyOptions = ip > 0 ? JSON.parse(process.argv[ip + 1]) : {};
const MARK = Buffer.from('RESET-ME');

/** Echo backend: echoes, ends after the peer's FIN, resets a connection whose first bytes are MARK. */
function backend() {
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    let first = true;
    s.on('data', (d) => {
      if (first && d.subarray(0, MARK.length).equals(MARK)) {
        s.resetAndDestroy();
        return;
      }
      first = false;
      if (!s.write(d)) {
        s.pause();
        s.once('drain', () => s.resume());
      }
    });
    s.on('end', () => s.end());
    s.on('error', () => {});
  });
  return new Promise((r) => srv.listen(0, '127.0.0.1', () => r(srv)));
}

/**
 * One client: connect, send `payload`, FIN, read to EOF. With `holdMs`, wait
 * that long after sending before the FIN. Resolves { ok, reset, error, got }.
 */
function transfer(port, payload, { holdMs = 0, limitMs }) {
  return new Promise((res) => {
    const chunks = [];
    let got = 0;
    let done = false;
    const finish = (r) => {
      if (done) return;
      done = true;
      clearTimeout(tm);
      s.destroy();
      res({ got, ...r });
    };
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      s.write(payload);
      if (holdMs) setTimeout(() => s.end(), holdMs);
      else s.end();
    });
    const tm = setTimeout(() => finish({ ok: false, reset: false, error: `timed out with ${got} of ${payload.length} bytes back` }), limitMs);
    s.on('data', (d) => {
      chunks.push(d);
      got += d.length;
    });
    s.on('end', () => {
      const back = Buffer.concat(chunks);
      finish(
        back.equals(payload)
          ? { ok: true, reset: false }
          : { ok: false, reset: false, error: `${back.length} of ${payload.length} bytes back${back.length === payload.length ? ', content differs' : ''}` },
      );
    });
    s.on('error', (e) => finish({ ok: false, reset: e.code === 'ECONNRESET' || e.code === 'EPIPE', error: e.code ?? e.message }));
  });
}

async function pool(n, width, fn) {
  const out = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

async function resetCheck(port) {
  const n = 6;
  const payloads = Array.from({ length: n }, (_, i) => (i === 0 ? Buffer.concat([MARK, randomBytes(4096)]) : randomBytes(64 * 1024)));
  // the others hold their connections open (FIN after 1 s) while the first is reset
  const rs = await Promise.all(payloads.map((p, i) => transfer(port, p, { holdMs: i === 0 ? 0 : 1000, limitMs: 15_000 })));
  const victim = rs[0];
  const others = rs.slice(1);
  return {
    victimReset: victim.reset,
    victim: victim.error ?? 'not reset',
    othersOk: others.filter((r) => r.ok).length,
    others: others.length,
    otherErrors: others.filter((r) => !r.ok).map((r) => r.error),
  };
}

async function main() {
  const be = await backend();
  const upPort = be.address().port;
  const srv = await startServer({ handler: 'proxy', workers: 2, upstreams: [`127.0.0.1:${upPort}`], ...proxyOptions }, { intervalMs: 1000 });
  try {
    const reset = o.reset ? await resetCheck(srv.port) : null;
    if (o.synDropMs) {
      nft(null, synDropRuleset(upPort));
      setTimeout(() => nft(null, 'delete table inet soak_syndrop\n'), o.synDropMs);
    } else {
      nft(null, lossRuleset(upPort, o.percent));
    }
    const t0 = Date.now();
    const deadline = t0 + o.limitS * 1000;
    const sizes = Array.from({ length: o.transfers }, () => 1 + Math.floor(Math.random() * o.maxBytes));
    const rs = await pool(o.transfers, o.concurrency, (i) => {
      const left = deadline - Date.now();
      if (left <= 0) return { ok: false, reset: false, error: 'not started: time limit reached', got: 0 };
      return transfer(srv.port, randomBytes(sizes[i]), { limitMs: Math.min(left, 120_000) });
    });
    const secs = (Date.now() - t0) / 1000;
    const packets = o.synDropMs ? null : lossCounters(null);
    await sleep(1100);
    const st = srv.latest();
    const proxy = (st.proxy ?? []).reduce((a, p) => {
      for (const k of ['dials', 'dialFailures', 'upstreamUnavailable', 'resets']) a[k] = (a[k] ?? 0) + (p?.[k] ?? 0);
      return a;
    }, {});
    process.stdout.write(
      `${JSON.stringify({
        reset,
        transfers: o.transfers,
        exact: rs.filter((r) => r.ok).length,
        resets: rs.filter((r) => r.reset).length,
        failures: rs.flatMap((r, i) => (r.ok ? [] : [`#${i} (${sizes[i]} B): ${r.error}`])),
        bytes: sizes.reduce((a, b) => a + b, 0),
        seconds: secs,
        packets,
        proxy,
      })}\n`,
    );
  } finally {
    await srv.stop();
    be.close();
  }
}

main()
  .catch((e) => {
    process.stderr.write(`lossy: ${e.stack ?? e}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    killChildren();
    setTimeout(() => process.exit(), 100).unref();
  });
