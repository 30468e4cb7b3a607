// The proxy under 5% random packet loss on its upstream leg, inside a
// network namespace this check creates (nftables `numgen random` drops, see
// bench/lib/netns.mjs): 50 half-closed transfers (up to 1 MiB each, FIN,
// read to EOF; loopback MTU 1500, so 1 MiB is ~700 packets) must come back byte-exact with none reset, and a reset
// injected by the backend must reset only its own client. The work runs in
// bench/soak/lossy.mjs, started inside the namespace.
import { join } from 'node:path';
import { createNetns, deleteNetns, netnsUnavailable } from '../../lib/netns.mjs';
import { runJson } from '../../lib/proc.mjs';
import { ROOT } from '../lib.mjs';

export default {
  name: 'loss',
  title: 'proxy under 5% packet loss toward the backend (netns + nftables): 50 half-closed transfers up to 1 MiB; an injected upstream RST',
  goal: '50/50 byte-exact, 0 reset; the RST resets only its own client',
  async run({ quick, log }) {
    const why = netnsUnavailable();
    if (why) return { figure: `not run: ${why}`, pass: false, details: [] };
    const transfers = quick ? 10 : 50;
    const limitS = quick ? 60 : 300;
    const ns = createNetns('soak', { mtu: 1500 });
    try {
      const args = [
        join(ROOT, 'bench', 'soak', 'lossy.mjs'),
        '--transfers',
        String(transfers),
        '--max-bytes',
        String(quick ? 256 * 1024 : 1 << 20),
        '--percent',
        '5',
        '--concurrency',
        '10',
        '--limit-s',
        String(limitS),
      ];
      const { code, json: r } = await runJson('ip', ['netns', 'exec', ns, process.execPath, ...args], (limitS + 60) * 1000, { cwd: ROOT });
      if (code !== 0) return { figure: `lossy.mjs exited ${code}`, pass: false, details: [] };
      const rst = r.reset;
      const details = [
        `loss: ${r.exact}/${r.transfers} byte-exact, ${r.resets} reset, ${(r.bytes / 2 ** 20).toFixed(1)} MiB each way in ${r.seconds.toFixed(1)} s, ${r.packets.dropped} of ${r.packets.seen} packets on the upstream leg dropped by nftables (${((100 * r.packets.dropped) / Math.max(1, r.packets.seen)).toFixed(1)}%)`,
        `proxy: ${r.proxy.dials ?? 0} dials, ${r.proxy.dialFailures ?? 0} failed, ${r.proxy.upstreamUnavailable ?? 0} clients closed for want of an upstream, ${r.proxy.resets ?? 0} resets`,
        ...r.failures.slice(0, 10).map((f) => `  transfer ${f}`),
        `reset injection: the reset client ${rst.victimReset ? 'was reset' : `was NOT reset (${rst.victim})`}; ${rst.othersOk}/${rst.others} others byte-exact${rst.otherErrors.length ? ` (${rst.otherErrors.join(', ')})` : ''}`,
      ];
      log(details[0]);
      const pass = r.exact === r.transfers && r.resets === 0 && rst.victimReset && rst.othersOk === rst.others;
      return { figure: `${r.exact}/${r.transfers} byte-exact, ${r.resets} reset under 5% loss; RST isolated: ${rst.victimReset && rst.othersOk === rst.others ? 'yes' : 'no'}`, pass, details };
    } finally {
      deleteNetns(ns);
    }
  },
};
