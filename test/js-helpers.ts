/** Helpers for the handler-module suites: fixtures, report channels, clients. */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { BroadcastChannel } from 'node:worker_threads';
import { ROOT } from './helpers.js';

/** URL of a handler module under test/fixtures. */
export function fixture(name: string): URL {
  return new URL(`test/fixtures/${name}`, `file://${ROOT}`);
}

/** URL of a file under examples/. */
export function example(path: string): URL {
  return new URL(`examples/${path}`, `file://${ROOT}`);
}

/** Messages a fixture posts on a BroadcastChannel from the worker threads. */
export class Reports<T = Record<string, unknown>> {
  static #n = 0;
  readonly messages: T[] = [];
  /** channel name, unique in this process: give it to the fixture as handlerOptions.channel */
  readonly name = `rl-test-${process.pid}-${++Reports.#n}`;
  #ch: BroadcastChannel;
  constructor() {
    this.#ch = new BroadcastChannel(this.name);
    this.#ch.onmessage = (e) => this.messages.push((e as MessageEvent).data as T);
    (this.#ch as unknown as { unref?: () => void }).unref?.();
  }
  /** Wait until `pred` holds for the messages so far (bounded); returns whether it did. */
  async until(pred: (m: T[]) => boolean, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (pred(this.messages)) return true;
      await new Promise((r) => setTimeout(r, 10));
    }
    return pred(this.messages);
  }
  close(): void {
    this.#ch.close();
  }
}

/** Connect; resolves with the socket once connected (bounded). */
export function connect(port: number, host = '127.0.0.1', ms = 5000, allowHalfOpen = false): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host, noDelay: true, allowHalfOpen });
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`connect timeout after ${ms} ms`));
    }, ms);
    s.once('connect', () => {
      clearTimeout(t);
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

/** Everything a socket receives until it closes (bounded), and how it ended. */
export function collect(s: net.Socket, ms = 10000): Promise<{ data: Buffer; ended: boolean; error?: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let ended = false;
    let error: string | undefined;
    let timedOut = false;
    const t = setTimeout(() => {
      timedOut = true;
      s.destroy();
    }, ms);
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => (ended = true));
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('close', () => {
      clearTimeout(t);
      resolve({ data: Buffer.concat(chunks), ended, error, timedOut });
    });
  });
}

/** Read from a socket until `pred(text so far)` holds (bounded). */
export function readUntil(s: net.Socket, pred: (text: string) => boolean, ms = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const t = setTimeout(() => {
      s.off('data', on);
      reject(new Error(`timeout after ${ms} ms; got ${JSON.stringify(text.slice(0, 200))}`));
    }, ms);
    const on = (d: Buffer) => {
      text += d.toString('latin1');
      if (pred(text)) {
        clearTimeout(t);
        s.off('data', on);
        resolve(text);
      }
    };
    s.on('data', on);
  });
}

export interface ToolRun {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Run an external tool to completion (bounded); fails clearly when it is not installed. */
export function runTool(cmd: string, args: string[], timeoutMs: number): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, timeoutMs);
    p.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      reject(e.code === 'ENOENT' ? new Error(`${cmd} is not installed; run \`sh scripts/setup.sh --test\` (it installs wrk and redis-tools)`) : e);
    });
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}
