/**
 * One acceptor of a server with option `acceptors` > 1, on a thread of its
 * own: a whole server (acceptor ring, scheduler, its share of the workers)
 * on its own SO_REUSEPORT listener. The main thread (acceptor-groups.ts)
 * drives it with commands on parentPort and reads its stats through `rpc`,
 * synchronously, so `server.stats()` stays a plain call there.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { toWire } from './error-info.js';
import type { ServerOptions } from './options.js';
import { acceptorReport, createServer } from './server.js';

/** What the main thread starts an acceptor thread with. */
export interface AcceptorThreadData {
  options: ServerOptions;
  /** the synchronous channel: a request, then its reply with `signal` raised */
  rpc: MessagePort;
  signal: SharedArrayBuffer;
  /** events the main thread has listeners for, beyond those always passed on */
  subscribed: string[];
}

/** Events passed on to the main thread as they happen. */
export const FORWARDED_EVENTS = ['warning', 'accept-error', 'pause', 'resume', 'stall', 'reject', 'saturated', 'unsaturated', 'worker-ready', 'worker-exit', 'upstream-down', 'upstream-up'] as const;

/**
 * Events passed on only while the main thread listens for them: with no
 * listener anywhere, the server does something of its own (handler errors
 * are printed, rate-limited), which a forwarding listener would silence.
 */
export const SUBSCRIBED_EVENTS = ['handler-error'] as const;

/** What the main thread asks of an acceptor's server. */
export type AcceptorRequest =
  | { method: 'listen' }
  | { method: 'close'; timeout: number }
  | { method: 'reload'; drainTimeout: number; options?: ServerOptions }
  | { method: 'terminateWorker'; index: number }
  | { method: 'subscribe'; event: string; on: boolean };
export type AcceptorCommand = AcceptorRequest & { id: number };

if (parentPort) {
  const port = parentPort;
  const data = workerData as AcceptorThreadData;
  const signal = new Int32Array(data.signal);
  const server = createServer(data.options);
  const post = (m: object) => port.postMessage(m);
  const forward =
    (name: string) =>
    (...args: unknown[]) =>
      post({ t: 'event', name, args: args.map(toWire) });
  for (const name of FORWARDED_EVENTS) server.on(name, forward(name));
  const subscribed = new Map<string, (...args: unknown[]) => void>();
  const subscribe = (name: string, on: boolean) => {
    const had = subscribed.get(name);
    if (on && !had) {
      const f = forward(name);
      subscribed.set(name, f);
      server.on(name, f);
    } else if (!on && had) {
      subscribed.delete(name);
      server.off(name, had);
    }
  };
  for (const name of data.subscribed) subscribe(name, true);

  data.rpc.on('message', (m: { seq: number; method: 'report' | 'listenerFds' }) => {
    let reply: object;
    try {
      reply = { seq: m.seq, value: m.method === 'report' ? acceptorReport(server) : server.listenerFds() };
    } catch (e) {
      reply = { seq: m.seq, error: toWire(e) };
    }
    data.rpc.postMessage(reply);
    Atomics.store(signal, 0, m.seq);
    Atomics.notify(signal, 0);
  });

  port.on('message', async (m: AcceptorCommand) => {
    try {
      let value: unknown;
      if (m.method === 'listen') value = await server.listen();
      // with its final counts: the thread ends after this, and stats() after a close still reads them
      else if (m.method === 'close') value = { summary: await server.close({ timeout: m.timeout }), report: acceptorReport(server) };
      else if (m.method === 'reload') value = await server.reload({ drainTimeout: m.drainTimeout, options: m.options });
      else if (m.method === 'terminateWorker') value = await server.terminateWorker(m.index);
      else subscribe(m.event, m.on);
      post({ t: 'reply', id: m.id, value: toWire(value) });
    } catch (e) {
      post({ t: 'reply', id: m.id, error: toWire(e) });
    }
    // closed (also after a failed listen, when the main thread tears down): the thread ends once its ports do
    if (m.method === 'close') {
      data.rpc.close();
      port.close();
    }
  });
}
