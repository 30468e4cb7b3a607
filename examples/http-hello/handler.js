// A minimal HTTP/1.1 "hello" server as a ringleader handler module.
//
//   ringleader serve examples/http-hello/handler.js --port 8080
//   curl -i http://127.0.0.1:8080/
//
// Every request, whatever its method and target, gets 200 "Hello, World!".
// Keep-alive (HTTP/1.1 by default, HTTP/1.0 with "Connection: keep-alive"),
// pipelining (requests that arrive together are answered in order, in one
// send), request bodies with Content-Length are read and ignored. A malformed
// request gets 400 and the connection is closed; "Transfer-Encoding" bodies
// get 501; a header section over 8 KiB gets 431.
//
// Parsing works on the bytes of the data view; only an incomplete request is
// copied (the view is valid only during onData).
import { defineHandler } from '@ringleader/runtime/handler';

const MAX_HEAD = 8 * 1024;
const BODY = 'Hello, World!';

const CR = 13,
  LF = 10,
  SP = 32,
  HT = 9,
  COLON = 58;

// tchar (RFC 9110 5.6.2) for method and header names
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

// Responses are built once per second (for the Date header) and reused.
const KEEP11 = 0,
  KEEP10 = 1,
  CLOSE = 2;
let responses = [];
let heads = [];
function build() {
  const date = new Date().toUTCString();
  const conn = ['', 'Connection: keep-alive\r\n', 'Connection: close\r\n'];
  responses = conn.map((c) => Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${BODY.length}\r\nDate: ${date}\r\n${c}\r\n${BODY}`, 'latin1'));
  heads = responses.map((r) => r.subarray(0, r.length - BODY.length));
}
build();

function errorResponse(status, reason) {
  const body = `${reason}\n`;
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
}
const BAD_REQUEST = errorResponse(400, 'Bad Request');
const TOO_LARGE = errorResponse(431, 'Request Header Fields Too Large');
const NOT_IMPLEMENTED = errorResponse(501, 'Not Implemented');

/** case-insensitive compare of buf[s, s + name.length) with a lower-case name */
function nameIs(buf, s, e, name) {
  if (e - s !== name.length) return false;
  for (let i = 0; i < name.length; i++) if ((buf[s + i] | 0x20) !== name.charCodeAt(i)) return false;
  return true;
}

/** does the comma-separated value buf[s, e) hold the token (lower case)? */
function hasToken(buf, s, e, token) {
  const text = buf.latin1Slice(s, e).toLowerCase();
  return text.split(',').some((t) => t.trim() === token);
}

/**
 * Parse the head buf[s, end) (end = index of the blank line's CR).
 * Returns { kind, head, bodyLen } or a status code number for an error.
 */
function parseHead(buf, s, end) {
  // request line: method SP target SP HTTP/1.x CRLF
  let i = s;
  while (i < end && TCHAR[buf[i]]) i++;
  if (i === s || buf[i] !== SP) return 400;
  const isHead = i - s === 4 && buf[s] === 72 && buf[s + 1] === 69 && buf[s + 2] === 65 && buf[s + 3] === 68; // HEAD
  let j = ++i;
  while (j < end && buf[j] > SP && buf[j] < 127) j++;
  if (j === i || buf[j] !== SP) return 400;
  j++;
  // "HTTP/1." + digit
  if (end - j < 8 || buf[j] !== 72 || buf[j + 1] !== 84 || buf[j + 2] !== 84 || buf[j + 3] !== 80 || buf[j + 4] !== 47 || buf[j + 5] !== 49 || buf[j + 6] !== 46) return 400;
  const minor = buf[j + 7] - 48;
  if (minor !== 0 && minor !== 1) return 400;
  j += 8;
  if (j !== end && (buf[j] !== CR || buf[j + 1] !== LF)) return 400;
  let keepAlive = minor === 1;
  let bodyLen = 0;
  let sawLength = false;
  let sawHost = false;
  // header lines: name ":" OWS value OWS CRLF
  let line = j + 2;
  while (line < end) {
    let k = line;
    while (k < end && TCHAR[buf[k]]) k++;
    if (k === line || buf[k] !== COLON) return 400; // also rejects obs-fold (a line starting with SP/HT)
    const nameEnd = k;
    let v = k + 1;
    while (v < end && (buf[v] === SP || buf[v] === HT)) v++;
    let e = buf.indexOf(CR, v);
    if (e < 0 || e > end) e = end;
    if (e < end && buf[e + 1] !== LF) return 400;
    let ve = e;
    while (ve > v && (buf[ve - 1] === SP || buf[ve - 1] === HT)) ve--;
    for (let x = v; x < ve; x++) if ((buf[x] < SP && buf[x] !== HT) || buf[x] === 127) return 400;
    const n = nameEnd - line;
    if (n === 4 && nameIs(buf, line, nameEnd, 'host')) {
      if (sawHost) return 400;
      sawHost = true;
    } else if (n === 10 && nameIs(buf, line, nameEnd, 'connection')) {
      if (hasToken(buf, v, ve, 'close')) keepAlive = false;
      else if (hasToken(buf, v, ve, 'keep-alive')) keepAlive = true;
    } else if (n === 14 && nameIs(buf, line, nameEnd, 'content-length')) {
      if (ve === v || ve - v > 15) return 400;
      let len = 0;
      for (let x = v; x < ve; x++) {
        const d = buf[x] - 48;
        if (d < 0 || d > 9) return 400;
        len = len * 10 + d;
      }
      if (sawLength && len !== bodyLen) return 400;
      sawLength = true;
      bodyLen = len;
    } else if (n === 17 && nameIs(buf, line, nameEnd, 'transfer-encoding')) {
      return 501;
    }
    line = e + 2;
  }
  if (minor === 1 && !sawHost) return 400;
  return { kind: keepAlive ? (minor === 1 ? KEEP11 : KEEP10) : CLOSE, head: isHead, bodyLen };
}

function fail(conn, status) {
  conn.write(status === 431 ? TOO_LARGE : status === 501 ? NOT_IMPLEMENTED : BAD_REQUEST);
  conn.end();
  conn.data.closed = true;
}

export default defineHandler({
  init() {
    // the Date header, once a second
    setInterval(build, 1000).unref();
  },

  onConnection(conn) {
    // carry: bytes of an incomplete request (a copy); skip: body bytes still to ignore
    conn.data = { carry: null, skip: 0, closed: false };
  },

  onData(conn, data) {
    const st = conn.data;
    if (st.closed) return;
    let buf = data;
    if (st.carry !== null) {
      buf = Buffer.concat([st.carry, data]);
      st.carry = null;
    }
    let p = 0;
    const n = buf.length;
    if (st.skip > 0) {
      const k = Math.min(st.skip, n);
      st.skip -= k;
      p = k;
    }
    while (p < n) {
      const end = buf.indexOf('\r\n\r\n', p, 'latin1');
      if (end < 0) {
        if (n - p > MAX_HEAD) return fail(conn, 431);
        st.carry = Buffer.from(buf.subarray(p)); // copy: the view dies with this callback
        return;
      }
      if (end - p > MAX_HEAD) return fail(conn, 431);
      const req = parseHead(buf, p, end);
      if (typeof req === 'number') return fail(conn, req);
      conn.write(req.head ? heads[req.kind] : responses[req.kind]);
      if (req.kind === CLOSE) {
        conn.end();
        st.closed = true;
        return;
      }
      p = end + 4;
      if (req.bodyLen > 0) {
        const k = Math.min(req.bodyLen, n - p);
        p += k;
        st.skip = req.bodyLen - k;
      }
    }
  },
});
