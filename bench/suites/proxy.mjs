// The proxy suite of `pnpm bench`: ringleader proxy, HAProxy (`nbthread 1`,
// mode tcp) and nginx stream (one worker), each on the server CPU in front
// of the same upstream, the C epoll echo peer on its own CPU; every result
// carries the proxy process's CPU per operation over the measured window.
// Three loads: 64 B ping-pong over 100 connections (msgs/s), 16 KiB
// ping-pong over 32 (MiB/s), bulk streaming both ways over 8 (MiB/s).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { human } from '../svg.mjs';
import { freePort, stopProc, waitConnectable } from '../lib/proc.mjs';
import { CLI, cliArgs, cpuFields, launch, measure, mibResult, msgsResult, notes, PEERS, rotate, SERVER_CPU, say, stressWithCpu, tryRun, UPSTREAM_CPU } from '../lib/harness.mjs';


// `ringleader proxy --help` must succeed and describe the proxy command:
// commander answers an unknown command's --help with the program's own help
// (exit 0), so the exit status alone does not tell
function proxyAvailable() {
  const r = spawnSync(process.execPath, [CLI, 'proxy', '--help'], { encoding: 'utf8', timeout: 20_000 });
  if (r.status === 0 && /Usage: ringleader proxy/.test(r.stdout)) return null;
  const why = r.status === 0 ? "printed the general help, not the proxy command's" : `exited ${r.status ?? r.signal}`;
  return `\`ringleader proxy --help\` ${why}: the proxy command is not in this build yet`;
}

function nginxStreamModule() {
  for (const p of ['/usr/lib/nginx/modules/ngx_stream_module.so', '/usr/share/nginx/modules/ngx_stream_module.so']) if (existsSync(p)) return p;
  return null;
}

async function startProxy(kind, port, upstream, dir) {
  let cmd;
  let args;
  if (kind === 'ringleader') {
    [cmd, args] = [process.execPath, cliArgs('proxy', '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${upstream}`, '--workers', '1')];
  } else if (kind === 'haproxy') {
    const conf = join(dir, 'haproxy.cfg');
    writeFileSync(
      conf,
      [
        'global',
        '  maxconn 8000',
        '  nbthread 1',
        'defaults',
        '  mode tcp',
        '  timeout connect 5s',
        '  timeout client 60s',
        '  timeout server 60s',
        'frontend fe',
        `  bind 127.0.0.1:${port}`,
        '  default_backend be',
        'backend be',
        `  server up 127.0.0.1:${upstream}`,
        '',
      ].join('\n'),
    );
    [cmd, args] = ['haproxy', ['-db', '-f', conf]];
  } else if (kind === 'nginx') {
    const mod = nginxStreamModule();
    const conf = join(dir, 'nginx.conf');
    writeFileSync(
      conf,
      [
        mod ? `load_module ${mod};` : '',
        'daemon off;',
        'worker_processes 1;',
        `pid ${join(dir, 'nginx.pid')};`,
        'error_log stderr warn;',
        'events { worker_connections 65536; }',
        'stream {',
        `  server { listen 127.0.0.1:${port}; proxy_pass 127.0.0.1:${upstream}; }`,
        '}',
        '',
      ].join('\n'),
    );
    [cmd, args] = ['nginx', ['-p', dir, '-e', 'stderr', '-c', conf]];
  } else {
    throw new Error(`unknown proxy ${kind}`);
  }
  const h = launch(SERVER_CPU, cmd, args);
  try {
    await waitConnectable(port, 15_000, h);
  } catch (e) {
    await stopProc(h, 'SIGKILL');
    throw new Error(`${kind}: ${e.message}`);
  }
  return { pgid: h.p.pid, stop: () => stopProc(h, kind === 'ringleader' ? 'SIGINT' : 'SIGTERM') };
}

export const PROXIES = { ringleader: { label: 'ringleader proxy', highlight: true }, haproxy: { label: 'HAProxy (mode tcp)' }, nginx: { label: 'nginx stream' } };

/** The loads every proxy is measured under (result key, stress arguments, result from its JSON and the proxy's CPU share). */
const PROXY_CASES = [
  {
    key: 'proxy',
    load: ['-c', '100', '-s', '64'],
    result: msgsResult,
  },
  { key: 'proxy16k', load: ['-c', '32', '-s', '16KiB'], result: mibResult },
  {
    // both directions stream at once (64 KiB writes, 256 KiB in flight per
    // connection); MiB/s counts the bytes echoed back, CPU is per MiB of that
    key: 'proxybulk',
    load: ['--mode', 'bulk', '-c', '8'],
    result: (j, util) => ({
      value: j.throughput.inMiBPerSec,
      unit: 'MiB/s',
      extra: `${human(j.throughput.outMiBPerSec)} MiB/s sent`,
      loadBusy: j.loadBusy,
      ...cpuFields(util, j.throughput.inMiBPerSec, 'MiB'),
    }),
  },
];

export async function suiteProxy(round) {
  const missing = proxyAvailable();
  // RL_BENCH_FORCE_PROXY=1 runs the peers anyway (to check their set-up);
  // the ringleader entry is then recorded as failed
  if (missing && process.env.RL_BENCH_FORCE_PROXY === '1') notes.proxy = missing;
  else if (missing) {
    notes.proxy = `skipped: ${missing}. Once \`ringleader proxy --listen HOST:PORT --upstream HOST:PORT --workers N\` exists, this suite runs it, HAProxy and nginx stream in front of the C epoll echo peer.`;
    if (round === 0) say(`  proxy     ${notes.proxy}`);
    return;
  }
  const kinds = ['ringleader'];
  const absent = [];
  if (tryRun('haproxy', ['-v'])) kinds.push('haproxy');
  else absent.push('haproxy (apt: haproxy)');
  if (tryRun('nginx', ['-v']) !== null) kinds.push('nginx');
  else absent.push('nginx (apt: nginx-light + libnginx-mod-stream)');
  if (absent.length) notes.proxy = `not installed, not measured: ${absent.join(', ')}`;
  let upPort = 0;
  const up = launch(UPSTREAM_CPU, join(PEERS, 'bin', 'epoll-echo'), ['--port', '0', '--threads', '1'], {
    onLine: (l) => {
      const m = /^listening (\d+)/.exec(l);
      if (m) upPort = Number(m[1]);
    },
  });
  const dir = mkdtempSync(join(os.tmpdir(), 'rl-bench-'));
  try {
    const t = Date.now();
    while (!upPort && Date.now() - t < 10_000) await new Promise((r) => setTimeout(r, 20));
    if (!upPort) throw new Error('the upstream echo peer did not start');
    for (const c of PROXY_CASES) {
      for (const kind of rotate(kinds, round)) {
        await measure(c.key, kind, async () => {
          const port = await freePort();
          const px = await startProxy(kind, port, upPort, dir);
          try {
            const { j, util } = await stressWithCpu(px.pgid, port, c.load);
            return c.result(j, util);
          } finally {
            await px.stop();
          }
        });
      }
    }
  } finally {
    await stopProc(up, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}
