/* SPDX-License-Identifier: MIT */
/*
 * The HTTP/1.1 response parser (engine/proto/http.c) without a network:
 * every response is fed whole, split at every byte, byte by byte and in
 * random pieces, and must give the same events. Framing (Content-Length,
 * chunked with extensions and trailers, close-delimited, HEAD, 1xx, 204,
 * 304), keep-alive rules, pipelined responses, each malformed input with
 * its error and offset, and hostile inputs (endless header line, endless
 * header section, endless 1xx) that must fail within the limits. Prints a
 * throughput figure (not asserted).
 */
#include "../../packages/core-native/src/engine/proto/http.h"
#include "proto_feed.h"

static rl_http_cfg cfg;
static int g_head;

static const char KIND[] = "nLCX"; /* none, length, chunked, close */

static void log_done(const rl_http *p, plog *log)
{
	const rl_http_res *r = &p->res;
	plog_add(log, "%u ka=%u %c body=%llu bytes=%llu i=%u\n", r->status, r->keep_alive, KIND[r->body_kind],
		 (unsigned long long) r->body, (unsigned long long) r->bytes, r->interim);
}

PARSER_OPS(rl_http, rl_http_feed, rl_http_eof, log_done);

static void run(const uint8_t *in, size_t len, const size_t *cut, size_t ncut, int eof, plog *log)
{
	rl_http p;
	rl_http_init(&p, &cfg);
	p.head = (uint8_t) g_head;
	drive(&OPS, &p, in, cut, ncut, eof, log);
}

static void ok(const char *name, const char *in, int eof, const char *want)
{
	expect_str(name, run, in, eof, want);
}

static void framing(void)
{
	const char *r1 = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
	ok("content-length", r1, 1, fmt("200 ka=1 L body=5 bytes=%zu i=0\neof\n", strlen(r1)));

	const char *r2 = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "5;name=val;q=\"a;b\"\r\nhello\r\n"
			 "1A \t;x\r\nabcdefghijklmnopqrstuvwxyz\r\n"
			 "000\r\nX-Trailer: t\r\nContent-Length: 99\r\n\r\n";
	ok("chunked, extensions, trailers", r2, 1,
	   fmt("200 ka=1 C body=31 bytes=%zu i=0\neof\n", strlen(r2)));

	const char *r3 = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
	ok("gzip, chunked", r3, 0, fmt("200 ka=1 C body=3 bytes=%zu i=0\n", strlen(r3)));

	const char *r4 = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
	ok("chunked then gzip: delimited by close", r4, 1,
	   fmt("200 ka=0 X body=%zu bytes=%zu i=0\n", strlen("3\r\nabc\r\n0\r\n\r\n"), strlen(r4)));

	const char *r5 = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody until close";
	ok("delimited by close", r5, 1, fmt("200 ka=0 X body=16 bytes=%zu i=0\n", strlen(r5)));

	const char *r6 = "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"
			 "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n";
	ok("204 and 304 have no body", r6, 1,
	   fmt("204 ka=1 n body=0 bytes=46 i=0\n304 ka=1 n body=0 bytes=48 i=0\neof\n"));

	const char *r7 = "HTTP/1.1 100 Continue\r\n\r\n"
			 "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
			 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	ok("1xx interim responses", r7, 0, fmt("200 ka=1 L body=2 bytes=%zu i=2\n", strlen(r7)));

	const char *r8 =
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
	ok("101 ends HTTP", r8, 0, fmt("101 ka=0 n body=0 bytes=%zu i=0\n", strlen(r8)));

	const char *r9 = "HTTP/1.1 200\nContent-Length: 2\n\nhi";
	ok("bare LF, no reason phrase", r9, 0, fmt("200 ka=1 L body=2 bytes=%zu i=0\n", strlen(r9)));

	const char *r10 = "HTTP/1.1 200 OK\r\ncontent-LENGTH:3\r\n\r\nabc"
			  "HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"
			  "HTTP/1.1 200 OK\r\nCONNECTION: Upgrade, CLOSE\r\nContent-Length: 0\r\n\r\n";
	ok("names and tokens without case", r10, 0,
	   fmt("200 ka=1 L body=3 bytes=40 i=0\n200 ka=1 C body=1 bytes=58 i=0\n200 ka=0 L body=0 bytes=%zu i=0\n",
	       strlen("HTTP/1.1 200 OK\r\nCONNECTION: Upgrade, CLOSE\r\nContent-Length: 0\r\n\r\n")));

	const char *r11 = "HTTP/1.1 200 OK\r\nContent-Length: 4, 4 ,4\r\n\r\nabcd";
	ok("a list of equal lengths", r11, 0, fmt("200 ka=1 L body=4 bytes=%zu i=0\n", strlen(r11)));

	const char *r12 =
		"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\ny"
		"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 1\r\n\r\nz";
	ok("keep-alive by version and Connection", r12, 0,
	   fmt("200 ka=0 L body=1 bytes=39 i=0\n200 ka=1 L body=1 bytes=63 i=0\n500 ka=0 L body=1 bytes=%zu i=0\n",
	       strlen("HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 1\r\n\r\nz")));

	const char *r13 =
		"HTTP/1.1 599 Whatever \t(\x80\xff)\r\nX-Empty:\r\nX-Obs: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n";
	ok("reason and values with tabs and obs-text", r13, 0,
	   fmt("599 ka=1 L body=0 bytes=%zu i=0\n", strlen(r13)));

	/* a HEAD response has no body whatever its headers say; the next one follows at once */
	g_head = 1;
	const char *h =
		"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	ok("HEAD", h, 1, "200 ka=1 n body=0 bytes=41 i=0\n200 ka=1 n body=0 bytes=47 i=0\neof\n");
	g_head = 0;
}

