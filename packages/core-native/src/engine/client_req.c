/* SPDX-License-Identifier: MIT */
/*
 * The request/response modes of the load generator (see client_req.h):
 * compiling a spec, rendering requests into a connection's send chunk,
 * feeding what arrives to the connection's parser and judging each
 * response, the end of stream, and the request timeout.
 */
#define _GNU_SOURCE
#include "client_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- compiling ---------------- */

/* a template that is these bytes exactly (rl_tpl_compile_raw would read
 * "{seq}" in a URL as a placeholder) */
static int tpl_literal(rl_tpl *t, const uint8_t *src, size_t len)
{
	memset(t, 0, sizeof(*t));
	t->bytes = malloc(len ? len : 1);
	t->segs = calloc(1, sizeof(rl_tpl_seg));
	if (!t->bytes || !t->segs) {
		rl_tpl_free(t);
		return -ENOMEM;
	}
	memcpy(t->bytes, src, len);
	t->segs[0] = (rl_tpl_seg){ .kind = RL_TPL_LIT, .len = (uint32_t) len, .off = 0 };
	t->nsegs = 1;
	t->max_len = len;
	t->fixed = 1;
	return 0;
}

/* an HTTP request, built into a buffer that grows until it fits */
static int tpl_http(rl_tpl *t, const rl_http_req *q)
{
	size_t cap = 1024 + q->body_len;
	for (int tries = 0; tries < 8; tries++, cap *= 4) {
		uint8_t *buf = malloc(cap);
		if (!buf)
			return -ENOMEM;
		ssize_t n = rl_http_request(buf, cap, q);
		int r = n < 0 ? (int) n : tpl_literal(t, buf, (size_t) n);
		free(buf);
		if (r != -ENOSPC)
			return r;
	}
	return -EINVAL;
}

static int compile_redis(rl_req *r, const rl_req_spec *s)
{
	if (!s->ncmds || !s->cmds)
		return -EINVAL;
	r->expect = calloc(s->ncmds, sizeof(unsigned));
	r->word = calloc(s->ncmds, RL_RESP_WORD);
	if (!r->expect || !r->word)
		return -ENOMEM;
	for (unsigned i = 0; i < s->ncmds; i++) {
		const rl_req_cmd *m = &s->cmds[i];
		int ret = m->inl ? rl_tpl_compile_raw(&r->tpls[i], m->inl, m->inl_len)
				 : rl_tpl_compile_resp(&r->tpls[i], m->argv, m->argl, m->argc, s->keyspace,
						       s->data_size);
		if (ret < 0)
			return ret;
		r->ntpls = i + 1;
		r->expect[i] = m->expect;
		memcpy(r->word[i], m->word, RL_RESP_WORD);
		r->word[i][RL_RESP_WORD - 1] = 0;
	}
	rl_resp_cfg_default(&r->resp);
	return 0;
}

int rl_req_compile(rl_req *r, unsigned mode, const rl_req_spec *s)
{
	memset(r, 0, sizeof(*r));
	r->mode = mode;
	unsigned n = mode == RL_CM_HTTP ? s->nhttp : mode == RL_CM_REDIS ? s->ncmds : 1;
	if (!n)
		return -EINVAL;
	r->tpls = calloc(n, sizeof(rl_tpl));
	if (!r->tpls)
		return -ENOMEM;
	int ret = 0;
	switch (mode) {
	case RL_CM_HTTP:
		r->by_target = 1;
		rl_http_cfg_default(&r->http);
		for (unsigned i = 0; i < n && !ret; i++) {
			ret = tpl_http(&r->tpls[i], &s->http[i]);
			if (!ret)
				r->ntpls = i + 1;
		}
		r->head = s->http[0].method && !strcmp(s->http[0].method, "HEAD");
		for (unsigned st = 0; st < RL_HTTP_STATUS_SLOTS; st++)
			r->status_ok[st] = s->status_ok ? s->status_ok[st] != 0 : st >= 200 && st < 300;
		break;
	case RL_CM_REDIS:
		ret = compile_redis(r, s);
		break;
	case RL_CM_CUSTOM: {
		rl_frame_spec f = s->frame;
		if (f.expect) {
			r->expect_copy = malloc(f.expect_len ? f.expect_len : 1);
			if (!r->expect_copy) {
				ret = -ENOMEM;
				break;
			}
			memcpy(r->expect_copy, f.expect, f.expect_len);
			f.expect = r->expect_copy;
		}
		ret = rl_frame_compile(&r->frame, &f);
		if (!ret)
			ret = s->send ? rl_tpl_compile_raw(&r->tpls[0], s->send, s->send_len) : -EINVAL;
		if (!ret)
			r->ntpls = 1;
		break;
	}
	default:
		ret = -EINVAL;
	}
	if (ret < 0) {
		rl_req_free(r);
		return ret;
	}
	for (unsigned i = 0; i < r->ntpls; i++)
		if (r->tpls[i].max_len > r->max_len)
			r->max_len = r->tpls[i].max_len;
	return 0;
}

