/** The address parsers: pure functions, no kernel needed. */
import test from 'ava';
import { formatHostPort, parseHostPort, parseSources, parseUpstream } from '@ringleader/runtime/internal';

test('HOST:PORT: names, IPv4, bracketed IPv6, blanks around', (t) => {
  t.deepEqual(parseHostPort('x', '127.0.0.1:7000'), { host: '127.0.0.1', port: 7000 });
  t.deepEqual(parseHostPort('x', 'localhost:1'), { host: 'localhost', port: 1 });
  t.deepEqual(parseHostPort('x', 'db-1.example_internal:65535'), { host: 'db-1.example_internal', port: 65535 });
  t.deepEqual(parseHostPort('x', '[::1]:80'), { host: '::1', port: 80 });
  t.deepEqual(parseHostPort('x', '[fd00::6]:8080'), { host: 'fd00::6', port: 8080 });
  t.deepEqual(parseHostPort('x', '  10.0.0.5:80 '), { host: '10.0.0.5', port: 80 });
});

test('HOST:PORT: malformed input is a RangeError naming the option and the value', (t) => {
  const bad: [string, RegExp][] = [
    ['localhost', /HOST:PORT \(IPv6 as \[ADDR\]:PORT\)/],
    ['::1:80', /HOST:PORT \(IPv6 as \[ADDR\]:PORT\)/],
    ['[nothex]:80', /HOST:PORT \(IPv6 as \[ADDR\]:PORT\)/],
    ['[::1]80', /HOST:PORT/],
    [':80', /host name or address/],
    ['a b:80', /host name or address/],
    ['h:', /numeric port/],
    ['h:http', /numeric port/],
    ['h:-1', /numeric port/],
    ['h:0', /port from 1 to 65535/],
    ['h:65536', /port from 1 to 65535/],
  ];
  for (const [text, re] of bad) {
    const e = t.throws(() => parseHostPort('upstreams[0]', text), { instanceOf: RangeError }, text);
    t.regex(e!.message, /^option "upstreams\[0\]" must be /, text);
    t.regex(e!.message, re, text);
    t.true(e!.message.endsWith(`got ${JSON.stringify(text)}`), e!.message);
  }
  t.throws(() => parseHostPort('targets', 7000), { instanceOf: TypeError, message: /"targets"/ });
});

test('HOST:PORT for a listener: ":PORT" is every address, port 0 picks one', (t) => {
  const listen = { anyHost: true, portZero: true };
  t.deepEqual(parseHostPort('listen', ':7000', listen), { host: '0.0.0.0', port: 7000 });
  t.deepEqual(parseHostPort('listen', '127.0.0.1:0', listen), { host: '127.0.0.1', port: 0 });
  t.deepEqual(parseHostPort('listen', '[::]:0', listen), { host: '::', port: 0 });
  t.throws(() => parseHostPort('listen', 'nowhere', listen), { message: /"listen".*HOST:PORT/ });
  t.throws(() => parseHostPort('listen', 'h:65536', listen), { message: /port from 0 to 65535 \(0 picks one\)/ });
  // without the rules, neither is allowed
  t.throws(() => parseHostPort('targets', ':7000'), { instanceOf: RangeError });
  t.throws(() => parseHostPort('targets', 'h:0'), { instanceOf: RangeError });
});

test('formatHostPort brackets IPv6 and round-trips', (t) => {
  t.is(formatHostPort('::1', 80), '[::1]:80');
  t.is(formatHostPort('10.0.0.1', 80), '10.0.0.1:80');
  for (const s of ['[fd00::1]:9', 'example.org:443', '1.2.3.4:5']) {
    const { host, port } = parseHostPort('x', s);
    t.is(formatHostPort(host, port), s);
  }
});

test('upstreams: a string or { host, port }', (t) => {
  t.deepEqual(parseUpstream('upstreams[1]', '[fd00::6]:80'), { host: 'fd00::6', port: 80 });
  t.deepEqual(parseUpstream('upstreams[1]', { host: 'h', port: 9 }), { host: 'h', port: 9 });
  t.throws(() => parseUpstream('upstreams[1]', { host: '', port: 9 }), { instanceOf: TypeError, message: /"upstreams\[1\]\.host"/ });
  t.throws(() => parseUpstream('upstreams[1]', { host: 'h', port: 0 }), { instanceOf: RangeError, message: /"upstreams\[1\]\.port"/ });
  t.throws(() => parseUpstream('upstreams[1]', 'nohost'), { instanceOf: RangeError, message: /upstreams\[1\].*nohost/ });
  t.throws(() => parseUpstream('upstreams[1]', 80), { instanceOf: TypeError });
});

test('source ranges: inclusive IPv4 ranges, single addresses, comma lists', (t) => {
  t.deepEqual(parseSources('source', '127.0.0.1-127.0.0.3'), ['127.0.0.1', '127.0.0.2', '127.0.0.3']);
  t.deepEqual(parseSources('source', '10.0.0.255-10.0.1.0'), ['10.0.0.255', '10.0.1.0']);
  t.deepEqual(parseSources('source', '127.0.0.1, ::1'), ['127.0.0.1', '::1']);
  t.deepEqual(parseSources('source', ['127.0.0.5', '127.0.0.6-127.0.0.6']), ['127.0.0.5', '127.0.0.6']);
  t.is(parseSources('source', '10.0.0.0-10.0.255.255').length, 65536);
  t.throws(() => parseSources('source', '10.0.0.9-10.0.0.1'), { instanceOf: RangeError, message: /A <= B/ });
  t.throws(() => parseSources('source', '10.0.0.0-10.1.0.0'), { instanceOf: RangeError, message: /at most 65536/ });
  t.throws(() => parseSources('source', '::1-::2'), { instanceOf: RangeError, message: /IPv4 range/ });
  t.throws(() => parseSources('source', 'localhost'), { instanceOf: RangeError, message: /"source"/ });
  t.throws(() => parseSources('source', ''), { instanceOf: RangeError });
  t.throws(() => parseSources('source', [7 as never]), { instanceOf: TypeError });
});
