/* SPDX-License-Identifier: MIT */
/*
 * Request builders (see template.h): compiling templates into literal runs
 * and placeholders, rendering them, and building HTTP/1.1 requests.
 */
#include "template.h"
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define U64_DIGITS 20

/* v in decimal into d (at least U64_DIGITS bytes): the digit count */
static size_t fmt_u64(char *d, uint64_t v)
{
	char r[U64_DIGITS];
	size_t n = 0, k = 0;
	do {
		r[n++] = (char) ('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		d[k++] = r[--n];
	return k;
}

/* ---- compiling: a growing list of segments over a growing byte store ---- */

typedef struct build {
	rl_tpl *t;
	size_t nbytes, bytes_cap;
	unsigned segs_cap;
	int err;
} build;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 64;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static rl_tpl_seg *add_seg(build *b, unsigned kind)
{
	rl_tpl *t = b->t;
	size_t cap = b->segs_cap;
	if (grow((void **) &t->segs, &cap, t->nsegs + 1, sizeof(rl_tpl_seg))) {
		b->err = -ENOMEM;
		return NULL;
	}
	b->segs_cap = (unsigned) cap;
	rl_tpl_seg *s = &t->segs[t->nsegs++];
	s->kind = kind;
	s->len = 0;
	s->off = b->nbytes;
	return s;
}

/* n literal bytes: from src, or n copies of fill when src is NULL */
static void lit(build *b, const void *src, size_t n, uint8_t fill)
{
	rl_tpl *t = b->t;
	if (b->err || !n)
		return;
	if (n > UINT32_MAX / 2 || grow((void **) &t->bytes, &b->bytes_cap, b->nbytes + n, 1)) {
		b->err = n > UINT32_MAX / 2 ? -EINVAL : -ENOMEM;
		return;
	}
	rl_tpl_seg *s = t->nsegs ? &t->segs[t->nsegs - 1] : NULL;
	if (!s || s->kind != RL_TPL_LIT || (uint64_t) s->len + n > UINT32_MAX)
		s = add_seg(b, RL_TPL_LIT);
	if (!s)
		return;
	if (src)
		memcpy(t->bytes + b->nbytes, src, n);
	else
		memset(t->bytes + b->nbytes, fill, n);
	b->nbytes += n;
	s->len += (uint32_t) n;
	t->max_len += n;
}

static void placeholder(build *b, unsigned kind)
{
	if (b->err || !add_seg(b, kind))
		return;
	if (kind == RL_TPL_RAND) {
		b->t->max_len += RL_TPL_RAND_DIGITS;
	} else {
		b->t->max_len += U64_DIGITS;
		b->t->fixed = 0;
	}
}

static int finish(build *b)
{
	if (!b->err && !b->t->nsegs)
		b->err = -EINVAL;
	if (b->err)
		rl_tpl_free(b->t);
	return b->err;
}

static void start(build *b, rl_tpl *t)
{
	memset(t, 0, sizeof(*t));
	memset(b, 0, sizeof(*b));
	b->t = t;
	t->fixed = 1;
	t->keyspace = 1;
}

int rl_tpl_compile_raw(rl_tpl *t, const uint8_t *src, size_t len)
{
	build b;
	start(&b, t);
	size_t from = 0;
	for (size_t k = 0; k < len; k++) {
		if (src[k] != '{')
			continue;
		unsigned kind = 0;
		size_t n = 0;
		if (len - k >= 5 && memcmp(src + k, "{seq}", 5) == 0)
			kind = RL_TPL_SEQ, n = 5;
		else if (len - k >= 6 && memcmp(src + k, "{conn}", 6) == 0)
			kind = RL_TPL_CONN, n = 6;
		if (!kind)
			continue;
		lit(&b, src + from, k - from, 0);
		placeholder(&b, kind);
		k += n - 1;
		from = k + 1;
	}
	lit(&b, src + from, len - from, 0);
	return finish(&b);
}

/* the next placeholder in s[0, n): its offset (n if none), kind and length */
static size_t resp_placeholder(const uint8_t *s, size_t n, unsigned *kind, size_t *plen)
{
	static const struct {
		const char *text;
		unsigned kind;
	} PH[] = {
		{ "__rand_int__", RL_TPL_RAND }, /* redis-benchmark's spelling */
		{ "__rand__", RL_TPL_RAND },
		{ "__data__", RL_TPL_LIT }, /* data: a literal run, fixed once compiled */
	};
	for (size_t k = 0; k + 1 < n; k++) {
		if (s[k] != '_' || s[k + 1] != '_')
			continue;
		for (unsigned j = 0; j < sizeof(PH) / sizeof(PH[0]); j++) {
			size_t l = strlen(PH[j].text);
			if (n - k >= l && memcmp(s + k, PH[j].text, l) == 0) {
				*kind = PH[j].kind;
				*plen = l;
				return k;
			}
		}
	}
	return n;
}

static void lit_num(build *b, const char *prefix, uint64_t v)
{
	char tmp[U64_DIGITS + 8];
	size_t pl = strlen(prefix);
	memcpy(tmp, prefix, pl);
	pl += fmt_u64(tmp + pl, v);
	tmp[pl++] = '\r';
	tmp[pl++] = '\n';
	lit(b, tmp, pl, 0);
}

int rl_tpl_compile_resp(rl_tpl *t, const uint8_t *const *argv, const size_t *argl, unsigned argc,
			uint64_t keyspace, uint32_t data_size)
{
	build b;
	start(&b, t);
	if (!argc || !keyspace || keyspace > RL_TPL_KEYSPACE_MAX || data_size > (1u << 30))
		return -EINVAL;
	t->keyspace = keyspace;
	lit_num(&b, "*", argc);
	for (unsigned a = 0; a < argc; a++) {
		const uint8_t *s = argv[a];
		size_t n = argl[a], expanded = 0, k = 0, at, plen;
		unsigned kind;
		/* the bulk length first: every placeholder has a fixed width */
		while ((at = resp_placeholder(s + k, n - k, &kind, &plen)) < n - k) {
			expanded += at + (kind == RL_TPL_RAND ? RL_TPL_RAND_DIGITS : data_size);
			k += at + plen;
		}
		expanded += n - k;
		lit_num(&b, "$", expanded);
		for (k = 0; (at = resp_placeholder(s + k, n - k, &kind, &plen)) < n - k; k += at + plen) {
			lit(&b, s + k, at, 0);
			if (kind == RL_TPL_RAND)
				placeholder(&b, RL_TPL_RAND);
			else
				lit(&b, NULL, data_size, 'x'); /* redis-benchmark's payload */
		}
		lit(&b, s + k, n - k, 0);
		lit(&b, "\r\n", 2, 0);
	}
	return finish(&b);
}

void rl_tpl_free(rl_tpl *t)
{
	free(t->bytes);
	free(t->segs);
	memset(t, 0, sizeof(*t));
}

/* ---- rendering ---- */

/* xorshift64*: a key number per request needs speed, not strength */
static uint64_t next_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

ssize_t rl_tpl_render(const rl_tpl *t, uint8_t *dst, size_t cap, const rl_tpl_vars *v)
{
	if (t->fixed && t->max_len > cap)
		return -ENOSPC;
	size_t o = 0;
	for (unsigned k = 0; k < t->nsegs; k++) {
		const rl_tpl_seg *s = &t->segs[k];
		if (s->kind == RL_TPL_LIT) {
			if (s->len > cap - o)
				return -ENOSPC;
			memcpy(dst + o, t->bytes + s->off, s->len);
			o += s->len;
		} else if (s->kind == RL_TPL_RAND) {
			if (RL_TPL_RAND_DIGITS > cap - o)
				return -ENOSPC;
			/* [0, keyspace) by multiply-shift, written zero-padded */
			uint64_t x = (uint64_t) (((unsigned __int128) next_rand(v->rng) * t->keyspace) >> 64);
			for (int d = RL_TPL_RAND_DIGITS - 1; d >= 0; d--) {
				dst[o + (size_t) d] = (uint8_t) ('0' + x % 10);
				x /= 10;
			}
			o += RL_TPL_RAND_DIGITS;
		} else {
			char d[U64_DIGITS];
			size_t n = fmt_u64(d, s->kind == RL_TPL_SEQ ? v->seq : v->conn);
			if (n > cap - o)
				return -ENOSPC;
			memcpy(dst + o, d, n);
			o += n;
		}
	}
	return (ssize_t) o;
}

/* ---- HTTP/1.1 requests ---- */

typedef struct writer {
	uint8_t *dst;
	size_t cap, len;
} writer;

static void put(writer *w, const void *p, size_t n)
{
	if (w->len <= w->cap && n <= w->cap - w->len)
		memcpy(w->dst + w->len, p, n);
	w->len += n; /* past cap: counted, not written, -ENOSPC at the end */
}

static void puts_(writer *w, const char *s) { put(w, s, strlen(s)); }

/* a non-empty string whose every byte is in class `mask` */
static int all_of(const char *s, unsigned mask)
{
	if (!s || !*s)
		return 0;
	for (const uint8_t *p = (const uint8_t *) s; *p; p++)
		if (!(rl_proto_ctype[*p] & mask))
			return 0;
	return 1;
}

/* a non-empty string of visible ASCII (a request target, a host) */
static int visible(const char *s)
{
	if (!s || !*s)
		return 0;
	for (const uint8_t *p = (const uint8_t *) s; *p; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return 0;
	return 1;
}

ssize_t rl_http_request(uint8_t *dst, size_t cap, const rl_http_req *r)
{
	int have_host = 0, have_conn = 0;
	if (!all_of(r->method, RL_C_TCHAR) || !visible(r->target))
		return -EINVAL;
	for (unsigned k = 0; k < r->nheaders; k++) {
		const rl_http_hdr *h = &r->headers[k];
		if (!all_of(h->name, RL_C_TCHAR) || !h->value || (*h->value && !all_of(h->value, RL_C_VALUE)))
			return -EINVAL;
		if (!strcasecmp(h->name, "content-length") || !strcasecmp(h->name, "transfer-encoding"))
			return -EINVAL;
		have_host |= !strcasecmp(h->name, "host");
		have_conn |= !strcasecmp(h->name, "connection");
	}
	if (!have_host && !visible(r->host))
		return -EINVAL;

	writer w = { dst, cap, 0 };
	puts_(&w, r->method);
	put(&w, " ", 1);
	puts_(&w, r->target);
	puts_(&w, " HTTP/1.1\r\n");
	if (!have_host) {
		puts_(&w, "Host: ");
		puts_(&w, r->host);
		puts_(&w, "\r\n");
	}
	for (unsigned k = 0; k < r->nheaders; k++) {
		puts_(&w, r->headers[k].name);
		puts_(&w, ": ");
		puts_(&w, r->headers[k].value);
		puts_(&w, "\r\n");
	}
	if (r->body) {
		char d[U64_DIGITS];
		puts_(&w, "Content-Length: ");
		put(&w, d, fmt_u64(d, r->body_len));
		puts_(&w, "\r\n");
	}
	if (r->close && !have_conn)
		puts_(&w, "Connection: close\r\n");
	puts_(&w, "\r\n");
	if (r->body)
		put(&w, r->body, r->body_len);
	return w.len > cap ? -ENOSPC : (ssize_t) w.len;
}
