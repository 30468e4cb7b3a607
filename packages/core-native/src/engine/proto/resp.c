/* SPDX-License-Identifier: MIT */
/*
 * The RESP2 reply parser (see resp.h). Lines (simple strings, errors and
 * the numbers after ':', '$' and '*') are parsed a byte at a time, so a
 * split anywhere needs no buffer; bulk payloads are skipped in bulk. Open
 * arrays are a stack of "elements still due" counters: a finished value
 * counts down its array, and a finished array counts down its parent.
 */
#include "resp.h"

#include <string.h>

enum {
	R_TYPE = 0, /* the type byte of a value */
	R_LINE,     /* simple string or error text */
	R_LINE_LF,
	R_NUM, /* the number after ':', '$' or '*' */
	R_NUM_LF,
	R_BULK, /* bulk payload */
	R_BULK_CR,
	R_BULK_LF,
};

void rl_resp_cfg_default(rl_resp_cfg *cfg)
{
	cfg->max_bulk = 512ull << 20;
	cfg->max_depth = 8;
	cfg->max_elements = 1u << 20;
	cfg->max_line = 65536;
}

static void reset(rl_resp *p)
{
	p->state = R_TYPE;
	p->depth = 0;
	p->line = 0;
	p->off = 0;
	memset(&p->cur, 0, sizeof(p->cur));
}

void rl_resp_init(rl_resp *p, const rl_resp_cfg *cfg)
{
	memset(p, 0, sizeof(*p));
	p->cfg = cfg;
	reset(p);
}

static int fail(rl_resp *p, int err, size_t i, size_t *used)
{
	return rl_proto_fail(&p->err, &p->err_off, err, p->off, i, used);
}

/* a value ended (the byte that ended it is consumed): 1 when it completed
 * the reply, which is then in p->res */
static int value_done(rl_resp *p)
{
	p->state = R_TYPE;
	p->line = 0;
	while (p->depth) {
		if (--p->left[p->depth - 1])
			return 0;
		p->depth--; /* the array is complete: one element of its parent */
	}
	p->cur.bytes = p->off + 1;
	p->res = p->cur;
	reset(p);
	return 1;
}

/* the number line after ':', '$' or '*' ended: 0, 1 (reply done) or -err */
static int number_done(rl_resp *p)
{
	int top = p->depth == 0;
	if (p->type == ':') {
		if (top)
			p->cur.value = p->neg ? (int64_t) (0 - p->num) : (int64_t) p->num;
		return value_done(p);
	}
	/* lengths: -1 (null) or 0.. */
	if (p->neg && p->num != 1)
		return -RL_PE_RESP_INTEGER;
	int null = p->neg;
	if (top) {
		p->cur.value = null ? -1 : (int64_t) p->num;
		p->cur.is_null = (uint8_t) null;
	}
	if (p->type == '$') {
		if (null)
			return value_done(p);
		if (p->num > p->cfg->max_bulk)
			return -RL_PE_RESP_BULK_TOO_LARGE;
		p->remain = p->num;
		p->state = p->num ? R_BULK : R_BULK_CR;
		return 0;
	}
	if (null || !p->num)
		return value_done(p);
	if (p->depth >= p->cfg->max_depth || p->depth >= RL_RESP_DEPTH_MAX)
		return -RL_PE_RESP_DEPTH;
	if (p->num > p->cfg->max_elements || p->cur.elements + p->num > p->cfg->max_elements)
		return -RL_PE_RESP_ELEMENTS;
	p->cur.elements += p->num;
	p->left[p->depth++] = (uint32_t) p->num;
	p->state = R_TYPE;
	p->line = 0;
	return 0;
}