void rl_req_free(rl_req *r)
{
	for (unsigned i = 0; r->tpls && i < r->ntpls; i++)
		rl_tpl_free(&r->tpls[i]);
	free(r->tpls);
	free(r->expect);
	free(r->word);
	free(r->expect_copy);
	memset(r, 0, sizeof(*r));
}

/* ---------------- sending ---------------- */

static inline rl_req_conn *RC(rl_client *cl, const rl_cconn *c) { return &cl->rc[cidx(cl, c)]; }

/* the template of request seq of c */
static inline unsigned tpl_of(const rl_client *cl, const rl_cconn *c, uint64_t seq)
{
	return cl->req.by_target ? c->target % cl->req.ntpls : (unsigned) (seq % cl->req.ntpls);
}

void rl_cl_req_start(rl_client *cl, rl_cconn *c)
{
	rl_req_conn *rc = RC(cl, c);
	switch (cl->o.mode) {
	case RL_CM_HTTP:
		rl_http_init(&rc->p.http, &cl->req.http);
		rc->p.http.head = (uint8_t) cl->req.head;
		break;
	case RL_CM_REDIS:
		rl_resp_init(&rc->p.resp, &cl->req.resp);
		break;
	default:
		rl_frame_init(&rc->p.frame, &cl->req.frame);
		break;
	}
	if (!rc->rng)
		rc->rng = cl->o.seed ^ ((uint64_t) c->id * 0x9e3779b97f4a7c15ull) ^ 1;
}

uint32_t rl_cl_req_fill(rl_client *cl, rl_cconn *c, uint8_t *dst, uint32_t cap, uint32_t *ends)
{
	uint32_t len = 0;
	*ends = 0;
	rl_tpl_vars v = { .conn = c->id, .rng = &RC(cl, c)->rng };
	while (c->tx_seq < c->issued) {
		const rl_tpl *t = &cl->req.tpls[tpl_of(cl, c, c->tx_seq)];
		if (t->max_len > cap - len)
			break; /* the next chunk (one always fits an empty chunk) */
		v.seq = c->tx_seq;
		ssize_t n = rl_tpl_render(t, dst + len, cap - len, &v);
		if (n < 0)
			break;
		len += (uint32_t) n;
		c->tx_seq++;
		(*ends)++;
	}
	c->tx_bytes += len;
	return len;
}

/* ---------------- judging responses ---------------- */

/* the byte stream broke: count, record, close (and dial again later) */
static void stream_fail(rl_client *cl, rl_cconn *c, unsigned kind, int pe, uint64_t off, int expected,
			int got)
{
	rl_mismatch *m = rl_cl_record(cl, kind, c, c->rx_seq, off, expected, got, NULL);
	if (m)
		m->pe = pe;
	if (pe) {
		CADD(&cl->c.u64[RL_C_U64_PERR + (unsigned) pe], 1);
		CADD(CU(cl, proto_errors), 1);
		CADD(CU(cl, errors), 1);
	} else {
		rl_cl_count_err(cl, kind == RL_MM_TIMEOUT ? -ETIMEDOUT : 0);
		if (kind == RL_MM_TIMEOUT)
			CADD(CU(cl, timeouts), 1);
	}
	CADD(CU(cl, conn_errors), 1);
	c->flags |= CF_FAILED | CF_MSG_FAILED;
	rl_cl_close(cl, c, 0);
}

