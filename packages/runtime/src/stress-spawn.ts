/**
 * Load-generator threads seen from the main thread: start one (its ring is
 * created on it, see stress-thread.ts), and turn what it reports into
 * promises: ready, done (with its verification failures), exited.
 */
import { Worker } from 'node:worker_threads';
import { errnoError, ioUringUnavailable, type NativeClientOptions, type NativeMismatch } from '@ringleader/core-native';
import { type CounterBlock, clientBlock } from './counters.js';
import type { StressThreadCommand, StressThreadData, StressThreadMessage } from './stress-thread.js';

/** What a thread reports when its ring has closed every connection. */
export interface ThreadOutcome {
  runErrno: number;
  mismatches: NativeMismatch[];
}

export interface StressThread {
  index: number;
  worker: Worker;
  block: CounterBlock;
  connections: number;
  /** its ring exists and waits for the start instants */
  ready: Promise<void>;
  done: Promise<ThreadOutcome>;
  exited: Promise<void>;
  /** post a command; a thread that is already gone is ignored */
  post(m: StressThreadCommand): void;
}

function threadError(m: Extract<StressThreadMessage, { type: 'error' }>): Error {
  if (typeof m.errno === 'number' && m.syscall) {
    const hint = m.code === 'EMFILE' ? "a ring's fixed-file table may not exceed RLIMIT_NOFILE: raise `ulimit -n` or use more --threads" : undefined;
    const e = errnoError(m.errno, m.syscall, hint ? { hint } : undefined);
    if ((m.code === 'ENOSYS' || m.code === 'EPERM') && m.syscall === 'io_uring_queue_init') return ioUringUnavailable(e);
    return e;
  }
  const e = new Error(m.message) as Error & { code?: string };
  e.name = m.name;
  if (m.code) e.code = m.code;
  return e;
}

/** Start thread `index` with its ring's options; its counters live in a fresh block. */
export function startThread(index: number, ring: NativeClientOptions): StressThread {
  const block = clientBlock();
  const data: StressThreadData = { index, ring, counters: block.sab };
  const worker = new Worker(new URL('./stress-thread.js', import.meta.url), { workerData: data });
  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  let doneResolve!: (v: ThreadOutcome) => void;
  let doneReject!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  const done = new Promise<ThreadOutcome>((res, rej) => {
    doneResolve = res;
    doneReject = rej;
  });
  const exited = new Promise<void>((res) => worker.once('exit', () => res()));
  const fail = (e: Error) => {
    readyReject(e);
    doneReject(e);
  };
  worker.on('message', (m: StressThreadMessage) => {
    if (m.type === 'ready') readyResolve();
    else if (m.type === 'done') doneResolve({ runErrno: m.runErrno, mismatches: m.mismatches });
    else if (m.type === 'error') fail(threadError(m));
  });
  worker.on('error', fail);
  worker.once('exit', (code) => fail(new Error(`stress thread ${index} exited (code ${code}) before it finished`)));
  // a rejection nobody awaits yet must not crash the process
  ready.catch(() => undefined);
  done.catch(() => undefined);
  const post = (m: StressThreadCommand) => {
    try {
      worker.postMessage(m);
    } catch {
      /* thread already gone */
    }
  };
  return { index, worker, block, connections: ring.connections, ready, done, exited, post };
}

/** Stop every thread now (their rings close with them). */
export async function terminateAll(threads: readonly StressThread[]): Promise<void> {
  await Promise.all(threads.map((t) => t.worker.terminate().catch(() => undefined)));
}
