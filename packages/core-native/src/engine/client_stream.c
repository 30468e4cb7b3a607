/* SPDX-License-Identifier: MIT */
/*
 * The byte stream of each client connection (see client.h): issuing
 * messages (closed loop, open loop, quota), generating what is sent one
 * chunk at a time into a segment of the connection core, verifying what
 * comes back against the pattern, and counting both.
 */
#define _GNU_SOURCE
#include "client_int.h"

#include <string.h>

/* ---------------- counting ---------------- */

void rl_cl_count_err(rl_client *cl, int err)
{
	unsigned e = (unsigned) (err < 0 ? -err : err);
	if (e >= RL_CLIENT_ERR_SLOTS)
		e = RL_CLIENT_ERR_SLOTS - 1;
	CADD(&cl->c.u64[RL_C_U64_ERR + e], 1);
	CADD(CU(cl, errors), 1);
}

rl_mismatch *rl_cl_record(rl_client *cl, unsigned kind, const rl_cconn *c, uint64_t seq, uint64_t off,
			  int expected, int got, const char *text)
{
	if (cl->nmm >= RL_CLIENT_MISMATCHES)
		return NULL;
	rl_mismatch *m = &cl->mm[cl->nmm++];
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->id = c->id;
	m->seq = seq;
	m->off = off;
	m->expected = expected;
	m->got = got;
	if (text)
		strncpy(m->text, text, sizeof(m->text) - 1);
	return m;
}

static void record_mm(rl_client *cl, unsigned kind, const rl_cconn *c, uint64_t seq, uint64_t off,
		      int expected, int got)
{
	rl_cl_record(cl, kind, c, seq, off, expected, got, NULL);
}

void rl_cl_hist_add(rl_client *cl, unsigned base, uint64_t v)
{
	CADD(&cl->c.u64[base + rl_hist_index(v, RL_CLIENT_HIST_SUB_BITS, RL_CLIENT_HIST_BUCKETS)], 1);
}

void rl_cl_record_latency(rl_client *cl, uint64_t lat)
{
	rl_cl_hist_add(cl, RL_C_U64_HIST, lat);
	if (cl->nexact < RL_CLIENT_EXACT)
		CSET(&cl->c.u64[RL_C_U64_EXACT + cl->nexact++], lat);
	CADD(CU(cl, lat_sum_ns), lat);
	if (lat < cl->lat_min) {
		cl->lat_min = lat;
		CSET(CU(cl, lat_min_ns), lat);
	}
	if (lat > RL_LOAD(CU(cl, lat_max_ns)))
		CSET(CU(cl, lat_max_ns), lat);
}

/* ---------------- stream position ---------------- */

static void set_tx(rl_client *cl, rl_cconn *c, uint64_t seq)
{
	c->tx_seq = seq;
	c->tx_key = rl_pat_key(cl->o.seed, c->id, seq);
	c->tx_len = rl_pat_size(c->tx_key, cl->o.size_min, cl->o.size_max);
	c->tx_off = 0;
}

static void set_rx(rl_client *cl, rl_cconn *c, uint64_t seq)
{
	c->rx_seq = seq;
	c->rx_key = c->tx_seq == seq ? c->tx_key : rl_pat_key(cl->o.seed, c->id, seq);
	c->rx_len = c->tx_seq == seq ? c->tx_len : rl_pat_size(c->rx_key, cl->o.size_min, cl->o.size_max);
	c->rx_off = 0;
}

void rl_cl_stream_at(rl_client *cl, rl_cconn *c, uint64_t seq)
{
	c->issued = seq;
	c->sent_seq = seq;
	set_tx(cl, c, seq);
	set_rx(cl, c, seq);
	c->tx_bytes = c->rx_bytes = 0;
}

int rl_cl_has_inflight(const rl_client *cl, const rl_cconn *c)
{
	if (rl_cm_request(cl->o.mode))
		return c->rx_seq < c->issued;
	switch (cl->o.mode) {
	case RL_CM_ECHO:
	case RL_CM_BULK:
		return c->rx_seq < c->issued;
	case RL_CM_CHURN:
		return 1; /* a cycle in progress finishes */
	default:
		return 0;
	}
}

/* ---------------- sending ---------------- */

/* issue one message of an echo connection; t = latency origin */
static void issue(rl_client *cl, rl_cconn *c, uint64_t t)
{
	cl->t_issue[(size_t) cidx(cl, c) * cl->o.pipeline + (c->issued % cl->o.pipeline)] = t;
	c->issued++;
	if (cl->o.quota) {
		cl->quota_left--;
		cl->quota_open++;
	}
}

void rl_cl_pump(rl_client *cl, rl_cconn *c, uint64_t now)
{
	if (!rl_cm_timed(cl->o.mode) || c->state != CS_UP || !running(cl))
		return;
	while (c->issued - c->rx_seq < cl->o.pipeline) {
		if (cl->o.quota && !cl->quota_left)
			break;
		if (cl->o.rate > 0) {
			uint64_t due = sched_at(cl, c, c->sched_j);
			if (due > now) {
				rl_cl_wake_at(cl, c, due);
				break;
			}
			if (now - due > LATE_NS)
				CADD(CU(cl, late), 1);
			c->sched_j++;
			issue(cl, c, due);
		} else {
			issue(cl, c, now);
		}
	}
	rl_cl_kick(cl, c);
}

