/* SPDX-License-Identifier: MIT */
/*
 * Custom response framing (engine/proto/frame.c) without a network: fixed
 * length, delimiters (including ones that overlap themselves and ones split
 * across reads), every length prefix form, the exact expected response,
 * specs that cannot work, and frames that never end. Every input is fed
 * whole, split at every byte, byte by byte and in random pieces. Prints a
 * throughput figure (not asserted).
 */
#include "../../packages/core-native/src/engine/proto/frame.h"
#include "proto_feed.h"

#include <errno.h>

static rl_frame_cfg cfg;

static void log_done(const rl_frame *p, plog *log) { plog_add(log, "%llu ", (unsigned long long) p->bytes); }

PARSER_OPS(rl_frame, rl_frame_feed, rl_frame_eof, log_done);

static void run(const uint8_t *in, size_t len, const size_t *cut, size_t ncut, int eof, plog *log)
{
	rl_frame p;
	rl_frame_init(&p, &cfg);
	drive(&OPS, &p, in, cut, ncut, eof, log);
}

/* compile spec (it must compile) and check the log of `in` */
static void ok(const char *name, const rl_frame_spec *spec, const void *in, size_t len, int eof,
	       const char *want)
{
	int e = rl_frame_compile(&cfg, spec);
	CHECK(e == 0, "%s: compile %d", name, e);
	if (!e)
		expect_log(name, run, in, len, eof, want);
}

#define S(str) str, sizeof(str) - 1

static void bytes(void)
{
	rl_frame_spec s = { .kind = RL_FRAME_BYTES, .bytes = 4 };
	ok("fixed", &s, S("abcdefghij"), 1, "4 4 ERR TRUNCATED @2\n");
	ok("fixed, whole frames", &s, S("abcdefgh"), 1, "4 4 eof\n");
	s.bytes = 1;
	ok("one byte", &s, S("xyz"), 0, "1 1 1 ");
	s.bytes = 4;
	s.expect = (const uint8_t *) "PONG";
	s.expect_len = 4;
	ok("fixed, expected", &s, S("PONGPONGPING"), 0, "4 4 ERR MISMATCH @1\n");
}

static void delimiters(void)
{
	rl_frame_spec s = {
		.kind = RL_FRAME_DELIM, .delim = (const uint8_t *) "\r\n", .delim_len = 2, .max_frame = 1024
	};
	ok("CRLF", &s, S("hello\r\nworld\r\n\r\n"), 1, "7 7 2 eof\n");
	ok("CR alone is data", &s, S("a\rb\r\r\n"), 1, "6 eof\n");
	ok("truncated", &s, S("hello\r\nwor"), 1, "7 ERR TRUNCATED @3\n");
	ok("truncated inside the delimiter", &s, S("hello\r"), 1, "ERR TRUNCATED @6\n");
	/* a delimiter that overlaps itself: "aab" in "aaab" ends at byte 4, not later */
	s.delim = (const uint8_t *) "aab";
	s.delim_len = 3;
	ok("self-overlapping", &s, S("aaabxaabaaaab"), 0, "4 4 5 ");
	s.delim = (const uint8_t *) "abab";
	s.delim_len = 4;
	ok("self-overlapping, period 2", &s, S("abababxabab"), 0, "4 7 ");
	s.delim = (const uint8_t *) "\r\n\r\n";
	ok("blank line", &s, S("HTTP/1.0 200 OK\r\nX: y\r\n\r\nnext\r\n\r\n"), 0, "25 8 ");
	static const uint8_t bin[] = { 0x00, 0xff, 0x00 };
	s.delim = bin;
	s.delim_len = 3;
	static const uint8_t data[] = { 1, 0, 0, 0xff, 0xff, 0, 0xff, 0, 7 };
	ok("binary, with NUL", &s, data, sizeof(data), 0, "8 ");
	s.delim = (const uint8_t *) "0123456789abcdef";
	s.delim_len = 16;
	ok("16 bytes", &s, S("x0123456789abcde0123456789abcdef"), 1, "32 eof\n");
	/* a frame that never ends fails at max_frame */
	s.delim = (const uint8_t *) "\n";
	s.delim_len = 1;
	s.max_frame = 8;
	ok("at max_frame", &s, S("1234567\n12345678\n"), 0, "8 ERR FRAME_TOO_LARGE @8\n");
	/* expected: "+OK\r\n" */
	s.delim = (const uint8_t *) "\r\n";
	s.delim_len = 2;
	s.max_frame = 64;
	s.expect = (const uint8_t *) "+OK\r\n";
	s.expect_len = 5;
	ok("delimited, expected", &s, S("+OK\r\n+OK\r\n+OKAY\r\n"), 0, "5 5 ERR MISMATCH @3\n");
	ok("delimited, shorter than expected", &s, S("+OK\r\n+\r\n"), 0, "5 ERR MISMATCH @1\n");
}

