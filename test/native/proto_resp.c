/* SPDX-License-Identifier: MIT */
/*
 * The RESP2 reply parser (engine/proto/resp.c) without a network: every
 * reply is fed whole, split at every byte, byte by byte and in random
 * pieces, and must give the same events. Every type (nulls, nesting, error
 * replies and their first word), each malformed input with its error and
 * offset, and hostile inputs (a huge bulk length, deep nesting, too many
 * elements, an endless line) that must fail within the limits. Prints a
 * throughput figure (not asserted).
 */
#include "../../packages/core-native/src/engine/proto/resp.h"
#include "proto_feed.h"

static rl_resp_cfg cfg;

static void log_done(const rl_resp *p, plog *log)
{
	const rl_resp_reply *r = &p->res;
	int line = r->type == '+' || r->type == '-';
	plog_add(log, "%c null=%u err=%u word=%s%s%s v=%lld el=%llu nerr=%u bytes=%llu bit=%u\n", r->type,
		 r->is_null, r->is_error, r->word, line ? " line=" : "", line ? r->line : "",
		 (long long) r->value, (unsigned long long) r->elements, r->nested_errors,
		 (unsigned long long) r->bytes, rl_resp_type_bit(r));
}

PARSER_OPS(rl_resp, rl_resp_feed, rl_resp_eof, log_done);

static void run(const uint8_t *in, size_t len, const size_t *cut, size_t ncut, int eof, plog *log)
{
	rl_resp p;
	rl_resp_init(&p, &cfg);
	drive(&OPS, &p, in, cut, ncut, eof, log);
}

static void ok(const char *name, const char *in, int eof, const char *want)
{
	expect_str(name, run, in, eof, want);
}

static void types(void)
{
	ok("simple", "+OK\r\n", 1, "+ null=0 err=0 word=OK line=OK v=0 el=0 nerr=0 bytes=5 bit=1\neof\n");
	ok("simple with words", "+PONG and more\r\n", 0,
	   "+ null=0 err=0 word=PONG line=PONG and more v=0 el=0 nerr=0 bytes=16 bit=1\n");
	ok("error", "-ERR unknown command 'foo'\r\n", 0,
	   "- null=0 err=1 word=ERR line=ERR unknown command 'foo' v=0 el=0 nerr=0 bytes=28 bit=2\n");
	ok("error word", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", 0,
	   "- null=0 err=1 word=WRONGTYPE line=WRONGTYPE Operation against a key holding the wrong kind of value v=0 el=0 nerr=0 bytes=68 bit=2\n");
	ok("long first word", "-ABCDEFGHIJKLMNOPQRSTUVWXYZ x\r\n", 0,
	   "- null=0 err=1 word=ABCDEFGHIJKLMNO line=ABCDEFGHIJKLMNOPQRSTUVWXYZ x v=0 el=0 nerr=0 bytes=31 bit=2\n");
	/* the line kept for a report is cut at RL_RESP_LINE - 1 bytes */
	ok("long error line",
	   "-ERR 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\r\n",
	   0,
	   "- null=0 err=1 word=ERR line=ERR 01234567890123456789012345678901234567890123456789012345"
	   "67890123456789012345678901234567890 v=0 el=0 nerr=0 bytes=107 bit=2\n");
	ok("empty simple", "+\r\n", 0, "+ null=0 err=0 word= line= v=0 el=0 nerr=0 bytes=3 bit=1\n");
	ok("integer", ":1000\r\n", 0, ": null=0 err=0 word= v=1000 el=0 nerr=0 bytes=7 bit=4\n");
	ok("negative", ":-42\r\n", 0, ": null=0 err=0 word= v=-42 el=0 nerr=0 bytes=6 bit=4\n");
	ok("int64 extremes", ":9223372036854775807\r\n:-9223372036854775808\r\n", 0,
	   ": null=0 err=0 word= v=9223372036854775807 el=0 nerr=0 bytes=22 bit=4\n"
	   ": null=0 err=0 word= v=-9223372036854775808 el=0 nerr=0 bytes=23 bit=4\n");
	ok("bulk", "$5\r\nhello\r\n", 0, "$ null=0 err=0 word= v=5 el=0 nerr=0 bytes=11 bit=8\n");
	ok("bulk of CRLFs", "$4\r\n\r\n\r\n\r\n", 0, "$ null=0 err=0 word= v=4 el=0 nerr=0 bytes=10 bit=8\n");
	ok("empty bulk", "$0\r\n\r\n", 0, "$ null=0 err=0 word= v=0 el=0 nerr=0 bytes=6 bit=8\n");
	ok("null bulk", "$-1\r\n", 0, "$ null=1 err=0 word= v=-1 el=0 nerr=0 bytes=5 bit=16\n");
	ok("null array", "*-1\r\n", 0, "* null=1 err=0 word= v=-1 el=0 nerr=0 bytes=5 bit=64\n");
	ok("empty array", "*0\r\n", 0, "* null=0 err=0 word= v=0 el=0 nerr=0 bytes=4 bit=32\n");
	const char *nested = "*4\r\n$3\r\nfoo\r\n:1\r\n*2\r\n+a b\r\n-ERR inner\r\n*0\r\n";
	ok("nested, with an inner error", nested, 0,
	   fmt("* null=0 err=0 word= v=4 el=6 nerr=1 bytes=%zu bit=32\n", strlen(nested)));
	const char *deep =
		"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:7\r\n"; /* depth 8: the default limit */
	ok("deep", deep, 0, fmt("* null=0 err=0 word= v=1 el=8 nerr=0 bytes=%zu bit=32\n", strlen(deep)));
	ok("array of nulls", "*2\r\n$-1\r\n*-1\r\n", 0,
	   "* null=0 err=0 word= v=2 el=2 nerr=0 bytes=14 bit=32\n");

	/* pipelined: what SET, GET, INCR, LRANGE and a missing key answer, back to back */
	const char *pipe = "+OK\r\n$3\r\nxxx\r\n:12\r\n*3\r\n$3\r\nxxx\r\n$3\r\nxxx\r\n$3\r\nxxx\r\n$-1\r\n";
	ok("pipelined", pipe, 1,
	   "+ null=0 err=0 word=OK line=OK v=0 el=0 nerr=0 bytes=5 bit=1\n"
	   "$ null=0 err=0 word= v=3 el=0 nerr=0 bytes=9 bit=8\n"
	   ": null=0 err=0 word= v=12 el=0 nerr=0 bytes=5 bit=4\n"
	   "* null=0 err=0 word= v=3 el=3 nerr=0 bytes=31 bit=32\n"
	   "$ null=1 err=0 word= v=-1 el=0 nerr=0 bytes=5 bit=16\n"
	   "eof\n");
}