/* an HTTP 408 status line at the start of what a connection with nothing
 * asked received (between responses, so at a response's start) */
static int idle_408(const uint8_t *p, uint32_t len)
{
	static const char a[] = "HTTP/1.1 408", b[] = "HTTP/1.0 408";
	const size_t n = sizeof(a) - 1;
	return len >= n && (memcmp(p, a, n) == 0 || memcmp(p, b, n) == 0);
}

/* a wrong answer in a stream that is still in step: count and record it */
static void wrong(rl_client *cl, rl_cconn *c, unsigned kind, uint64_t *counter, int got, const char *text)
{
	rl_cl_record(cl, kind, c, c->rx_seq, 0, -1, got, text);
	CADD(counter, 1);
	CADD(CU(cl, errors), 1);
}

/* response rx_seq of c is complete; 0 when the socket ends with it */
static int response_done(rl_client *cl, rl_cconn *c, uint64_t now)
{
	rl_req_conn *rc = RC(cl, c);
	int keep = 1;
	if (cl->o.mode == RL_CM_HTTP) {
		const rl_http_res *res = &rc->p.http.res;
		unsigned st = res->status < RL_HTTP_STATUS_SLOTS ? res->status : 0;
		CADD(&cl->c.u64[RL_C_U64_STATUS + st], 1);
		if (!cl->req.status_ok[st])
			wrong(cl, c, RL_MM_STATUS, CU(cl, status_errors), (int) res->status, NULL);
		keep = res->keep_alive;
	} else if (cl->o.mode == RL_CM_REDIS) {
		const rl_resp_reply *res = &rc->p.resp.res;
		unsigned i = tpl_of(cl, c, c->rx_seq);
		unsigned want = cl->req.expect[i];
		const char *word = cl->req.word[i];
		if (res->is_error)
			wrong(cl, c, RL_MM_REPLY, CU(cl, error_replies), res->type, res->line);
		else if ((want && !(want & rl_resp_type_bit(res))) ||
			 (word[0] && res->type == '+' && strcmp(word, res->word) != 0))
			wrong(cl, c, RL_MM_REPLY, CU(cl, unexpected_replies), res->type, res->line);
	}
	rl_cl_message_done(cl, c, now);
	c->rx_seq++;
	if (!keep) {
		/* the server ends the socket after this response: so do we, and
		 * requests sent behind it go again on the next socket */
		c->flags |= CF_REDIAL;
		CADD(CU(cl, server_closes), 1);
		CADD(CU(cl, reissued), c->tx_seq - c->rx_seq);
		rl_cl_close(cl, c, 0);
		return 0;
	}
	return 1;
}

static int feed(rl_client *cl, rl_cconn *c, const uint8_t *p, size_t len, size_t *used, uint64_t *err_off)
{
	rl_req_conn *rc = RC(cl, c);
	int r;
	switch (cl->o.mode) {
	case RL_CM_HTTP:
		r = rl_http_feed(&rc->p.http, p, len, used);
		*err_off = rc->p.http.err_off;
		return r;
	case RL_CM_REDIS:
		r = rl_resp_feed(&rc->p.resp, p, len, used);
		*err_off = rc->p.resp.err_off;
		return r;
	default:
		r = rl_frame_feed(&rc->p.frame, p, len, used);
		*err_off = rc->p.frame.err_off;
		return r;
	}
}

