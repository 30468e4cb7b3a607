// A Redis-protocol (RESP2) server for PING and ECHO, as a ringleader handler
// module.
//
//   ringleader serve examples/resp-ping/handler.js --port 6380
//   redis-cli -p 6380 ping            -> PONG
//   redis-cli -p 6380 echo hello      -> "hello"
//   redis-benchmark -p 6380 -t ping -q
//
// Commands: PING [message], ECHO message, QUIT, and CONFIG GET for the two
// settings redis-benchmark asks about at start (this server keeps no data:
// save "" and appendonly "no"); anything else gets Redis's "unknown command"
// error. Requests are RESP arrays of bulk strings (what
// clients send) or inline commands (what you type into telnet); pipelined
// requests are answered in order, in one send. A protocol error gets
// "-ERR Protocol error: ..." and the connection is closed, as Redis does.
//
// Limits (handler options, as Redis's own settings of the same meaning):
//   maxBulkLen  largest bulk string (Redis: proto-max-bulk-len), default 1 MiB
//   maxArgs     most arguments in one request, default 1,048,576 (as Redis)
//   maxInline   longest inline command, default 64 KiB
// so a client cannot make a worker hold more than about one request's worth
// of memory per connection. Parsing is linear in the request size however it
// is split: an incomplete request is kept in one growing buffer and parsing
// resumes where it stopped, instead of starting over on every read.
//
//   ringleader serve examples/resp-ping/handler.js --options '{"maxBulkLen":8388608}'
import { defineHandler } from '@ringleader/runtime/handler';

const DEFAULTS = { maxBulkLen: 1024 * 1024, maxArgs: 1024 * 1024, maxInline: 64 * 1024 };
let limits = DEFAULTS;
const PONG = Buffer.from('+PONG\r\n');
const OK = Buffer.from('+OK\r\n');
const CR = 13,
  LF = 10;
const CONFIG = { save: '', appendonly: 'no' };

/** decimal integer in buf[s, e), or NaN */
function int(buf, s, e) {
  let neg = false;
  if (s < e && buf[s] === 45) {
    neg = true;
    s++;
  }
  if (s === e || e - s > 12) return NaN;
  let n = 0;
  for (let i = s; i < e; i++) {
    const d = buf[i] - 48;
    if (d < 0 || d > 9) return NaN;
    n = n * 10 + d;
  }
  return neg ? -n : n;
}

function bulk(conn, b) {
  conn.write(`$${b.length}\r\n`);
  conn.write(b);
  conn.write('\r\n');
}

function quoted(b) {
  return `'${b
    .toString('latin1')
    .replace(/[^\x20-\x7e]/g, '?')
    .slice(0, 128)}'`;
}

/** run one command; returns false when the connection should close */
function run(conn, args) {
  if (args.length === 0) return true;
  const name = args[0].toString('latin1').toLowerCase();
  switch (name) {
    case 'ping':
      if (args.length === 1) conn.write(PONG);
      else if (args.length === 2) bulk(conn, args[1]);
      else conn.write("-ERR wrong number of arguments for 'ping' command\r\n");
      return true;
    case 'echo':
      if (args.length === 2) bulk(conn, args[1]);
      else conn.write("-ERR wrong number of arguments for 'echo' command\r\n");
      return true;
    case 'quit':
      conn.write(OK);
      return false;
    case 'config': {
      const sub = args.length > 1 ? args[1].toString('latin1').toLowerCase() : '';
      if (sub !== 'get' || args.length < 3) {
        conn.write(`-ERR unknown subcommand or wrong number of arguments for 'config|${sub}' command\r\n`);
        return true;
      }
      // patterns: an exact name or "*"
      const out = [];
      for (const a of args.slice(2)) {
        const pat = a.toString('latin1').toLowerCase();
        for (const [k, v] of Object.entries(CONFIG)) if (pat === '*' || pat === k) out.push(k, v);
      }
      conn.write(`*${out.length}\r\n`);
      for (const x of out) bulk(conn, Buffer.from(x));
      return true;
    }
    default: {
      const rest = args
        .slice(1)
        .map((a) => `${quoted(a)} `)
        .join('');
      conn.write(`-ERR unknown command ${quoted(args[0])}, with args beginning with: ${rest}\r\n`);
      return true;
    }
  }
}

function protocolError(conn, what) {
  conn.write(`-ERR Protocol error: ${what}\r\n`);
  conn.end();
  conn.data.closed = true;
}

/**
 * Where parsing of the request at the head of a connection's pending bytes
 * stands, so that it resumes there when more bytes arrive (linear time).
 * Arguments are kept as offsets into the buffer they were found in.
 */
function freshRequest() {
  return { q: 0, count: -1, args: [] };
}

/**
 * Parse one request from buf[r.q] on, continuing `r`. Returns the offset
 * just past a complete request (its arguments are in r.args as offsets),
 * -1 when more bytes are needed (r remembers how far it got), or a string
 * for a protocol error.
 */