/* generate the next chunk of the stream into dst (room for o.chunk bytes);
 * returns its length, *ends = messages whose last byte is in it */
static uint32_t fill(rl_client *cl, rl_cconn *c, uint8_t *dst, uint32_t *ends)
{
	uint32_t cap = cl->o.chunk;
	if (rl_cm_request(cl->o.mode))
		return rl_cl_req_fill(cl, c, dst, cap, ends);
	uint32_t len = 0;
	int bulk = cl->o.mode == RL_CM_BULK;
	uint64_t inflight = c->tx_bytes - c->rx_bytes;
	*ends = 0;
	while (len < cap) {
		if (c->tx_seq == c->issued) {
			if (!bulk || !running(cl) || inflight + len >= cl->o.window)
				break;
			if (cl->o.quota) {
				if (!cl->quota_left)
					break;
				cl->quota_left--;
				cl->quota_open++;
			}
			c->issued++;
		}
		uint32_t n = c->tx_len - c->tx_off;
		if (n > cap - len)
			n = cap - len;
		if (bulk && inflight + len + n > cl->o.window)
			n = (uint32_t) (cl->o.window - (inflight + len));
		if (!n)
			break;
		rl_pat_fill(dst + len, c->tx_key, c->tx_off, n);
		len += n;
		c->tx_off += n;
		if (c->tx_off == c->tx_len) {
			(*ends)++;
			set_tx(cl, c, c->tx_seq + 1);
		}
	}
	c->tx_bytes += len;
	return len;
}

/* One chunk at a time: the next is generated when the last has been sent,
 * so a connection never holds more than one chunk besides those a zero-copy
 * send still pins. */
void rl_cl_kick(rl_client *cl, rl_cconn *c)
{
	rl_conn *k = K(cl, c);
	if (c->state != CS_UP || (c->flags & CF_FAILED) || k->s[0].qhead != RL_SEG_NONE)
		return;
	if (c->tx_seq == c->issued && cl->o.mode != RL_CM_BULK)
		return;
	uint32_t seg = rl_seg_alloc(&cl->cx, cl->o.chunk);
	if (seg == RL_SEG_NONE) {
		rl_cl_count_err(cl, -ENOMEM);
		CADD(CU(cl, conn_errors), 1);
		rl_cl_close(cl, c, -ENOMEM);
		return;
	}
	uint32_t ends;
	uint32_t len = fill(cl, c, cl->cx.segs[seg].ptr, &ends);
	if (!len) {
		rl_seg_release(&cl->cx, seg);
		return;
	}
	cl->cx.segs[seg].tag = ends;
	rl_sock_enqueue(&cl->cx, k, 0, seg, len);
}

void rl_cl_on_sent(rl_conns *cx, rl_conn *k, unsigned side, unsigned res, uint32_t seg)
{
	rl_client *cl = cx->owner;
	rl_cconn *c = C(cl, k);
	CADD(CU(cl, sends), 1);
	CADD(CU(cl, bytes_out_all), res);
	if (in_window(cl, cl->now))
		CADD(CU(cl, bytes_out), res);
	if (seg != RL_SEG_NONE) {
		CADD(CU(cl, msgs_sent), cx->segs[seg].tag);
		c->sent_seq += cx->segs[seg].tag;
	}
	if (c->state == CS_UP)
		rl_cl_kick(cl, c);
}

void rl_cl_on_error(rl_conns *cx, rl_conn *k, unsigned side, int err)
{
	rl_client *cl = cx->owner;
	rl_cconn *c = C(cl, k);
	if (c->state == CS_UP) {
		rl_cl_count_err(cl, err);
		CADD(CU(cl, conn_errors), 1);
		/* name the first message the error left unanswered (a reset):
		 * that one is the error's, so it is not also lost with the
		 * connection (sent = answered + errors + lost held only when
		 * the server closed with FIN) */
		if (rl_cl_has_inflight(cl, c) && cl->o.mode != RL_CM_CHURN) {
			record_mm(cl, RL_MM_ERROR, c, c->rx_seq, c->rx_off, -1, err);
			c->flags |= CF_MSG_FAILED;
		}
	}
	rl_cl_close(cl, c, err);
}

/* ---------------- receiving and verifying ---------------- */

void rl_cl_message_done(rl_client *cl, rl_cconn *c, uint64_t now)
{
	CADD(CU(cl, msgs_all), 1);
	int win = in_window(cl, now);
	if (win) {
		CADD(CU(cl, msgs), 1);
		/* churn's seconds count its cycles (on_closed), one per connection:
		 * counting the cycle's message here too doubled every second */
		if (cl->o.mode != RL_CM_CHURN)
			count_second(cl, now);
	}
	if (rl_cm_timed(cl->o.mode) && win) {
		uint64_t t =
			cl->t_issue[(size_t) cidx(cl, c) * cl->o.pipeline + (c->rx_seq % cl->o.pipeline)];
		rl_cl_record_latency(cl, now > t ? now - t : 0);
	}
	if (cl->o.quota && cl->o.mode != RL_CM_CHURN)
		cl->quota_open--;
}

