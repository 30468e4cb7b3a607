/* SPDX-License-Identifier: MIT */
/*
 * Request builders (engine/proto/template.c): custom templates with {seq}
 * and {conn}, RESP commands with __rand__ and __data__ (checked by parsing
 * them back with the RESP parser: a command is an array of bulk strings),
 * HTTP/1.1 requests (checked byte for byte), -ENOSPC at every too-small
 * buffer size, and -EINVAL for input that would make a bad request. Prints
 * the cost of one render (not asserted).
 */
#include "../../packages/core-native/src/engine/proto/resp.h"
#include "../../packages/core-native/src/engine/proto/template.h"
#include "proto_feed.h"

#include <errno.h>

static uint8_t out[1 << 16];

/* render into a buffer of exactly cap bytes placed at the end of `out`, so
 * a write past cap would land outside and be caught by the canary check */
static ssize_t render_cap(const rl_tpl *t, size_t cap, const rl_tpl_vars *v)
{
	memset(out, 0xee, sizeof(out));
	uint8_t *dst = out + sizeof(out) - 64 - cap;
	ssize_t n = rl_tpl_render(t, dst, cap, v);
	for (size_t k = 0; k < 64; k++)
		if (dst[cap + k] != 0xee)
			return -1000;
	if (n > 0)
		memmove(out, dst, (size_t) n);
	return n;
}

/* every capacity below the rendering gives -ENOSPC, the exact one fits */
static void check_enospc(const char *name, const rl_tpl *t, const rl_tpl_vars *v, size_t len)
{
	for (size_t cap = 0; cap < len; cap++) {
		rl_tpl_vars v2 = *v;
		uint64_t r = v->rng ? *v->rng : 0;
		if (v->rng)
			v2.rng = &r;
		ssize_t n = render_cap(t, cap, &v2);
		CHECK(n == -ENOSPC, "%s: cap %zu gave %zd", name, cap, n);
	}
}

static void raw(void)
{
	rl_tpl t;
	const char *src = "id={conn} n={seq} {se {conn}}{seq}";
	REQUIRE(rl_tpl_compile_raw(&t, (const uint8_t *) src, strlen(src)) == 0, "compile");
	CHECK(!t.fixed && t.nsegs == 8, "segments %u fixed %d", t.nsegs, t.fixed);
	rl_tpl_vars v = { .seq = 12345, .conn = 7 };
	ssize_t n = render_cap(&t, 200, &v);
	const char *want = "id=7 n=12345 {se 7}12345";
	CHECK(n == (ssize_t) strlen(want) && !memcmp(out, want, (size_t) n), "rendered %.*s", (int) n, out);
	v.seq = UINT64_MAX;
	v.conn = 0;
	n = render_cap(&t, 200, &v);
	want = "id=0 n=18446744073709551615 {se 0}18446744073709551615";
	CHECK(n == (ssize_t) strlen(want) && !memcmp(out, want, (size_t) n), "extremes %.*s", (int) n, out);
	CHECK((size_t) n <= t.max_len, "max_len %zu", t.max_len);
	check_enospc("raw", &t, &v, (size_t) n);
	rl_tpl_free(&t);

	static const uint8_t bin[] = { 0, 1, '{', 's', 'e', 'q', '}', 0xff, 0 };
	REQUIRE(rl_tpl_compile_raw(&t, bin, sizeof(bin)) == 0, "binary");
	v.seq = 3;
	n = render_cap(&t, 100, &v);
	static const uint8_t bwant[] = { 0, 1, '3', 0xff, 0 };
	CHECK(n == sizeof(bwant) && !memcmp(out, bwant, sizeof(bwant)), "binary render");
	rl_tpl_free(&t);

	REQUIRE(rl_tpl_compile_raw(&t, (const uint8_t *) "PING\r\n", 6) == 0, "plain");
	CHECK(t.fixed && t.max_len == 6 && t.nsegs == 1, "a template without placeholders is one literal");
	rl_tpl_free(&t);
	CHECK(rl_tpl_compile_raw(&t, (const uint8_t *) "", 0) == -EINVAL, "empty");
}

/* parse a rendered command with the reply parser: an array of argc bulks */
static int parses_as_command(const uint8_t *b, size_t n, unsigned argc)
{
	rl_resp_cfg cfg;
	rl_resp_cfg_default(&cfg);
	rl_resp p;
	rl_resp_init(&p, &cfg);
	size_t used;
	int r = rl_resp_feed(&p, b, n, &used);
	return r == RL_PROTO_DONE && used == n && p.res.type == '*' && p.res.value == argc &&
	       p.res.elements == argc;
}

