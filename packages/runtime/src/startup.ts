/**
 * Checks a server makes before it builds any ring: can io_uring do what we
 * need, does the listen address resolve, do the receive buffers fit in
 * memory, are the proxy's upstreams usable. Each failure names what to
 * change.
 */
import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';
import { abi, errnoError, ioUringUnavailable, isSystemError, probe } from '@ringleader/core-native';
import { formatHostPort } from './address.js';
import { availableMemory, hasCapIpcLock, rlimit } from './limits.js';
import { isNumericHost, type ResolvedOptions } from './options.js';
import { isOwnAddress, probeUpstream, type ResolvedUpstream, resolveUpstreams } from './upstream.js';
import { outOfRange } from './validate.js';

let probed: ReturnType<typeof probe> | undefined;

/** Refuse early, with a pointer to `ringleader doctor`, when io_uring can't work. */
export function checkKernel(): void {
  probed ??= probe();
  const p = probed;
  if (p.setupError < 0) throw ioUringUnavailable(errnoError(p.setupError, 'io_uring_setup'));
  const missing = Object.entries(p.ops)
    .filter(([, ok]) => !ok)
    .map(([op]) => op);
  if (missing.length) throw ioUringUnavailable(`the kernel lacks io_uring operations ${missing.join(', ')}`);
  if (!p.msgRingFd) throw ioUringUnavailable(errnoError(p.msgRingFdError || abi.errno.EINVAL, 'io_uring_prep_msg_ring_fd_alloc'));
  if (!p.bufRing) throw ioUringUnavailable('the kernel lacks provided buffer rings');
}

/** The address to bind: numeric hosts as they are, names resolved; a name that does not resolve is a RangeError naming the option (`host`, `admin`). */
export async function resolveListenHost(host: string, option = 'host'): Promise<string> {
  if (isNumericHost(host)) return host;
  try {
    return (await lookup(host)).address;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'ENOTFOUND';
    const err = outOfRange(option, `a host name that resolves (getaddrinfo ${code})`, host);
    (err as RangeError & { cause?: unknown }).cause = e;
    throw err;
  }
}

const WILDCARDS = ['0.0.0.0', '::', '::0'];

/**
 * The admin endpoint on the server's own address and port: its listen would
 * take the port first and the server's bind then fails with EADDRINUSE on a
 * port that was free, naming the wrong option. Refused as a RangeError
 * naming `admin`. Hosts are resolved; a wildcard overlaps every address.
 */
export function checkAdminClash(admin: { host: string; port: number }, adminIp: string, listenIp: string, listenPort: number): void {
  if (!admin.port || admin.port !== listenPort) return;
  if (adminIp === listenIp || WILDCARDS.includes(adminIp) || WILDCARDS.includes(listenIp)) {
    throw outOfRange('admin', `an address other than the server's own (${formatHostPort(listenIp, listenPort)})`, formatHostPort(admin.host, admin.port));
  }
}