void rl_cl_req_recv(rl_client *cl, rl_cconn *c, const uint8_t *p, uint32_t len, uint64_t now)
{
	CADD(CU(cl, recvs), 1);
	CADD(CU(cl, bytes_in_all), len);
	if (in_window(cl, now))
		CADD(CU(cl, bytes_in), len);
	c->rx_bytes += len;
	while (len) {
		if (c->rx_seq >= c->tx_seq && cl->o.mode == RL_CM_HTTP && idle_408(p, len)) {
			/* 408 Request Timeout on a connection with nothing asked,
			 * closed by the server (RFC 9110 15.5.9; HAProxy's timeout
			 * http-request): an idle close, as a keep-alive timeout is */
			c->flags |= CF_REDIAL;
			CADD(CU(cl, server_closes), 1);
			rl_cl_close(cl, c, 0);
			return;
		}
		if (c->rx_seq >= c->tx_seq) {
			/* an answer to a request that was never sent: a wrong
			 * answer, as a wrong status or reply is (an error) */
			rl_cl_record(cl, RL_MM_EXTRA, c, c->rx_seq, 0, -1, p[0], NULL);
			CADD(CU(cl, extra_answers), 1);
			CADD(CU(cl, errors), 1);
			CADD(CU(cl, conn_errors), 1);
			c->flags |= CF_FAILED;
			rl_cl_close(cl, c, 0);
			return;
		}
		size_t used = 0;
		uint64_t err_off = 0;
		int r = feed(cl, c, p, len, &used, &err_off);
		p += used;
		len -= (uint32_t) used;
		if (r == RL_PROTO_MORE)
			break;
		if (r < 0) {
			/* a response that differs from --expect: the two bytes, as
			 * echo mode names them (feed stopped at the received one) */
			int want = -1, got = -1;
			if (-r == RL_PE_MISMATCH && cl->o.mode == RL_CM_CUSTOM) {
				const rl_frame_cfg *fc = RC(cl, c)->p.frame.cfg;
				want = err_off < fc->expect_len ? fc->expect[err_off] : -1;
				got = len ? p[0] : -1;
			}
			stream_fail(cl, c, RL_MM_PROTO, -r, err_off, want, got);
			return;
		}
		if (!response_done(cl, c, now))
			return;
	}
	rl_cl_next(cl, c, now);
}

void rl_cl_req_eof(rl_client *cl, rl_cconn *c)
{
	rl_req_conn *rc = RC(cl, c);
	int r;
	uint64_t off;
	switch (cl->o.mode) {
	case RL_CM_HTTP:
		r = rl_http_eof(&rc->p.http);
		off = rc->p.http.err_off;
		break;
	case RL_CM_REDIS:
		r = rl_resp_eof(&rc->p.resp);
		off = rc->p.resp.err_off;
		break;
	default:
		r = rl_frame_eof(&rc->p.frame);
		off = rc->p.frame.err_off;
		break;
	}
	if (r < 0) {
		stream_fail(cl, c, RL_MM_PROTO, -r, off, -1, -1);
	} else if (r == RL_PROTO_DONE) {
		/* a body delimited by the close: complete, and keep_alive is 0 */
		response_done(cl, c, cl->now);
	} else if (c->rx_seq < c->tx_seq) {
		/* closed between responses with requests unanswered */
		stream_fail(cl, c, RL_MM_EOF, 0, 0, -1, -1);
	} else {
		/* an idle socket the server ended (a keep-alive timeout): dial again */
		c->flags |= CF_REDIAL;
		CADD(CU(cl, server_closes), 1);
		rl_cl_close(cl, c, 0);
	}
}

/* ---------------- timeout ---------------- */

uint64_t rl_cl_req_sweep(rl_client *cl, uint64_t now)
{
	uint64_t to = cl->o.timeout_ns;
	for (unsigned i = 0; i < cl->o.nconns; i++) {
		rl_cconn *c = &cl->conns[i];
		if (c->state != CS_UP || c->rx_seq >= c->issued || (c->flags & CF_FAILED))
			continue;
		uint64_t t = cl->t_issue[(size_t) i * cl->o.pipeline + (c->rx_seq % cl->o.pipeline)];
		if (now > t + to)
			stream_fail(cl, c, RL_MM_TIMEOUT, 0, 0, -1, -1);
	}
	/* a request is failed at most a quarter of the timeout late */
	uint64_t step = to / 4;
	return now + (step < 1000000 ? 1000000 : step);
}