static void resp(void)
{
	rl_tpl t;
	const uint8_t *argv[] = { (const uint8_t *) "SET", (const uint8_t *) "key:__rand__",
				  (const uint8_t *) "__data__" };
	size_t argl[] = { 3, 12, 8 };
	REQUIRE(rl_tpl_compile_resp(&t, argv, argl, 3, 1, 3) == 0, "compile");
	CHECK(t.fixed, "RESP templates have a fixed length");
	uint64_t rng = 1;
	rl_tpl_vars v = { .rng = &rng };
	ssize_t n = render_cap(&t, 1000, &v);
	const char *want = "*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000000\r\n$3\r\nxxx\r\n";
	CHECK(n == (ssize_t) strlen(want) && !memcmp(out, want, (size_t) n), "rendered %.*s", (int) n, out);
	CHECK((size_t) n == t.max_len, "fixed length %zu", t.max_len);
	check_enospc("resp", &t, &v, (size_t) n);
	rl_tpl_free(&t);

	/* keys spread over the keyspace; the alias, several in one argument, data inside an argument */
	const uint8_t *argv2[] = { (const uint8_t *) "MSET", (const uint8_t *) "k:__rand_int__:__rand__",
				   (const uint8_t *) "<__data__>" };
	size_t argl2[] = { 4, 23, 10 };
	REQUIRE(rl_tpl_compile_resp(&t, argv2, argl2, 3, 1000, 100) == 0, "compile 2");
	static uint8_t seen[1000];
	int distinct = 0, bad = 0;
	for (int k = 0; k < 20000; k++) {
		n = rl_tpl_render(&t, out, sizeof(out), &v);
		if (n != (ssize_t) t.max_len || !parses_as_command(out, (size_t) n, 3)) {
			bad++;
			continue;
		}
		/* "*3\r\n$4\r\nMSET\r\n$27\r\nk:DDDDDDDDDDDD:DDDDDDDDDDDD\r\n$102\r\n<x...x>\r\n" */
		CHECK(!memcmp(out + 14, "$27\r\nk:", 7) && !memcmp(out + 48, "$102\r\n<", 7) &&
			      out[155] == '>',
		      "layout %.*s", (int) n, out);
		char key[13];
		memcpy(key, out + 21, 12);
		key[12] = 0;
		unsigned long long a = strtoull(key, NULL, 10);
		memcpy(key, out + 34, 12);
		unsigned long long b = strtoull(key, NULL, 10);
		if (a >= 1000 || b >= 1000) {
			bad++;
			continue;
		}
		distinct += !seen[a]++;
	}
	CHECK(!bad, "%d bad renders", bad);
	CHECK(distinct > 990, "keys cover the keyspace: %d of 1000", distinct);
	rl_tpl_free(&t);

	/* the largest keyspace uses all 12 digits */
	const uint8_t *argv3[] = { (const uint8_t *) "GET", (const uint8_t *) "__rand__" };
	size_t argl3[] = { 3, 8 };
	REQUIRE(rl_tpl_compile_resp(&t, argv3, argl3, 2, RL_TPL_KEYSPACE_MAX, 0) == 0, "compile 3");
	int wide = 0;
	for (int k = 0; k < 100; k++) {
		n = rl_tpl_render(&t, out, sizeof(out), &v);
		wide += out[n - 14] != '0';
	}
	CHECK(wide > 50, "10^12 keys: %d of 100 with a leading non-zero digit", wide);
	rl_tpl_free(&t);

	/* empty arguments, binary arguments, __data__ of 0 bytes, unknown __x__ left as it is */
	const uint8_t *argv4[] = { (const uint8_t *) "ECHO", (const uint8_t *) "",
				   (const uint8_t *) "a\r\nb__data__", (const uint8_t *) "__other__" };
	size_t argl4[] = { 4, 0, 12, 9 };
	REQUIRE(rl_tpl_compile_resp(&t, argv4, argl4, 4, 1, 0) == 0, "compile 4");
	n = render_cap(&t, 1000, &v);
	want = "*4\r\n$4\r\nECHO\r\n$0\r\n\r\n$4\r\na\r\nb\r\n$9\r\n__other__\r\n";
	CHECK(n == (ssize_t) strlen(want) && !memcmp(out, want, (size_t) n), "rendered %.*s", (int) n, out);
	rl_tpl_free(&t);

	CHECK(rl_tpl_compile_resp(&t, argv, argl, 0, 1, 3) == -EINVAL, "no arguments");
	CHECK(rl_tpl_compile_resp(&t, argv, argl, 3, 0, 3) == -EINVAL, "keyspace 0");
	CHECK(rl_tpl_compile_resp(&t, argv, argl, 3, RL_TPL_KEYSPACE_MAX + 1, 3) == -EINVAL,
	      "keyspace 10^12 + 1");
	CHECK(rl_tpl_compile_resp(&t, argv, argl, 3, 1, (1u << 30) + 1) == -EINVAL, "data over 1 GiB");
}

