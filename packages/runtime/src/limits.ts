/** Process limits and kernel settings that bound what a server can do. */
import { readFileSync } from 'node:fs';
import { freemem } from 'node:os';

export interface Rlimit {
  soft: number;
  hard: number;
}

function parseLimit(s: string): number {
  return s === 'unlimited' ? Infinity : Number(s);
}

/** A resource limit of this process from /proc/self/limits, or undefined. */
export function rlimit(name: 'Max open files' | 'Max locked memory'): Rlimit | undefined {
  try {
    const text = readFileSync('/proc/self/limits', 'utf8');
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const parts = line.slice(name.length).trim().split(/\s+/);
      return { soft: parseLimit(parts[0]), hard: parseLimit(parts[1]) };
    }
  } catch {
    /* not Linux, or /proc not mounted */
  }
  return undefined;
}

/** An integer sysctl, e.g. 'net/core/somaxconn', or undefined. */
export function sysctl(path: string): number | undefined {
  try {
    const v = Number(readFileSync(`/proc/sys/${path}`, 'utf8').trim().split(/\s+/)[0]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Largest fixed-file table a ring may register: the kernel refuses tables
 * larger than RLIMIT_NOFILE (io_uring_register_files -> EMFILE).
 */
export function maxTableSize(): number {
  const l = rlimit('Max open files');
  return l && Number.isFinite(l.soft) ? l.soft : 1 << 20;
}

/**
 * Memory the kernel could give us without swapping: MemAvailable from
 * /proc/meminfo (bytes), or os.freemem() where that is missing.
 */
export function availableMemory(): number {
  try {
    const m = /^MemAvailable:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    /* not Linux, or /proc not mounted */
  }
  return freemem();
}

const CAP_IPC_LOCK = 14;

/**
 * Whether this process may lock memory beyond RLIMIT_MEMLOCK: io_uring
 * charges registered buffers to that limit unless it holds CAP_IPC_LOCK.
 */
export function hasCapIpcLock(): boolean {
  try {
    const m = /^CapEff:\s+([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return (BigInt(`0x${m[1]}`) & (1n << BigInt(CAP_IPC_LOCK))) !== 0n;
  } catch {
    /* not Linux */
  }
  return process.getuid?.() === 0;
}