static void pipelined(void)
{
	/* what nginx sends for a 200, a 500 and a chunked location, back to back */
	static char in[4096];
	const char *a =
		"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 21 Nov 2026 10:00:00 GMT\r\n"
		"Content-Type: text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\nHello, World!";
	const char *b =
		"HTTP/1.1 500 Internal Server Error\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n"
		"Content-Length: 5\r\nConnection: keep-alive\r\n\r\noops\n";
	const char *c = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nTransfer-Encoding: chunked\r\n"
			"Connection: keep-alive\r\n\r\n7\r\nchunked\r\n1\r\n\n\r\n0\r\n\r\n";
	snprintf(in, sizeof(in), "%s%s%s%s", a, b, c, a);
	ok("pipelined", in, 1,
	   fmt("200 ka=1 L body=13 bytes=%zu i=0\n500 ka=1 L body=5 bytes=%zu i=0\n200 ka=1 C body=8 bytes=%zu i=0\n"
	       "200 ka=1 L body=13 bytes=%zu i=0\neof\n",
	       strlen(a), strlen(b), strlen(c), strlen(a)));
}

static void malformed(void)
{
	ok("not HTTP", "+PONG\r\n", 0, "ERR HTTP_STATUS_LINE @0\n");
	ok("HTTP/2", "HTTP/2 200\r\n\r\n", 0, "ERR HTTP_VERSION @5\n");
	ok("no minor", "HTTP/1. 200\r\n", 0, "ERR HTTP_STATUS_LINE @7\n");
	ok("two spaces", "HTTP/1.1  200 OK\r\n", 0, "ERR HTTP_STATUS_CODE @9\n");
	ok("short status", "HTTP/1.1 20 OK\r\n", 0, "ERR HTTP_STATUS_CODE @11\n");
	ok("long status", "HTTP/1.1 2000 OK\r\n", 0, "ERR HTTP_STATUS_CODE @12\n");
	ok("status 600", "HTTP/1.1 600 X\r\n", 0, "ERR HTTP_STATUS_CODE @11\n");
	ok("status 099", "HTTP/1.1 099 X\r\n", 0, "ERR HTTP_STATUS_CODE @11\n");
	ok("CR without LF", "HTTP/1.1 200 OK\rX", 0, "ERR HTTP_STATUS_LINE @16\n");
	ok("control in reason", "HTTP/1.1 200 O\x01K\r\n", 0, "ERR HTTP_STATUS_LINE @14\n");
	ok("space in a name", "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", 0, "ERR HTTP_HEADER_SYNTAX @20\n");
	ok("space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n", 0,
	   "ERR HTTP_HEADER_SYNTAX @31\n");
	ok("obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", 0, "ERR HTTP_HEADER_SYNTAX @23\n");
	static const char nul[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
	expect_log("NUL in a value", run, nul, sizeof(nul) - 1, 0, "ERR HTTP_HEADER_SYNTAX @21\n");
	ok("no colon", "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", 0, "ERR HTTP_HEADER_SYNTAX @24\n");
	ok("CR without LF in a field", "HTTP/1.1 200 OK\r\nX: a\rb", 0, "ERR HTTP_HEADER_SYNTAX @22\n");
	ok("letters in a length", "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n", 0,
	   "ERR HTTP_CONTENT_LENGTH @35\n");
	ok("negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0,
	   "ERR HTTP_CONTENT_LENGTH @33\n");
	ok("empty length", "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", 0, "ERR HTTP_CONTENT_LENGTH @34\n");
	ok("two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n", 0,
	   "ERR HTTP_CONTENT_LENGTH @38\n");
	ok("two length fields", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 0,
	   "ERR HTTP_CONTENT_LENGTH @54\n");
	ok("length overflow", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", 0,
	   "ERR HTTP_CONTENT_LENGTH @49\n");
	ok("length and chunked", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
	   0, "ERR HTTP_CL_AND_TE @65\n");
	ok("chunked in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
	   "ERR HTTP_TRANSFER_ENCODING @46\n");
	ok("chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 0,
	   "ERR HTTP_TRANSFER_ENCODING @53\n");
	ok("empty coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: ;x\r\n\r\n", 0,
	   "ERR HTTP_TRANSFER_ENCODING @36\n");
	const char *ch = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"; /* 47 bytes */
	char in[256];
	snprintf(in, sizeof(in), "%szz\r\n", ch);
	ok("chunk size not hex", in, 0, "ERR HTTP_CHUNK_SIZE @47\n");
	snprintf(in, sizeof(in), "%s5g\r\n", ch);
	ok("chunk size with a letter", in, 0, "ERR HTTP_CHUNK_SIZE @48\n");
	snprintf(in, sizeof(in), "%s\r\n", ch);
	ok("chunk size missing", in, 0, "ERR HTTP_CHUNK_SIZE @47\n");
	snprintf(in, sizeof(in), "%s10000000000000000\r\n", ch);
	ok("chunk size overflow", in, 0, "ERR HTTP_CHUNK_SIZE @62\n");
	snprintf(in, sizeof(in), "%s5 x\r\n", ch);
	ok("chunk size then junk", in, 0, "ERR HTTP_CHUNK_LINE @49\n");
	snprintf(in, sizeof(in), "%s5;a\x01\r\n", ch);
	ok("control in a chunk extension", in, 0, "ERR HTTP_CHUNK_LINE @50\n");
	snprintf(in, sizeof(in), "%s5\r\nhelloX\r\n", ch);
	ok("chunk without CRLF", in, 0, "ERR HTTP_CHUNK_END @55\n");
	snprintf(in, sizeof(in), "%s5\r\nhello\rX", ch);
	ok("chunk CR without LF", in, 0, "ERR HTTP_CHUNK_END @56\n");
	snprintf(in, sizeof(in), "%s0\r\nBad Trailer\r\n\r\n", ch);
	ok("malformed trailer", in, 0, "ERR HTTP_HEADER_SYNTAX @53\n");

	/* cut off by the close: in the head, in a body, in a chunk, in the trailers */
	ok("truncated head", "HTTP/1.1 200 OK\r\nContent-Le", 1, "ERR TRUNCATED @27\n");
	ok("truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", 1, "ERR TRUNCATED @44\n");
	snprintf(in, sizeof(in), "%s5\r\nhel", ch);
	ok("truncated chunk", in, 1, "ERR TRUNCATED @53\n");
	snprintf(in, sizeof(in), "%s0\r\nX: y\r\n", ch);
	ok("truncated trailers", in, 1, "ERR TRUNCATED @56\n");
	ok("truncated second response", "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 2", 1,
	   "204 ka=1 n body=0 bytes=27 i=0\nERR TRUNCATED @10\n");

	/* a failed parser stays failed */
	rl_http p;
	rl_http_init(&p, &cfg);
	size_t used;
	CHECK(rl_http_feed(&p, (const uint8_t *) "XTTP", 4, &used) == -RL_PE_HTTP_STATUS_LINE && used == 0,
	      "first error");
	CHECK(rl_http_feed(&p, (const uint8_t *) "HTTP/1.1 200 OK\r\n\r\n", 19, &used) ==
			      -RL_PE_HTTP_STATUS_LINE &&
		      used == 0,
	      "the error sticks");
	CHECK(rl_http_eof(&p) == -RL_PE_HTTP_STATUS_LINE, "eof after an error");
	CHECK(strcmp(rl_proto_err_msg(RL_PE_HTTP_CHUNK_SIZE), "bad chunk size") == 0, "message");
	CHECK(rl_proto_err_name(999) == NULL && rl_proto_err_msg(0) == NULL, "unknown errors");
}

static void limits(void)
{
	static char in[1 << 20];
	size_t n;

	/* a status line or a field line over max_line (8192) */
	n = (size_t) snprintf(in, sizeof(in), "HTTP/1.1 200 ");
	memset(in + n, 'r', 9000);
	in[n + 9000] = 0;
	ok("status line too long", in, 0, "ERR HTTP_STATUS_TOO_LONG @8192\n");
	n = (size_t) snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\nX: ");
	memset(in + n, 'v', 9000);
	in[n + 9000] = 0;
	ok("field too long", in, 0, "ERR HTTP_HEADER_TOO_LONG @8209\n");
	n = (size_t) snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;");
	memset(in + n, 'e', 9000);
	in[n + 9000] = 0;
	ok("chunk line too long", in, 0, "ERR HTTP_CHUNK_LINE @8239\n");

	/* exactly at the limit: the same error at the same byte however the
	 * line is split (the parser takes whole names and values at once) */
	rl_http_cfg saved = cfg;
	cfg.max_line = 32;
	ok("name and colon fill the line", "HTTP/1.1 200 OK\r\nXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX: v\r\n", 0,
	   "ERR HTTP_HEADER_TOO_LONG @49\n");
	ok("the colon is one too many", "HTTP/1.1 200 OK\r\nXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX: v\r\n", 0,
	   "ERR HTTP_HEADER_TOO_LONG @49\n");
	ok("content-length at the limit", "HTTP/1.1 200 OK\r\ncontent-length:          1234567\r\n\r\n", 0,
	   "ERR HTTP_HEADER_TOO_LONG @49\n");
	ok("value ends at the limit", "HTTP/1.1 200 OK\r\nX: 12345678901234567890123456789\r\n\r\n", 0,
	   "ERR HTTP_HEADER_TOO_LONG @49\n");
	/* CR and LF count: 3 + 27 + 2 = 32 bytes */
	ok("value within the limit", "HTTP/1.1 200 OK\r\nX: 123456789012345678901234567\r\n\r\n", 1,
	   "200 ka=0 X body=0 bytes=51 i=0\n");
	cfg = saved;

	/* an endless header line, fed as a server would send it: it fails
	 * after max_line bytes, however much more is on its way */
	n = (size_t) snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\nX-Endless: ");
	memset(in + n, 'a', sizeof(in) - n);
	rl_http p;
	rl_http_init(&p, &cfg);
	size_t fed = 0, used = 0;
	int r = RL_PROTO_MORE;
	while (fed < sizeof(in) && r == RL_PROTO_MORE) {
		size_t k = sizeof(in) - fed < 4096 ? sizeof(in) - fed : 4096;
		r = rl_http_feed(&p, (const uint8_t *) in + fed, k, &used);
		fed += used;
	}
	CHECK(r == -RL_PE_HTTP_HEADER_TOO_LONG && fed < 8192 + 64, "endless header: %s after %zu bytes",
	      rl_proto_err_name(r), fed);

	/* an endless header section of short fields: stops at max_headers */
	n = (size_t) snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\n");
	for (int k = 0; k < 10000; k++)
		n += (size_t) snprintf(in + n, sizeof(in) - n, "X-%d: y\r\n", k);
	rl_http_init(&p, &cfg);
	r = rl_http_feed(&p, (const uint8_t *) in, n, &used);
	CHECK(r == -RL_PE_HTTP_HEADERS_TOO_LARGE && used < 2000, "endless fields: %s after %zu bytes",
	      rl_proto_err_name(r), used);

	/* ... and at max_header_bytes with long fields */
	n = (size_t) snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\n");
	for (int k = 0; k < 40; k++) {
		n += (size_t) snprintf(in + n, sizeof(in) - n, "X-%02d: ", k);
		memset(in + n, 'v', 4000);
		n += 4000;
		n += (size_t) snprintf(in + n, sizeof(in) - n, "\r\n");
	}
	rl_http_init(&p, &cfg);
	r = rl_http_feed(&p, (const uint8_t *) in, n, &used);
	CHECK(r == -RL_PE_HTTP_HEADERS_TOO_LARGE && used < 70000, "large section: %s after %zu bytes",
	      rl_proto_err_name(r), used);

	/* endless 1xx responses */
	n = 0;
	for (int k = 0; k < 1000; k++)
		n += (size_t) snprintf(in + n, sizeof(in) - n, "HTTP/1.1 100 Continue\r\n\r\n");
	rl_http_init(&p, &cfg);
	r = rl_http_feed(&p, (const uint8_t *) in, n, &used);
	CHECK(r == -RL_PE_HTTP_TOO_MANY_INTERIM && p.err_off == 9 * 25 - 1, "endless 1xx: %s at %llu",
	      rl_proto_err_name(r), (unsigned long long) p.err_off);

	/* the largest chunk size accepted, a body that never ends: no work per byte beyond counting */
	n = (size_t) snprintf(in, sizeof(in),
			      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n");
	rl_http_init(&p, &cfg);
	r = rl_http_feed(&p, (const uint8_t *) in, n, &used);
	CHECK(r == RL_PROTO_MORE && used == n && rl_http_busy(&p), "2^60-1 chunk accepted");
	memset(in, 'b', sizeof(in));
	r = rl_http_feed(&p, (const uint8_t *) in, sizeof(in), &used);
	CHECK(r == RL_PROTO_MORE && used == sizeof(in), "chunk data consumed");
	CHECK(rl_http_eof(&p) == -RL_PE_TRUNCATED, "and cut off");
}

static void throughput(void)
{
	/* 100 pipelined nginx-like responses, parsed again and again for ~0.3 s */
	static char in[64 * 1024];
	size_t n = 0;
	for (int k = 0; k < 100; k++)
		n += (size_t) snprintf(
			in + n, sizeof(in) - n,
			"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 21 Nov 2026 10:00:00 GMT\r\n"
			"Content-Type: text/plain\r\nContent-Length: 13\r\nLast-Modified: Fri, 20 Nov 2026 10:00:00 GMT\r\n"
			"Connection: keep-alive\r\nETag: \"5f2b-d\"\r\nAccept-Ranges: bytes\r\n\r\nHello, World!");
	rl_http p;
	rl_http_init(&p, &cfg);
	rate r = measure(&OPS, &p, (const uint8_t *) in, n);
	CHECK(r.responses == r.bytes / (n / 100), "every response parsed");
	printf("http: %.0f MB/s, %.2f M responses/s per CPU second (%zu-byte responses)\n",
	       r.bytes / r.secs / 1e6, r.responses / r.secs / 1e6, n / 100);
}

int main(void)
{
	rl_http_cfg_default(&cfg);
	framing();
	pipelined();
	malformed();
	limits();
	throughput();
	DONE();
}
