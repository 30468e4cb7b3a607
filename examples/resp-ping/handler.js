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
import { defineHandler } from '@ringleader/runtime/handler';

const MAX_ARGS = 1024 * 1024;
const MAX_BULK = 512 * 1024 * 1024;
const MAX_INLINE = 64 * 1024;
const PONG = Buffer.from('+PONG\r\n');
const OK = Buffer.from('+OK\r\n');
const CR = 13, LF = 10;
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
  return `'${b.toString('latin1').replace(/[^\x20-\x7e]/g, '?').slice(0, 128)}'`;
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
      const rest = args.slice(1).map((a) => `${quoted(a)} `).join('');
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
 * Parse one request at buf[p]. Returns [next offset, args] for a complete
 * request, a number when more bytes are needed (how many the request needs
 * from p at least, 0 = unknown), or a string for a protocol error.
 */
function parse(buf, p) {
  const n = buf.length;
  if (buf[p] !== 42 /* '*' */) {
    // inline command: a line of space-separated words
    const nl = buf.indexOf(LF, p);
    if (nl < 0) return n - p > MAX_INLINE ? 'too big inline request' : 0;
    const end = nl > p && buf[nl - 1] === CR ? nl - 1 : nl;
    const words = buf.latin1Slice(p, end).split(/[ \t]+/).filter((w) => w.length > 0);
    return [nl + 1, words.map((w) => Buffer.from(w, 'latin1'))];
  }
  let nl = buf.indexOf(LF, p);
  if (nl < 0) return n - p > 64 ? 'invalid multibulk length' : 0;
  if (buf[nl - 1] !== CR) return 'invalid multibulk length';
  const count = int(buf, p + 1, nl - 1);
  if (Number.isNaN(count) || count > MAX_ARGS) return 'invalid multibulk length';
  let q = nl + 1;
  const args = [];
  for (let i = 0; i < count; i++) {
    if (q >= n) return 0;
    if (buf[q] !== 36 /* '$' */) return `expected '$', got '${String.fromCharCode(buf[q])}'`;
    nl = buf.indexOf(LF, q);
    if (nl < 0) return n - q > 64 ? 'invalid bulk length' : 0;
    if (buf[nl - 1] !== CR) return 'invalid bulk length';
    const len = int(buf, q + 1, nl - 1);
    if (Number.isNaN(len) || len < 0 || len > MAX_BULK) return 'invalid bulk length';
    const s = nl + 1;
    if (s + len + 2 > n) return s + len + 2 - p;
    if (buf[s + len] !== CR || buf[s + len + 1] !== LF) return 'invalid bulk format';
    args.push(buf.subarray(s, s + len));
    q = s + len + 2;
  }
  return [q, args];
}

export default defineHandler({
  onConnection(conn) {
    // carry: chunks of an incomplete request (copies: the data view dies with
    // onData), `need`: bytes it needs before parsing again is worth it
    conn.data = { carry: null, total: 0, need: 0, closed: false };
  },

  onData(conn, data) {
    const st = conn.data;
    if (st.closed) return;
    let buf = data;
    if (st.carry !== null) {
      st.carry.push(Buffer.from(data));
      st.total += data.length;
      if (st.total < st.need) return;
      buf = Buffer.concat(st.carry, st.total);
      st.carry = null;
    }
    let p = 0;
    while (p < buf.length) {
      const r = parse(buf, p);
      if (typeof r === 'number') {
        st.carry = [Buffer.from(buf.subarray(p))];
        st.total = buf.length - p;
        st.need = r;
        return;
      }
      if (typeof r === 'string') return protocolError(conn, r);
      p = r[0];
      if (!run(conn, r[1])) {
        conn.end();
        st.closed = true;
        return;
      }
    }
  },
});
