/** Process limits and kernel settings that bound what a server can do. */
import { readFileSync } from 'node:fs';

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
