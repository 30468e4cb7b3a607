/** Helpers of the operating suites (admin, socket activation, reuse-port, deploy). */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './helpers.js';

export const FIXTURES = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));

/** A port the kernel picked and released (for tools that take no port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A fake NOTIFY_SOCKET (test/fixtures/notify-recv.py): every datagram it received, in order. */
export async function notifySocket(path: string): Promise<{ got: string[]; close(): void }> {
  const p = spawn('python3', [join(FIXTURES, 'notify-recv.py'), path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const got: string[] = [];
  let buf = '';
  p.stdout.on('data', (d) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      got.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  });
  const failed = new Promise<Error>((r) => p.on('error', r));
  const ok = await Promise.race([waitFor(() => got[0] === 'BOUND', 10000), failed]);
  if (ok !== true) throw new Error(`fake notify socket did not start: ${ok instanceof Error ? ok.message : 'timeout'}; run \`sh scripts/setup.sh --test\``);
  got.shift();
  return { got, close: () => p.kill('SIGKILL') };
}
