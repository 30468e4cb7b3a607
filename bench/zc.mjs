#!/usr/bin/env node
// Zero-copy threshold measurement: echo throughput with send_zc off vs on, per
// message size, server pinned to CPU 0 and load to CPU 1, in the same run.
// On loopback the kernel copies every zero-copy send, so this measures what
// send_zc costs when it cannot help; rounds alternate to cancel drift.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const loadgen = `${root}bench/peers/bin/loadgen`;
spawnSync('sh', [`${root}bench/peers/build.sh`], { stdio: 'ignore' });
const sizes = (process.argv[2] ?? '4096,16384,65536').split(',').map(Number);
const rounds = Number(process.argv[3] ?? 3);

async function serve(zc) {
  const p = spawn(
    'taskset',
    [
      '-c',
      '0',
      process.execPath,
      `${root}packages/cli/dist/bin.js`,
      'echo',
      '--port',
      '0',
      '--workers',
      '1',
      '--json',
      '--interval',
      '100s',
      '--buffer-size',
      '65536',
      '--buffers',
      '512',
      '--zc-threshold',
      String(zc),
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const port = await new Promise((resolve) => {
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
      const m = /"port":(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
  });
  return { p, port };
}

function drive(port, size) {
  const r = spawnSync('taskset', ['-c', '1', loadgen, '--port', String(port), '--connections', '16', '--duration', '3', '--warmup', '1', '--size', String(size), '--json'], { encoding: 'utf8' });
  return JSON.parse(r.stdout);
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log('size      plain MiB/s   zc MiB/s   zc/plain');
for (const size of sizes) {
  const res = { 0: [], 1: [] };
  for (let r = 0; r < rounds; r++) {
    for (const zc of r % 2 ? [1, 0] : [0, 1]) {
      const s = await serve(zc ? Math.min(size, 65536) : 0);
      const d = drive(s.port, size);
      res[zc].push(d.mib_per_s);
      s.p.kill('SIGKILL');
      await new Promise((x) => s.p.on('close', x));
    }
  }
  const a = median(res[0]);
  const b = median(res[1]);
  console.log(`${String(size).padEnd(9)} ${a.toFixed(1).padStart(11)} ${b.toFixed(1).padStart(10)} ${(b / a).toFixed(2).padStart(10)}`);
}
