/**
 * redis-benchmark fills `mylist` before its LRANGE tests ("LPUSH (needed to
 * benchmark LRANGE)"): LRANGE on an empty key answers an empty array at once
 * and measures nothing a user compares. runStress does the same before a
 * run with an lrange test: LRANGE_FILL LPUSHes of `dataSize` bytes on one
 * plain socket per target, pipelined, waiting for every reply.
 *
 * Best effort: a target that cannot be reached, or refuses LPUSH, is left as
 * it is; the run itself then reports what goes wrong, with its connection
 * and request.
 */
import net from 'node:net';
import type { ResolvedRedis } from './stress-redis.js';

/** elements pushed: enough for the longest test, lrange_600 */
export const LRANGE_FILL = 600;

/** does this run need mylist filled? */
export function needsLrangeFill(redis: ResolvedRedis): boolean {
  return redis.tests !== null && redis.commands.some((c) => c.name.startsWith('lrange_'));
}

/** one target: null when every LPUSH was answered with an integer, else why not */
function fillOne(ip: string, port: number, dataSize: number, timeoutMs: number): Promise<string | null> {
  const data = Buffer.alloc(dataSize, 'x');
  const cmd = Buffer.concat([Buffer.from(`*3\r\n$5\r\nLPUSH\r\n$6\r\nmylist\r\n$${dataSize}\r\n`), data, Buffer.from('\r\n')]);
  return new Promise((resolve) => {
    const s = net.connect({ host: ip, port });
    let replies = 0;
    let rest = '';
    let done = false;
    const finish = (why: string | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => finish(`no answer within ${timeoutMs} ms`), timeoutMs);
    s.on('error', (e) => finish(e.message));
    s.on('close', () => finish('closed by the server'));
    s.on('data', (d) => {
      // every LPUSH reply is one line: ":<length>" or "-ERR ..."
      const lines = (rest + d.toString('latin1')).split('\r\n');
      rest = lines.pop() ?? '';
      for (const l of lines) {
        if (l[0] !== ':') return finish(`LPUSH answered ${l.slice(0, 80)}`);
        if (++replies === LRANGE_FILL) return finish(null);
      }
    });
    s.on('connect', async () => {
      for (let i = 0; i < LRANGE_FILL && !done; i++) {
        if (!s.write(cmd)) await new Promise((r) => s.once('drain', r));
      }
    });
  });
}

/** fill mylist on every target; what could not be filled, as warnings */
export async function fillForLrange(redis: ResolvedRedis, targets: readonly { ip: string; port: number; label: string }[], timeoutMs = 10_000): Promise<string[]> {
  const why = await Promise.all(targets.map((t) => fillOne(t.ip, t.port, redis.dataSize, timeoutMs)));
  return targets.flatMap((t, i) => (why[i] ? [`mylist could not be filled for LRANGE on ${t.label} (${why[i]}): LRANGE reads what is there`] : []));
}