static void expect_request(const char *name, const rl_http_req *r, const char *want)
{
	ssize_t n = rl_http_request(out, sizeof(out), r);
	CHECK(n == (ssize_t) strlen(want) && !memcmp(out, want, (size_t) n), "%s: got %zd:\n%.*s", name, n,
	      n > 0 ? (int) n : 0, out);
	for (size_t cap = 0; n > 0 && cap < (size_t) n; cap += 1 + cap / 8) {
		ssize_t m = rl_http_request(out, cap, r);
		CHECK(m == -ENOSPC, "%s: cap %zu gave %zd", name, cap, m);
	}
}

static void http(void)
{
	rl_http_req r = { .method = "GET", .target = "/", .host = "127.0.0.1:8080" };
	expect_request("GET", &r, "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
	rl_http_hdr h[] = { { "Accept", "*/*" }, { "X-Empty", "" }, { "X-Tab", "a\tb" } };
	r = (rl_http_req){ .method = "POST",
			   .target = "/api/v1?x=1&y=%20",
			   .host = "[::1]:80",
			   .headers = h,
			   .nheaders = 3,
			   .body = (const uint8_t *) "{\"a\":1}",
			   .body_len = 7,
			   .close = 1 };
	expect_request(
		"POST", &r,
		"POST /api/v1?x=1&y=%20 HTTP/1.1\r\nHost: [::1]:80\r\nAccept: */*\r\nX-Empty: \r\nX-Tab: a\tb\r\n"
		"Content-Length: 7\r\nConnection: close\r\n\r\n{\"a\":1}");
	r = (rl_http_req){
		.method = "PUT", .target = "/", .host = "h", .body = (const uint8_t *) "", .body_len = 0
	};
	expect_request("empty body", &r, "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
	rl_http_hdr own[] = { { "host", "example.com" }, { "CONNECTION", "keep-alive" } };
	r = (rl_http_req){
		.method = "HEAD", .target = "*", .host = NULL, .headers = own, .nheaders = 2, .close = 1
	};
	expect_request("own Host and Connection", &r,
		       "HEAD * HTTP/1.1\r\nhost: example.com\r\nCONNECTION: keep-alive\r\n\r\n");

	struct {
		const char *what;
		rl_http_req r;
	} bad[] = {
		{ "method with a space", { .method = "G T", .target = "/", .host = "h" } },
		{ "empty method", { .method = "", .target = "/", .host = "h" } },
		{ "target with a space", { .method = "GET", .target = "/a b", .host = "h" } },
		{ "target with CRLF", { .method = "GET", .target = "/\r\nX: y", .host = "h" } },
		{ "no host", { .method = "GET", .target = "/" } },
		{ "host with a space", { .method = "GET", .target = "/", .host = "a b" } },
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		CHECK(rl_http_request(out, sizeof(out), &bad[k].r) == -EINVAL, "%s", bad[k].what);
	rl_http_hdr badh[][1] = {
		{ { "X Y", "v" } },
		{ { "", "v" } },
		{ { "X", "a\r\nInjected: 1" } },
		{ { "X", "a\nb" } },
		{ { "X", NULL } },
		{ { "Content-Length", "5" } },
		{ { "transfer-encoding", "chunked" } },
	};
	for (size_t k = 0; k < sizeof(badh) / sizeof(badh[0]); k++) {
		r = (rl_http_req){
			.method = "GET", .target = "/", .host = "h", .headers = badh[k], .nheaders = 1
		};
		CHECK(rl_http_request(out, sizeof(out), &r) == -EINVAL, "bad header %zu (%s)", k,
		      badh[k][0].name);
	}
}

static void cost(void)
{
	rl_tpl t;
	const uint8_t *argv[] = { (const uint8_t *) "SET", (const uint8_t *) "key:__rand__",
				  (const uint8_t *) "__data__" };
	size_t argl[] = { 3, 12, 8 };
	REQUIRE(rl_tpl_compile_resp(&t, argv, argl, 3, 100000, 3) == 0, "compile");
	uint64_t rng = 42, renders = 0, sum = 0;
	rl_tpl_vars v = { .rng = &rng };
	double t0 = cpu_s(), el;
	do {
		for (int k = 0; k < 100000; k++) {
			v.seq++;
			sum += (uint64_t) rl_tpl_render(&t, out, sizeof(out), &v);
		}
		renders += 100000;
		el = cpu_s() - t0;
	} while (el < 0.3);
	CHECK(sum == renders * t.max_len, "every render complete");
	printf("template: %.1f ns per SET key:__rand__ __data__ render\n", el / (double) renders * 1e9);
	rl_tpl_free(&t);
}

int main(void)
{
	raw();
	resp();
	http();
	cost();
	DONE();
}