int rl_resp_feed(rl_resp *p, const uint8_t *buf, size_t len, size_t *used)
{
	size_t i = 0;
	int r;
	if (p->err) {
		*used = 0;
		return -p->err;
	}
	while (i < len) {
		if (p->state == R_BULK) {
			uint64_t n = len - i;
			if (n > p->remain)
				n = p->remain;
			i += n;
			p->off += n;
			p->remain -= n;
			if (!p->remain)
				p->state = R_BULK_CR;
			continue;
		}
		uint8_t c = buf[i];
		if ((p->state == R_LINE || p->state == R_NUM) && ++p->line > p->cfg->max_line)
			return fail(p, RL_PE_RESP_LINE_TOO_LONG, i, used);
		switch (p->state) {
		case R_TYPE:
			switch (c) {
			case '+':
			case '-':
				p->state = R_LINE;
				if (!p->depth) {
					p->cur.word_len = 0;
					p->cur.line_len = 0;
					p->word_open = 1;
				}
				break;
			case ':':
			case '$':
			case '*':
				p->state = R_NUM;
				p->num = 0;
				p->neg = 0;
				p->ndig = 0;
				break;
			default:
				return fail(p, RL_PE_RESP_TYPE, i, used);
			}
			p->type = c;
			p->line = 1;
			if (!p->depth) {
				p->cur.type = (char) c;
				p->cur.is_error = c == '-';
			}
			break;
		case R_LINE:
			if (c == '\r') {
				p->state = R_LINE_LF;
			} else if (c == '\n') {
				return fail(p, RL_PE_RESP_LINE, i, used);
			} else if (!p->depth) {
				if (p->cur.line_len < RL_RESP_LINE - 1)
					p->cur.line[p->cur.line_len++] = (char) c;
				if (!p->word_open)
					break;
				if (c == ' ' || p->cur.word_len == RL_RESP_WORD - 1)
					p->word_open = 0;
				else
					p->cur.word[p->cur.word_len++] = (char) c;
			}
			break;
		case R_LINE_LF:
			if (c != '\n')
				return fail(p, RL_PE_RESP_LINE, i, used);
			if (p->depth && p->type == '-')
				p->cur.nested_errors++;
			if (!p->depth) {
				p->cur.word[p->cur.word_len] = 0;
				p->cur.line[p->cur.line_len] = 0;
			}
			if (value_done(p)) {
				*used = i + 1;
				return RL_PROTO_DONE;
			}
			break;
		case R_NUM:
			if (c >= '0' && c <= '9') {
				uint64_t d = (uint64_t) (c - '0');
				/* magnitude up to 2^63 (INT64_MIN) for a negative integer */
				uint64_t lim = (uint64_t) INT64_MAX + p->neg;
				if (p->num > (lim - d) / 10)
					return fail(p, RL_PE_RESP_INTEGER, i, used);
				p->num = p->num * 10 + d;
				p->ndig++;
			} else if (c == '-' && !p->ndig && !p->neg) {
				p->neg = 1;
			} else if (c == '\r' && p->ndig) {
				p->state = R_NUM_LF;
			} else if (c == '\n' && p->ndig) {
				return fail(p, RL_PE_RESP_LINE, i, used);
			} else {
				return fail(p, RL_PE_RESP_INTEGER, i, used);
			}
			break;
		case R_NUM_LF:
			if (c != '\n')
				return fail(p, RL_PE_RESP_LINE, i, used);
			r = number_done(p);
			if (r < 0)
				return fail(p, -r, i, used);
			if (r) {
				*used = i + 1;
				return RL_PROTO_DONE;
			}
			break;
		case R_BULK_CR:
			if (c != '\r')
				return fail(p, RL_PE_RESP_BULK_END, i, used);
			p->state = R_BULK_LF;
			break;
		case R_BULK_LF:
			if (c != '\n')
				return fail(p, RL_PE_RESP_BULK_END, i, used);
			if (value_done(p)) {
				*used = i + 1;
				return RL_PROTO_DONE;
			}
			break;
		}
		i++;
		p->off++;
	}
	*used = i;
	return RL_PROTO_MORE;
}

int rl_resp_eof(rl_resp *p) { return rl_proto_eof(&p->err, &p->err_off, p->off); }