static void malformed(void)
{
	ok("HTTP instead", "HTTP/1.1 400 Bad Request\r\n", 0, "ERR RESP_TYPE @0\n");
	ok("RESP3 null", "_\r\n", 0, "ERR RESP_TYPE @0\n");
	ok("inline text", "PONG\r\n", 0, "ERR RESP_TYPE @0\n");
	ok("bad type in an array", "*2\r\n:1\r\n?\r\n", 0, "ERR RESP_TYPE @8\n");
	ok("LF without CR", "+OK\n", 0, "ERR RESP_LINE @3\n");
	ok("CR without LF", "+OK\rX", 0, "ERR RESP_LINE @4\n");
	ok("number LF without CR", ":1\n", 0, "ERR RESP_LINE @2\n");
	ok("number CR without LF", "$1\rx", 0, "ERR RESP_LINE @3\n");
	ok("letters in an integer", ":12a\r\n", 0, "ERR RESP_INTEGER @3\n");
	ok("empty integer", ":\r\n", 0, "ERR RESP_INTEGER @1\n");
	ok("sign only", ":-\r\n", 0, "ERR RESP_INTEGER @2\n");
	ok("two signs", ":--1\r\n", 0, "ERR RESP_INTEGER @2\n");
	ok("plus sign", ":+1\r\n", 0, "ERR RESP_INTEGER @1\n");
	ok("integer overflow", ":9223372036854775808\r\n", 0, "ERR RESP_INTEGER @19\n");
	ok("bulk length -2", "$-2\r\n", 0, "ERR RESP_INTEGER @4\n");
	ok("array count -5", "*-5\r\n", 0, "ERR RESP_INTEGER @4\n");
	ok("bulk too long for its CRLF", "$3\r\nabcX\r\n", 0, "ERR RESP_BULK_END @7\n");
	ok("bulk CR without LF", "$3\r\nabc\rX", 0, "ERR RESP_BULK_END @8\n");
	ok("truncated array", "*2\r\n:1\r\n", 1, "ERR TRUNCATED @8\n");
	ok("truncated bulk", "$10\r\nabc", 1, "ERR TRUNCATED @8\n");
	ok("truncated line", "-ERR no", 1, "ERR TRUNCATED @7\n");
	ok("complete then truncated", "+OK\r\n+O", 1,
	   "+ null=0 err=0 word=OK line=OK v=0 el=0 nerr=0 bytes=5 bit=1\nERR TRUNCATED @2\n");

	rl_resp p;
	rl_resp_init(&p, &cfg);
	size_t used;
	CHECK(rl_resp_feed(&p, (const uint8_t *) "!", 1, &used) == -RL_PE_RESP_TYPE && used == 0,
	      "first error");
	CHECK(rl_resp_feed(&p, (const uint8_t *) "+OK\r\n", 5, &used) == -RL_PE_RESP_TYPE && used == 0,
	      "the error sticks");
}