static void prefixes(void)
{
	rl_frame_spec s = { .kind = RL_FRAME_PREFIX, .prefix = RL_LP_U8, .max_frame = 1 << 20 };
	ok("u8", &s,
	   S("\x03"
	     "abc"
	     "\x00"
	     "\x01"
	     "z"),
	   1, "4 1 2 eof\n");
	s.prefix = RL_LP_U16BE;
	ok("u16be", &s, S("\x00\x02hi\x01\x00"), 1, "4 ERR TRUNCATED @2\n");
	s.prefix = RL_LP_U16LE;
	ok("u16le", &s, S("\x02\x00hi\x00\x00"), 1, "4 2 eof\n");
	s.prefix = RL_LP_U32BE;
	ok("u32be", &s,
	   S("\x00\x00\x00\x03"
	     "abc"
	     "\x00\x00"),
	   1, "7 ERR TRUNCATED @2\n");
	s.prefix = RL_LP_U32LE;
	ok("u32le", &s,
	   S("\x03\x00\x00\x00"
	     "abc"),
	   1, "7 eof\n");
	s.prefix = RL_LP_U32BE;
	s.inclusive = 1;
	ok("u32be, inclusive", &s,
	   S("\x00\x00\x00\x06"
	     "hi"
	     "\x00\x00\x00\x04"),
	   1, "6 4 eof\n");
	ok("inclusive, shorter than the prefix", &s,
	   S("\x00\x00\x00\x03"
	     "abc"),
	   0, "ERR FRAME_LENGTH @3\n");
	s.inclusive = 0;
	ok("over max_frame", &s, S("\x00\x10\x00\x00"), 0, "ERR FRAME_TOO_LARGE @3\n");
	ok("at max_frame", &s, S("\x00\x0f\xff\xfc"), 0, "");
	s.prefix = RL_LP_U16BE;
	s.expect = (const uint8_t *) "\x00\x02ok";
	s.expect_len = 4;
	ok("prefixed, expected", &s, S("\x00\x02ok\x00\x02no"), 0, "4 ERR MISMATCH @2\n");
	ok("prefixed, other length", &s, S("\x00\x03okk"), 0, "ERR MISMATCH @1\n");
}

static void bad_specs(void)
{
	rl_frame_cfg c;
	rl_frame_spec s = { .kind = RL_FRAME_BYTES };
	CHECK(rl_frame_compile(&c, &s) == -EINVAL, "0 bytes");
	s.bytes = 4;
	s.expect = (const uint8_t *) "abc";
	s.expect_len = 3;
	CHECK(rl_frame_compile(&c, &s) == -EINVAL, "expected response of another length");
	s = (rl_frame_spec){
		.kind = RL_FRAME_DELIM, .delim = (const uint8_t *) "x", .delim_len = 0, .max_frame = 10
	};
	CHECK(rl_frame_compile(&c, &s) == -EINVAL, "empty delimiter");
	s.delim = (const uint8_t *) "01234567890123456";
	s.delim_len = 17;
	CHECK(rl_frame_compile(&c, &s) == -EINVAL, "17-byte delimiter");
	s.delim = (const uint8_t *) "\n";
	s.delim_len = 1;
	s.max_frame = 0;
	CHECK(rl_frame_compile(&c, &s) == -EINVAL, "max_frame 0");
	s.max_frame = 10;
	s.expect = (const uint8_t *) "a\nb\n";
	s.expect_len = 4;
	CHECK(rl_frame_compile(&c, &s) == -EINVAL, "expected response with two frames");
	s.expect = (const uint8_t *) "ab";
	s.expect_len = 2;
	CHECK(rl_frame_compile(&c, &s) == -EINVAL, "expected response without the delimiter");
	s = (rl_frame_spec){ .kind = RL_FRAME_PREFIX, .prefix = 9, .max_frame = 10 };
	CHECK(rl_frame_compile(&c, &s) == -EINVAL, "unknown prefix");
	s.prefix = RL_LP_U32BE;
	s.max_frame = 3;
	CHECK(rl_frame_compile(&c, &s) == -EINVAL, "max_frame under the prefix");
	s.max_frame = 100;
	s.expect = (const uint8_t *) "\x00\x00\x00\x05"
				     "ab";
	s.expect_len = 6;
	CHECK(rl_frame_compile(&c, &s) == -EINVAL, "expected response whose prefix disagrees");
	s = (rl_frame_spec){ .kind = 0 };
	CHECK(rl_frame_compile(&c, &s) == -EINVAL, "no kind");
}

static void throughput(void)
{
	/* 64-byte newline-terminated responses, matched against the expected one */
	static uint8_t in[64 * 1024];
	static uint8_t expect[64];
	memset(expect, 'r', 63);
	expect[63] = '\n';
	for (size_t k = 0; k < sizeof(in); k += 64)
		memcpy(in + k, expect, 64);
	rl_frame_spec s = { .kind = RL_FRAME_DELIM,
			    .delim = (const uint8_t *) "\n",
			    .delim_len = 1,
			    .max_frame = 1024,
			    .expect = expect,
			    .expect_len = 64 };
	REQUIRE(rl_frame_compile(&cfg, &s) == 0, "compile");
	rl_frame p;
	rl_frame_init(&p, &cfg);
	rate r = measure(&OPS, &p, in, sizeof(in));
	CHECK(r.responses == r.bytes / 64, "every frame found");
	printf("frame: %.0f MB/s, %.1f M frames/s per CPU second (64-byte delimited, compared)\n",
	       r.bytes / r.secs / 1e6, r.responses / r.secs / 1e6);
}

int main(void)
{
	bytes();
	delimiters();
	prefixes();
	bad_specs();
	throughput();
	DONE();
}
