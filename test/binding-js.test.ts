/**
 * The JS-mode binding without the runtime: an acceptor and a worker ring in
 * JS mode on this thread, echo written against the raw event records. Runs
 * with the receive buffers exposed in place (external ArrayBuffer) and with
 * the copying fallback used where external buffers are refused.
 */
import test from 'ava';
import { abi, clientLayout, layout, native, type NativeClientOptions, type NativeWorkerOptions } from '@ringleader/core-native';
import { Worker } from 'node:worker_threads';
import { echoOnce, randomPayload, waitFor } from './helpers.js';
import { fixture } from './js-helpers.js';

const { jsEvents, jsFields: F, acceptorEvents, acceptorFields: AF, acceptorWords, workerModes: modes } = abi;

// the runtime passes every option (its defaults); so does this test
function workerOptions(o: Partial<NativeWorkerOptions> & { tableSize: number; mode: number }): NativeWorkerOptions {
  return { bufCount: 64, bufSize: 4096, highWater: 256 * 1024, maxBuffers: 0, deferTaskrun: false, zcThreshold: 0, copyBuffers: false, waitInRing: false, ...o };
}

for (const copyBuffers of [false, true]) {
  test(`binding: echo over raw JS-mode events (${copyBuffers ? 'copied buffers' : 'buffers in place'})`, async (t) => {
    const ai = new Int32Array(layout.acceptorI32.length);
    const au = new BigUint64Array(layout.acceptorU64.length);
    const wi = new Int32Array(layout.workerI32.length);
    const wu = new BigUint64Array(layout.workerU64Size);
    let target = -1;
    const acceptor = new native.Acceptor({ tableSize: 64, wantAddress: true, maxArmed: 8, multishot: true, multishotMargin: 16, deferTaskrun: true }, ai, au, (n) => {
      const ev = acceptor.events;
      const slots: number[] = [];
      for (let o = 0; o < n * acceptorWords; o += acceptorWords) if (ev[o + AF.type] === acceptorEvents.ACCEPT) slots.push(ev[o + AF.slot]);
      if (slots.length) acceptor.dispatch(Int32Array.from(slots), new Int32Array(slots.length).fill(target), slots.length);
    });
    const seen = { connect: 0, data: 0, end: 0, close: 0, closeErrors: 0, stale: 0, badAddr: 0 };
    const ring = new native.WorkerRing(workerOptions({ tableSize: 64, mode: modes.js, copyBuffers }), wi, wu, (n) => {
      const ev = ring.events;
      const bytes = new Uint8Array(ev.buffer);
      for (let i = 0; i < n; i++) {
        const o = i * abi.jsWords;
        const type = ev[o + F.head] & ((1 << abi.jsTypeBits) - 1);
        const gen = ev[o + F.head] >>> abi.jsTypeBits;
        const idx = ev[o + F.index];
        if (type === jsEvents.CONNECT) {
          seen.connect++;
          const fam = ev[o + F.peer] >>> 16;
          if (fam !== abi.addressFamilies.IPv4 || bytes[(o + F.addr) * 4] !== 127 || (ev[o + F.peer] & 0xffff) === 0) seen.badAddr++;
        } else if (type === jsEvents.DATA) {
          seen.data++;
          const view = new Uint8Array(ring.buffers, ev[o + F.buffer] * ring.bufferSize, ev[o + F.length]);
          const q = ring.write(idx, gen, view);
          if (q < 0) throw new Error(`write ${q}`);
        } else if (type === jsEvents.END) {
          seen.end++;
          ring.end(idx, gen);
        } else if (type === jsEvents.CLOSE) {
          seen.close++;
          if (ev[o + F.error] !== 0) seen.closeErrors++;
          if (ring.write(idx, gen, 'late') === abi.errno.ESTALE) seen.stale++;
        }
      }
    });
    try {
      target = acceptor.addTarget(ring.ringFd);
      const port = acceptor.listen('127.0.0.1', 0, 128, 0);
      const payloads = Array.from({ length: 24 }, (_, i) => randomPayload(1, i < 4 ? 200_000 : 20_000));
      const results = await Promise.all(payloads.map((p) => echoOnce(port, p)));
      t.deepEqual(results.filter((r) => r.received !== r.sent || !r.cleanClose).slice(0, 2), [], 'every payload echoed, every connection closed cleanly');
      t.true(await waitFor(() => seen.close === payloads.length, 3000));
      t.is(seen.connect, payloads.length);
      t.is(seen.end, payloads.length);
      t.is(seen.closeErrors, 0);
      t.is(seen.stale, payloads.length, 'a dead handle is refused with -ESTALE');
      t.is(seen.badAddr, 0, 'peer addresses arrive with CONNECT');
      t.true(seen.data >= payloads.length);
      t.true(await waitFor(() => Atomics.load(wi, layout.workerI32.indexOf('buf_free')) === 64, 2000), 'every buffer back');
      // every record counted once (drains, if any, are the difference)
      t.true(Number(wu[layout.workerU64.indexOf('js_events')]) >= seen.connect + seen.data + seen.end + seen.close);
    } finally {
      const buffers = ring.buffers;
      ring.close();
      acceptor.close();
      // in place, the view is detached at close so it cannot reach unmapped memory
      if (!copyBuffers) t.is(buffers.byteLength, 0);
    }
  });
}