function parse(buf, r) {
  const n = buf.length;
  let q = r.q;
  if (r.count < 0) {
    if (q >= n) return -1;
    if (buf[q] !== 42 /* '*' */) {
      // inline command: a line of space-separated words
      const nl = buf.indexOf(LF, q);
      if (nl < 0) return n - q > limits.maxInline ? 'too big inline request' : -1;
      const end = nl > q && buf[nl - 1] === CR ? nl - 1 : nl;
      let i = q;
      while (i < end) {
        while (i < end && (buf[i] === 32 || buf[i] === 9)) i++;
        const s = i;
        while (i < end && buf[i] !== 32 && buf[i] !== 9) i++;
        if (i > s) r.args.push(s, i);
      }
      return nl + 1;
    }
    const nl = buf.indexOf(LF, q);
    if (nl < 0) return n - q > 64 ? 'invalid multibulk length' : -1;
    if (buf[nl - 1] !== CR) return 'invalid multibulk length';
    const count = int(buf, q + 1, nl - 1);
    if (Number.isNaN(count) || count > limits.maxArgs) return 'invalid multibulk length';
    r.count = Math.max(count, 0);
    q = r.q = nl + 1;
  }
  while (r.args.length < 2 * r.count) {
    if (q >= n) return -1;
    if (buf[q] !== 36 /* '$' */) return `expected '$', got '${String.fromCharCode(buf[q])}'`;
    const nl = buf.indexOf(LF, q);
    if (nl < 0) return n - q > 64 ? 'invalid bulk length' : -1;
    if (buf[nl - 1] !== CR) return 'invalid bulk length';
    const len = int(buf, q + 1, nl - 1);
    if (Number.isNaN(len) || len < 0 || len > limits.maxBulkLen) return 'invalid bulk length';
    const s = nl + 1;
    if (s + len + 2 > n) return -1; // r.q still points at this '$': resume here
    if (buf[s + len] !== CR || buf[s + len + 1] !== LF) return 'invalid bulk format';
    r.args.push(s, s + len);
    q = r.q = s + len + 2;
  }
  return q;
}

/** the request's arguments as views of buf */
function argsOf(buf, r) {
  const out = new Array(r.args.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = buf.subarray(r.args[2 * i], r.args[2 * i + 1]);
  return out;
}

/** answer every complete request in buf; returns the offset of the first unanswered byte */
function serve(conn, buf) {
  const st = conn.data;
  let p = 0;
  for (;;) {
    const end = parse(buf, st.req);
    if (end === -1) return p;
    if (typeof end === 'string') {
      protocolError(conn, end);
      return buf.length;
    }
    const args = argsOf(buf, st.req);
    p = end;
    st.req = freshRequest();
    st.req.q = p;
    if (!run(conn, args)) {
      conn.end();
      st.closed = true;
      return buf.length;
    }
  }
}

export default defineHandler({
  init(ctx) {
    limits = { ...DEFAULTS };
    for (const k of Object.keys(DEFAULTS)) {
      const v = ctx.options?.[k];
      if (v === undefined) continue;
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`resp-ping: options.${k} must be a positive integer, got ${v}`);
      limits[k] = v;
    }
  },

  onConnection(conn) {
    // pend: a copy of the bytes of an incomplete request (the data view dies
    // with onData), in a buffer that grows by doubling; req: parse progress
    conn.data = { pend: null, len: 0, req: freshRequest(), closed: false };
  },

  onData(conn, data) {
    const st = conn.data;
    if (st.closed) return;
    if (st.pend === null) {
      // nothing pending: parse the received bytes in place
      const used = serve(conn, data);
      if (used >= data.length || st.closed) {
        st.req = freshRequest(); // offsets were into `data`: start over at 0
      } else {
        st.pend = Buffer.allocUnsafe(Math.max(4096, 2 * (data.length - used)));
        st.len = data.copy(st.pend, 0, used);
        st.req.q -= used;
        for (let i = 0; i < st.req.args.length; i++) st.req.args[i] -= used;
      }
      return;
    }
    if (st.len + data.length > st.pend.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * st.pend.length, st.len + data.length));
      st.pend.copy(grown, 0, 0, st.len);
      st.pend = grown;
    }
    st.len += data.copy(st.pend, st.len);
    const view = st.pend.subarray(0, st.len);
    const used = serve(conn, view);
    if (st.closed || used >= st.len) {
      st.pend = null; // all answered: drop the buffer, whatever its size
      st.len = 0;
      st.req = freshRequest();
      return;
    }
    if (used > 0) {
      // keep the unanswered tail at the front
      st.pend.copy(st.pend, 0, used, st.len);
      st.len -= used;
      st.req.q -= used;
      for (let i = 0; i < st.req.args.length; i++) st.req.args[i] -= used;
    }
  },
});
