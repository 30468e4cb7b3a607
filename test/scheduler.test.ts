/** Scheduler unit tests with simulated shards (no rings). */
import test from 'ava';
import type { Policy } from '@ringleader/runtime';
import { Scheduler } from '@ringleader/runtime/internal';

interface Sim {
  id: number;
  live: number;
  weight: number;
  capacity: number;
}

function setup(policy: Policy, n: number, opts: { weights?: number[]; capacity?: number; random?: () => number } = {}) {
  const sims: Sim[] = Array.from({ length: n }, (_, i) => ({ id: i + 1, live: 0, weight: opts.weights?.[i] ?? 1, capacity: opts.capacity ?? Infinity }));
  const events: string[] = [];
  const s = new Scheduler(policy, opts.random ?? Math.random, {
    onSaturated: (id) => events.push(`sat ${id}`),
    onUnsaturated: (id) => events.push(`unsat ${id}`),
  });
  for (const sim of sims) s.add({ id: sim.id, weight: sim.weight, capacity: sim.capacity, live: () => sim.live });
  const out = new Int32Array(1024);
  /** assign k slots; the hand-offs complete at once (inflight -> live) */
  const place = (k: number): number[] => {
    const got = s.assign(k, out);
    const ids = Array.from(out.subarray(0, got));
    for (const id of ids) {
      sims[id - 1].live++;
      s.settled(id);
    }
    return ids;
  };
  return { s, sims, place, events, out };
}

/** a seeded PRNG, so p2c runs are repeatable */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

test('round-robin rotates and skips shards without room', (t) => {
  const { place, sims, s } = setup('round-robin', 3);
  t.deepEqual(place(6), [1, 2, 3, 1, 2, 3]);
  s.saturate(2);
  t.deepEqual(place(4), [1, 3, 1, 3]);
  t.is(sims[1].live, 2);
});

test('least-connections: long-lived arrivals one at a time stay within one', (t) => {
  const { place, sims } = setup('least-connections', 4);
  for (let i = 0; i < 101; i++) {
    place(1);
    const lives = sims.map((x) => x.live);
    t.true(Math.max(...lives) - Math.min(...lives) <= 1, `after ${i + 1}: ${lives}`);
  }
  // four close on shard 1 (26 -> 22, the others hold 25): it gets the next three
  t.deepEqual(
    sims.map((x) => x.live),
    [26, 25, 25, 25],
  );
  sims[0].live -= 4;
  t.deepEqual(place(3), [1, 1, 1]);
});

test('least-connections counts hand-offs in flight within one batch', (t) => {
  const { s, out } = setup('least-connections', 2);
  const got = s.assign(10, out);
  t.is(got, 10);
  const counts = [0, 0];
  for (const id of out.subarray(0, got)) counts[id - 1]++;
  t.deepEqual(counts, [5, 5]);
  t.is(s.inflight(1), 5);
});

test('weighted follows its weights within 10%', (t) => {
  const weights = [1, 2, 3, 4];
  const { place, sims } = setup('weighted', 4, { weights });
  place(1000);
  const total = weights.reduce((a, b) => a + b, 0);
  sims.forEach((x, i) => {
    const want = (1000 * weights[i]) / total;
    t.true(Math.abs(x.live - want) <= want * 0.1, `shard ${i + 1}: ${x.live} vs ${want}`);
  });
});

test('p2c beats round-robin when one shard keeps its connections', (t) => {
  // every connection placed on shard 1 is long-lived; the others close at once
  const run = (policy: Policy) => {
    const { place, sims } = setup(policy, 4, { random: lcg(7) });
    for (let i = 0; i < 400; i++) {
      const [id] = place(1);
      if (id !== 1) sims[id - 1].live--;
    }
    return sims[0].live;
  };
  const rr = run('round-robin');
  const p2c = run('p2c');
  t.true(p2c < rr / 4, `p2c left ${p2c} on the slow shard, round-robin ${rr}`);
});

test('saturation: -ENFILE stops placement until below the low-water mark, then learns the table size', (t) => {
  const { s, sims, place, events } = setup('round-robin', 2);
  place(40); // 20 each
  s.saturate(1); // shard 1's table filled at 20
  t.true(s.isSaturated(1));
  t.deepEqual(place(3), [2, 2, 2]);
  sims[0].live = 19;
  t.false(s.refresh(), 'one below is not enough (10% hysteresis)');
  sims[0].live = 18;
  t.true(s.refresh());
  t.false(s.isSaturated(1));
  t.deepEqual(events, ['sat 1', 'unsat 1']);
  // it takes at most what it held when full (20), no more
  const ids = place(10);
  t.is(ids.filter((x) => x === 1).length, 2);
  t.is(sims[0].live, 20);
});

test('no capacity anywhere: assign stops, hasCapacity says so', (t) => {
  const { s, place } = setup('p2c', 2, { capacity: 3 });
  t.is(place(10).length, 6);
  t.false(s.hasCapacity());
  t.is(s.assign(5, new Int32Array(5)), 0);
});

test('remove returns hand-offs in flight and skips the shard', (t) => {
  const { s, out } = setup('round-robin', 2);
  s.assign(4, out);
  t.is(s.remove(1), 2);
  t.false(s.has(1));
  const got = s.assign(3, out);
  t.deepEqual(Array.from(out.subarray(0, got)), [2, 2, 2]);
});

test('load counts live plus in flight', (t) => {
  const { s, sims, out } = setup('round-robin', 2);
  sims[0].live = 3;
  s.assign(2, out);
  t.is(s.load(), 5);
});

test('pickAhead moves the policy on without counting in flight; placed counts it; joining and leaving rotation are reported', (t) => {
  let changes = 0;
  const sims = [0, 0];
  const s = new Scheduler('round-robin', Math.random, { onRotation: () => changes++ });
  for (const id of [1, 2]) s.add({ id, weight: 1, capacity: 2, live: () => sims[id - 1] });
  t.is(changes, 2);
  t.is(s.pickAhead(), 1);
  t.is(s.inflight(1), 0, 'a pick made ahead is not in flight until used');
  t.is(s.load(), 0);
  s.placed(1);
  t.is(s.inflight(1), 1);
  t.is(s.pickAhead(), 2, 'round-robin went on past the pick');
  t.true(s.isOpen(2));
  sims[1] = 2;
  t.false(s.isOpen(2), 'at its capacity');
  s.remove(2);
  t.false(s.isOpen(2), 'out of rotation');
  t.is(changes, 3);
});
