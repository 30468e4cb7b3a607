/**
 * The JS-mode binding without the runtime: an acceptor and a worker ring in
 * JS mode on this thread, echo written against the raw event records. Runs
 * with the receive buffers exposed in place (external ArrayBuffer) and with
 * the copying fallback used where external buffers are refused.
 */
import test from 'ava';
import { acceptorEvents, jsEvents, layout, modes, native } from '@ringleader/core-native';
import { echoOnce, randomPayload, waitFor } from './helpers.js';

for (const copyBuffers of [false, true]) {
  test(`binding: echo over raw JS-mode events (${copyBuffers ? 'copied buffers' : 'buffers in place'})`, async (t) => {
    const ai = new Int32Array(layout.acceptorI32.length);
    const au = new BigUint64Array(layout.acceptorU64.length);
    const wi = new Int32Array(layout.workerI32.length);
    const wu = new BigUint64Array(layout.workerU64Size);
    let target = -1;
    const acceptor = new native.Acceptor({ tableSize: 64, wantAddress: true, maxArmed: 8 }, ai, au, (n) => {
      const ev = acceptor.events;
      const slots: number[] = [];
      for (let i = 0; i < n; i++) if (ev[i * 4] === acceptorEvents.ACCEPT) slots.push(ev[i * 4 + 1]);
      if (slots.length) acceptor.dispatch(Int32Array.from(slots), new Int32Array(slots.length).fill(target), slots.length);
    });
    const seen = { connect: 0, data: 0, end: 0, close: 0, closeErrors: 0, stale: 0, badAddr: 0 };
    const ring = new native.WorkerRing({ tableSize: 64, mode: modes.js, bufCount: 64, bufSize: 4096, copyBuffers }, wi, wu, (n) => {
      const ev = ring.events;
      const bytes = new Uint8Array(ev.buffer);
      for (let i = 0; i < n; i++) {
        const o = i * jsEvents.WORDS;
        const type = ev[o] & 0xffff;
        const gen = ev[o] >>> 16;
        const idx = ev[o + 1];
        if (type === jsEvents.CONNECT) {
          seen.connect++;
          const fam = ev[o + 3] >>> 16;
          if (fam !== 2 || bytes[(o + 4) * 4] !== 127 || (ev[o + 3] & 0xffff) === 0) seen.badAddr++;
        } else if (type === jsEvents.DATA) {
          seen.data++;
          const view = new Uint8Array(ring.buffers, ev[o + 2] * ring.bufferSize, ev[o + 3]);
          const q = ring.write(idx, gen, view);
          if (q < 0) throw new Error(`write ${q}`);
        } else if (type === jsEvents.END) {
          seen.end++;
          ring.end(idx, gen);
        } else if (type === jsEvents.CLOSE) {
          seen.close++;
          if (ev[o + 2] !== 0) seen.closeErrors++;
          if (ring.write(idx, gen, 'late') === -116 /* ESTALE */) seen.stale++;
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
  t.throws(() => new native.WorkerRing({ tableSize: 8, mode: modes.js }, wi, wu), { instanceOf: TypeError, message: /onEvents/ });
  const ring = new native.WorkerRing({ tableSize: 8, mode: modes.js, bufCount: 8 }, wi, wu, () => {});
  try {
    t.is(ring.write(0, 0, 'x'), -116, 'no connection at index 0: -ESTALE');
    t.is(ring.end(7, 3), -116);
    t.is(ring.destroy(1000, 0, 0), -116, 'index out of range');
    t.throws(() => ring.write(0, 0, 42 as never), { instanceOf: TypeError });
    t.is(ring.buffers.byteLength, 8 * ring.bufferSize);
  } finally {
    ring.close();
  }
  const echo = new native.WorkerRing({ tableSize: 8, mode: modes.echo }, wi, wu);
  try {
    t.throws(() => echo.write(0, 0, 'x'), { instanceOf: TypeError, message: /not in JS mode/ });
  } finally {
    echo.close();
  }
});
