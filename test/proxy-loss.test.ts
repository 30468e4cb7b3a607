/**
 * The proxy under packet loss (issue 13, defect 3): loss must cost latency,
 * not connections. Each test runs bench/soak/lossy.mjs (a proxy with the
 * default options, an echo backend and the clients) inside a network
 * namespace of its own (prefix `proxy`, bench/lib/netns.mjs) whose nftables
 * rules drop packets toward the backend; nothing outside it is touched.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './helpers.js';

interface NetnsLib {
  netnsUnavailable(): string | null;
  createNetns(prefix: string, o?: { mtu?: number }): string;
  deleteNetns(name: string): void;
}
const { netnsUnavailable, createNetns, deleteNetns } = (await import(pathToFileURL(join(ROOT, 'bench', 'lib', 'netns.mjs')).href)) as NetnsLib;
const LOSSY = join(ROOT, 'bench', 'soak', 'lossy.mjs');
const unavailable = netnsUnavailable();

interface LossyResult {
  reset: { victimReset: boolean; victim: string; othersOk: number; others: number; otherErrors: string[] } | null;
  transfers: number;
  exact: number;
  resets: number;
  failures: string[];
  bytes: number;
  seconds: number;
  packets: { seen: number; dropped: number } | null;
  proxy: { dials?: number; dialFailures?: number; upstreamUnavailable?: number; resets?: number };
}

/** lossy.mjs with `args` in a new namespace (loopback MTU 1500, as on Ethernet), bounded by `limitMs` */
async function lossy(args: string[], limitMs: number): Promise<LossyResult> {
  const ns = createNetns('proxy', { mtu: 1500 });
  try {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, LOSSY, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), limitMs);
    const code = await new Promise<number | null>((r) => p.on('close', r));
    clearTimeout(timer);
    if (code !== 0) throw new Error(`lossy.mjs exited ${code}: ${err}`);
    return JSON.parse(out.trim().split('\n').pop() ?? '') as LossyResult;
  } finally {
    deleteNetns(ns);
  }
}

const nsTest = unavailable ? test.skip : test.serial;
if (unavailable) test('network namespaces (skipped)', (t) => t.log(`skipped: ${unavailable}`));

nsTest('5% random loss toward the backend: 50 half-closed transfers up to 1 MiB arrive byte-exact, none reset; an upstream RST resets only its client', async (t) => {
  t.timeout(360_000);
  const r = await lossy(['--transfers', '50', '--max-bytes', String(1 << 20), '--percent', '5', '--concurrency', '50', '--limit-s', '240'], 300_000);
  t.log(
    `${r.packets?.dropped} of ${r.packets?.seen} packets dropped; ${r.exact}/${r.transfers} exact, ${r.resets} reset, ` +
      `${(r.bytes / 2 ** 20).toFixed(1)} MiB each way in ${r.seconds.toFixed(1)} s; proxy ${JSON.stringify(r.proxy)}`,
  );
  t.true((r.packets?.dropped ?? 0) > 0, 'the rule dropped packets');
  t.is(r.exact, 50, r.failures.join('; '));
  t.is(r.resets, 0);
  t.is(r.proxy.upstreamUnavailable ?? 0, 0, 'no client found its only upstream marked down');
  t.true(r.reset?.victimReset, `the client whose upstream sent RST: ${r.reset?.victim}`);
  t.is(r.reset?.othersOk, r.reset?.others, `the others: ${r.reset?.otherErrors.join(', ')}`);
});

/**
 * 10 small transfers while every SYN toward the backend is dropped for the
 * first `liftMs` (SYN retransmits leave at about 1 s, 3 s and 7 s); all must
 * arrive, and no client may find its only upstream marked down.
 */
async function synDropCase(t: ExecutionContext, liftMs: number): Promise<LossyResult> {
  t.timeout(90_000);
  const r = await lossy(['--transfers', '10', '--max-bytes', '4096', '--concurrency', '10', '--limit-s', '60', '--reset', '0', '--syn-drop-ms', String(liftMs)], 80_000);
  t.log(`${r.exact}/${r.transfers} exact in ${r.seconds.toFixed(1)} s; proxy ${JSON.stringify(r.proxy)}`);
  t.is(r.exact, 10, r.failures.join('; '));
  t.is(r.proxy.upstreamUnavailable ?? 0, 0);
  return r;
}

nsTest('every SYN lost for the first 2 s (the SYN and its 1 s retransmit): the default connect timeout outlasts it', async (t) => {
  // lifted between the first retransmit and the second
  const r = await synDropCase(t, 2000);
  t.is(r.proxy.dialFailures ?? 0, 0, 'no connect timed out');
});

nsTest('every SYN lost for longer than the connect timeout: the client retries its only upstream, which is not marked down', async (t) => {
  // past the first dial's 5 s timeout; the retry's first retransmit (at
  // about 6 s) gets through
  const r = await synDropCase(t, 5500);
  t.is(r.proxy.dialFailures, 10, 'every first dial timed out');
  t.is(r.proxy.dials, 20, 'and was retried once');
});
