/* SPDX-License-Identifier: MIT */
/*
 * Custom response framing (see frame.h). Each feed step finds how many of
 * the available bytes belong to the current response (all of them, or up
 * to its end), compares that span with the expected response if there is
 * one, and moves on; only the length prefix is read a byte at a time.
 */
#include "frame.h"

#include <errno.h>
#include <string.h>

static unsigned prefix_len(unsigned prefix)
{
	switch (prefix) {
	case RL_LP_U8:
		return 1;
	case RL_LP_U16BE:
	case RL_LP_U16LE:
		return 2;
	case RL_LP_U32BE:
	case RL_LP_U32LE:
		return 4;
	default:
		return 0;
	}
}

static int big_endian(unsigned prefix) { return prefix == RL_LP_U16BE || prefix == RL_LP_U32BE; }

/* the first end of a delimiter in s[0, n) (index just past it), or 0 */
static size_t delim_end(const uint8_t *s, size_t n, const uint8_t *d, size_t dl)
{
	for (size_t k = 0; k + dl <= n; k++)
		if (memcmp(s + k, d, dl) == 0)
			return k + dl;
	return 0;
}

int rl_frame_compile(rl_frame_cfg *cfg, const rl_frame_spec *s)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->kind = (uint8_t) s->kind;
	cfg->expect = s->expect;
	cfg->expect_len = s->expect ? s->expect_len : 0;
	cfg->max_frame = s->max_frame;
	if (s->expect && !s->expect_len)
		return -EINVAL;
	switch (s->kind) {
	case RL_FRAME_BYTES:
		if (!s->bytes || (s->expect && s->expect_len != s->bytes))
			return -EINVAL;
		cfg->bytes = s->bytes;
		cfg->max_frame = s->bytes;
		return 0;
	case RL_FRAME_DELIM:
		if (!s->delim || !s->delim_len || s->delim_len > RL_FRAME_DELIM_MAX ||
		    s->max_frame < s->delim_len)
			return -EINVAL;
		/* an expected response ends at its first delimiter, or no frame can equal it */
		if (s->expect && delim_end(s->expect, s->expect_len, s->delim, s->delim_len) != s->expect_len)
			return -EINVAL;
		cfg->delim_len = (uint8_t) s->delim_len;
		memcpy(cfg->delim, s->delim, s->delim_len);
		/* KMP: fail[k] = the longest proper prefix of delim[0..k] that is also its suffix */
		for (unsigned k = 1, m = 0; k < s->delim_len; k++) {
			while (m && s->delim[k] != s->delim[m])
				m = cfg->fail[m - 1];
			if (s->delim[k] == s->delim[m])
				m++;
			cfg->fail[k] = (uint8_t) m;
		}
		return 0;
	case RL_FRAME_PREFIX: {
		unsigned pl = prefix_len(s->prefix);
		if (!pl || s->max_frame < pl)
			return -EINVAL;
		cfg->prefix = (uint8_t) s->prefix;
		cfg->prefix_len = (uint8_t) pl;
		cfg->inclusive = s->inclusive != 0;
		if (s->expect) {
			/* its own prefix must give its length */
			if (s->expect_len < pl || s->expect_len > s->max_frame)
				return -EINVAL;
			uint64_t v = 0;
			for (unsigned k = 0; k < pl; k++)
				v |= big_endian(s->prefix) ? (uint64_t) s->expect[k] << (8 * (pl - 1 - k))
							   : (uint64_t) s->expect[k] << (8 * k);
			if ((cfg->inclusive ? v : v + pl) != s->expect_len)
				return -EINVAL;
		}
		return 0;
	}
	default:
		return -EINVAL;
	}
}

void rl_frame_init(rl_frame *p, const rl_frame_cfg *cfg)
{
	memset(p, 0, sizeof(*p));
	p->cfg = cfg;
	if (cfg->kind == RL_FRAME_BYTES)
		p->total = cfg->bytes;
}