const mib = (n: number) => (n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)} GiB` : n >= 1 << 20 ? `${Math.ceil(n / (1 << 20))} MiB` : `${Math.ceil(n / 1024)} KiB`);

/**
 * Every worker allocates bufferCount x bufferSize bytes of receive buffers.
 * More than the machine has available is refused (a RangeError naming the
 * options) rather than found out by the OOM killer. With zero-copy sends the
 * buffers are also registered, which pins them: without CAP_IPC_LOCK that is
 * charged to RLIMIT_MEMLOCK, and beyond it the workers fall back to plain
 * send; that is returned as a warning.
 */
export function checkBufferMemory(o: ResolvedOptions): string | undefined {
  const perWorker = o.bufferCount * o.bufferSize;
  const total = perWorker * o.workers;
  const available = availableMemory();
  if (total > available) {
    throw outOfRange(
      'bufferCount',
      `small enough that ${o.workers} worker(s) x "bufferCount" x "bufferSize" fits in the ${mib(available)} of memory available`,
      `${o.workers} x ${o.bufferCount} x ${o.bufferSize} bytes = ${mib(total)}`,
    );
  }
  if (o.zcThreshold === 0 || hasCapIpcLock()) return undefined;
  const memlock = rlimit('Max locked memory')?.soft ?? Infinity;
  if (total <= memlock) return undefined;
  return (
    `registering ${mib(total)} of receive buffers for zero-copy sends exceeds RLIMIT_MEMLOCK (${mib(memlock)}); ` +
    'workers will use plain send (raise `ulimit -l`, lower "bufferCount" or "bufferSize", or set "zcThreshold" to 0)'
  );
}

/**
 * An inherited fd (option `fd`, `fds`) that is not a listening IPv4/IPv6
 * TCP socket is bad input: a RangeError naming the option (`fd` for one
 * socket, `fds[i]` for one of several), with the reason.
 */
export function adoptError(fds: readonly number[], e: unknown): Error {
  if (!isSystemError(e) || e.syscall !== 'adopt') return e as Error;
  const fd = (e as { fd?: number }).fd ?? fds[0];
  const name = fds.length === 1 ? 'fd' : `fds[${fds.indexOf(fd)}]`;
  const why: Record<string, string> = {
    EBADF: 'an open file descriptor',
    ENOTSOCK: 'a socket',
    ESOCKTNOSUPPORT: 'a stream (TCP) socket',
    EAFNOSUPPORT: 'an IPv4 or IPv6 socket',
    EDESTADDRREQ: 'a socket that listens',
  };
  const err = outOfRange(name, `an inherited listening TCP socket (${why[e.code] ? `fd ${fd} is not ${why[e.code]}` : e.code})`, fd);
  return Object.assign(err, { cause: e });
}

/** A ring that could not be set up for want of io_uring points to `ringleader doctor`. */
export function ringError(e: unknown): Error {
  if (isSystemError(e) && (e.code === 'ENOSYS' || e.code === 'EPERM') && e.syscall === 'io_uring_queue_init') {
    return ioUringUnavailable(e);
  }
  // for a process without CAP_IPC_LOCK every ring's memory (and every
  // registered buffer) is charged to RLIMIT_MEMLOCK: say so, and what to raise
  if (isSystemError(e) && e.code === 'ENOMEM' && e.syscall.startsWith('io_uring_') && !hasCapIpcLock()) {
    const memlock = rlimit('Max locked memory')?.soft;
    e.message +=
      ` (io_uring rings and registered buffers count against RLIMIT_MEMLOCK for a process without CAP_IPC_LOCK, ` +
      `now ${memlock === undefined ? 'unknown' : memlock === Infinity ? 'unlimited' : mib(memlock)}: raise it with \`ulimit -l\` or systemd's LimitMEMLOCK=, or use fewer workers)`;
  }
  return e as Error;
}

/**
 * Resolve the proxy's upstreams and refuse our own listening address (a
 * RangeError naming the upstream); an upstream that does not answer now
 * comes back as a warning: the proxy starts and keeps trying it.
 */
export async function prepareUpstreams(o: ResolvedOptions, listeners: readonly { address: string; port: number }[]): Promise<{ upstreams: ResolvedUpstream[]; warnings: Error[] }> {
  const upstreams = await resolveUpstreams(o.upstreams);
  const local = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) local.add(a.address);
  upstreams.forEach((u) => {
    if (listeners.some((l) => isOwnAddress(l.address, l.port, u, local))) {
      throw outOfRange(u.key, "an address other than the proxy's own listening address", formatHostPort(u.host, u.port));
    }
  });
  const probes = await Promise.all(upstreams.map((u) => probeUpstream(u, Math.min(o.connectTimeout, 1000))));
  const warnings: Error[] = [];
  probes.forEach((p, i) => {
    if (p.ok) return;
    const u = upstreams[i];
    const w = new Error(`upstream ${formatHostPort(u.host, u.port)} is not reachable (${p.code ?? 'error'}); the proxy starts and keeps trying it`);
    warnings.push(Object.assign(w, { code: 'ERR_UPSTREAM_UNREACHABLE' }));
  });
  return { upstreams, warnings };
}
