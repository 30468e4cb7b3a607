/* SPDX-License-Identifier: MIT */
/*
 * For the protocol parser tests: feed one input to a parser in pieces and
 * check that the pieces do not matter. A test's driver feeds the pieces it
 * is given and writes one line per event (a response, an error with its
 * offset, the end of stream) into a log; check_splits runs it on the input
 * whole, split in two at every position, byte by byte and in random pieces,
 * and requires the same log every time.
 */
#ifndef RL_TEST_PROTO_FEED_H
#define RL_TEST_PROTO_FEED_H
#include "helpers.h"
#include "../../packages/core-native/src/engine/proto/proto.h"

#include <stdarg.h>
#include <stdint.h>
#include <time.h>

#define LOG_CAP 8192
/* a test uses the helpers it needs */
#define PF_UNUSED __attribute__((unused))

typedef struct plog {
	char s[LOG_CAP];
	size_t n;
} plog;

static PF_UNUSED void plog_add(plog *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(l->s + l->n, LOG_CAP - l->n, fmt, ap);
	va_end(ap);
	if (k > 0)
		l->n += (size_t) k < LOG_CAP - l->n ? (size_t) k : LOG_CAP - 1 - l->n;
}

/* feed in[0, len) as pieces ending at cut[0..ncut) (the last is len), then
 * the end of stream if eof; log the events */
typedef void (*feed_fn)(const uint8_t *in, size_t len, const size_t *cut, size_t ncut, int eof, plog *log);

/* a parser, as the driver below sees it */
typedef struct parser_ops {
	int (*feed)(void *p, const uint8_t *b, size_t n, size_t *used);
	int (*eof)(void *p);
	uint64_t (*err_off)(const void *p);
	void (*log_done)(const void *p, plog *log); /* one line for a completed response */
} parser_ops;

/* OPS for a parser type: its feed and eof functions, its err_off field,
 * and LOG(const TYPE *, plog *) to log a completed response */
#define PARSER_OPS(TYPE, FEED, EOF, LOG)                                                    \
	static int ops_feed_(void *p, const uint8_t *b, size_t n, size_t *used)             \
	{                                                                                   \
		return FEED((TYPE *) p, b, n, used);                                        \
	}                                                                                   \
	static int ops_eof_(void *p) { return EOF((TYPE *) p); }                            \
	static uint64_t ops_err_off_(const void *p) { return ((const TYPE *) p)->err_off; } \
	static void ops_log_(const void *p, plog *log) { LOG((const TYPE *) p, log); }      \
	static const parser_ops OPS = { ops_feed_, ops_eof_, ops_err_off_, ops_log_ }

/* feed the pieces to an initialised parser, checking the feed convention
 * (proto.h), and log every response, the error or the end of stream */
static PF_UNUSED void drive(const parser_ops *o, void *p, const uint8_t *in, const size_t *cut, size_t ncut,
			    int eof, plog *log)
{
	size_t at = 0;
	for (size_t k = 0; k < ncut; k++) {
		const uint8_t *b = in + at;
		size_t n = cut[k] - at;
		at = cut[k];
		while (n) {
			size_t used = 12345;
			int r = o->feed(p, b, n, &used);
			if (used > n) {
				plog_add(log, "BUG used %zu > %zu\n", used, n);
				return;
			}
			b += used;
			n -= used;
			if (r == RL_PROTO_MORE) {
				if (n)
					plog_add(log, "BUG MORE with %zu left\n", n);
				break;
			}
			if (r < 0) {
				plog_add(log, "ERR %s @%llu\n", rl_proto_err_name(r),
					 (unsigned long long) o->err_off(p));
				return;
			}
			o->log_done(p, log);
		}
	}
	if (eof) {
		int r = o->eof(p);
		if (r == RL_PROTO_DONE)
			o->log_done(p, log);
		else if (r < 0)
			plog_add(log, "ERR %s @%llu\n", rl_proto_err_name(r),
				 (unsigned long long) o->err_off(p));
		else
			plog_add(log, "eof\n");
	}
}