static int fail(rl_frame *p, int err, uint64_t off, size_t used, size_t *usedp)
{
	return rl_proto_fail(&p->err, &p->err_off, err, off, used, usedp);
}

/* compare s[0, n), at offset p->off of the response, with the expected
 * response: the offset of the first difference, or UINT64_MAX */
static uint64_t differs(const rl_frame *p, const uint8_t *s, size_t n)
{
	const rl_frame_cfg *cfg = p->cfg;
	if (!cfg->expect || !n)
		return UINT64_MAX;
	if (p->off >= cfg->expect_len)
		return p->off; /* cannot happen for a compiled cfg; keeps the reads in bounds */
	size_t m = cfg->expect_len - p->off;
	if (m > n)
		m = n;
	const uint8_t *e = cfg->expect + p->off;
	if (memcmp(s, e, m) != 0) {
		size_t k = 0;
		while (s[k] == e[k])
			k++;
		return p->off + k;
	}
	return m < n ? p->off + m : UINT64_MAX;
}

int rl_frame_feed(rl_frame *p, const uint8_t *buf, size_t len, size_t *used)
{
	const rl_frame_cfg *cfg = p->cfg;
	size_t i = 0;
	if (p->err) {
		*used = 0;
		return -p->err;
	}
	while (i < len) {
		const uint8_t *s = buf + i;
		size_t avail = len - i, n;
		int done = 0;
		if (cfg->kind == RL_FRAME_PREFIX && p->off < cfg->prefix_len) {
			/* one prefix byte; p->total accumulates the length */
			unsigned k = (unsigned) p->off, pl = cfg->prefix_len;
			if (big_endian(cfg->prefix))
				p->total = (p->total << 8) | s[0];
			else
				p->total |= (uint64_t) s[0] << (8 * k);
			n = 1;
			if (k + 1 == pl) {
				if (cfg->inclusive && p->total < pl)
					return fail(p, RL_PE_FRAME_LENGTH, k, i, used);
				if (!cfg->inclusive)
					p->total += pl;
				if (p->total > cfg->max_frame)
					return fail(p, RL_PE_FRAME_TOO_LARGE, k, i, used);
				done = p->total == pl;
			}
		} else if (cfg->kind == RL_FRAME_DELIM) {
			if (p->off == cfg->max_frame)
				return fail(p, RL_PE_FRAME_TOO_LARGE, p->off, i, used);
			uint64_t lim = cfg->max_frame - p->off;
			size_t scan = avail < lim ? avail : (size_t) lim;
			uint32_t m = p->matched;
			n = 0;
			while (n < scan) {
				if (!m) {
					/* nothing matched: skip to the delimiter's first byte */
					const uint8_t *q = memchr(s + n, cfg->delim[0], scan - n);
					if (!q) {
						n = scan;
						break;
					}
					n = (size_t) (q - s);
				}
				uint8_t c = s[n++];
				while (m && c != cfg->delim[m])
					m = cfg->fail[m - 1];
				if (c == cfg->delim[m])
					m++;
				if (m == cfg->delim_len) {
					done = 1;
					m = 0;
					break;
				}
			}
			p->matched = m;
		} else {
			/* BYTES, or the body after a length prefix */
			n = p->total - p->off;
			if (n > avail)
				n = avail;
			else
				done = 1;
		}
		uint64_t d = differs(p, s, n);
		if (d != UINT64_MAX)
			return fail(p, RL_PE_MISMATCH, d, i + (size_t) (d - p->off), used);
		p->off += n;
		i += n;
		/* a response cannot end short of the expected one: rl_frame_compile
		 * made sure the expected response is itself a whole frame */
		if (done) {
			p->bytes = p->off;
			p->off = 0;
			p->matched = 0;
			p->total = cfg->kind == RL_FRAME_BYTES ? cfg->bytes : 0;
			*used = i;
			return RL_PROTO_DONE;
		}
	}
	*used = i;
	return RL_PROTO_MORE;
}

int rl_frame_eof(rl_frame *p) { return rl_proto_eof(&p->err, &p->err_off, p->off); }
