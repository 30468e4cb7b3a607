/** The CLI's value parsers (durations, sizes, counts, lists): pure functions, no kernel needed. */
import test from 'ava';
import { formatDuration, formatSize, parseCount, parseDuration, parseInteger, parseSize, parseSizeRange, parseStartTime, parseWeights, parseWholeCount } from 'ringleader/args';

test('durations: units, a bare number is seconds, fractions round to ms', (t) => {
  t.is(parseDuration('1500ms'), 1500);
  t.is(parseDuration('2s'), 2000);
  t.is(parseDuration('2'), 2000);
  t.is(parseDuration('1.5'), 1500);
  t.is(parseDuration('1m'), 60_000);
  t.is(parseDuration('1h'), 3_600_000);
  t.is(parseDuration(' 250ms '), 250);
  t.is(parseDuration('0.0004s'), 0);
  t.is(parseDuration('0'), 0);
  t.is(parseDuration('24h'), 86_400_000);
});

test('durations: bad text, negatives and out-of-range values say which', (t) => {
  for (const v of ['', 'fast', '2 days', '1d', '5sec', '--1s', '1e3']) t.throws(() => parseDuration(v), { message: /^not a duration \(examples: / }, v);
  t.throws(() => parseDuration('-1s'), { message: 'must be from 0 to 24h' });
  t.throws(() => parseDuration('99999h'), { message: 'must be from 0 to 24h' });
  t.throws(() => parseDuration('0', { min: 10 }), { message: 'must be from 10ms to 24h' });
  t.throws(() => parseDuration('11m', { max: 600_000 }), { message: 'must be from 0 to 10m' });
  t.is(parseDuration('10ms', { min: 10 }), 10);
});

test('sizes: powers of 1024, any case, optional blank before the unit', (t) => {
  t.is(parseSize('64'), 64);
  t.is(parseSize('64b'), 64);
  t.is(parseSize('16k'), 16384);
  t.is(parseSize('16KiB'), 16384);
  t.is(parseSize('16 kb'), 16384);
  t.is(parseSize('1M'), 1 << 20);
  t.is(parseSize('1.5MiB'), 1.5 * (1 << 20));
  t.is(parseSize('2g'), 2 * (1 << 30));
  t.is(parseSize('0'), 0);
  for (const v of ['', 'big', '16KB/s', '1T', '1e6']) t.throws(() => parseSize(v), { message: /^not a size/ }, v);
  t.throws(() => parseSize('-64'), { message: 'must not be negative' });
  t.throws(() => parseSize('0', { min: 1, max: 1 << 24 }), { message: 'must be from 1 to 16MiB' });
  t.throws(() => parseSize('17MiB', { min: 1, max: 1 << 24 }), { message: 'must be from 1 to 16MiB' });
});

test('size ranges: one size or MIN-MAX', (t) => {
  t.is(parseSizeRange('64'), 64);
  t.deepEqual(parseSizeRange('64-64KiB'), [64, 65536]);
  t.throws(() => parseSizeRange('1-2-3'), { message: /a range/ });
  t.throws(() => parseSizeRange('64-'), { message: /^not a size/ });
});

test('counts: powers of 1000, fractions allowed; whole counts and plain integers', (t) => {
  t.is(parseCount('20000'), 20000);
  t.is(parseCount('20k'), 20000);
  t.is(parseCount('1.5M'), 1_500_000);
  t.is(parseCount('0.5'), 0.5);
  for (const v of ['', 'many', '20x', '1e3']) t.throws(() => parseCount(v), { message: /^not a number \(examples: / }, v);
  t.throws(() => parseCount('-5'), { message: 'must not be negative' });
  t.is(parseWholeCount('2k'), 2000);
  t.throws(() => parseWholeCount('1.5'), { message: 'not a whole number' });
  t.throws(() => parseWholeCount('0', { min: 1, max: 1_000_000 }), { message: 'must be from 1 to 1000000' });
  t.throws(() => parseWholeCount('-5', { min: 1 }), { message: 'must be at least 1' });
  t.is(parseInteger('7000', { min: 0, max: 65535 }), 7000);
  t.throws(() => parseInteger('7k'), { message: 'not an integer' });
  t.throws(() => parseInteger('-1', { min: 1, max: 1024 }), { message: 'must be from 1 to 1024' });
  t.throws(() => parseInteger('70000', { min: 0, max: 65535 }), { message: 'must be from 0 to 65535' });
});

test('weights: positive numbers separated by commas', (t) => {
  t.deepEqual(parseWeights('3,1'), [3, 1]);
  t.deepEqual(parseWeights(' 2.5 , 1 ,1'), [2.5, 1, 1]);
  for (const v of ['', '3,', '3,0', '3,-1', 'a,b', '3;1']) t.throws(() => parseWeights(v), { message: /positive numbers/ }, v);
});

test('formatting writes what the parsers read back', (t) => {
  t.is(formatDuration(5000), '5s');
  t.is(formatDuration(60_000), '1m');
  t.is(formatDuration(1500), '1500ms');
  t.is(formatDuration(0), '0');
  t.is(formatSize(16384), '16KiB');
  t.is(formatSize(1 << 20), '1MiB');
  t.is(formatSize(100), '100');
  for (const ms of [0, 10, 1500, 5000, 60_000, 90_000, 3_600_000]) t.is(parseDuration(formatDuration(ms)), ms);
  for (const b of [0, 64, 16384, 65536, 262144, 1 << 20, 3 * 2 ** 30]) t.is(parseSize(formatSize(b)), b);
});

test('start times: Unix seconds or ISO 8601 with a zone, within a day of now either way', (t) => {
  const now = Date.UTC(2026, 11, 2, 18, 0, 0);
  t.is(parseStartTime('2026-12-02T18:30:00Z', now), Date.UTC(2026, 11, 2, 18, 30, 0));
  t.is(parseStartTime('2026-12-02T19:30:00+01:00', now), Date.UTC(2026, 11, 2, 18, 30, 0));
  t.is(parseStartTime('2026-12-02T18:30Z', now), Date.UTC(2026, 11, 2, 18, 30, 0));
  t.is(parseStartTime('2026-12-02T18:30:00.250Z', now), Date.UTC(2026, 11, 2, 18, 30, 0) + 250);
  t.is(parseStartTime(String(now / 1000 + 60), now), now + 60_000);
  t.is(parseStartTime(`${now / 1000 + 1}.5`, now), now + 1500);
  // already past: allowed (a machine that came up late starts at once)
  t.is(parseStartTime('2026-12-02T17:00:00Z', now), Date.UTC(2026, 11, 2, 17, 0, 0));
  // no zone: each machine would read it in its own
  for (const v of ['2026-12-02T18:30:00', '2026-12-02 18:30:00Z', 'tomorrow', '+2m', '', '-5']) t.throws(() => parseStartTime(v, now), { message: /^not a time/ }, v);
  for (const v of ['2026-02-30T10:00:00Z', '2026-12-02T24:00:00Z', '2026-12-02T18:60:00Z', '2026-13-01T00:00:00Z']) t.throws(() => parseStartTime(v, now), { message: 'not a valid date and time' }, v);
  for (const v of ['2026-12-04T18:00:00Z', '2026-11-30T18:00:00Z', String(now / 1000 + 90_000)]) t.throws(() => parseStartTime(v, now), { message: 'must be within 24 hours of now' }, v);
});