static void hostile(void)
{
	static char in[1 << 20];
	/* a bulk length beyond max_bulk fails at once, nothing is waited for */
	ok("huge bulk", "$99999999999\r\n", 0, "ERR RESP_BULK_TOO_LARGE @13\n");
	ok("bulk length overflow", "$99999999999999999999999\r\n", 0, "ERR RESP_INTEGER @19\n");
	/* nesting one deeper than max_depth (8) */
	ok("too deep", "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", 0,
	   "ERR RESP_DEPTH @35\n");
	/* an endless nesting stream fails at the limit, not at the end */
	size_t n = 0;
	while (n + 4 <= sizeof(in)) {
		memcpy(in + n, "*1\r\n", 4);
		n += 4;
	}
	rl_resp p;
	rl_resp_init(&p, &cfg);
	size_t used;
	int r = rl_resp_feed(&p, (const uint8_t *) in, n, &used);
	CHECK(r == -RL_PE_RESP_DEPTH && used == 35, "endless nesting: %s after %zu", rl_proto_err_name(r),
	      used);
	/* element counts: one array over the limit, or many within it that add up beyond it */
	ok("huge array", "*2000000\r\n", 0, "ERR RESP_ELEMENTS @9\n");
	rl_resp_cfg small = cfg;
	small.max_elements = 10;
	small.max_depth = 2;
	rl_resp_init(&p, &small);
	const char *many = "*5\r\n*2\r\n:1\r\n:2\r\n*2\r\n:1\r\n:2\r\n*2\r\n:1\r\n:2\r\n";
	r = rl_resp_feed(&p, (const uint8_t *) many, strlen(many), &used);
	CHECK(r == -RL_PE_RESP_ELEMENTS && p.err_off == 31, "elements add up: %s at %llu",
	      rl_proto_err_name(r), (unsigned long long) p.err_off);
	rl_resp_init(&p, &small);
	r = rl_resp_feed(&p, (const uint8_t *) "*1\r\n*1\r\n*1\r\n", 12, &used);
	CHECK(r == -RL_PE_RESP_DEPTH && p.err_off == 11, "configured depth: %s", rl_proto_err_name(r));
	/* an endless simple string stops at max_line */
	in[0] = '+';
	memset(in + 1, 'a', sizeof(in) - 1);
	rl_resp_init(&p, &cfg);
	r = rl_resp_feed(&p, (const uint8_t *) in, sizeof(in), &used);
	CHECK(r == -RL_PE_RESP_LINE_TOO_LONG && p.err_off == cfg.max_line, "endless line: %s at %llu",
	      rl_proto_err_name(r), (unsigned long long) p.err_off);
	/* a large bulk within the limit is skipped, not copied: 1 MiB in 1 feed */
	n = (size_t) snprintf(in, sizeof(in), "$%d\r\n", (int) sizeof(in) - 16);
	memset(in + n, 'z', sizeof(in) - 16);
	memcpy(in + n + sizeof(in) - 16, "\r\n", 2);
	rl_resp_init(&p, &cfg);
	r = rl_resp_feed(&p, (const uint8_t *) in, n + sizeof(in) - 14, &used);
	CHECK(r == RL_PROTO_DONE && p.res.value == (int64_t) sizeof(in) - 16, "1 MiB bulk");
}

static void throughput(void)
{
	/* pipelined replies as redis-benchmark -t set,get,lrange_100 gets them */
	static char in[64 * 1024];
	size_t n = 0, per = 0;
	for (int k = 0; k < 100; k++) {
		n += (size_t) snprintf(in + n, sizeof(in) - n, "+OK\r\n$3\r\nxxx\r\n:%d\r\n", k * 1000);
		per += 3;
	}
	rl_resp p;
	rl_resp_init(&p, &cfg);
	rate r = measure(&OPS, &p, (const uint8_t *) in, n);
	CHECK(r.responses == r.bytes / n * per, "every reply parsed");
	printf("resp: %.0f MB/s, %.1f M replies/s per CPU second (small SET/GET/INCR replies)\n",
	       r.bytes / r.secs / 1e6, r.responses / r.secs / 1e6);
}

int main(void)
{
	rl_resp_cfg_default(&cfg);
	types();
	malformed();
	hostile();
	throughput();
	DONE();
}
