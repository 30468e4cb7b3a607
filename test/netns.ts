/**
 * Network namespaces with nftables rules, for tests that need packet loss or
 * dropped SYNs without touching the machine's own network: each namespace
 * has only its loopback, and a rule there affects nothing else. Used by the
 * proxy loss tests and the soak suite. Needs root, `ip` (iproute2) and `nft`
 * (nftables; `scripts/setup.sh --test` installs it); netem is not assumed
 * (many kernels lack it), nftables' `numgen random` gives the random loss.
 */
import { type ChildProcess, type SpawnOptions, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** Why namespaces cannot be used here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (ip netns, nft)';
  for (const [cmd, args] of [
    ['ip', ['-V']],
    ['nft', ['--version']],
  ] as const) {
    try {
      execFileSync(cmd, args, { stdio: 'ignore', timeout: 5000 });
    } catch {
      return `\`${cmd}\` is missing (apt-get install ${cmd === 'ip' ? 'iproute2' : 'nftables'})`;
    }
  }
  return null;
}

function run(cmd: string, args: string[], input?: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) p.stdin?.end(input);
  });
}

export interface Netns {
  /** the namespace's name (`PREFIX-<random>`) */
  readonly name: string;
  /** spawn a process inside the namespace (`ip netns exec`) */
  spawn(cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  /** load an nftables ruleset (nft -f syntax) inside the namespace */
  nft(ruleset: string): Promise<void>;
  /** packets counted by the `counter` statements of a table (the rules below count what they drop) */
  counted(family: string, table: string): Promise<number>;
  /** delete a table made by {@link Netns.nft} (no error if it is gone) */
  dropTable(family: string, table: string): Promise<void>;
  /** kill what {@link Netns.spawn} started and delete the namespace */
  destroy(): Promise<void>;
}

const live = new Set<string>();
// a test that throws or times out must not leave namespaces behind
process.once('exit', () => {
  for (const n of live) {
    try {
      execFileSync('ip', ['netns', 'delete', n], { stdio: 'ignore', timeout: 5000 });
    } catch {
      /* already gone */
    }
  }
});

/**
 * A new namespace named `${prefix}-<random>` with its loopback up. Give each
 * suite its own prefix (e.g. `proxy-`, `soak-`) so namespaces left by a
 * killed run tell whose they are. `mtu` (e.g. 1500) makes loopback carry
 * packets of that size (and one segment per GSO packet), so a loss rate
 * applies to as many packets as on a real link rather than to a few 64 KiB
 * ones.
 */
export async function createNetns(prefix: string, opts: { mtu?: number } = {}): Promise<Netns> {
  const name = `${prefix.replace(/-$/, '')}-${randomBytes(4).toString('hex')}`;
  await run('ip', ['netns', 'add', name]);
  live.add(name);
  const children = new Set<ChildProcess>();
  try {
    await run('ip', ['-n', name, 'link', 'set', 'lo', ...(opts.mtu ? ['mtu', String(opts.mtu), 'gso_max_segs', '1'] : []), 'up']);
  } catch (e) {
    await run('ip', ['netns', 'delete', name]).catch(() => {});
    live.delete(name);
    throw e;
  }
  return {
    name,
    spawn(cmd, args, opts = {}) {
      const p = spawn('ip', ['netns', 'exec', name, cmd, ...args], opts);
      children.add(p);
      p.on('exit', () => children.delete(p));
      return p;
    },
    nft: (ruleset) => run('ip', ['netns', 'exec', name, 'nft', '-f', '-'], ruleset).then(() => undefined),
    counted: (family, table) =>
      run('ip', ['netns', 'exec', name, 'nft', 'list', 'table', family, table]).then((out) => [...out.matchAll(/counter packets (\d+)/g)].reduce((a, m) => a + Number(m[1]), 0)),
    dropTable: (family, table) =>
      run('ip', ['netns', 'exec', name, 'nft', 'delete', 'table', family, table]).then(
        () => undefined,
        () => undefined,
      ),
    async destroy() {
      for (const p of children) p.kill('SIGKILL');
      await run('ip', ['netns', 'delete', name]).catch(() => {});
      live.delete(name);
    },
  };
}

/**
 * A ruleset (table `inet <table>`) that drops `percent`% of the TCP packets
 * sent to `port`, at random (`numgen random`), as they leave: on loopback
 * that is every packet toward the server on that port, SYNs included.
 */
export function randomLossRules(port: number, percent: number, table = 'loss'): string {
  return `table inet ${table} {
  chain out {
    type filter hook output priority 0; policy accept;
    tcp dport ${port} numgen random mod 100 < ${percent} counter drop
  }
}
`;
}

/** A ruleset that drops every SYN sent to `port` (the handshake never starts until it is removed). */
export function synDropRules(port: number, table = 'syndrop'): string {
  return `table inet ${table} {
  chain out {
    type filter hook output priority 0; policy accept;
    tcp dport ${port} tcp flags & (syn | ack) == syn counter drop
  }
}
`;
}