/* the quota is met: stop (the drain closes the connections) */
static void quota_check(rl_client *cl, uint64_t now)
{
	if (cl->o.quota && !cl->quota_left && !cl->quota_open && running(cl)) {
		CSET(CU(cl, t_done_ns), now);
		rl_client_stop(cl);
	}
}

/* the echo of bytes [rx_seq, rx_off ...) arrived: compare with the pattern */
static void verify(rl_client *cl, rl_cconn *c, const uint8_t *p, uint32_t len, uint64_t now)
{
	CADD(CU(cl, recvs), 1);
	CADD(CU(cl, bytes_in_all), len);
	if (in_window(cl, now))
		CADD(CU(cl, bytes_in), len);
	c->rx_bytes += len;
	if (cl->o.mode == RL_CM_IDLE)
		return; /* nothing was sent: whatever arrives is the server's business */
	while (len) {
		uint64_t avail;
		if (c->rx_seq < c->tx_seq)
			avail = c->rx_len - c->rx_off;
		else if (c->rx_seq == c->tx_seq && c->rx_off < c->tx_off)
			avail = c->tx_off - c->rx_off;
		else
			avail = 0;
		if (!avail) {
			/* more bytes than were sent */
			record_mm(cl, RL_MM_EXTRA, c, c->rx_seq, c->rx_off, -1, p[0]);
			CADD(CU(cl, verify_failures), 1);
			c->flags |= CF_FAILED;
			rl_cl_close(cl, c, 0);
			return;
		}
		uint32_t n = len;
		if (n > avail)
			n = (uint32_t) avail;
		if (n > cl->o.buf_size)
			n = cl->o.buf_size;
		rl_pat_fill(cl->scratch, c->rx_key, c->rx_off, n);
		if (memcmp(cl->scratch, p, n) != 0) {
			uint32_t i = 0;
			while (i < n && cl->scratch[i] == p[i])
				i++;
			record_mm(cl, RL_MM_MISMATCH, c, c->rx_seq, (uint64_t) c->rx_off + i, cl->scratch[i],
				  p[i]);
			CADD(CU(cl, verify_failures), 1);
			/* the stream cannot be trusted past this point */
			c->flags |= CF_FAILED | CF_MSG_FAILED;
			rl_cl_close(cl, c, 0);
			return;
		}
		p += n;
		len -= n;
		c->rx_off += n;
		if (c->rx_off == c->rx_len) {
			rl_cl_message_done(cl, c, now);
			set_rx(cl, c, c->rx_seq + 1);
		}
	}
	switch (cl->o.mode) {
	case RL_CM_ECHO:
		rl_cl_next(cl, c, now);
		break;
	case RL_CM_CHURN:
		if (c->rx_seq == c->issued) {
			c->flags |= CF_CYCLE_DONE;
			rl_cl_close(cl, c, 0);
		}
		break;
	case RL_CM_BULK:
		rl_cl_kick(cl, c);
		if (!running(cl) && c->rx_seq == c->issued && c->rx_bytes == c->tx_bytes)
			rl_cl_close(cl, c, 0);
		quota_check(cl, now);
		break;
	default:
		break;
	}
}

void rl_cl_next(rl_client *cl, rl_cconn *c, uint64_t now)
{
	if (running(cl)) {
		rl_cl_pump(cl, c, now);
		quota_check(cl, now);
	} else if (c->rx_seq == c->issued) {
		rl_cl_close(cl, c, 0);
	}
}

void rl_cl_on_data(rl_conns *cx, rl_conn *k, unsigned side, unsigned bid, unsigned len)
{
	rl_client *cl = cx->owner;
	rl_cconn *c = C(cl, k);
	if (c->state == CS_UP && !(c->flags & CF_FAILED)) {
		if (rl_cm_request(cl->o.mode))
			rl_cl_req_recv(cl, c, rl_buf(cx->br, bid), len, cl->now);
		else
			verify(cl, c, rl_buf(cx->br, bid), len, cl->now);
	}
	rl_seg_release(cx, bid);
}

void rl_cl_on_eof(rl_conns *cx, rl_conn *k, unsigned side)
{
	rl_client *cl = cx->owner;
	rl_cconn *c = C(cl, k);
	if (c->state != CS_UP)
		return;
	if (rl_cm_request(cl->o.mode)) {
		rl_cl_req_eof(cl, c);
		return;
	}
	int pending = c->rx_seq < c->issued || c->rx_bytes < c->tx_bytes;
	if (cl->o.mode == RL_CM_CHURN && (c->flags & CF_CYCLE_DONE))
		return;
	if (pending)
		record_mm(cl, RL_MM_EOF, c, c->rx_seq, c->rx_off, -1, -1);
	/* the server closed a connection it should have kept */
	rl_cl_count_err(cl, 0);
	CADD(CU(cl, conn_errors), 1);
	c->flags |= CF_FAILED;
	rl_cl_close(cl, c, 0);
}