/* the log of feeding the input whole */
static PF_UNUSED void feed_whole(feed_fn fn, const uint8_t *in, size_t len, int eof, plog *log)
{
	size_t cut = len;
	log->n = 0;
	log->s[0] = 0;
	fn(in, len, &cut, 1, eof, log);
}

/* whole, two pieces at every split point (inputs up to 4 KiB), byte by
 * byte, and random pieces: every log must equal the whole one, which is
 * left in *whole */
static PF_UNUSED int check_splits(const char *name, feed_fn fn, const uint8_t *in, size_t len, int eof,
				  plog *whole)
{
	static plog l;
	static size_t cut[1 << 20];
	int bad = 0;
	feed_whole(fn, in, len, eof, whole);
	if (len <= 4096) {
		for (size_t k = 1; k < len && !bad; k++) {
			size_t c2[2] = { k, len };
			l.n = 0;
			l.s[0] = 0;
			fn(in, len, c2, 2, eof, &l);
			if (strcmp(l.s, whole->s)) {
				fprintf(stderr, "%s: split at %zu:\n%s\nwhole:\n%s\n", name, k, l.s,
					whole->s);
				bad = 1;
			}
		}
	}
	if (!bad && len <= (1u << 20)) {
		for (size_t k = 0; k < len; k++)
			cut[k] = k + 1;
		l.n = 0;
		l.s[0] = 0;
		fn(in, len, cut, len, eof, &l);
		if (strcmp(l.s, whole->s)) {
			fprintf(stderr, "%s: byte by byte:\n%s\nwhole:\n%s\n", name, l.s, whole->s);
			bad = 1;
		}
	}
	unsigned seed = 12345;
	for (int round = 0; round < 20 && !bad && len > 1; round++) {
		size_t n = 0, at = 0;
		while (at < len) {
			at += 1 + (size_t) rand_r(&seed) % (len / 3 + 1);
			cut[n++] = at < len ? at : len;
		}
		l.n = 0;
		l.s[0] = 0;
		fn(in, len, cut, n, eof, &l);
		if (strcmp(l.s, whole->s)) {
			fprintf(stderr, "%s: random pieces (round %d):\n%s\nwhole:\n%s\n", name, round, l.s,
				whole->s);
			bad = 1;
		}
	}
	return !bad;
}

/* the input gives the log `want` whatever its pieces */
static PF_UNUSED void expect_log(const char *name, feed_fn fn, const void *in, size_t len, int eof,
				 const char *want)
{
	static plog w;
	CHECK(check_splits(name, fn, in, len, eof, &w), "%s: the pieces changed the result", name);
	CHECK(strcmp(w.s, want) == 0, "%s:\n got: %s\nwant: %s", name, w.s, want);
}

static PF_UNUSED void expect_str(const char *name, feed_fn fn, const char *in, int eof, const char *want)
{
	expect_log(name, fn, in, strlen(in), eof, want);
}

/* printf into one of a few rotating buffers (for expected logs) */
static PF_UNUSED const char *fmt(const char *f, ...)
{
	static char bufs[4][LOG_CAP];
	static int next;
	char *b = bufs[next++ & 3];
	va_list ap;
	va_start(ap, f);
	vsnprintf(b, LOG_CAP, f, ap);
	va_end(ap);
	return b;
}

/* CPU time of this thread: throughput figures per CPU second, so other
 * work on a shared machine does not halve them */
static PF_UNUSED double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* a throughput figure: feed `in` (whole responses) again and again for
 * ~0.3 CPU seconds; every response must complete */
typedef struct rate {
	uint64_t responses, bytes;
	double secs;
} rate;

static PF_UNUSED rate measure(const parser_ops *o, void *p, const uint8_t *in, size_t n)
{
	rate r = { 0, 0, 0 };
	double t0 = cpu_s();
	do {
		for (int rep = 0; rep < 100; rep++) {
			const uint8_t *b = in;
			size_t left = n, used;
			while (left && o->feed(p, b, left, &used) == RL_PROTO_DONE) {
				b += used;
				left -= used;
				r.responses++;
			}
			CHECK(left == 0, "a response did not complete (%zu bytes left)", left);
			r.bytes += n;
		}
		r.secs = cpu_s() - t0;
	} while (r.secs < 0.3);
	return r;
}

#endif
