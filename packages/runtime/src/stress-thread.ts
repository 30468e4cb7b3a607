/**
 * One load-generator thread: owns one client ring (created here, so this
 * thread is its single issuer), reports ready, starts when told, and posts
 * its verification failures when the ring has closed every connection.
 * Counters flow through the shared block the main thread passed in.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { native, type NativeClientOptions, type NativeMismatch } from '@ringleader/core-native';
import { clientBlock } from './counters.js';

/** What the main thread passes as workerData. */
export interface StressThreadData {
  index: number;
  ring: NativeClientOptions;
  counters: SharedArrayBuffer;
}

/** Main thread -> stress thread. */
export type StressThreadCommand = { type: 'start'; tStart: bigint; tMeasure: bigint; tEnd: bigint } | { type: 'stop' };

/** Stress thread -> main thread. */
export type StressThreadMessage =
  | { type: 'ready'; setupFlags: number }
  | { type: 'done'; runErrno: number; mismatches: NativeMismatch[] }
  | { type: 'error'; message: string; code?: string; errno?: number; syscall?: string; name: string };

const port = parentPort!;
const data = workerData as StressThreadData;
const block = clientBlock(data.counters);

function fail(e: unknown): void {
  const err = e as Error & { code?: string; errno?: number; syscall?: string };
  const msg: StressThreadMessage = { type: 'error', message: err.message, code: err.code, errno: err.errno, syscall: err.syscall, name: err.name };
  port.postMessage(msg);
  port.close();
}

/**
 * Longest serve() of a ring that waits in io_uring_enter: how late a command
 * (stop) may be seen. The run's own end is timed inside the ring.
 */
const SERVE_MS = 50;

/**
 * The scheduling slice this thread asks for, us (engine/sched.h; Linux >=
 * 6.12, ignored before): woken by a completion, it preempts what else runs
 * on its CPU, such as this process's main thread collecting garbage with
 * V8's helper threads. 20k msgs/s open loop, 3 runs alternating, p99 266-446
 * us with it and 381-2015 us without. A thread under another policy (chrt)
 * keeps it (-EOPNOTSUPP, ignored).
 */
const LOAD_SLICE_US = 400;

try {
  native.setThreadSlice(LOAD_SLICE_US);
  let over = false;
  const ring = new native.ClientRing(data.ring, block.i32, block.u64, (runErrno) => {
    over = true;
    const msg: StressThreadMessage = { type: 'done', runErrno, mismatches: ring.mismatches() };
    ring.close();
    port.postMessage(msg);
    port.close();
  });
  port.on('message', (m: StressThreadCommand) => {
    try {
      if (m.type === 'start') {
        ring.start(m.tStart, m.tMeasure, m.tEnd);
        if (data.ring.waitInRing) setImmediate(serveLoop);
      } else if (m.type === 'stop') ring.stop();
    } catch (e) {
      ring.close();
      fail(e);
    }
  });
  // a waitInRing ring: wait in io_uring_enter, giving the event loop a turn
  // (for commands) between serves
  const serveLoop = () => {
    if (over) return;
    try {
      ring.serve(SERVE_MS);
      setImmediate(serveLoop);
    } catch (e) {
      ring.close();
      fail(e);
    }
  };
  const ready: StressThreadMessage = { type: 'ready', setupFlags: ring.setupFlags };
  port.postMessage(ready);
} catch (e) {
  fail(e);
}