test('binding: JS mode requires the events callback; connection calls check their arguments', (t) => {
  const wi = new Int32Array(layout.workerI32.length);
  const wu = new BigUint64Array(layout.workerU64Size);
  t.throws(() => new native.WorkerRing(workerOptions({ tableSize: 8, mode: modes.js }), wi, wu), { instanceOf: TypeError, message: /onEvents/ });
  const ring = new native.WorkerRing(workerOptions({ tableSize: 8, mode: modes.js, bufCount: 8 }), wi, wu, () => {});
  try {
    t.is(ring.write(0, 0, 'x'), abi.errno.ESTALE, 'no connection at index 0: -ESTALE');
    t.is(ring.end(7, 3), abi.errno.ESTALE);
    t.is(ring.destroy(1000, 0, 0), abi.errno.ESTALE, 'index out of range');
    t.throws(() => ring.write(0, 0, 42 as never), { instanceOf: TypeError });
    t.is(ring.buffers.byteLength, 8 * ring.bufferSize);
  } finally {
    ring.close();
  }
  const echo = new native.WorkerRing(workerOptions({ tableSize: 8, mode: modes.echo }), wi, wu);
  try {
    t.throws(() => echo.write(0, 0, 'x'), { instanceOf: TypeError, message: /not in JS mode/ });
  } finally {
    echo.close();
  }
});

test('binding: ring options are taken as the runtime passes them; a missing or mistyped one is a TypeError naming it', (t) => {
  const wi = new Int32Array(layout.workerI32.length);
  const wu = new BigUint64Array(layout.workerU64Size);
  const full = workerOptions({ tableSize: 8, mode: modes.echo });
  for (const [key, value] of [
    ['bufSize', undefined],
    ['highWater', '256k'],
    ['deferTaskrun', 1],
    ['zcThreshold', -1],
    ['tableSize', 1.5],
  ] as const) {
    const o = { ...full, [key]: value } as unknown as NativeWorkerOptions;
    t.throws(() => new native.WorkerRing(o, wi, wu), { instanceOf: TypeError, message: new RegExp(`WorkerRing option "${key}"`) }, key);
  }
  const proxy = { ...full, mode: modes.proxy, proxy: { upstreams: [{ ip: '127.0.0.1', port: 1 }], policy: 0, connectTimeout: 1000, idleTimeout: 0, backoffBase: 250 } };
  t.throws(() => new native.WorkerRing(proxy as never, wi, wu), { instanceOf: TypeError, message: /proxy option "backoffMax"/ });
  const ai = new Int32Array(layout.acceptorI32.length);
  const au = new BigUint64Array(layout.acceptorU64.length);
  t.throws(() => new native.Acceptor({ tableSize: 8, maxArmed: 8, multishot: true, multishotMargin: 4, deferTaskrun: true } as never, ai, au, () => {}), {
    instanceOf: TypeError,
    message: /Acceptor option "wantAddress"/,
  });
  const ci = new Int32Array(clientLayout.i32.length);
  const cu = new BigUint64Array(clientLayout.u64Size);
  const client: NativeClientOptions = {
    mode: abi.clientModes.echo,
    connections: 1,
    idBase: 0,
    targets: [{ ip: '127.0.0.1', port: 1 }],
    sources: [],
    sockMode: abi.clientSockModes.ring,
    sockCmd: true,
    sizeMin: 64,
    sizeMax: 64,
    pipeline: 1,
    window: 65536,
    chunk: 4096,
    zcThreshold: 0,
    rate: 0,
    connectRate: 0,
    seed: 1n,
    quota: 0,
    retryMs: 100,
    drainMs: 100,
    connectTimeoutMs: 0,
    bufCount: 16,
    bufSize: 4096,
    deferTaskrun: false,
    waitInRing: false,
    timeoutMs: 0,
  };
  for (const [key, value] of [
    ['seed', 'x'],
    ['sources', undefined],
    ['retryMs', undefined],
  ] as const) {
    const o = { ...client, [key]: value } as unknown as NativeClientOptions;
    t.throws(() => new native.ClientRing(o, ci, cu, () => {}), { instanceOf: TypeError, message: new RegExp(`ClientRing option "${key}"`) }, key);
  }
  // the complete sets are accepted
  t.notThrows(() => new native.WorkerRing(full, wi, wu).close(), 'every WorkerRing option given');
  t.notThrows(() => new native.ClientRing(client, ci, cu, () => {}).close(), 'every ClientRing option given');
});

test('binding: a thread terminated while it constructs rings does not take the process down', async (t) => {
  // reading an option of a thread being torn down fails; node-addon-api used
  // to abort the process over the error it could not throw (found under load:
  // a server's start timeout terminating its workers)
  for (let i = 0; i < 40; i++) {
    const w = new Worker(fixture('ring-loop.mjs'));
    await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await new Promise((r) => setTimeout(r, 5 + (i % 7) * 3));
    await w.terminate();
  }
  t.pass('the process lived through 40 terminations mid-constructor');
});
