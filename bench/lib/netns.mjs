// Network namespaces for scripts that must damage traffic (packet loss,
// resets) without touching the machine's own network: create one with only
// its loopback up, load nftables rules into it, delete it. Every namespace
// made here is deleted when the process exits, also on SIGINT (the caller's
// handler must end with process.exit so that 'exit' runs).
import { spawnSync } from 'node:child_process';

const made = new Set();
let seq = 0;

function run(cmd, args, input) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: 20_000 });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Why namespaces with nftables cannot be used here, or null when they can. */
export function netnsUnavailable() {
  if (process.getuid?.() !== 0) return 'needs root (ip netns, nft)';
  for (const [cmd, flag, pkg] of [
    ['ip', '-V', 'iproute2'],
    ['nft', '--version', 'nftables'],
  ]) {
    const r = spawnSync(cmd, [flag], { encoding: 'utf8' });
    if (r.error || r.status !== 0) return `\`${cmd}\` is not installed (apt-get install ${pkg})`;
  }
  return null;
}

/**
 * Create a namespace named `${prefix}-${pid}-${n}` with lo up; returns its
 * name. `mtu` sets lo's MTU (64 KiB by default): 1500 makes a transfer as
 * many packets as on Ethernet, so that a loss rate means what it would there.
 */
export function createNetns(prefix, { mtu } = {}) {
  const name = `${prefix}-${process.pid}-${seq++}`;
  run('ip', ['netns', 'add', name]);
  made.add(name);
  run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  // and no segmentation offload: nftables sees packets before GSO splits
  // them, so a 64 KiB super-packet would be one coin toss instead of 45
  if (mtu) run('ip', ['-n', name, 'link', 'set', 'lo', 'mtu', String(mtu), 'gso_max_size', String(mtu), 'gso_max_segs', '1']);
  return name;
}

export function deleteNetns(name) {
  if (!made.delete(name)) return;
  spawnSync('ip', ['netns', 'delete', name], { timeout: 20_000 });
}

/** Load an nft ruleset (text for `nft -f -`) into namespace `name`, or into the current one when null. */
export function nft(name, ruleset) {
  if (name) run('ip', ['netns', 'exec', name, 'nft', '-f', '-'], ruleset);
  else run('nft', ['-f', '-'], ruleset);
}

/**
 * A ruleset that drops `percent`% of TCP packets to or from `port`, at
 * random (nftables `numgen random`), in both directions; replaces any
 * earlier one of this table.
 */
export function lossRuleset(port, percent) {
  return [
    'table inet soak_loss',
    'delete table inet soak_loss',
    'table inet soak_loss {',
    '  chain out {',
    '    type filter hook output priority 0; policy accept;',
    `    tcp dport ${port} counter`,
    `    tcp sport ${port} counter`,
    `    tcp dport ${port} numgen random mod 100 < ${percent} counter drop`,
    `    tcp sport ${port} numgen random mod 100 < ${percent} counter drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** A ruleset that drops every SYN sent to `port` (until `delete table inet soak_syndrop`). */
export function synDropRuleset(port) {
  return ['table inet soak_syndrop {', '  chain out {', '    type filter hook output priority 0; policy accept;', `    tcp dport ${port} tcp flags & (syn | ack) == syn drop`, '  }', '}', ''].join(
    '\n',
  );
}

/** Packets the loss ruleset saw and dropped so far: { seen, dropped }. */
export function lossCounters(name) {
  const args = ['list', 'table', 'inet', 'soak_loss'];
  const out = name ? run('ip', ['netns', 'exec', name, 'nft', ...args]) : run('nft', args);
  const r = { seen: 0, dropped: 0 };
  for (const m of out.matchAll(/counter packets (\d+) bytes \d+( drop)?/g)) r[m[2] ? 'dropped' : 'seen'] += Number(m[1]);
  return r;
}

process.on('exit', () => {
  for (const name of [...made]) deleteNetns(name);
});
